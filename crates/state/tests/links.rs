//! Links between groups' ledgers, demurrage, grants from the commons and mirrored intents,
//! through the pass.
//!
//! It exists because these rules span two groups' logs and group time, which the single-group
//! tests in `tests/credit.rs` never exercise: two groups decide to link, a bridge (a member of
//! both, the same key in both scenarios) opens the link and carries a payment across, settles it
//! or bounces it; every act out of turn is refused without effect; demurrage charges the period
//! that just ended once; the commons pays out by decision, up to what it holds; a bridge shows
//! the other group's shared intents. A property test checks that random mixes of all of them
//! keep each ledger summing to zero, keep members within their limits and give the same state
//! in every delivery order. The rules are at the top of `crates/state/src/credit.rs`.
//!
//! Two tests guard a bug these tests found (fixed with `Ledger::peek_balance`): a demurrage
//! charge, and a second bridge's pay-in, counted incoming credit that was not in the judged
//! event's causal past.
#![allow(clippy::unwrap_used)]

mod common;
use common::ledger::{bal, proposal, terms};
use common::*;

use dualpower_core::aid::{AidAct, Category, Intent};
use dualpower_core::decision::Ballot;
use dualpower_core::ledger::{
    CreditRules, DEMURRAGE_PERIOD_MS, LedgerAct, clearing_account, commons_account,
};
use dualpower_core::{Constitution, EventId, GroupId, Payload, PublicKey, Rule, VerifiedEvent};
use dualpower_state::aid::Mirrored;
use dualpower_state::credit::{Arrival, Charge, Delivery, Transfer};
use dualpower_state::{Derivation, GroupState, Refusal};
use proptest::prelude::*;

/// The default member limit (20.00).
const LIMIT: u64 = 2_000;
/// One demurrage period.
const PERIOD: u64 = DEMURRAGE_PERIOD_MS;

// Helpers.

/// Deps that put everything written so far in the past.
fn heads(s: &Scenario) -> Vec<EventId> {
    s.events.last().map(|e| e.id()).into_iter().collect()
}

fn ledger_at(
    s: &mut Scenario,
    by: &'static str,
    act: LedgerAct,
    deps: &[EventId],
    at: u64,
) -> VerifiedEvent {
    s.write(by, Payload::Ledger(act), deps, at)
}

/// `by` posts `act` with everything so far in its past.
fn ledger(s: &mut Scenario, by: &'static str, act: LedgerAct) -> VerifiedEvent {
    let deps = heads(s);
    ledger_at(s, by, act, &deps, T)
}

fn pay(s: &mut Scenario, by: &'static str, to: &str, amount: u64) -> VerifiedEvent {
    let to = s.key(to);
    ledger(
        s,
        by,
        LedgerAct::Pay {
            to,
            amount,
            memo: format!("{amount}"),
            invoice: None,
        },
    )
}

fn pay_out(
    s: &mut Scenario,
    by: &'static str,
    group: GroupId,
    to: PublicKey,
    amount: u64,
) -> VerifiedEvent {
    ledger(
        s,
        by,
        LedgerAct::PayOut {
            group,
            to,
            amount,
            memo: "bread".into(),
        },
    )
}

fn pay_in(
    s: &mut Scenario,
    by: &'static str,
    group: GroupId,
    origin: EventId,
    from: PublicKey,
    to: PublicKey,
    amount: u64,
) -> VerifiedEvent {
    ledger(
        s,
        by,
        LedgerAct::PayIn {
            group,
            origin,
            from,
            to,
            amount,
            memo: "bread".into(),
        },
    )
}

fn settle(
    s: &mut Scenario,
    by: &'static str,
    origin: EventId,
    result: Result<EventId, String>,
) -> VerifiedEvent {
    ledger(s, by, LedgerAct::Settle { origin, result })
}

fn linked(s: &mut Scenario, by: &'static str, group: GroupId, decision: EventId) -> VerifiedEvent {
    ledger(s, by, LedgerAct::Linked { group, decision })
}

/// `voters[0]` proposes `act`, every one of `voters` votes yes, and `voters[0]` closes it.
fn decide(
    s: &mut Scenario,
    voters: &[&'static str],
    act: LedgerAct,
) -> (VerifiedEvent, VerifiedEvent) {
    let by = voters[0];
    let deps = heads(s);
    let p = s.write(by, Payload::Propose(proposal(act)), &deps, T);
    for v in voters {
        let deps = heads(s);
        s.write(
            v,
            Payload::Vote {
                proposal: p.id(),
                ballot: Ballot::Choice(0),
                reason: String::new(),
            },
            &deps,
            T,
        );
    }
    let deps = heads(s);
    let c = s.write(by, Payload::Close { proposal: p.id() }, &deps, T);
    (p, c)
}

/// Derives `s` with and without `bad` (the last event of its author): it must be refused and
/// change neither the ledger, the board nor the members. Returns the refusal.
#[track_caller]
fn refused_without_effect(s: &Scenario, bad: &VerifiedEvent) -> Refusal {
    let (with, without) = s.with_and_without(bad);
    assert_eq!(
        with.credit, without.credit,
        "the refused event changed the ledger"
    );
    assert_eq!(with.aid, without.aid, "the refused event changed the board");
    assert_eq!(
        with.members, without.members,
        "the refused event changed the members"
    );
    assert_eq!(with.credit.sum(), 0);
    refusal(&with, bad).unwrap_or_else(|| panic!("{} should be refused", bad.id()))
}

#[track_caller]
fn assert_credit_refusal(r: &Refusal, act: &str, why: &str) {
    match r {
        Refusal::Credit { act: a, why: w } if *a == act && w.contains(why) => {}
        other => panic!("expected `{act}` refused with `{why}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_aid_refusal(r: &Refusal, why: &str) {
    match r {
        Refusal::Aid {
            act: "mirror",
            why: w,
        } if w.contains(why) => {}
        other => panic!("expected `mirror` refused with `{why}`, got {other:?}"),
    }
}

/// The same ledger, board and refusals whatever order `s`'s events are delivered in: shuffled
/// sets derived from scratch, and events fed one by one, in random causal orders, to an
/// incremental derivation.
#[track_caller]
fn same_in_every_order(s: &Scenario, reference: &GroupState, seeds: std::ops::Range<u64>) {
    let ids = |g: &GroupState| {
        let mut v: Vec<EventId> = g.rejected.iter().map(|(e, _)| *e).collect();
        v.sort();
        v
    };
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let order = shuffled(&s.events, &mut rng);
        let st = GroupState::derive(&s.network, s.group, &order);
        assert_eq!(st.credit, reference.credit, "shuffled order {seed}");
        assert_eq!(st.aid, reference.aid, "shuffled order {seed}");
        assert_eq!(ids(&st), ids(reference), "refusals, shuffled order {seed}");
        let order = topological(&s.events, &mut rng);
        let mut d = Derivation::new(&s.network, s.group, &[]);
        for e in &order {
            d.extend(std::slice::from_ref(e));
        }
        assert_eq!(
            d.state().credit,
            reference.credit,
            "one by one, causal order {seed}"
        );
        assert_eq!(d.state().aid, reference.aid, "one by one, order {seed}");
    }
}

// Two groups and their bridge.

/// Group A (the tenants) and group B (the bakers); "bridge" is a member of both (the same
/// deterministic key in both scenarios: `identity_of` depends on the name only).
const A_NAMES: [&str; 3] = ["ann", "bridge", "carl"];
const B_NAMES: [&str; 3] = ["bea", "bridge", "dan"];
/// What A extends to B (the floor of B's clearing account in A's ledger), and B to A.
const A_EXTENDS: u64 = 5_000;
const B_EXTENDS: u64 = 3_000;

struct Pair {
    a: Scenario,
    b: Scenario,
    /// Each group's close of its link decision.
    close_a: VerifiedEvent,
    close_b: VerifiedEvent,
}

impl Pair {
    fn bridge(&self) -> PublicKey {
        self.a.key("bridge")
    }
    /// B's clearing account in A's ledger.
    fn in_a(&self) -> PublicKey {
        clearing_account(&self.b.group)
    }
    /// A's clearing account in B's ledger.
    fn in_b(&self) -> PublicKey {
        clearing_account(&self.a.group)
    }
}

/// Both groups decided to link (by vote, the default rule), nobody opened the link yet.
fn decided_pair() -> Pair {
    let (mut a, _) = group_of(&A_NAMES, Constitution::default());
    let (mut b, _) = group_of(&B_NAMES, Constitution::default());
    assert_eq!(a.key("bridge"), b.key("bridge"), "one identity in both");
    assert_ne!(a.group, b.group);
    assert_eq!(a.derive().constitution.credit.limits, Rule::Vote);
    let bridge = a.key("bridge");
    let (_, close_a) = decide(
        &mut a,
        &A_NAMES,
        LedgerAct::Link {
            group: b.group,
            terms: terms("Bakers", A_EXTENDS, &[bridge]),
        },
    );
    let (_, close_b) = decide(
        &mut b,
        &B_NAMES,
        LedgerAct::Link {
            group: a.group,
            terms: terms("Tenants", B_EXTENDS, &[bridge]),
        },
    );
    Pair {
        a,
        b,
        close_a,
        close_b,
    }
}

/// Both groups decided, and the bridge opened the link on both sides.
fn open_pair() -> Pair {
    let mut p = decided_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let (ca, cb) = (p.close_a.id(), p.close_b.id());
    let la = linked(&mut p.a, "bridge", gb, cb);
    let lb = linked(&mut p.b, "bridge", ga, ca);
    assert_valid(&p.a.derive(), &la);
    assert_valid(&p.b.derive(), &lb);
    p
}

// 1. A payment across.

#[test]
fn two_groups_link_by_decision_and_a_payment_crosses_through_the_bridge() {
    let mut p = decided_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let (ann, bea, bridge) = (p.a.key("ann"), p.b.key("bea"), p.bridge());
    let (in_a, in_b) = (p.in_a(), p.in_b());

    // Each decision enacted its link; neither is open yet.
    let st = p.a.derive();
    assert_valid(&st, &p.close_a);
    let view = &st.credit.links[&gb];
    assert_eq!(view.terms, terms("Bakers", A_EXTENDS, &[bridge]));
    assert_eq!(
        (view.decided, view.opened, view.their_decision, view.account),
        (p.close_a.id(), None, None, in_a)
    );
    assert_eq!(
        st.credit.named.get(&in_a).map(String::as_str),
        Some("Bakers")
    );
    let st = p.b.derive();
    assert_valid(&st, &p.close_b);
    assert_eq!(st.credit.links[&ga].terms.limit, B_EXTENDS);
    assert_eq!(st.credit.links[&ga].account, in_b);

    // A direct link act needs a decision under the default rule.
    let mut direct = p.a.clone();
    let bad = ledger(
        &mut direct,
        "ann",
        LedgerAct::Link {
            group: GroupId([9; 32]),
            terms: terms("Other", 100, &[bridge]),
        },
    );
    assert_eq!(
        refused_without_effect(&direct, &bad),
        Refusal::NeedsDecision("link the ledger to another group's")
    );

    // Before the bridge's `Linked`, nothing crosses.
    let mut early = p.a.clone();
    let bad = pay_out(&mut early, "ann", gb, bea, 700);
    assert_credit_refusal(
        &refused_without_effect(&early, &bad),
        "pay across",
        "the link to Bakers is not open yet",
    );

    // The bridge opens both sides, citing the other group's close.
    let (ca, cb) = (p.close_a.id(), p.close_b.id());
    let la = linked(&mut p.a, "bridge", gb, cb);
    let lb = linked(&mut p.b, "bridge", ga, ca);
    let st = p.a.derive();
    assert_valid(&st, &la);
    assert_eq!(st.credit.links[&gb].opened, Some(la.id()));
    assert_eq!(st.credit.links[&gb].their_decision, Some(cb));
    assert!(st.credit.balances.is_empty(), "opening moves nothing");
    let st = p.b.derive();
    assert_valid(&st, &lb);
    assert_eq!(st.credit.links[&ga].their_decision, Some(ca));

    // Ann pays Bea 7.00 across: Ann pays B's clearing account in A.
    let out = pay_out(&mut p.a, "ann", gb, bea, 700);
    let st_a = p.a.derive();
    assert_valid(&st_a, &out);
    assert_eq!(bal(&st_a, &ann), -700);
    assert_eq!(bal(&st_a, &in_a), 700);
    assert_eq!(st_a.credit.sum(), 0);
    assert_eq!(
        st_a.credit.outgoing[&out.id()],
        Transfer {
            group: gb,
            from: ann,
            to: bea,
            amount: 700,
            memo: "bread".into(),
            bridges: vec![bridge],
            delivery: Delivery::Sent,
            settled_by: None,
            at: T,
            kept: false,
        }
    );

    // The bridge credits Bea in B from A's clearing account there.
    let inn = pay_in(&mut p.b, "bridge", ga, out.id(), ann, bea, 700);
    let st_b = p.b.derive();
    assert_valid(&st_b, &inn);
    assert_eq!(bal(&st_b, &in_b), -700);
    assert_eq!(bal(&st_b, &bea), 700);
    assert_eq!(st_b.credit.sum(), 0);
    assert_eq!(
        st_b.credit.incoming[&(ga, out.id())],
        Arrival {
            id: inn.id(),
            group: ga,
            from: ann,
            to: bea,
            amount: 700,
            bridge,
            memo: "bread".into(),
            at: inn.header().timestamp,
        }
    );

    // And settles it in A: delivered, nothing moves.
    let done = settle(&mut p.a, "bridge", out.id(), Ok(inn.id()));
    let st_a = p.a.derive();
    assert_valid(&st_a, &done);
    let t = &st_a.credit.outgoing[&out.id()];
    assert_eq!(t.delivery, Delivery::Delivered(inn.id()));
    assert_eq!(t.settled_by, Some(done.id()));
    assert_eq!(bal(&st_a, &ann), -700);
    assert_eq!(bal(&st_a, &in_a), 700);
    assert_eq!(st_a.credit.payments.len(), 1);
    assert_eq!(st_a.credit.sum(), 0);

    same_in_every_order(&p.a, &st_a, 0..4);
    same_in_every_order(&p.b, &st_b, 0..4);
}

// 2. Refusals.

#[test]
fn pay_ins_and_settles_out_of_turn_are_refused_without_effect() {
    let mut p = open_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let (ann, bea, carl) = (p.a.key("ann"), p.b.key("bea"), p.a.key("carl"));
    let out = pay_out(&mut p.a, "ann", gb, bea, 700);

    // A pay-in by a member of B who is no bridge.
    let mut x = p.b.clone();
    let bad = pay_in(&mut x, "dan", ga, out.id(), ann, bea, 700);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay in",
        "only a bridge of the link to Tenants may do this",
    );
    // A pay-in to someone who is not a member of B (Carl is A's).
    let mut x = p.b.clone();
    let bad = pay_in(&mut x, "bridge", ga, out.id(), ann, carl, 700);
    assert_eq!(
        refused_without_effect(&x, &bad),
        Refusal::TargetNotMember(carl)
    );
    // A pay-in beyond the credit B extends to A (its clearing account's floor).
    let mut x = p.b.clone();
    let bad = pay_in(&mut x, "bridge", ga, out.id(), ann, bea, B_EXTENDS + 1);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay in",
        "below its limit of -3000",
    );

    // The first pay-in of the origin is credited, a second is not.
    let inn = pay_in(&mut p.b, "bridge", ga, out.id(), ann, bea, 700);
    assert_valid(&p.b.derive(), &inn);
    let mut x = p.b.clone();
    let bad = pay_in(&mut x, "bridge", ga, out.id(), ann, bea, 700);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay in",
        &format!("that payment was credited already, by {}", inn.id()),
    );
    // Up to the floor exactly, then not a hundredth more.
    let other = EventId([0x31; 32]);
    let to_floor = pay_in(&mut p.b, "bridge", ga, other, ann, bea, B_EXTENDS - 700);
    let st = p.b.derive();
    assert_valid(&st, &to_floor);
    assert_eq!(bal(&st, &p.in_b()), -(B_EXTENDS as i128));
    let mut x = p.b.clone();
    let bad = pay_in(&mut x, "bridge", ga, EventId([0x32; 32]), ann, bea, 1);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay in",
        "below its limit of -3000",
    );

    // Settles: by a non-bridge, of an unknown origin, twice.
    let mut x = p.a.clone();
    let bad = settle(&mut x, "carl", out.id(), Ok(inn.id()));
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "settle",
        "only a bridge of the link it was paid through may settle it",
    );
    let mut x = p.a.clone();
    let bad = settle(&mut x, "bridge", EventId([0x33; 32]), Ok(inn.id()));
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "settle",
        "no such payment across in the bridge's past",
    );
    // A plain payment is no payment across either.
    let plain = pay(&mut p.a, "carl", "ann", 100);
    let mut x = p.a.clone();
    let bad = settle(&mut x, "bridge", plain.id(), Err("no".into()));
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "settle",
        "no such payment across",
    );
    let done = settle(&mut p.a, "bridge", out.id(), Ok(inn.id()));
    assert_valid(&p.a.derive(), &done);
    for again in [Ok(inn.id()), Err("changed my mind".to_string())] {
        let mut x = p.a.clone();
        let bad = settle(&mut x, "bridge", out.id(), again);
        assert_credit_refusal(
            &refused_without_effect(&x, &bad),
            "settle",
            &format!("the payment was settled already, by {}", done.id()),
        );
    }
    let st = p.a.derive();
    assert_eq!(bal(&st, &ann), -600);
    assert_eq!(bal(&st, &p.in_a()), 700);
}

#[test]
fn linked_only_by_a_bridge_once_per_run_and_only_to_a_linked_group() {
    let p = decided_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let cb = p.close_b.id();

    let mut x = p.a.clone();
    let bad = linked(&mut x, "carl", gb, cb);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "linked",
        "only a bridge of the link may open it",
    );
    let mut x = p.a.clone();
    let bad = linked(&mut x, "bridge", GroupId([9; 32]), cb);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "linked",
        "the ledger is not linked to group",
    );
    // A group is never linked to itself, so nothing opens that either.
    let mut x = p.a.clone();
    let bad = linked(&mut x, "bridge", ga, cb);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "linked",
        "the ledger is not linked to group",
    );

    let mut p = p;
    let first = linked(&mut p.a, "bridge", gb, cb);
    assert_valid(&p.a.derive(), &first);
    let mut x = p.a.clone();
    let bad = linked(&mut x, "bridge", gb, cb);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "linked",
        "the link to Bakers is open already",
    );
    assert_eq!(x.derive().credit.links[&gb].opened, Some(first.id()));
}

#[test]
fn a_link_to_the_group_itself_or_through_a_non_member_is_refused() {
    // By decision: the close stands, the link is not enacted, and says why.
    let (s, _) = group_of(&A_NAMES, Constitution::default());
    let own = s.group;
    let bridge = s.key("bridge");
    let zed = s.key("zed");
    for (group, bridges, why) in [
        (
            own,
            vec![bridge],
            "a group cannot link its ledger to itself",
        ),
        (GroupId([9; 32]), vec![bridge, zed], "is not a member here"),
    ] {
        let mut x = s.clone();
        let (prop, close) = decide(
            &mut x,
            &A_NAMES,
            LedgerAct::Link {
                group,
                terms: terms("Odd", 1_000, &bridges),
            },
        );
        let st = x.derive();
        assert_valid(&st, &close);
        let ps = &st.proposals[&prop.id()];
        assert!(!ps.enacted, "{why}");
        let not = ps.not_enacted.clone().unwrap_or_default();
        assert!(not.contains(why), "{not}");
        assert!(st.credit.links.is_empty());
        assert!(st.credit.named.is_empty());
    }

    // Directly, under a rule that lets members link: refused without effect.
    let c = Constitution {
        credit: CreditRules {
            limits: Rule::Member,
            ..CreditRules::default()
        },
        ..Constitution::default()
    };
    let (mut m, _) = group_of(&A_NAMES, c);
    for (group, bridges, why) in [
        (
            m.group,
            vec![bridge],
            "a group cannot link its ledger to itself".to_string(),
        ),
        (
            GroupId([9; 32]),
            vec![bridge, zed],
            format!("bridge {zed} is not a member here"),
        ),
    ] {
        let mut x = m.clone();
        let bad = ledger(
            &mut x,
            "ann",
            LedgerAct::Link {
                group,
                terms: terms("Odd", 1_000, &bridges),
            },
        );
        assert_credit_refusal(&refused_without_effect(&x, &bad), "link", &why);
    }
    // The same act with member bridges only is accepted.
    let ok = ledger(
        &mut m,
        "ann",
        LedgerAct::Link {
            group: GroupId([9; 32]),
            terms: terms("Odd", 1_000, &[bridge]),
        },
    );
    let st = m.derive();
    assert_valid(&st, &ok);
    assert_eq!(st.credit.links[&GroupId([9; 32])].decided, ok.id());
}

#[test]
fn a_payment_across_is_judged_against_the_payer_s_own_limit() {
    let mut p = open_pair();
    let (gb, bea, ann) = (p.b.group, p.b.key("bea"), p.a.key("ann"));
    let mut x = p.a.clone();
    let bad = pay_out(&mut x, "ann", gb, bea, LIMIT + 1);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay across",
        "below its limit of -2000",
    );
    let ok = pay_out(&mut p.a, "ann", gb, bea, LIMIT);
    let st = p.a.derive();
    assert_valid(&st, &ok);
    assert_eq!(bal(&st, &ann), -(LIMIT as i128));
    let bad = pay_out(&mut p.a, "ann", gb, bea, 1);
    assert_credit_refusal(
        &refused_without_effect(&p.a, &bad),
        "pay across",
        "below its limit of -2000",
    );
}

#[test]
fn closing_a_link_stops_payments_and_reopening_needs_a_new_linked() {
    let mut p = open_pair();
    let (gb, bea, bridge) = (p.b.group, p.b.key("bea"), p.bridge());
    let first_open = p.a.derive().credit.links[&gb].opened;
    assert!(first_open.is_some());

    // New terms that keep the link open keep it open: no new `Linked` needed.
    let (_, retermed) = decide(
        &mut p.a,
        &A_NAMES,
        LedgerAct::Link {
            group: gb,
            terms: terms("Bakers", 4_000, &[bridge]),
        },
    );
    let ok = pay_out(&mut p.a, "ann", gb, bea, 100);
    let st = p.a.derive();
    assert_valid(&st, &retermed);
    assert_valid(&st, &ok);
    assert_eq!(st.credit.links[&gb].terms.limit, 4_000);
    assert_eq!(st.credit.links[&gb].opened, first_open);

    // Closed by a later decision (no bridges).
    let (_, closed) = decide(
        &mut p.a,
        &A_NAMES,
        LedgerAct::Link {
            group: gb,
            terms: terms("Bakers", 4_000, &[]),
        },
    );
    let st = p.a.derive();
    assert_valid(&st, &closed);
    assert_eq!(st.credit.links[&gb].opened, None);
    assert!(st.credit.links[&gb].terms.bridges.is_empty());
    let mut x = p.a.clone();
    let bad = pay_out(&mut x, "ann", gb, bea, 100);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay across",
        "the ledger is not linked to group",
    );
    let mut x = p.a.clone();
    let bad = pay_in(
        &mut x,
        "bridge",
        gb,
        EventId([0x41; 32]),
        bea,
        p.a.key("carl"),
        1,
    );
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay in",
        "the ledger is not linked to group",
    );
    let mut x = p.a.clone();
    let bad = linked(&mut x, "bridge", gb, p.close_b.id());
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "linked",
        "the ledger is not linked to group",
    );

    // Reopened by a decision: the old `Linked` does not open the new run.
    let (_, reopened) = decide(
        &mut p.a,
        &A_NAMES,
        LedgerAct::Link {
            group: gb,
            terms: terms("Bakers", 4_000, &[bridge]),
        },
    );
    let st = p.a.derive();
    assert_valid(&st, &reopened);
    assert_eq!(st.credit.links[&gb].opened, None);
    let mut x = p.a.clone();
    let bad = pay_out(&mut x, "ann", gb, bea, 100);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay across",
        "not open yet",
    );
    let mut x = p.a.clone();
    let bad = pay_in(
        &mut x,
        "bridge",
        gb,
        EventId([0x42; 32]),
        bea,
        p.a.key("carl"),
        1,
    );
    assert_credit_refusal(&refused_without_effect(&x, &bad), "pay in", "not open yet");

    // A new `Linked` (not "open already") opens it again.
    let again = linked(&mut p.a, "bridge", gb, EventId([0x43; 32]));
    let ok = pay_out(&mut p.a, "ann", gb, bea, 100);
    let st = p.a.derive();
    assert_valid(&st, &again);
    assert_valid(&st, &ok);
    assert_eq!(st.credit.links[&gb].opened, Some(again.id()));
    assert_eq!(
        st.credit.links[&gb].their_decision,
        Some(EventId([0x43; 32]))
    );
    assert_eq!(bal(&st, &p.a.key("ann")), -200);
    assert_eq!(bal(&st, &p.in_a()), 200);
    same_in_every_order(&p.a, &st, 0..4);
}

// 3. Bounces.

#[test]
fn a_bounce_refunds_the_payer_even_from_a_clearing_account_at_its_limit() {
    let mut p = open_pair();
    let (gb, bea, dan) = (p.b.group, p.b.key("bea"), p.b.key("dan"));
    let (ann, carl, in_a) = (p.a.key("ann"), p.a.key("carl"), p.in_a());
    let out = pay_out(&mut p.a, "ann", gb, bea, 700);
    // B's members paid A's more than that: the bridge credits Carl until B's clearing account
    // in A is at the credit A extends (+7.00 - 57.00 = -50.00). Its origin is a pay-out in B's
    // log, which A cannot read.
    let inn = pay_in(
        &mut p.a,
        "bridge",
        gb,
        EventId([0x51; 32]),
        dan,
        carl,
        A_EXTENDS + 700,
    );
    let st = p.a.derive();
    assert_valid(&st, &inn);
    assert_eq!(bal(&st, &in_a), -(A_EXTENDS as i128));
    let mut x = p.a.clone();
    let bad = pay_in(&mut x, "bridge", gb, EventId([0x52; 32]), dan, carl, 1);
    assert_credit_refusal(
        &refused_without_effect(&x, &bad),
        "pay in",
        "below its limit of -5000",
    );

    // B could not deliver Ann's payment: the bridge bounces it and Ann is paid back.
    let back = settle(&mut p.a, "bridge", out.id(), Err("Bea left".into()));
    let st = p.a.derive();
    assert_valid(&st, &back);
    assert_eq!(bal(&st, &ann), 0);
    assert_eq!(bal(&st, &carl), (A_EXTENDS + 700) as i128);
    assert_eq!(bal(&st, &in_a), -((A_EXTENDS + 700) as i128));
    assert_eq!(st.credit.sum(), 0);
    let t = &st.credit.outgoing[&out.id()];
    assert_eq!(t.delivery, Delivery::Bounced("Bea left".into()));
    assert_eq!(t.settled_by, Some(back.id()));
    let last = st.credit.payments.last().unwrap();
    assert_eq!(
        (last.id, last.from, last.to, last.amount, last.memo.as_str()),
        (back.id(), in_a, ann, 700, "returned: Bea left")
    );
    // It cannot be bounced (or delivered) again.
    let bad = settle(&mut p.a, "bridge", out.id(), Err("again".into()));
    assert_credit_refusal(
        &refused_without_effect(&p.a, &bad),
        "settle",
        "settled already",
    );
    same_in_every_order(&p.a, &p.a.derive(), 0..4);
}

// 4. Demurrage.

fn demurrage_rules(limits: Rule) -> Constitution {
    Constitution {
        credit: CreditRules {
            demurrage: 100,
            limits,
            ..CreditRules::default()
        },
        ..Constitution::default()
    }
}

/// Every one of `names` posts at `at`, one after the other, so group time is `at` from then
/// on. Returns the last post.
fn clock(s: &mut Scenario, names: &[&'static str], at: u64) -> EventId {
    for n in names {
        let deps = heads(s);
        s.write(n, Payload::Post { text: "now".into() }, &deps, at);
    }
    s.events.last().unwrap().id()
}

fn demurrage(s: &mut Scenario, by: &'static str, period: u64, at: u64) -> VerifiedEvent {
    let deps = heads(s);
    ledger_at(s, by, LedgerAct::Demurrage { period }, &deps, at)
}

const D_NAMES: [&str; 5] = ["A", "B", "C", "D", "X"];

#[test]
fn demurrage_charges_positive_member_balances_once_for_the_period_that_just_ended() {
    let (mut s, _) = group_of(&D_NAMES, demurrage_rules(Rule::Member));
    let k = |n: &str| s.key(n);
    let (a, b, c, d, x) = (k("A"), k("B"), k("C"), k("D"), k("X"));
    let other = GroupId([0x0b; 32]);
    let (clearing, commons) = (clearing_account(&other), commons_account(&s.group));
    let link = ledger(
        &mut s,
        "A",
        LedgerAct::Link {
            group: other,
            terms: terms("Other", 1_000, &[x]),
        },
    );
    let open = linked(&mut s, "X", other, EventId([0x0c; 32]));
    pay(&mut s, "A", "B", 1_000);
    pay(&mut s, "A", "C", 555);
    pay(&mut s, "A", "X", 99);
    let out = pay_out(&mut s, "D", other, PublicKey([0x0d; 32]), 300);
    let st = s.derive();
    for e in [&link, &open, &out] {
        assert_valid(&st, e);
    }
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_eq!(bal(&st, &clearing), 300);

    // Group time is still in period 0: no period has ended.
    let mut x0 = s.clone();
    let bad = demurrage(&mut x0, "A", 0, T);
    assert_credit_refusal(
        &refused_without_effect(&x0, &bad),
        "demurrage",
        "no 30-day period of group time has ended yet",
    );

    // Everyone's clock moves into period 2; period 1 just ended.
    clock(&mut s, &D_NAMES, 2 * PERIOD + 1);
    let tick = demurrage(&mut s, "B", 1, 2 * PERIOD + 1);
    let st = s.derive();
    assert_valid(&st, &tick);
    // 1% of 10.00 and of 5.55 (floored to 0.05); 0.99 pays 0.00; negative balances, the clearing
    // account and the commons nothing.
    assert_eq!(bal(&st, &b), 990);
    assert_eq!(bal(&st, &c), 550);
    assert_eq!(bal(&st, &x), 99);
    assert_eq!(bal(&st, &a), -1_654);
    assert_eq!(bal(&st, &d), -300);
    assert_eq!(bal(&st, &clearing), 300);
    assert_eq!(bal(&st, &commons), 15);
    assert_eq!(st.credit.sum(), 0);
    let mut paid = vec![(b, 10), (c, 5)];
    paid.sort();
    assert_eq!(
        st.credit.demurrage[&1],
        Charge {
            id: tick.id(),
            by: b,
            rate: 100,
            paid,
        }
    );
    assert_eq!(
        st.credit.named.get(&commons).map(String::as_str),
        Some("commons")
    );

    // Once per period; only the period that just ended.
    for (period, why) in [
        (1, format!("period 1 was charged already, by {}", tick.id())),
        (
            2,
            "only the period that just ended (1) can be charged, not 2".to_string(),
        ),
        (
            0,
            "only the period that just ended (1) can be charged, not 0".to_string(),
        ),
        (u64::MAX, "can be charged, not".to_string()),
    ] {
        let mut x = s.clone();
        let bad = demurrage(&mut x, "C", period, 2 * PERIOD + 1);
        assert_credit_refusal(&refused_without_effect(&x, &bad), "demurrage", &why);
    }

    // A period later the commons and the clearing account still pay nothing.
    clock(&mut s, &D_NAMES, 3 * PERIOD + 1);
    let tick2 = demurrage(&mut s, "D", 2, 3 * PERIOD + 1);
    let st = s.derive();
    assert_valid(&st, &tick2);
    assert_eq!(bal(&st, &b), 990 - 9);
    assert_eq!(bal(&st, &c), 550 - 5);
    assert_eq!(bal(&st, &x), 99);
    assert_eq!(bal(&st, &clearing), 300);
    assert_eq!(bal(&st, &commons), 15 + 14);
    assert_eq!(st.credit.sum(), 0);
    same_in_every_order(&s, &st, 0..4);
}

#[test]
fn a_group_without_demurrage_refuses_a_charge() {
    let (mut s, _) = group_of(&D_NAMES, Constitution::default());
    pay(&mut s, "A", "B", 1_000);
    clock(&mut s, &D_NAMES, 2 * PERIOD + 1);
    let bad = demurrage(&mut s, "B", 1, 2 * PERIOD + 1);
    assert_credit_refusal(
        &refused_without_effect(&s, &bad),
        "demurrage",
        "the group charges no demurrage",
    );
}

/// The position of each event in the pass's causal order (ties by id).
fn positions(s: &Scenario) -> std::collections::HashMap<EventId, usize> {
    dualpower_core::causal::order_events(&s.events)
        .into_iter()
        .enumerate()
        .map(|(pos, i)| (s.events[i].id(), pos))
        .collect()
}

#[test]
fn a_payment_concurrent_with_a_charge_never_takes_the_payer_below_its_limit() {
    let (mut base, _) = group_of(&["A", "B", "C", "D"], demurrage_rules(Rule::Vote));
    let b = base.key("B");
    pay(&mut base, "A", "B", 1_000);
    let now = clock(&mut base, &["A", "C", "D"], 2 * PERIOD + 1);
    // Which of the two comes first in the pass depends on their ids: try both.
    let (mut tick_first, mut pay_first) = (false, false);
    for k in 0..64u64 {
        let mut s = base.clone();
        let tick = ledger_at(
            &mut s,
            "D",
            LedgerAct::Demurrage { period: 1 },
            &[now],
            2 * PERIOD + 1,
        );
        // B has seen its 10.00 and spends to exactly its limit, not having seen the charge.
        let to = s.key("C");
        let spend = ledger_at(
            &mut s,
            "B",
            LedgerAct::Pay {
                to,
                amount: 1_000 + LIMIT,
                memo: "all of it".into(),
                invoice: None,
            },
            &[now],
            2 * PERIOD + k,
        );
        let pos = positions(&s);
        let st = s.derive();
        assert_valid(&st, &tick);
        assert!(bal(&st, &b) >= -(LIMIT as i128), "{}", bal(&st, &b));
        assert_eq!(st.credit.sum(), 0);
        let charged_b = st.credit.demurrage[&1]
            .paid
            .iter()
            .any(|(who, _)| *who == b);
        if pos[&tick.id()] < pos[&spend.id()] {
            tick_first = true;
            // The charge counts as paid: the payment no longer fits.
            assert!(charged_b);
            assert_credit_refusal(&refusal(&st, &spend).unwrap(), "pay", "below its limit");
            assert_eq!(bal(&st, &b), 990);
        } else {
            pay_first = true;
            // The payment took B to its limit: nothing positive is left to charge.
            assert_valid(&st, &spend);
            assert!(!charged_b);
            assert_eq!(bal(&st, &b), -(LIMIT as i128));
        }
        same_in_every_order(&s, &st, 0..3);
        if tick_first && pay_first {
            return;
        }
    }
    panic!("did not find both orders (tick first: {tick_first}, payment first: {pay_first})");
}

/// A charge posted by D, which has seen a payment to B that B has not, must not make that
/// payment spendable by B (the charge once used the account's own remembering `seen_balance`;
/// it now asks `Ledger::peek_balance`, which remembers nothing). The rule: incoming credit
/// counts for a payment only once it is in that payment's causal past.
#[test]
fn a_charge_does_not_make_credit_the_payer_has_not_seen_spendable() {
    let (mut base, tip) = group_of(&["A", "B", "C", "D"], demurrage_rules(Rule::Vote));
    let b = base.key("B");
    // The clock moves on (B's clock stays behind; three of four is a majority).
    let mut now = tip;
    for n in ["C", "D", "A"] {
        now = base
            .write(
                n,
                Payload::Post { text: "now".into() },
                &[now],
                2 * PERIOD + 1,
            )
            .id();
    }
    // Then A pays B 10.00, which B does not see.
    let to_b = ledger_at(
        &mut base,
        "A",
        LedgerAct::Pay {
            to: b,
            amount: 1_000,
            memo: "unseen by B".into(),
            invoice: None,
        },
        &[now],
        2 * PERIOD + 1,
    );
    // D's charge has the payment to B in its past; B's payment does not. Which of the two the
    // pass judges first depends on their ids: find a timestamp for B's payment for each order.
    let variant = |k: u64| {
        let mut s = base.clone();
        let tick = ledger_at(
            &mut s,
            "D",
            LedgerAct::Demurrage { period: 1 },
            &[now, to_b.id()],
            2 * PERIOD + 1,
        );
        let to = s.key("C");
        let spend = ledger_at(
            &mut s,
            "B",
            LedgerAct::Pay {
                to,
                amount: 2_900,
                memo: "more than B can see".into(),
                invoice: None,
            },
            &[now],
            2 * PERIOD + k,
        );
        let pos = positions(&s);
        let tick_first = pos[&tick.id()] < pos[&spend.id()];
        (s, tick, spend, tick_first)
    };
    let find = |tick_first: bool| {
        (0..256u64)
            .map(variant)
            .find(|v| v.3 == tick_first)
            .expect("a timestamp for this order")
    };

    // Judged before the charge, B's payment is refused, as it should be; without the charge
    // too.
    let (s, tick, spend, _) = find(false);
    let st = s.derive();
    assert_valid(&st, &tick);
    assert_credit_refusal(&refusal(&st, &spend).unwrap(), "pay", "below its limit");
    let mut without = s.clone();
    without.events.retain(|e| e.id() != tick.id());
    assert_credit_refusal(
        &refusal(&without.derive(), &spend).unwrap(),
        "pay",
        "below its limit",
    );

    // Judged after it, B's payment still sees nothing of the 10.00: it must be refused too.
    let (s, tick, spend, _) = find(true);
    let st = s.derive();
    assert_valid(&st, &tick);
    assert_eq!(st.credit.demurrage[&1].paid, vec![(b, 10)]);
    match refusal(&st, &spend) {
        Some(r) => assert_credit_refusal(&r, "pay", "below its limit"),
        None => panic!(
            "a demurrage charge made the 10.00 B has not seen spendable; B's payment of \
             29.00 was accepted and B is at {}",
            bal(&st, &b)
        ),
    }
}

/// With two bridges, whose pay-ins are concurrent, one bridge's pay-in must not count a pay-out
/// only the other has seen (the same bug as above, through the clearing account; whether it
/// was accepted depended on which pay-in had the smaller id).
#[test]
fn a_pay_in_counts_only_pay_outs_in_its_own_past_whichever_bridge_posts_it() {
    const NAMES: [&str; 5] = ["A", "B", "C", "X", "Y"];
    let (mut base, _) = group_of(&NAMES, demurrage_rules(Rule::Member));
    let (x, y) = (base.key("X"), base.key("Y"));
    let other = GroupId([0x0b; 32]);
    let clearing = clearing_account(&other);
    ledger(
        &mut base,
        "A",
        LedgerAct::Link {
            group: other,
            terms: terms("Other", 3_000, &[x, y]),
        },
    );
    let open = linked(&mut base, "X", other, EventId([0x0c; 32]));
    // C pays 10.00 across: the clearing account is at +10.00.
    let out = pay_out(&mut base, "C", other, PublicKey([0x0d; 32]), 1_000);
    // X, who has seen it, credits A 1.00.
    let a = base.key("A");
    let first = pay_in(
        &mut base,
        "X",
        other,
        EventId([0x71; 32]),
        PublicKey([1; 32]),
        a,
        100,
    );
    let st = base.derive();
    assert_valid(&st, &out);
    assert_valid(&st, &first);
    assert_eq!(bal(&st, &clearing), 900);
    // Y has seen only the opening: for it the clearing account has received nothing and paid
    // 1.00 (its payments all count), so 35.00 would take it to -36.00. Which pay-in the pass
    // judges first depends on ids: find a timestamp for each order.
    let variant = |k: u64| {
        let mut s = base.clone();
        let to = s.key("B");
        let second = ledger_at(
            &mut s,
            "Y",
            LedgerAct::PayIn {
                group: other,
                origin: EventId([0x72; 32]),
                from: PublicKey([1; 32]),
                to,
                amount: 3_500,
                memo: String::new(),
            },
            &[open.id()],
            T + k,
        );
        let pos = positions(&s);
        let after = pos[&second.id()] > pos[&first.id()];
        (s, second, after)
    };
    let find = |after: bool| {
        (0..256u64)
            .map(variant)
            .find(|v| v.2 == after)
            .expect("a timestamp for this order")
    };
    // Judged before X's pay-in, Y's is refused, as it should be.
    let (s, second, _) = find(false);
    let r = refusal(&s.derive(), &second).unwrap();
    assert_credit_refusal(&r, "pay in", "below its limit of -3000");
    // Judged after it, nothing more is in Y's past: it must be refused too.
    let (s, second, _) = find(true);
    let st = s.derive();
    match refusal(&st, &second) {
        Some(r) => assert_credit_refusal(&r, "pay in", "below its limit of -3000"),
        None => panic!(
            "Y's pay-in counted C's pay-out, which is not in its past; the clearing \
             account is at {}",
            bal(&st, &clearing)
        ),
    }
}

// 5. Grants.

#[test]
fn a_grant_by_decision_pays_from_the_commons_up_to_what_it_holds() {
    const NAMES: [&str; 3] = ["A", "B", "C"];
    let (mut s, _) = group_of(&NAMES, demurrage_rules(Rule::Vote));
    let (a, b, c) = (s.key("A"), s.key("B"), s.key("C"));
    let commons = commons_account(&s.group);
    pay(&mut s, "A", "B", 2_000);
    clock(&mut s, &NAMES, 2 * PERIOD + 1);
    let tick = demurrage(&mut s, "A", 1, 2 * PERIOD + 1);
    let st = s.derive();
    assert_valid(&st, &tick);
    assert_eq!(bal(&st, &commons), 20);

    // Not directly under the default rule.
    let mut x = s.clone();
    let bad = ledger(
        &mut x,
        "A",
        LedgerAct::Grant {
            to: c,
            amount: 10,
            memo: "roof".into(),
        },
    );
    assert_eq!(
        refused_without_effect(&x, &bad),
        Refusal::NeedsDecision("grant from the commons")
    );

    // 0.15 of the 0.20 to C.
    let (p1, c1) = decide(
        &mut s,
        &NAMES,
        LedgerAct::Grant {
            to: c,
            amount: 15,
            memo: "roof".into(),
        },
    );
    let st = s.derive();
    assert_valid(&st, &c1);
    assert!(st.proposals[&p1.id()].enacted);
    assert_eq!(bal(&st, &c), 15);
    assert_eq!(bal(&st, &commons), 5);
    let last = st.credit.payments.last().unwrap();
    assert_eq!(
        (last.id, last.from, last.to, last.amount, last.memo.as_str()),
        (c1.id(), commons, c, 15, "roof")
    );

    // 1.00 to A: the commons holds 0.05, and pays that.
    let (_, c2) = decide(
        &mut s,
        &NAMES,
        LedgerAct::Grant {
            to: a,
            amount: 100,
            memo: "tools".into(),
        },
    );
    let st = s.derive();
    assert_valid(&st, &c2);
    assert_eq!(bal(&st, &a), -2_000 + 5);
    assert_eq!(bal(&st, &commons), 0);
    assert_eq!(st.credit.sum(), 0);
    let payments = st.credit.payments.len();

    // An empty commons pays nothing.
    let (p3, c3) = decide(
        &mut s,
        &NAMES,
        LedgerAct::Grant {
            to: b,
            amount: 100,
            memo: "more".into(),
        },
    );
    let st = s.derive();
    assert_valid(&st, &c3);
    assert!(st.proposals[&p3.id()].enacted);
    assert_eq!(st.credit.payments.len(), payments);
    assert_eq!(bal(&st, &commons), 0);
    assert_eq!(bal(&st, &b), 1_980);

    // A grant to a stranger is not enacted.
    let zed = s.key("zed");
    let (p4, _) = decide(
        &mut s,
        &NAMES,
        LedgerAct::Grant {
            to: zed,
            amount: 1,
            memo: "?".into(),
        },
    );
    let st = s.derive();
    let ps = &st.proposals[&p4.id()];
    assert!(!ps.enacted);
    assert!(
        ps.not_enacted
            .as_deref()
            .unwrap_or_default()
            .contains("was not a member at the close")
    );
    assert_eq!(st.credit.payments.len(), payments);
    same_in_every_order(&s, &st, 0..4);
}

// 6. Mirrors.

fn intent(linked: bool) -> Intent {
    Intent {
        need: false,
        category: Category::Food,
        text: "Bread on Fridays".into(),
        quantity: 4,
        unit: "loaves".into(),
        place: "Elm Street".into(),
        from: 0,
        until: 0,
        expires: NEVER,
        linked,
    }
}

#[allow(clippy::too_many_arguments)]
fn mirror(
    s: &mut Scenario,
    by: &'static str,
    group: GroupId,
    origin: EventId,
    author: PublicKey,
    intent: Intent,
    open: u64,
    at: u64,
) -> VerifiedEvent {
    let deps = heads(s);
    s.write(
        by,
        Payload::Aid(AidAct::Mirror {
            group,
            origin,
            author,
            intent,
            open,
        }),
        &deps,
        at,
    )
}

#[test]
fn a_bridge_mirrors_shared_intents_and_a_later_mirror_replaces_the_earlier() {
    let mut p = open_pair();
    let (ga, gb, carl) = (p.a.group, p.b.group, p.a.key("carl"));
    // Carl offers bread in A, shared with linked groups.
    let deps = heads(&p.a);
    let offer =
        p.a.write("carl", Payload::Aid(AidAct::Intent(intent(true))), &deps, T);
    assert_valid(&p.a.derive(), &offer);

    let shown = mirror(
        &mut p.b,
        "bridge",
        ga,
        offer.id(),
        carl,
        intent(true),
        4,
        T + 1,
    );
    let st = p.b.derive();
    assert_valid(&st, &shown);
    assert_eq!(
        st.aid.mirrored[&(ga, offer.id())],
        Mirrored {
            group: ga,
            author: carl,
            intent: intent(true),
            open: 4,
            bridge: p.bridge(),
            at: T + 1,
        }
    );

    // A member of B who is no bridge, an intent not shared, B's own id, a group not linked.
    let mut x = p.b.clone();
    let bad = mirror(&mut x, "dan", ga, offer.id(), carl, intent(true), 2, T + 2);
    assert_aid_refusal(
        &refused_without_effect(&x, &bad),
        "only a bridge of the link shows its group's intents",
    );
    let mut x = p.b.clone();
    let bad = mirror(
        &mut x,
        "bridge",
        ga,
        EventId([0x61; 32]),
        carl,
        intent(false),
        2,
        T + 2,
    );
    assert_aid_refusal(
        &refused_without_effect(&x, &bad),
        "that intent was not shared with linked groups",
    );
    let mut x = p.b.clone();
    let bad = mirror(
        &mut x,
        "bridge",
        gb,
        EventId([0x62; 32]),
        carl,
        intent(true),
        2,
        T + 2,
    );
    assert_aid_refusal(
        &refused_without_effect(&x, &bad),
        "a group's own intents are not mirrored into it",
    );
    let mut x = p.b.clone();
    let bad = mirror(
        &mut x,
        "bridge",
        GroupId([9; 32]),
        EventId([0x63; 32]),
        carl,
        intent(true),
        2,
        T + 2,
    );
    assert_aid_refusal(
        &refused_without_effect(&x, &bad),
        "the ledger is not linked to group",
    );

    // Withdrawn there: the later mirror replaces the earlier.
    let gone = mirror(
        &mut p.b,
        "bridge",
        ga,
        offer.id(),
        carl,
        intent(true),
        0,
        T + 3,
    );
    let st = p.b.derive();
    assert_valid(&st, &gone);
    assert_eq!(st.aid.mirrored.len(), 1);
    let m = &st.aid.mirrored[&(ga, offer.id())];
    assert_eq!((m.open, m.at), (0, T + 3));
    same_in_every_order(&p.b, &st, 0..4);
}

// 7. Random histories.

/// The members of the random group; X is the bridge of its link.
const R_NAMES: [&str; 5] = ["A", "B", "C", "D", "X"];
const R_OTHER: GroupId = GroupId([0x0b; 32]);
const R_EXTENDS: u64 = 3_000;

/// One random act: (kind, who, whom or which, amount, which earlier events to cite (bits),
/// how far the clock moves).
type Op = (u8, usize, usize, u64, u32, u8);

/// A group with demurrage, linked (directly, members may) to another group through X, and
/// `ops` as payments, pay-outs, pay-ins, settles and demurrage ticks with partial pasts.
fn random_links(ops: &[Op]) -> Scenario {
    let (mut s, _) = group_of(&R_NAMES, demurrage_rules(Rule::Member));
    let x = s.key("X");
    ledger(
        &mut s,
        "A",
        LedgerAct::Link {
            group: R_OTHER,
            terms: terms("Other", R_EXTENDS, &[x]),
        },
    );
    let tip = linked(&mut s, "X", R_OTHER, EventId([0x0c; 32])).id();
    let mut written: Vec<EventId> = Vec::new();
    let mut outs: Vec<EventId> = Vec::new();
    let mut now = T;
    for (kind, who, whom, amount, cite, step) in ops {
        now += u64::from(step % 4) * (PERIOD / 3);
        let by = R_NAMES[who % R_NAMES.len()];
        let mut deps = vec![tip];
        deps.extend(
            written
                .iter()
                .rev()
                .take(12)
                .enumerate()
                .filter(|(i, _)| cite & (1 << i) != 0)
                .map(|(_, id)| *id),
        );
        let act = match kind % 6 {
            0 | 1 => {
                let mut to = R_NAMES[whom % R_NAMES.len()];
                if to == by {
                    to = R_NAMES[(whom + 1) % R_NAMES.len()];
                }
                LedgerAct::Pay {
                    to: s.key(to),
                    amount: *amount,
                    memo: String::new(),
                    invoice: None,
                }
            }
            2 => LedgerAct::PayOut {
                group: R_OTHER,
                to: PublicKey([(whom % 3) as u8; 32]),
                amount: *amount,
                memo: String::new(),
            },
            3 => LedgerAct::PayIn {
                group: R_OTHER,
                // A few origins, so some come twice.
                origin: EventId([0x70 + (whom % 4) as u8; 32]),
                from: PublicKey([1; 32]),
                to: s.key(R_NAMES[whom % R_NAMES.len()]),
                amount: *amount,
                memo: String::new(),
            },
            4 if !outs.is_empty() => {
                let origin = outs[whom % outs.len()];
                deps.push(origin);
                LedgerAct::Settle {
                    origin,
                    result: if amount % 2 == 0 {
                        Ok(EventId([2; 32]))
                    } else {
                        Err("bounced".into())
                    },
                }
            }
            _ => LedgerAct::Demurrage {
                period: (now / PERIOD).saturating_sub(1 + amount % 2),
            },
        };
        // Pay-ins and settles are the bridge's, mostly.
        let by = match act {
            LedgerAct::PayIn { .. } | LedgerAct::Settle { .. } if who % 5 != 0 => "X",
            _ => by,
        };
        let is_out = matches!(act, LedgerAct::PayOut { .. });
        let e = ledger_at(&mut s, by, act, &deps, now);
        if is_out {
            outs.push(e.id());
        }
        written.push(e.id());
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_links_and_charges_sum_to_zero_keep_limits_and_are_the_same_in_every_order(
        ops in prop::collection::vec(
            (any::<u8>(), 0usize..5, 0usize..8, 1u64..1_500, any::<u32>(), any::<u8>()),
            4..24,
        ),
        seed in 1u64..u64::MAX,
    ) {
        let s = random_links(&ops);
        let reference = s.derive();
        let credit = &reference.credit;
        prop_assert_eq!(credit.sum(), 0);
        // No member below its limit, the commons never below zero, and the clearing account
        // below the credit the group extends only by what bounces paid back.
        for n in R_NAMES {
            let b = bal(&reference, &s.key(n));
            prop_assert!(b >= -(LIMIT as i128), "{} at {}", n, b);
        }
        prop_assert!(bal(&reference, &commons_account(&s.group)) >= 0);
        let bounced: i128 = credit
            .outgoing
            .values()
            .filter(|t| matches!(t.delivery, Delivery::Bounced(_)))
            .map(|t| i128::from(t.amount))
            .sum();
        prop_assert!(
            bal(&reference, &clearing_account(&R_OTHER)) >= -(R_EXTENDS as i128) - bounced
        );
        // Balances are the accepted movements.
        let mut balances = std::collections::BTreeMap::new();
        for p in &credit.payments {
            *balances.entry(p.from).or_insert(0i128) -= i128::from(p.amount);
            *balances.entry(p.to).or_insert(0i128) += i128::from(p.amount);
        }
        balances.retain(|_, v| *v != 0);
        let mut nonzero = credit.balances.clone();
        nonzero.retain(|_, v| *v != 0);
        prop_assert_eq!(&balances, &nonzero);
        // A charge lists only what was paid.
        for (period, ch) in &credit.demurrage {
            prop_assert!(ch.paid.iter().all(|(_, a)| *a > 0), "period {}", period);
        }

        let refused = |g: &GroupState| {
            let mut v: Vec<EventId> = g.rejected.iter().map(|(e, _)| *e).collect();
            v.sort();
            v
        };
        let mut rng = Rng(seed);
        for _ in 0..3 {
            let order = shuffled(&s.events, &mut rng);
            let st = GroupState::derive(&s.network, s.group, &order);
            prop_assert_eq!(&st.credit, credit);
            prop_assert_eq!(refused(&st), refused(&reference));
        }
        let order = topological(&s.events, &mut rng);
        let mut d = Derivation::new(&s.network, s.group, &[]);
        for chunk in order.chunks(1 + rng.next(4)) {
            d.extend(chunk);
        }
        prop_assert_eq!(&d.state().credit, credit);
    }
}
