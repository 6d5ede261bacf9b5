//! Our keys in a group: the view (derived state with our keyring opened), carrying out the
//! membership agent's actions (prekeys, admissions, new epochs, key shares), and `rekey`.
//!
//! This is the layer under the domains, next to [`super::write`]: joining, removing, creating
//! and writing content all have to publish prekeys or seal epochs, so they call into here
//! rather than into each other.
//!
//! Forward secrecy (`forget_after_days` in the constitution) lives in [`view`]: every time a
//! group is derived, epochs superseded long enough ago *by this node's clock* are forgotten
//! (secret deleted from the store, id remembered so no seal or history bundle brings it back),
//! and prekey private halves that could re-open a forgotten epoch, or that were replaced long
//! enough ago, are deleted from the store; [`run_agent`] publishes a new prekey when the newest
//! is due. The schedule and why it is safe are in [`dualpower_groups::agent`] ("Forgetting and
//! prekeys").

use std::sync::Arc;

use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::{EventId, GroupId, Identity, Payload, VerifiedEvent};
use dualpower_crypto::EpochSecret;
use dualpower_groups::agent::{self, Action, chunks};
use dualpower_groups::keyring::{seal_content, seal_governance};
use dualpower_groups::{KeyScheme, Keyring};
use dualpower_state::GroupState;
use dualpower_store::{Body, Store};
use serde_json::json;

use super::Outcome;
use super::secrets::{
    MARK_NEWEST_PREKEY, MARK_SUPERSEDED, clock_marks, delete_clock_mark, first_seen, load_keyring,
    put_clock_mark, save_changes, save_first_seen, save_new,
};
use super::write::{Cx, OpError, derive, group_arg, require_member};

/// A group's derived state, with this member's keys opened.
pub struct View {
    /// The events (shared with the derivation cache).
    pub events: Arc<Vec<VerifiedEvent>>,
    /// The derived state (shared with the derivation cache).
    pub state: Arc<GroupState>,
    /// Our keyring (already saved if it learnt something).
    pub keyring: Keyring,
}

/// Derives `group` and opens what our keys can (never a forgotten epoch); forgets epochs the
/// constitution says to forget and deletes the prekeys that are due (see the module docs).
pub fn view(store: &Store, id: &Identity, group: GroupId, now: u64) -> Result<View, OpError> {
    let network = *store.network();
    let before = load_keyring(store, id, &group)?;
    let mut keyring = before.clone();
    let (mut events, mut state) = super::derived::derived(store, group)?;
    // Keys open decisions, decisions can change who is a member, membership decides which key
    // shares count: learn and derive again until no new key arrives (a few rounds at most).
    let mut changed = false;
    for _ in 0..4 {
        if keyring.learn(&network, &state, &events) == 0 {
            break;
        }
        changed = true;
        super::derived::register_keys(store, group, &keyring);
        (events, state) = super::derived::derived(store, group)?;
    }
    changed |= keyring.entries().len() != before.entries().len();
    if state.constitution.forget_after_days > 0 {
        changed |= forget_old_epochs(store, id, &group, &state, &mut keyring, now);
        changed |= retire_prekeys(store, id, &group, &state, &mut keyring, now);
    }
    // A read-only store (a node holds the writer) cannot save; the node saves them itself.
    if changed {
        let _ = save_changes(store, id, &group, &before, &keyring);
    }
    Ok(View {
        events,
        state,
        keyring,
    })
}

/// Forgets the epochs this node first saw superseded longer ago than the constitution keeps
/// them, by its own clock: a superseding share's timestamp is its author's choice, and a date
/// in the future would keep the old secret for ever. Records the first sighting of newly
/// superseded epochs. Returns whether the keyring changed (the caller saves it).
fn forget_old_epochs(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    state: &GroupState,
    keyring: &mut Keyring,
    now: u64,
) -> bool {
    let keep = state
        .constitution
        .forget_after_days
        .saturating_mul(86_400_000);
    let marks = clock_marks(store, id, group, MARK_SUPERSEDED).unwrap_or_default();
    let mut changed = false;
    for (eid, e) in &state.epochs {
        if !e.superseded || keyring.forgotten.contains(eid) {
            continue;
        }
        let Some(seen) = marks.get(&eid.0).copied() else {
            // First sighting: the count starts now. A read-only store cannot record it; then
            // it starts at the next writable view (later, never sooner).
            let _ = put_clock_mark(store, id, group, MARK_SUPERSEDED, &eid.0, now);
            continue;
        };
        if now >= seen.saturating_add(keep) {
            changed |= keyring.forget(*eid);
            let _ = delete_clock_mark(store, group, MARK_SUPERSEDED, &eid.0);
        }
    }
    changed
}

/// When this node first saw `me`'s newest prekey in `state` as its newest (its own clock).
fn newest_prekey_since(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    state: &GroupState,
) -> Result<Option<u64>, OpError> {
    let Some(newest) = state.members.get(&id.public()).and_then(|m| m.prekey) else {
        return Ok(None);
    };
    Ok(clock_marks(store, id, group, MARK_NEWEST_PREKEY)?
        .get(&newest)
        .copied())
}

/// Deletes the prekey private halves that are due ([`agent::stale_prekeys`]): those a
/// forgotten epoch was sealed to, and replaced ones past their grace. Records when our newest
/// prekey was first seen as such. Returns whether the keyring changed (the caller saves it).
fn retire_prekeys(
    store: &Store,
    id: &Identity,
    group: &GroupId,
    state: &GroupState,
    keyring: &mut Keyring,
    now: u64,
) -> bool {
    let me = id.public();
    let newest = state
        .members
        .get(&me)
        .and_then(|m| m.prekey)
        .filter(|k| keyring.prekeys.contains_key(k));
    let marks = clock_marks(store, id, group, MARK_NEWEST_PREKEY).unwrap_or_default();
    for old in marks.keys().filter(|k| Some(**k) != newest) {
        let _ = delete_clock_mark(store, group, MARK_NEWEST_PREKEY, old);
    }
    let since = newest.map(|n| match marks.get(&n) {
        Some(t) => *t,
        None => {
            let _ = put_clock_mark(store, id, group, MARK_NEWEST_PREKEY, &n, now);
            now
        }
    });
    let stale = agent::stale_prekeys(state, &me, keyring, since, now);
    for k in &stale {
        keyring.prekeys.remove(k);
    }
    !stale.is_empty()
}

/// The writing epoch of `group` and its secret, healing the group's keys first if this member
/// cannot write (a new epoch, or seals for newcomers). Returns the healing events too.
pub(crate) fn writing_epoch(
    cx: Cx<'_>,
    group: GroupId,
) -> Result<(Vec<VerifiedEvent>, EventId, EpochSecret), OpError> {
    let me = cx.me();
    let mut v = view(cx.store, cx.id, group, cx.now)?;
    require_member(&v.state, &me)?;
    let mut healed = Vec::new();
    let heal = agent::ensure_writable(&v.state, &me, &v.keyring);
    if !heal.is_empty() {
        healed.extend(execute(cx.store, cx.id, group, heal, cx.now)?);
        v = view(cx.store, cx.id, group, cx.now)?;
    }
    let epoch = v
        .state
        .writing_epoch()
        .ok_or(dualpower_groups::GroupError::NoEpoch)?;
    let secret = v
        .keyring
        .epochs
        .get(&epoch)
        .cloned()
        .ok_or(dualpower_groups::GroupError::NoKey)?;
    Ok((healed, epoch, secret))
}

/// Encrypts and appends group content (post, comment, reaction), healing the group first if
/// needed. Returns the healing events and the content event.
pub(crate) fn write_content(
    cx: Cx<'_>,
    group: GroupId,
    payload: Vec<u8>,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let network = *cx.store.network();
    let (mut out, epoch, secret) = writing_epoch(cx, group)?;
    let body = Body::Build(Box::new(move |pos: &Position| {
        Ok(seal_content(&network, epoch, &secret, pos, &payload))
    }));
    out.push(
        cx.store
            .append(cx.id, group, 0, body, FLAG_ENCRYPTED, cx.now)?,
    );
    Ok(out)
}

/// Writes a decision payload sealed under the writing epoch's governance key (see
/// [`dualpower_groups::body`]), citing `cite`, through [`super::write::write_body`].
pub(crate) fn write_decision(
    cx: Cx<'_>,
    group: GroupId,
    payload: Payload,
    cite: Vec<EventId>,
) -> Result<(VerifiedEvent, Arc<GroupState>), OpError> {
    super::write::check_encoding(&payload)?;
    let (_, epoch, secret) = writing_epoch(cx, group)?;
    let network = *cx.store.network();
    let gov = dualpower_groups::keyring::governance_key(&secret);
    let plain = payload.encode();
    let body = Body::Build(Box::new(move |pos: &Position| {
        Ok(seal_governance(&network, epoch, &gov, pos, &plain))
    }));
    super::write::write_body(cx, group, body, FLAG_ENCRYPTED, cite)
}

/// Carries out agent actions for `group`, in order. Returns the appended events.
pub fn execute(
    store: &Store,
    id: &Identity,
    group: GroupId,
    actions: Vec<Action>,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let cx = Cx { store, id, now };
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::PublishPrekey => out.push(publish_prekey(cx, group)?),
            Action::Admit { member, join } => {
                let payload = Payload::Admit { member, join };
                out.push(store.append(id, group, 0, payload.encode(), 0, now)?);
            }
            Action::StartEpoch { recipients, prev } => {
                out.extend(start_epoch(cx, group, &recipients, prev)?);
            }
            Action::Extend {
                epoch,
                recipients,
                history,
            } => out.extend(extend_epoch(cx, group, epoch, &recipients, history)?),
        }
    }
    Ok(out)
}

/// A fresh prekey: the private half is saved before the public half is published.
fn publish_prekey(cx: Cx<'_>, group: GroupId) -> Result<VerifiedEvent, OpError> {
    let before = load_keyring(cx.store, cx.id, &group)?;
    let mut keyring = before.clone();
    let network = cx.store.network();
    let prekey = keyring.new_prekey(network, &group, &cx.id.public());
    save_new(cx.store, cx.id, &group, &before, &keyring)?;
    let payload = prekey.encode();
    Ok(cx.store.append(cx.id, group, 0, payload, 0, cx.now)?)
}

/// A new epoch sealed to `recipients` (over several key-share events if they are many); its
/// secret is saved as soon as the first event gives it an id.
fn start_epoch(
    cx: Cx<'_>,
    group: GroupId,
    recipients: &[[u8; 32]],
    prev: Vec<EventId>,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let mut out = Vec::new();
    if recipients.is_empty() {
        return Ok(out);
    }
    let network = *cx.store.network();
    let before = load_keyring(cx.store, cx.id, &group)?;
    let mut keyring = before.clone();
    let secret = EpochSecret::generate();
    let gov = keyring.gov_chain(&*derive(cx.store, group)?, &prev, None);
    let mut epoch: Option<EventId> = None;
    for chunk in chunks(recipients) {
        let chunk = chunk.to_vec();
        let s = secret.clone();
        let prev = prev.clone();
        let gov = gov.clone();
        let body: Body = Body::Build(Box::new(move |pos: &Position| {
            match epoch {
                None => Keyring::start_epoch(&network, pos, &s, &chunk, prev, &[], &gov),
                Some(e) => Keyring::extend_epoch(&network, pos, e, &s, &chunk, &[], &[]),
            }
            .map_err(|e| e.to_string())
        }));
        let ev = cx.store.append(cx.id, group, 0, body, 0, cx.now)?;
        if epoch.is_none() {
            epoch = Some(ev.id());
            keyring.add_epoch(ev.id(), secret.clone());
            save_new(cx.store, cx.id, &group, &before, &keyring)?;
        }
        out.push(ev);
    }
    Ok(out)
}

/// Seals the existing `epoch` to more `recipients`, with earlier epochs if `history`.
fn extend_epoch(
    cx: Cx<'_>,
    group: GroupId,
    epoch: EventId,
    recipients: &[[u8; 32]],
    history: bool,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let network = *cx.store.network();
    let keyring = load_keyring(cx.store, cx.id, &group)?;
    let Some(secret) = keyring.epochs.get(&epoch).cloned() else {
        return Ok(Vec::new());
    };
    let state = derive(cx.store, group)?;
    let hist = if history {
        keyring.history(&state, &epoch)
    } else {
        Vec::new()
    };
    // Governance keys go to every newcomer, history or not (see `dualpower_groups::body`).
    let gov = keyring.gov_chain(&state, &[], Some(&epoch));
    let mut out = Vec::new();
    for (i, chunk) in chunks(recipients).enumerate() {
        let chunk = chunk.to_vec();
        let s = secret.clone();
        let (h, g) = if i == 0 {
            (hist.clone(), gov.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        let body: Body = Body::Build(Box::new(move |pos: &Position| {
            Keyring::extend_epoch(&network, pos, epoch, &s, &chunk, &h, &g)
                .map_err(|e| e.to_string())
        }));
        out.push(cx.store.append(cx.id, group, 0, body, 0, cx.now)?);
    }
    Ok(out)
}

/// Runs the membership agent once for `group`: what this member's node should write now.
/// Pending joins are noted as first seen `now` if this node had not seen them before.
pub fn run_agent(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<Vec<VerifiedEvent>, OpError> {
    let v = view(store, id, group, now)?;
    let before = first_seen(store, id, &group)?;
    let mut seen = before.clone();
    if agent::note_joins(&v.state, &mut seen, now) {
        save_first_seen(store, id, &group, &before, &seen)?;
    }
    let mut actions = agent::plan(&v.state, &id.public(), &v.keyring, &seen, now);
    let since = newest_prekey_since(store, id, &group, &v.state)?;
    if !actions.contains(&Action::PublishPrekey)
        && agent::prekey_due(&v.state, &id.public(), &v.keyring, since, now)
    {
        // Epochs this round starts still seal to the prekey the state names; members seal
        // to the new one once it is in the log.
        actions.insert(0, Action::PublishPrekey);
    }
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    execute(store, id, group, actions, now)
}

/// `rekey`: starts a new epoch now, sealed to every current member.
pub(crate) fn rekey(cx: Cx<'_>, group: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let v = view(cx.store, cx.id, group, cx.now)?;
    require_member(&v.state, &cx.me())?;
    let events = execute(
        cx.store,
        cx.id,
        group,
        vec![agent::rotate(&v.state)],
        cx.now,
    )?;
    let epoch = events.first().map(|e| e.id().to_hex());
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "epoch": epoch }),
    })
}
