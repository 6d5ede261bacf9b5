//! The one write path every operation shares: parse the arguments, check against the derived
//! state what every node will check, append, derive again and report a refusal.
//!
//! Domain modules ([`super::membership`], [`super::content`], [`super::decisions`]) build on
//! these helpers and never on each other, so each domain reads on its own and a change to how
//! events are written happens in one place.

use std::sync::Arc;

use dualpower_core::payload::Rule;
use dualpower_core::{EventId, GroupId, Identity, Payload, PublicKey, VerifiedEvent};
use dualpower_state::GroupState;
use dualpower_store::{AppendError, Body, Store, StoreError};
use thiserror::Error;

/// Why an operation was refused.
#[derive(Debug, Error)]
pub enum OpError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Appending failed.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// The input is wrong; the text says how.
    #[error("{0}")]
    Invalid(String),
    /// The member may not do this.
    #[error("{0}")]
    Denied(String),
    /// Keys are missing.
    #[error(transparent)]
    Keys(#[from] dualpower_groups::GroupError),
}

impl OpError {
    /// A stable name of the kind of refusal, for the local API's answers: `invalid`, `denied`,
    /// `keys`, `append` or `store`.
    pub fn kind(&self) -> &'static str {
        match self {
            OpError::Store(_) => "store",
            OpError::Append(_) => "append",
            OpError::Invalid(_) => "invalid",
            OpError::Denied(_) => "denied",
            OpError::Keys(_) => "keys",
        }
    }
}

/// An operation refused or failed, as it crosses the node's command channel: its
/// [`OpError::kind`] and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// [`OpError::kind`], or `stopping` when the node is shutting down.
    pub kind: &'static str,
    /// What to tell the person.
    pub message: String,
}

impl Refused {
    /// The HTTP status that says whose fault it is (every transport maps refusals the same way):
    /// 400 malformed, 403 not allowed, 503 the node is stopping, 409 the group's state says no.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            "invalid" => 400,
            "denied" => 403,
            "stopping" => 503,
            _ => 409,
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<OpError> for Refused {
    fn from(e: OpError) -> Refused {
        Refused {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// An [`OpError::Invalid`] with this text.
pub(crate) fn invalid(s: impl Into<String>) -> OpError {
    OpError::Invalid(s.into())
}

/// Who acts, on which store, at what time (ms): what every operation needs.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'a> {
    /// The store written to.
    pub store: &'a Store,
    /// The member acting.
    pub id: &'a Identity,
    /// The time (ms) written into events.
    pub now: u64,
}

impl Cx<'_> {
    /// The acting member's key.
    pub fn me(&self) -> PublicKey {
        self.id.public()
    }
}

/// The one item whose id (lowercase hex) starts with `key` (at least 4 hex digits): `what`
/// names the kind of item in messages, `list` the command that shows them.
pub(crate) fn by_prefix<T>(
    key: &str,
    what: &str,
    list: &str,
    items: impl Iterator<Item = (EventId, T)>,
) -> Result<T, OpError> {
    let key = key.trim().to_ascii_lowercase();
    if key.len() < 4 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "`{key}` is not a {what} id (at least 4 hex digits, as `{list}` shows)"
        )));
    }
    let mut hits = items.filter(|(id, _)| id.to_hex().starts_with(&key));
    match (hits.next(), hits.next()) {
        (Some((_, t)), None) => Ok(t),
        (None, _) => Err(invalid(format!(
            "no {what} `{key}` in this group (`{list}` shows them)"
        ))),
        (Some(_), Some(_)) => Err(invalid(format!(
            "`{key}` matches several {what}s; give more digits"
        ))),
    }
}

/// Parses a group id given as 64 hex digits.
pub(crate) fn group_arg(s: &str) -> Result<GroupId, OpError> {
    GroupId::from_hex(s).ok_or_else(|| invalid(format!("`{s}` is not a 64-digit group id")))
}

/// Parses a member given as did:key or 64 hex digits.
pub fn member_arg(s: &str) -> Result<dualpower_core::PublicKey, OpError> {
    if let Ok(k) = PublicKey::from_did(s) {
        return Ok(k);
    }
    let mut b = [0u8; 32];
    hex::decode_to_slice(s, &mut b).map_err(|_| {
        invalid(format!(
            "`{s}` is not a member key (did:key:… or 64 hex digits)"
        ))
    })?;
    Ok(PublicKey(b))
}

/// The shortest fragment of a key accepted: every Ed25519 did:key starts with `z6Mk`, so a
/// shorter piece would name nearly anyone.
const MIN_FRAGMENT: usize = 6;

/// A member given as a full key, or as a piece of one as people see it displayed (`…uW3fgMhW`,
/// `z6MkhaXg`, a hex prefix): the piece must begin or end exactly one of `candidates`' keys
/// (did:key or hex form), so a typo or an ambiguous piece is refused, never guessed.
pub fn member_among(
    s: &str,
    candidates: impl IntoIterator<Item = PublicKey>,
) -> Result<PublicKey, OpError> {
    if let Ok(k) = member_arg(s) {
        return Ok(k);
    }
    let piece = s
        .trim()
        .trim_start_matches("did:key:")
        .trim_start_matches('…')
        .trim_start_matches("...")
        .trim_end_matches('…')
        .trim_end_matches("...");
    if piece.chars().count() < MIN_FRAGMENT {
        return Err(invalid(format!(
            "`{s}` is too short to name a member: give at least {MIN_FRAGMENT} characters of \
             the key as shown by `dualpower group members`, or the whole did:key"
        )));
    }
    let mut found: Vec<PublicKey> = candidates
        .into_iter()
        .filter(|k| {
            let did = k.to_did();
            let did = did.trim_start_matches("did:key:");
            let hex = k.to_hex();
            did.starts_with(piece)
                || did.ends_with(piece)
                || hex.starts_with(&piece.to_ascii_lowercase())
        })
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [k] => Ok(*k),
        [] => Err(invalid(format!(
            "no member's key begins or ends with `{piece}`: run `dualpower group members GROUP` \
             to see the keys, and give one whole or a longer piece of it"
        ))),
        many => Err(invalid(format!(
            "`{piece}` matches {} keys ({}): give a longer piece",
            many.len(),
            many.iter()
                .map(|k| k.to_did())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Everyone a group knows by key: members, pending joiners and removed members.
pub(crate) fn known_keys(st: &GroupState) -> Vec<PublicKey> {
    st.members
        .keys()
        .chain(st.pending.keys())
        .chain(st.removed.keys())
        .copied()
        .collect()
}

/// Checks that a payload encodes within the limits every node decodes with.
pub(crate) fn check_encoding(payload: &Payload) -> Result<(), OpError> {
    Payload::decode(&payload.encode())
        .map(|_| ())
        .map_err(|e| invalid(e.to_string()))
}

/// `group`'s state derived from every stored event (once per event set: see
/// [`super::derived`]).
pub(crate) fn derive(store: &Store, group: GroupId) -> Result<Arc<GroupState>, OpError> {
    Ok(super::derived::derived(store, group)?.1)
}

/// That `me` is a member (with a clearer word for a newcomer still waiting for admission).
pub(crate) fn require_member(st: &GroupState, me: &PublicKey) -> Result<(), OpError> {
    if st.is_member(me) {
        return Ok(());
    }
    if st.pending.contains_key(me) {
        return Err(OpError::Denied(
            "you have asked to join but are not admitted yet; keep your node running and connected"
                .into(),
        ));
    }
    Err(OpError::Denied("you are not a member of this group".into()))
}

/// That `me` is a member whom the constitution's `rule` allows to do `what`.
pub(crate) fn require(
    st: &GroupState,
    rule: &Rule,
    me: &PublicKey,
    what: &str,
) -> Result<(), OpError> {
    require_member(st, me)?;
    if st.allows(rule, me) {
        Ok(())
    } else {
        Err(OpError::Denied(format!(
            "the constitution says only `{}` may {what}",
            rule.to_text()
        )))
    }
}

/// Appends the plaintext `payload` to our log in `group` (citing `cite` as deps, or the newest
/// heads if empty), then derives the group again: if it refuses the event after all (state the
/// checks before could not see), says why instead of reporting success.
pub(crate) fn write(
    cx: Cx<'_>,
    group: GroupId,
    payload: Payload,
    cite: Vec<EventId>,
) -> Result<(VerifiedEvent, Arc<GroupState>), OpError> {
    write_body(cx, group, Body::Bytes(payload.encode()), 0, cite)
}

/// [`write`] for a body built at append time (an encrypted one; see
/// [`super::keys::write_decision`]).
pub(crate) fn write_body(
    cx: Cx<'_>,
    group: GroupId,
    body: Body,
    flags: u64,
    cite: Vec<EventId>,
) -> Result<(VerifiedEvent, Arc<GroupState>), OpError> {
    let ev = cx
        .store
        .append_citing(cx.id, group, 0, body, flags, cx.now, cite)?;
    let st = derive(cx.store, group)?;
    if let Some((_, r)) = st.rejected.iter().find(|(e, _)| *e == ev.id()) {
        return Err(OpError::Denied(format!("the group refuses this: {r}")));
    }
    Ok((ev, st))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Vec<PublicKey> {
        (1u8..=3)
            .map(|i| Identity::from_seed(&[i; 32]).public())
            .collect()
    }

    #[test]
    fn a_refusal_says_whose_fault_it_is() {
        let status = |kind| {
            Refused {
                kind,
                message: String::new(),
            }
            .http_status()
        };
        assert_eq!(
            [
                status("invalid"),
                status("denied"),
                status("stopping"),
                status("conflict")
            ],
            [400, 403, 503, 409]
        );
    }

    #[test]
    fn a_displayed_piece_names_its_member() {
        let ks = keys();
        let did = ks[1].to_did();
        let tail = &did[did.len() - 8..];
        // As `group members` shows it, with the ellipsis.
        assert_eq!(
            member_among(&format!("…{tail}"), ks.clone()).unwrap(),
            ks[1]
        );
        assert_eq!(member_among(tail, ks.clone()).unwrap(), ks[1]);
        let head = &did[..did.len() - 30];
        assert_eq!(member_among(head, ks.clone()).unwrap(), ks[1]);
        assert_eq!(
            member_among(&ks[2].to_hex()[..10], ks.clone()).unwrap(),
            ks[2]
        );
        // A whole key needs no candidates at all.
        assert_eq!(member_among(&did, Vec::new()).unwrap(), ks[1]);
    }

    #[test]
    fn short_unknown_or_ambiguous_pieces_are_refused() {
        let ks = keys();
        let e = member_among("z6Mk", ks.clone()).unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");
        let e = member_among("zzzzzzzzz", ks.clone())
            .unwrap_err()
            .to_string();
        assert!(e.contains("group members"), "{e}");
        // The same key listed twice (a member who is also listed as removed) is one key.
        let tail = &ks[0].to_did()[40..];
        assert_eq!(member_among(tail, vec![ks[0], ks[0]]).unwrap(), ks[0]);
        // Two keys sharing a 6-digit hex prefix (found by the birthday bound, as a member
        // grinding keys would): the piece is refused, never resolved to either.
        let mut seen = std::collections::HashMap::new();
        let (a, b) = (0u32..)
            .find_map(|i| {
                let mut seed = [0u8; 32];
                seed[..4].copy_from_slice(&i.to_le_bytes());
                let k = Identity::from_seed(&seed).public();
                seen.insert(k.to_hex()[..6].to_owned(), k)
                    .filter(|old| *old != k)
                    .map(|old| (old, k))
            })
            .unwrap();
        let piece = &a.to_hex()[..6];
        let e = member_among(piece, vec![a, b]).unwrap_err().to_string();
        assert!(e.contains("matches 2 keys"), "{e}");
        assert_eq!(member_among(&a.to_hex()[..12], vec![a, b]).unwrap(), a);
    }
}
