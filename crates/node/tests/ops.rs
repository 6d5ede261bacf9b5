//! Group operations between two stores without a network (events copied by hand, as a bundle
//! would): history for newcomers on and off, and forgetting old keys (forward secrecy).
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, exchange, member};

use dualpower_core::{GroupId, Payload};
use dualpower_node::ops::{self, ConstitutionArgs, Op};

const DAY: u64 = 86_400_000;

fn apply(m: &Member, op: Op, now: u64) -> serde_json::Value {
    ops::apply(&m.store, &m.id, op, now).unwrap().value
}

fn texts(m: &Member, group: GroupId, now: u64) -> Vec<String> {
    let (feed, _) = ops::feed(&m.store, &m.id, group, now).unwrap();
    feed.posts.into_iter().map(|p| p.text).collect()
}

fn post(m: &Member, group: GroupId, text: &str, now: u64) {
    let payload = hex::encode(Payload::Post { text: text.into() }.encode());
    apply(
        m,
        Op::Write {
            group: group.to_hex(),
            payload,
        },
        now,
    );
}

/// A creates a group with `history`, posts, invites B; B joins and is admitted.
fn setup(history: bool) -> (Member, Member, GroupId) {
    let (a, b) = (member(), member());
    let g = apply(
        &a,
        Op::Create {
            name: "co-op".into(),
            constitution: ConstitutionArgs {
                history: Some(history),
                forget_after_days: Some(1),
                ..Default::default()
            },
        },
        1_000,
    );
    let group = GroupId::from_hex(g["group"].as_str().unwrap()).unwrap();
    post(&a, group, "before B", 2_000);
    let code = apply(
        &a,
        Op::Invite {
            group: group.to_hex(),
            expires_secs: 3_600,
            uses: 1,
            addrs: vec![],
        },
        3_000,
    )["code"]
        .as_str()
        .unwrap()
        .to_owned();
    exchange(&[&a, &b], group);
    apply(&b, Op::Join { code }, 4_000);
    exchange(&[&a, &b], group);
    // A's node admits the join made with its invite and hands B the key.
    ops::run_agent(&a.store, &a.id, group, 5_000).unwrap();
    ops::run_agent(&a.store, &a.id, group, 5_001).unwrap();
    exchange(&[&a, &b], group);
    (a, b, group)
}

#[test]
fn newcomers_read_history_only_if_the_constitution_says_so() {
    let (a, b, group) = setup(true);
    post(&a, group, "after B", 6_000);
    exchange(&[&a, &b], group);
    assert_eq!(texts(&b, group, 7_000), ["before B", "after B"]);

    let (a, b, group) = setup(false);
    post(&a, group, "after B", 6_000);
    post(&b, group, "B here", 6_500);
    exchange(&[&a, &b], group);
    // The last two are concurrent: their order is by id, so compare as sets.
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(texts(&b, group, 7_000)), ["B here", "after B"]);
    assert_eq!(
        sorted(texts(&a, group, 7_000)),
        ["B here", "after B", "before B"]
    );
}

#[test]
fn old_keys_are_forgotten_after_the_configured_days() {
    let (a, _b, group) = setup(true);
    apply(
        &a,
        Op::Rekey {
            group: group.to_hex(),
        },
        10_000,
    );
    post(&a, group, "new epoch", 11_000);
    // Within a day everything is readable.
    assert_eq!(texts(&a, group, 12_000), ["before B", "new epoch"]);
    // Two days later the superseded epoch's key is gone: its post cannot be read any more.
    assert_eq!(texts(&a, group, 2 * DAY + 12_000), ["new epoch"]);
}
