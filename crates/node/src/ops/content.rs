//! Content operations: encrypted posts, comments and reactions, display names (sealed profile
//! events), direct messages, and the read side (the decrypted feed, display names, the direct
//! messages we can open).
//!
//! Writing content may first heal the group's keys (a new epoch or seals for newcomers), which
//! goes through [`super::keys`]; nothing here touches membership or decisions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dualpower_core::event::{FLAG_ENCRYPTED, Position};
use dualpower_core::{GroupId, Identity, Payload, PublicKey};
use dualpower_groups::{KeyScheme, Keyring};
use dualpower_state::{Feed, GroupState};
use dualpower_store::{Body, Store};
use serde::Serialize;
use serde_json::json;

use super::keys::{view, write_content};
use super::write::{Cx, OpError, group_arg, invalid, known_keys, member_among, require_member};
use super::{Op, Outcome};

/// Carries out a content operation (the caller routes only those here).
pub(crate) fn apply(cx: Cx<'_>, op: Op) -> Result<Outcome, OpError> {
    match op {
        Op::Write { group, payload } => write_op(cx, &group, &payload),
        Op::Dm { group, to, text } => direct(cx, group.as_deref(), &to, text),
        Op::SetName { group, name } => set_name(cx, &group, &name),
        other => Err(invalid(format!("not a content operation: {other:?}"))),
    }
}

/// `write`: group content given as the hex of its payload encoding.
fn write_op(cx: Cx<'_>, group: &str, payload: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let bytes = hex::decode(payload).map_err(|_| invalid("payload is not hex"))?;
    let p = Payload::decode(&bytes).map_err(|e| invalid(e.to_string()))?;
    if !matches!(
        p,
        Payload::Post { .. } | Payload::Comment { .. } | Payload::Reaction { .. }
    ) {
        return Err(invalid(format!("`{}` is not group content", p.kind_name())));
    }
    let events = write_content(cx, group, bytes)?;
    let last = events.last().map(|e| e.id().to_hex());
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "id": last }),
    })
}

/// `name`: our display name in `group`, a profile sealed under the group's epoch key like a
/// post (so only members read it). What a person typed is trimmed; the rest of the rule is the
/// one every node decodes with ([`dualpower_core::payload::display_name`]).
fn set_name(cx: Cx<'_>, group: &str, name: &str) -> Result<Outcome, OpError> {
    let group = group_arg(group)?;
    let name = name.trim();
    dualpower_core::payload::display_name(name).map_err(|e| invalid(e.to_string()))?;
    let payload = Payload::Profile {
        name: name.to_owned(),
    };
    super::write::check_encoding(&payload)?;
    let events = write_content(cx, group, payload.encode())?;
    let last = events.last().map(|e| e.id().to_hex());
    Ok(Outcome {
        events,
        value: json!({ "group": group.to_hex(), "id": last, "name": name, "member": cx.me().to_did() }),
    })
}

/// `dm`: a direct message sealed to the recipient's prekey, carried by a group both are in.
fn direct(cx: Cx<'_>, group: Option<&str>, to: &str, text: String) -> Result<Outcome, OpError> {
    let (store, id, now, me) = (cx.store, cx.id, cx.now, cx.me());
    let network = *store.network();
    let (group, to) = match group {
        Some(g) => {
            let g = group_arg(g)?;
            let v = view(store, id, g, now)?;
            (g, member_among(to, known_keys(&v.state))?)
        }
        None => shared_group(store, id, to, now)?,
    };
    let v = view(store, id, group, now)?;
    require_member(&v.state, &me)?;
    let recipient = v
        .state
        .members
        .get(&to)
        .ok_or_else(|| invalid(format!("{to} is not a member of this group")))?
        .prekey
        .ok_or_else(|| dualpower_groups::GroupError::NoPrekey(to.to_did()))?;
    let own = v
        .state
        .members
        .get(&me)
        .and_then(|m| m.prekey)
        .filter(|p| v.keyring.prekeys.contains_key(p))
        .ok_or_else(|| dualpower_groups::GroupError::NoPrekey(me.to_did()))?;
    let payload = Payload::Direct { to, text }.encode();
    Payload::decode(&payload).map_err(|e| invalid(e.to_string()))?;
    let body = Body::Build(Box::new(move |pos: &Position| {
        Keyring::seal_direct(&network, pos, &recipient, &own, &payload).map_err(|e| e.to_string())
    }));
    let ev = store.append(id, group, 0, body, FLAG_ENCRYPTED, now)?;
    Ok(Outcome {
        value: json!({ "group": group.to_hex(), "id": ev.id().to_hex(), "to": to.to_did() }),
        events: vec![ev],
    })
}

/// The first group (by id) where both we and `other` are members.
fn shared_group(
    store: &Store,
    id: &Identity,
    other: &str,
    now: u64,
) -> Result<(GroupId, PublicKey), OpError> {
    let me = id.public();
    let mut views = Vec::new();
    for g in store.synced_groups()? {
        views.push((g, view(store, id, g, now)?.state));
    }
    let known = views.iter().flat_map(|(_, st)| known_keys(st));
    let other = member_among(other, known)?;
    if let Some((g, _)) = views
        .iter()
        .find(|(_, st)| st.is_member(&me) && st.is_member(&other))
    {
        return Ok((*g, other));
    }
    let name = |st: &GroupState| st.name.clone().unwrap_or_else(|| st.group.to_hex());
    // Say why there is no carrier, so nobody goes looking for a `--group` that cannot work.
    Err(invalid(
        if let Some((_, st)) = views.iter().find(|(_, st)| st.removed.contains_key(&me)) {
            if !views.iter().any(|(_, st)| st.is_member(&me)) {
                format!(
                    "you were removed from \"{}\" and are in no other group, so no group can \
                     carry a direct message to {other}; ask a member to invite you again",
                    name(st)
                )
            } else {
                format!("you share no group with {other} any more")
            }
        } else if let Some((_, st)) = views
            .iter()
            .find(|(_, st)| st.is_member(&me) && st.removed.contains_key(&other))
        {
            format!(
                "{other} was removed from \"{}\" and you share no other group, so no group can \
                 carry a direct message to them",
                name(st)
            )
        } else if !views.iter().any(|(_, st)| st.is_member(&me)) {
            "you are not a member of any group yet: direct messages travel inside a group you \
             share; join one with `dualpower group join CODE`"
                .to_owned()
        } else {
            format!(
                "you share no group with {other}: direct messages travel inside a group you \
                 both belong to; invite them to one (`dualpower group invite GROUP`)"
            )
        },
    ))
}

/// The decrypted feed of `group` (direct messages are not part of it).
pub fn feed(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<(Feed, GroupState), OpError> {
    let (feed, state, _) = feed_and_names(store, id, group, now)?;
    Ok((feed, state))
}

/// The decrypted feed of `group`, its state, and every member's display name (one decryption
/// for both, shared with every later read of the same events: [`super::opened`]).
pub fn feed_and_names(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<(Feed, GroupState, BTreeMap<PublicKey, String>), OpError> {
    let (feed, state, names) = feed_shared(store, id, group, now)?;
    Ok((
        Arc::unwrap_or_clone(feed),
        Arc::unwrap_or_clone(state),
        Arc::unwrap_or_clone(names),
    ))
}

/// Display names by key, as the read cache shares them.
pub(crate) type SharedNames = Arc<BTreeMap<PublicKey, String>>;

/// [`feed_and_names`] as shared with the read cache (no copy of a large feed).
pub(crate) fn feed_shared(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<(Arc<Feed>, Arc<GroupState>, SharedNames), OpError> {
    let v = view(store, id, group, now)?;
    let (feed, names) = super::opened::feed_and_names(store, id, group, &v);
    Ok((feed, v.state, names))
}

/// Every member's display name in `group`, as far as our keys read their profiles.
pub fn display_names(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<BTreeMap<PublicKey, String>, OpError> {
    let v = view(store, id, group, now)?;
    Ok(Arc::unwrap_or_clone(super::opened::names(
        store, id, group, &v,
    )))
}

/// Every member's latest node addresses in `group` ([`Payload::Reach`], the highest seq of
/// each author's that our keys open).
pub fn reach_addrs(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<BTreeMap<PublicKey, Vec<String>>, OpError> {
    let v = view(store, id, group, now)?;
    let mut latest: BTreeMap<PublicKey, (u64, Vec<String>)> = BTreeMap::new();
    super::opened::with_opened(store, id, group, &v, |events, opened| {
        for ev in events {
            let Some(plain) = opened.get(&ev.id()) else {
                continue;
            };
            if let Ok(Payload::Reach { addrs }) = Payload::decode(plain) {
                let h = ev.header();
                let e = latest.entry(h.author).or_insert((h.seq, Vec::new()));
                if h.seq >= e.0 {
                    *e = (h.seq, addrs);
                }
            }
        }
    });
    Ok(latest.into_iter().map(|(k, (_, a))| (k, a)).collect())
}

/// Writes our node's addresses into `group`, sealed like a post (see [`Payload::Reach`]).
pub fn write_reach(
    store: &Store,
    id: &Identity,
    group: GroupId,
    addrs: Vec<String>,
    now: u64,
) -> Result<Vec<dualpower_core::VerifiedEvent>, OpError> {
    let payload = Payload::Reach { addrs };
    super::write::check_encoding(&payload)?;
    write_content(Cx { store, id, now }, group, payload.encode())
}

/// Why each removed member was removed, as far as this member can read it: a removal's reason
/// travels as an encrypted comment on the removal by its author (the removal itself stays
/// clear, since every node must know who is a member), written under the epoch that excludes the
/// removed member.
pub fn removal_reasons(
    store: &Store,
    id: &Identity,
    group: GroupId,
    now: u64,
) -> Result<std::collections::BTreeMap<PublicKey, String>, OpError> {
    let v = view(store, id, group, now)?;
    let by_event: HashMap<dualpower_core::EventId, (PublicKey, PublicKey)> = v
        .state
        .removed
        .iter()
        .map(|(k, r)| (r.event, (*k, r.by)))
        .collect();
    let mut out = std::collections::BTreeMap::new();
    if by_event.is_empty() {
        return Ok(out);
    }
    // A direct message's plaintext is never a comment, so the group's opened content is all
    // there is to search.
    super::opened::with_opened(store, id, group, &v, |events, opened| {
        for ev in events {
            let Some(plain) = opened.get(&ev.id()) else {
                continue;
            };
            if let Ok(Payload::Comment { parent, text }) = Payload::decode(plain)
                && let Some((member, by)) = by_event.get(&parent)
                && *by == ev.header().author
            {
                out.insert(*member, text);
            }
        }
    });
    Ok(out)
}

/// One direct message this member can read.
#[derive(Debug, Clone, Serialize)]
pub struct DirectView {
    /// Group that carried it.
    pub group: String,
    /// Event id.
    pub id: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Advisory time (ms).
    pub timestamp: u64,
    /// Text.
    pub text: String,
}

/// Every direct message to or from us, oldest first (by advisory time, then id).
pub fn direct_messages(store: &Store, id: &Identity, now: u64) -> Result<Vec<DirectView>, OpError> {
    let network = *store.network();
    let mut out = Vec::new();
    for g in store.synced_groups()? {
        let v = view(store, id, g, now)?;
        let refused = v.state.refusals();
        for ev in v.events.iter().filter(|e| super::opened::is_direct(e)) {
            if refused.contains_key(&ev.id()) {
                continue;
            }
            let Ok(plain) = v.keyring.decrypt(&network, ev) else {
                continue;
            };
            if let Ok(Payload::Direct { to, text }) = Payload::decode(&plain) {
                out.push(DirectView {
                    group: g.to_hex(),
                    id: ev.id().to_hex(),
                    from: ev.header().author.to_did(),
                    to: to.to_did(),
                    timestamp: ev.header().timestamp,
                    text,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
    Ok(out)
}
