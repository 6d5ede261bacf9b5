//! The feed is a pure function of the set of events: every delivery order gives the same feed
//! and the same state hash.
#![allow(clippy::unwrap_used)]

use dualpower_core::{
    Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload, VerifiedEvent,
};
use dualpower_state::{Feed, Rejection};
use proptest::prelude::*;

fn net() -> NetworkId {
    NetworkId::named("state-tests")
}

struct Author {
    id: Identity,
    seq: u64,
    head: Option<EventId>,
}

/// Builds a group history from a script of (author, action, target) choices.
fn history(script: &[(usize, u8, usize)]) -> (GroupId, Vec<VerifiedEvent>) {
    let mut authors: Vec<Author> = (0..4u8)
        .map(|i| Author {
            id: Identity::from_seed(&[i + 1; 32]),
            seq: 0,
            head: None,
        })
        .collect();
    let genesis = Genesis {
        name: "Food co-op".into(),
        nonce: [5; 16],
        constitution: Default::default(),
    };
    let group = genesis.group_id(&authors[0].id.public());
    let mut all: Vec<VerifiedEvent> = Vec::new();
    let mut targets: Vec<EventId> = Vec::new();
    let emit =
        |a: &mut Author, payload: Payload, deps: Vec<EventId>, all: &mut Vec<VerifiedEvent>| {
            let ev = Draft {
                group,
                log: 0,
                seq: a.seq,
                backlink: a.head,
                deps,
                timestamp: 1000 + all.len() as u64,
                body: payload.encode(),
                flags: 0,
            }
            .sign(&a.id, &net())
            .unwrap();
            a.seq += 1;
            a.head = Some(ev.id());
            all.push(ev.clone());
            ev.id()
        };
    emit(
        &mut authors[0],
        Payload::GroupGenesis(genesis),
        vec![],
        &mut all,
    );
    for (i, &(who, action, target)) in script.iter().enumerate() {
        let deps: Vec<EventId> = all.last().map(|e| e.id()).into_iter().collect();
        let a = &mut authors[who % 4];
        let deps = deps.into_iter().filter(|d| Some(*d) != a.head).collect();
        let payload = match (action % 4, targets.is_empty()) {
            (0, _) | (_, true) => Payload::Post {
                text: format!("post {i}"),
            },
            (1, false) => Payload::Comment {
                parent: targets[target % targets.len()],
                text: format!("reply {i}"),
            },
            (2, false) => Payload::Reaction {
                target: targets[target % targets.len()],
                reaction: ["✊", "👍", "❤"][target % 3].into(),
            },
            _ => Payload::Comment {
                parent: EventId([0xee; 32]),
                text: "dangling".into(),
            },
        };
        let is_target = matches!(payload, Payload::Post { .. } | Payload::Comment { .. });
        let id = emit(a, payload, deps, &mut all);
        if is_target {
            targets.push(id);
        }
    }
    (group, all)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_delivery_order_gives_the_same_feed(
        script in prop::collection::vec((0usize..4, 0u8..4, 0usize..50), 1..40),
        shuffle_seed in any::<u64>(),
    ) {
        let (group, events) = history(&script);
        let reference = Feed::derive(group, &events);
        let mut shuffled = events.clone();
        // Fisher-Yates with a tiny deterministic generator.
        let mut s = shuffle_seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        // Duplicates are ignored too.
        shuffled.extend(events.iter().take(3).cloned());
        let other = Feed::derive(group, &shuffled);
        prop_assert_eq!(&reference, &other);
        prop_assert_eq!(reference.state_hash(), other.state_hash());
        prop_assert_eq!(reference.name.as_deref(), Some("Food co-op"));
    }
}

#[test]
fn dangling_references_and_missing_bodies_are_rejected_with_reasons() {
    let (group, events) = history(&[(1, 0, 0), (2, 3, 0), (3, 2, 0)]);
    let mut without_body = events.clone();
    let stripped = without_body[1].clone().without_body();
    let stripped_id = stripped.id();
    without_body[1] = stripped;
    let feed = Feed::derive(group, &without_body);
    assert!(
        feed.rejected
            .contains(&(stripped_id, Rejection::BodyMissing))
    );
    let feed = Feed::derive(group, &events);
    assert_eq!(feed.posts.len(), 1);
    assert!(
        feed.rejected
            .iter()
            .any(|(_, r)| *r == Rejection::UnknownTarget(EventId([0xee; 32])))
    );
    // The reaction landed on the post.
    assert_eq!(
        feed.posts[0]
            .reactions
            .values()
            .map(|v| v.len())
            .sum::<usize>(),
        1
    );
    // Changing the set changes the hash.
    assert_ne!(
        Feed::derive(group, &events).state_hash(),
        Feed::derive(group, &events[..events.len() - 1]).state_hash()
    );
}
