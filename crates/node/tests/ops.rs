//! Group operations between two stores without a network (events copied by hand, as a bundle
//! would): history for newcomers on and off, forgetting old keys (forward secrecy), and the
//! admission grace period counted by each node's own clock, not the joiner's timestamp.
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

/// The kinds of the plaintext payloads among `events` that admit `who`.
fn admits(events: &[dualpower_core::VerifiedEvent], who: &dualpower_core::PublicKey) -> usize {
    events
        .iter()
        .filter_map(|e| e.body().and_then(|b| Payload::decode(b).ok()))
        .filter(|p| matches!(p, Payload::Admit { member, .. } if member == who))
        .count()
}

#[test]
fn a_join_dated_in_the_past_waits_out_the_grace_period_on_each_node() {
    use dualpower_groups::agent::ADMIT_GRACE_MS;
    // A and B are members (B admitted by A's node); A invites C.
    let (a, b, group) = setup(true);
    let c = member();
    let code = apply(
        &a,
        Op::Invite {
            group: group.to_hex(),
            expires_secs: 30 * 86_400,
            uses: 1,
            addrs: vec![],
        },
        6_000,
    )["code"]
        .as_str()
        .unwrap()
        .to_owned();
    exchange(&[&a, &c], group);
    // C dates its join at the dawn of time, as if the grace period had long passed.
    apply(&c, Op::Join { code }, 1);
    exchange(&[&b, &c], group);
    let pending = c.id.public();
    // B's node (not the inviter) first sees the join much later: it waits the grace period
    // from then, whatever the join's own timestamp says.
    let t = 10 * DAY;
    let w = ops::run_agent(&b.store, &b.id, group, t).unwrap();
    assert_eq!(admits(&w, &pending), 0, "admitted at first sight");
    let w = ops::run_agent(&b.store, &b.id, group, t + ADMIT_GRACE_MS).unwrap();
    assert_eq!(admits(&w, &pending), 0, "admitted within the grace period");
    // Once the grace period has passed on B's own clock, B steps in for the absent inviter.
    let w = ops::run_agent(&b.store, &b.id, group, t + ADMIT_GRACE_MS + 1).unwrap();
    assert_eq!(
        admits(&w, &pending),
        1,
        "not admitted after the grace period"
    );
}

#[test]
fn the_state_is_derived_once_per_change_of_the_event_set() {
    use dualpower_node::ops::derived::{derivations, full_derivations};
    let (a, _b, group) = setup(true);
    // What the node does on every change: the agent (up to several rounds), the view, the
    // attestations. Nothing changed since the last derivation: no derivation at all.
    let refresh = |now| {
        ops::run_agent(&a.store, &a.id, group, now).unwrap();
        ops::run_agent(&a.store, &a.id, group, now).unwrap();
        let v = ops::view(&a.store, &a.id, group, now).unwrap();
        ops::attest_closed(&a.store, &a.id, group, &v.state, now).unwrap();
        ops::feed(&a.store, &a.id, group, now).unwrap();
    };
    refresh(6_000);
    let before = derivations();
    refresh(6_001);
    assert_eq!(derivations() - before, 0);
    // One new event: the state is brought up to date exactly once, however many readers, and
    // by appending to the last derivation, not from scratch.
    let (before, full) = (derivations(), full_derivations());
    post(&a, group, "one more", 7_000);
    refresh(7_001);
    assert_eq!(derivations() - before, 1);
    assert_eq!(
        full_derivations() - full,
        0,
        "a post is appended, not derived again"
    );
}
