//! Display names: who each member says they are in a group.
//!
//! A member names themselves with a [`Payload::Profile`] event, sealed under the group's epoch
//! key like a post, so only members read it. The rules (the same on every node):
//!
//! * Only sealed profiles count: a name is for the group, never for whoever holds the log.
//! * The author names only themselves: the name belongs to the event's signer, so a member
//!   cannot set a name for anyone else (there is no field to name another key).
//! * An event the membership layer refused (the author was not a member at its point, or wrote
//!   it after a removal's cut) names nobody: the same rule as posts.
//! * The latest profile along the author's own log wins (highest seq). A forked author (two
//!   events at one seq) is decided by the greatest (seq, event id), so every node picks the
//!   same one whatever the delivery order.
//!
//! Names are a label, not an identity: two members may choose the same name, and the node's
//! labelling (`dualpower_node::names`) tells them apart by key.

use std::collections::{BTreeMap, HashMap};

use dualpower_core::event::FLAG_ENCRYPTED;
use dualpower_core::{EventId, GroupId, Payload, PublicKey, VerifiedEvent};

/// The display name of every member of `group` who set one: `events` are the group's events
/// (any order), `opened` the plaintext of the sealed ones this member's keys open (event id →
/// payload bytes, as for [`crate::Feed::derive_opened`]), `refused` the events the membership
/// layer refused ([`crate::GroupState::refusals`]).
pub fn display_names(
    group: GroupId,
    events: &[VerifiedEvent],
    opened: &HashMap<EventId, Vec<u8>>,
    refused: &HashMap<EventId, String>,
) -> BTreeMap<PublicKey, String> {
    let mut latest: BTreeMap<PublicKey, ((u64, EventId), String)> = BTreeMap::new();
    for ev in events {
        let h = ev.header();
        if h.group != group || h.flags & FLAG_ENCRYPTED == 0 || refused.contains_key(&ev.id()) {
            continue;
        }
        let Some(Ok(Payload::Profile { name })) = opened.get(&ev.id()).map(|p| Payload::decode(p))
        else {
            continue;
        };
        let rank = (h.seq, ev.id());
        match latest.get(&h.author) {
            Some((best, _)) if *best >= rank => {}
            _ => {
                latest.insert(h.author, (rank, name));
            }
        }
    }
    latest.into_iter().map(|(k, (_, name))| (k, name)).collect()
}
