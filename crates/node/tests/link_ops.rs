//! Ledger links and demurrage through the node's operations and duties, between real stores
//! and keys, events copied by hand as a bundle would.
//!
//! What it proves: the mistakes a member can make with links (linking to its own group, a
//! bridge who is not a member, paying across a link that is not open or does not exist, a
//! grant to a stranger) are refused with what was wrong and **nothing is written**; a bridge's
//! node opens the link on both sides, carries a payment across and settles it, and bounces one
//! the other group would refuse; and a member's node charges demurrage once the period is over.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, create, exchange, member, refused, state};

use dualpower_core::GroupId;
use dualpower_core::ledger::{clearing_account, commons_account};
use dualpower_node::ops::{self, ConstitutionArgs, Op};

const DAY: u64 = 86_400_000;

/// Rules under which any member links, unlinks and grants directly (so the test needs no
/// votes; `cli/tests/link_e2e.rs` decides by vote).
fn direct() -> ConstitutionArgs {
    ConstitutionArgs {
        limit_rule: Some("member".into()),
        ..ConstitutionArgs::default()
    }
}

/// A group created by `ms[0]` with `rules`, every one of `ms` admitted, events exchanged.
fn group(ms: &[&Member], rules: ConstitutionArgs, now: u64) -> GroupId {
    let g = create(ms[0], rules, now);
    for (i, m) in ms.iter().enumerate().skip(1) {
        admit(ms[0], m, ms, g, now + 1_000 + i as u64 * 10);
    }
    exchange(ms, g);
    for m in ms {
        ops::run_agent(&m.store, &m.id, g, now + 2_000).unwrap();
    }
    exchange(ms, g);
    g
}

fn balance(m: &Member, g: GroupId, k: &dualpower_core::PublicKey) -> i128 {
    state(m, g).credit.balances.get(k).copied().unwrap_or(0)
}

fn link_op(g: GroupId, with: GroupId, bridges: Vec<String>) -> Op {
    Op::Link {
        group: g.to_hex(),
        with: with.to_hex(),
        name: "the other group".into(),
        limit: "10".into(),
        bridges,
        deadline_secs: 0,
    }
}

fn pay_across(g: GroupId, to: &Member, amount: &str) -> Op {
    Op::PayAcross {
        group: g.to_hex(),
        to_group: "the other group".into(),
        to: to.did(),
        amount: amount.into(),
        memo: "rides".into(),
    }
}

/// The bridge's duties, until they write nothing more (each round sees the last one's events).
fn duties(bridge: &Member, g: GroupId, now: u64) -> usize {
    let mut n = 0;
    for _ in 0..4 {
        let w = ops::ledger_duties(&bridge.store, &bridge.id, g, now).unwrap();
        if w.is_empty() {
            break;
        }
        n += w.len();
    }
    n
}

#[test]
fn links_refuse_mistakes_and_a_bridge_carries_payments_across() {
    let (a, b, c) = (member(), member(), member());
    let food = group(&[&a, &b], direct(), 1_000);
    let transport = group(&[&a, &c], direct(), 1_000);
    let now = 100_000;

    // Mistakes, each refused and writing nothing.
    refused(&a, food, link_op(food, food, vec![a.did()]), now, "itself");
    refused(
        &a,
        food,
        link_op(food, transport, vec![c.did()]),
        now,
        "not a member",
    );
    refused(&b, food, pay_across(food, &c, "1"), now, "no link");
    refused(
        &a,
        food,
        Op::Grant {
            group: food.to_hex(),
            to: c.did(),
            amount: "1".into(),
            memo: String::new(),
            deadline_secs: 0,
        },
        now,
        "not a member",
    );

    // The co-op links; until the collective decides too, the link waits.
    apply(&a, link_op(food, transport, vec![a.did()]), now);
    exchange(&[&a, &b], food);
    refused(&b, food, pay_across(food, &c, "1"), now, "not open yet");
    assert_eq!(
        duties(&a, food, now),
        0,
        "nothing to open before both decided"
    );

    // The collective links too: the bridge's node opens both sides.
    apply(&a, link_op(transport, food, vec![a.did()]), now);
    assert_eq!(duties(&a, food, now), 2, "a Linked on each side");
    exchange(&[&a, &b], food);
    exchange(&[&a, &c], transport);
    assert!(state(&b, food).credit.links[&transport].opened.is_some());

    // B pays C across; the bridge credits C and marks it delivered.
    apply(&b, pay_across(food, &c, "3"), now + 10);
    exchange(&[&a, &b], food);
    assert_eq!(
        duties(&a, food, now + 20),
        2,
        "a PayIn there, a Settle here"
    );
    exchange(&[&a, &b], food);
    exchange(&[&a, &c], transport);
    let (kf, kt) = (clearing_account(&transport), clearing_account(&food));
    assert_eq!(balance(&b, food, &b.id.public()), -300);
    assert_eq!(balance(&b, food, &kf), 300);
    assert_eq!(balance(&c, transport, &c.id.public()), 300);
    assert_eq!(balance(&c, transport, &kt), -300);
    assert_eq!(state(&c, transport).credit.sum(), 0);
    let st = state(&b, food);
    let t = st.credit.outgoing.values().next().unwrap();
    assert!(
        matches!(t.delivery, dualpower_state::credit::Delivery::Delivered(_)),
        "{t:?}"
    );
    // Running the duties again writes nothing: one credit per payment.
    assert_eq!(duties(&a, food, now + 30), 0);
    assert_eq!(state(&c, transport).credit.incoming.len(), 1);

    // Beyond the credit the collective extends (10, 3 used): bounced and paid back.
    apply(&b, pay_across(food, &c, "8"), now + 40);
    exchange(&[&a, &b], food);
    assert_eq!(duties(&a, food, now + 50), 1, "a bounce, nothing there");
    exchange(&[&a, &b], food);
    assert_eq!(balance(&b, food, &b.id.public()), -300);
    assert_eq!(state(&b, food).credit.sum(), 0);
    let st = state(&b, food);
    let bounced = st
        .credit
        .outgoing
        .values()
        .find_map(|t| match &t.delivery {
            dualpower_state::credit::Delivery::Bounced(why) => Some(why.clone()),
            _ => None,
        })
        .unwrap();
    assert!(bounced.contains("extends 10.00"), "{bounced}");
    assert_eq!(state(&c, transport).credit.incoming.len(), 1);

    // The audit, for a member of both, finds nothing wrong.
    let (f, t) = (state(&a, food), state(&a, transport));
    assert!(ops::link::audit(&f, &t).is_empty());
    assert!(ops::link::audit(&t, &f).is_empty());

    // Closing the link stops payments across.
    apply(&a, link_op(food, transport, vec![]), now + 60);
    exchange(&[&a, &b], food);
    refused(&b, food, pay_across(food, &c, "1"), now + 70, "closed");
}

#[test]
fn a_member_s_node_charges_demurrage_once_the_period_is_over() {
    let (a, b) = (member(), member());
    let rules = ConstitutionArgs {
        demurrage: Some("1".into()),
        ..ConstitutionArgs::default()
    };
    let g = group(&[&a, &b], rules, 1_000);
    let pay = |to: &Member, amount: &str| Op::Pay {
        group: g.to_hex(),
        to: Some(to.did()),
        amount: Some(amount.into()),
        memo: String::new(),
        invoice: None,
    };
    // Both write in the second period, so group time is past the first.
    let later = 31 * DAY;
    apply(&a, pay(&b, "10"), later);
    exchange(&[&a, &b], g);
    apply(&b, pay(&a, "2"), later + 1);
    exchange(&[&a, &b], g);
    // A day late by group time, any node charges it; the other then sees it charged.
    let first = ops::ledger_duties(&a.store, &a.id, g, later + 2 * DAY).unwrap();
    assert_eq!(first.len(), 1, "the period is charged");
    exchange(&[&a, &b], g);
    let second = ops::ledger_duties(&b.store, &b.id, g, later + 2 * DAY).unwrap();
    assert!(second.is_empty(), "charged once");
    let st = state(&a, g);
    assert_eq!(st.credit.demurrage.len(), 1, "{:?}", st.credit.demurrage);
    assert!(st.credit.demurrage.contains_key(&0));
    // B held 8.00: 1% is 0.08 into the commons; A is below zero and pays nothing.
    assert_eq!(balance(&a, g, &b.id.public()), 792);
    assert_eq!(balance(&a, g, &a.id.public()), -800);
    assert_eq!(balance(&a, g, &commons_account(&g)), 8);
    assert_eq!(st.credit.sum(), 0);
    // Nothing more to charge until the next period ends.
    let again = ops::ledger_duties(&a.store, &a.id, g, later + 3 * DAY).unwrap();
    assert!(again.is_empty());
}
