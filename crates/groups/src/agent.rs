//! The membership agent: what a member's node should write next, as a pure function of the
//! group state, its keyring and the time.
//!
//! The node runs [`plan`] whenever a group changes and appends what it returns; the CLI and the
//! property tests call the same functions, so the simulated members behave like real nodes.
//! Duties are spread so that one member acts rather than all of them: the inviter admits joins
//! made with its invite (others step in after a grace period), the admitter welcomes the
//! newcomer into the current epoch, and anyone about to write heals the group first
//! ([`ensure_writable`]): a writer never encrypts under an epoch a non-member knows.
//!
//! Clocks decide nothing another member chose: the grace period before others step in is
//! measured from when *this* node first saw the join ([`FirstSeen`], kept by the caller), not
//! from the join's own timestamp, which the joiner sets and could put far in the past.
//!
//! ## Forgetting and prekeys
//!
//! With `forget_after_days = D` in the constitution, forward secrecy needs more than dropping
//! old epoch secrets: every seal of an epoch stays in the log, so a prekey private half that
//! opens one re-opens the epoch. The rules (the node's `ops::keys` carries them out):
//!
//! * An epoch is forgotten `D` days after this node first saw it superseded, by this node's own
//!   clock (not the superseding share's timestamp, which its author chose: dated in the future
//!   it would keep the old secret for ever, dated in the past it would make everyone drop a
//!   key still in use). Its id is remembered ([`Keyring::forgotten`]) so it is never learnt
//!   again, from a seal or a history bundle.
//! * Prekeys rotate: a member publishes a new prekey once its newest is [`prekey_rotation_ms`]
//!   (`D / 2`) old by its own clock ([`prekey_due`]). A replaced prekey's private half is
//!   deleted `D / 2` after its replacement, if no epoch we hold neither opened nor forgot was
//!   sealed to it (so concurrent shares and direct messages still in flight can be read), and
//!   at once, whatever else, when an epoch sealed to it is forgotten ([`stale_prekeys`]); a
//!   newest prekey that an forgotten epoch was sealed to is deleted too, and replaced.
//!   So a prekey lives at most about `D` (plus the time the node is off), and no private half
//!   that opens a forgotten epoch's seal outlives the forgetting.
//!
//! Without forgetting (`D = 0`) nothing rotates: every key is kept anyway.
//!
//! Limit: a history bundle is encrypted under the epoch it extends, and stays in the log. An
//! epoch handed to a newcomer that way can be recovered by whoever holds that later epoch until
//! the later one is forgotten too (its key is kept longer, since it was superseded later).

use std::collections::BTreeMap;

use dualpower_core::payload::{Admission, MAX_SEALS};
use dualpower_core::{EventId, PublicKey};
use dualpower_state::GroupState;

use crate::keyring::Keyring;

/// One day in ms.
const DAY_MS: u64 = 86_400_000;

/// How long (ms) other members wait for the inviter before admitting a join themselves,
/// counted from when their own node first saw the join.
pub const ADMIT_GRACE_MS: u64 = 60_000;

/// When this node first saw each pending join (join event → ms by its own clock).
pub type FirstSeen = BTreeMap<EventId, u64>;

/// Records `now` as the first sighting of every pending join `seen` lacks, and forgets joins
/// that are no longer pending (admitted, refused or gone). Returns whether `seen` changed.
pub fn note_joins(state: &GroupState, seen: &mut FirstSeen, now: u64) -> bool {
    let before = seen.len();
    seen.retain(|join, _| state.pending.values().any(|p| p.join == *join));
    let mut changed = seen.len() != before;
    for p in state.pending.values() {
        if let std::collections::btree_map::Entry::Vacant(e) = seen.entry(p.join) {
            e.insert(now);
            changed = true;
        }
    }
    changed
}

/// One thing to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Publish a fresh prekey (the node generates it and keeps the private half).
    PublishPrekey,
    /// Admit a newcomer's join.
    Admit {
        /// The newcomer.
        member: PublicKey,
        /// Its join event.
        join: EventId,
    },
    /// Start a new epoch sealed to these prekeys, superseding `prev`. A node splits more than
    /// [`MAX_SEALS`] recipients over several key-share events.
    StartEpoch {
        /// Recipient prekeys (every current member's, including the writer's own).
        recipients: Vec<[u8; 32]>,
        /// Epochs superseded.
        prev: Vec<EventId>,
    },
    /// Seal the existing `epoch` to more members (newcomers), with history if the constitution
    /// says newcomers receive it.
    Extend {
        /// The epoch.
        epoch: EventId,
        /// Recipient prekeys.
        recipients: Vec<[u8; 32]>,
        /// Whether to include earlier epochs.
        history: bool,
    },
}

/// Chunks of recipients for one rotation: each chunk fits one key-share event.
pub fn chunks(recipients: &[[u8; 32]]) -> impl Iterator<Item = &[[u8; 32]]> {
    recipients.chunks(MAX_SEALS)
}

/// Whether others can seal to us: a member's newest prekey (the one others seal to) is one we
/// hold; a joiner has some published prekey we hold.
fn my_prekey_published(state: &GroupState, me: &PublicKey, keys: &Keyring) -> bool {
    if let Some(m) = state.members.get(me) {
        return m.prekey.is_some_and(|k| keys.prekeys.contains_key(&k));
    }
    state
        .prekeys
        .iter()
        .any(|(k, owner)| owner == me && keys.prekeys.contains_key(k))
}

/// How long (ms) a member's newest prekey serves before it publishes a new one, when the
/// constitution forgets epochs after `forget_after_days` (half that period; 0 = never).
pub fn prekey_rotation_ms(forget_after_days: u64) -> u64 {
    forget_after_days.saturating_mul(DAY_MS) / 2
}

/// Whether an epoch we forgot was sealed to `prekey` (its private half would re-open it).
fn opens_forgotten(state: &GroupState, keys: &Keyring, prekey: &[u8; 32]) -> bool {
    state
        .epochs
        .iter()
        .filter(|(id, _)| keys.forgotten.contains(*id))
        .any(|(_, e)| e.seals.iter().any(|(_, p)| p == prekey))
}

/// Whether an epoch we neither hold nor forgot was sealed to `prekey` (a share we could not
/// open yet).
fn still_needed(state: &GroupState, keys: &Keyring, prekey: &[u8; 32]) -> bool {
    state
        .epochs
        .iter()
        .filter(|(id, _)| !keys.epochs.contains_key(*id) && !keys.forgotten.contains(*id))
        .any(|(_, e)| e.seals.iter().any(|(_, p)| p == prekey))
}

/// Whether member `me` should publish a new prekey now: the constitution forgets, and its
/// newest prekey has served [`prekey_rotation_ms`] since `newest_since` (when this node first
/// saw it as its newest, by its own clock). A newest prekey that is missing or deleted is
/// replaced by [`plan`] anyway.
pub fn prekey_due(
    state: &GroupState,
    me: &PublicKey,
    keys: &Keyring,
    newest_since: Option<u64>,
    now: u64,
) -> bool {
    let period = prekey_rotation_ms(state.constitution.forget_after_days);
    period > 0
        && state
            .members
            .get(me)
            .and_then(|m| m.prekey)
            .is_some_and(|k| keys.prekeys.contains_key(&k))
        && newest_since.is_some_and(|t| now >= t.saturating_add(period))
}

/// The private halves of `me`'s prekeys to delete now (see the module docs): every one that a
/// forgotten epoch was sealed to, and every replaced one (not the newest) whose replacement
/// has served [`prekey_rotation_ms`] since `newest_since` and that no epoch we lack still
/// needs. Only when the constitution forgets, and only keys the state knows as `me`'s.
pub fn stale_prekeys(
    state: &GroupState,
    me: &PublicKey,
    keys: &Keyring,
    newest_since: Option<u64>,
    now: u64,
) -> Vec<[u8; 32]> {
    let period = prekey_rotation_ms(state.constitution.forget_after_days);
    if period == 0 {
        return Vec::new();
    }
    let newest = state.members.get(me).and_then(|m| m.prekey);
    let replaced_long_ago = newest_since.is_some_and(|t| now >= t.saturating_add(period));
    keys.prekeys
        .keys()
        .filter(|k| state.prekeys.get(*k) == Some(me))
        .filter(|k| {
            opens_forgotten(state, keys, k)
                || (Some(**k) != newest && replaced_long_ago && !still_needed(state, keys, k))
        })
        .copied()
        .collect()
}

fn all_recipients(state: &GroupState) -> Vec<[u8; 32]> {
    state.members.values().filter_map(|m| m.prekey).collect()
}

fn tips(state: &GroupState) -> Vec<EventId> {
    state
        .epochs
        .iter()
        .filter(|(_, e)| !e.superseded)
        .map(|(id, _)| *id)
        .collect()
}

/// What `me` must write before encrypting new content: nothing if the writing epoch is one it
/// holds and every member with a prekey knows; otherwise a new epoch, or seals for newcomers.
pub fn ensure_writable(state: &GroupState, me: &PublicKey, keys: &Keyring) -> Vec<Action> {
    if !state.is_member(me) {
        return Vec::new();
    }
    match state.writing_epoch() {
        Some(e) if keys.epochs.contains_key(&e) => {
            let missing: Vec<[u8; 32]> = state
                .missing_knowers(&e)
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            if missing.is_empty() {
                Vec::new()
            } else if state.constitution.history {
                vec![Action::Extend {
                    epoch: e,
                    recipients: missing,
                    history: true,
                }]
            } else {
                vec![rotate(state)]
            }
        }
        _ => vec![rotate(state)],
    }
}

/// A fresh epoch for every current member with a prekey (`dualpower group rekey`).
pub fn rotate(state: &GroupState) -> Action {
    Action::StartEpoch {
        recipients: all_recipients(state),
        prev: tips(state),
    }
}

/// What `me`'s node should write now in this group (`now` in ms since the Unix epoch). `seen`
/// says when this node first saw each pending join (see [`note_joins`]); a join missing from it
/// counts as seen just now.
pub fn plan(
    state: &GroupState,
    me: &PublicKey,
    keys: &Keyring,
    seen: &FirstSeen,
    now: u64,
) -> Vec<Action> {
    let mut out = Vec::new();
    let joined = state.pending.contains_key(me);
    let member = state.is_member(me);
    if (member || joined) && !my_prekey_published(state, me, keys) {
        out.push(Action::PublishPrekey);
        // Seals need the prekey to be in the log first; the rest waits for the next round.
        return out;
    }
    if !member {
        return out;
    }
    if state.constitution.admission == Admission::Invite
        && state.allows(&state.constitution.invite, me)
    {
        for (who, p) in &state.pending {
            let Some(inv) = state.invites.get(&p.invite) else {
                continue;
            };
            let fresh = now <= inv.expires && (inv.used_by.len() as u64) < inv.uses;
            // Not `p.since`: that is the joiner's own clock.
            let first = seen.get(&p.join).copied().unwrap_or(now);
            let mine = inv.author == *me || now > first.saturating_add(ADMIT_GRACE_MS);
            if fresh && mine {
                out.push(Action::Admit {
                    member: *who,
                    join: p.join,
                });
            }
        }
    }
    match state.writing_epoch() {
        None if state.epochs.is_empty() && state.creator == Some(*me) => out.push(rotate(state)),
        Some(e) if keys.epochs.contains_key(&e) => {
            let missing: Vec<[u8; 32]> = state
                .missing_knowers(&e)
                .into_iter()
                .filter(|(who, _)| {
                    state
                        .members
                        .get(who)
                        .is_some_and(|m| m.admitted_by.contains(me))
                })
                .map(|(_, p)| p)
                .collect();
            if !missing.is_empty() {
                out.push(if state.constitution.history {
                    Action::Extend {
                        epoch: e,
                        recipients: missing,
                        history: true,
                    }
                } else {
                    rotate(state)
                });
            }
        }
        _ => {}
    }
    out
}
