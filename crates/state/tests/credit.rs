//! The credit domain through the pass (issue 15): payments within and beyond the limit,
//! incoming credit counted only once it is in the spender's causal past, forked payers frozen,
//! removed members and strangers, invoices, limits (own, by rule, by decision), and a property
//! test that the ledger is the same in every delivery order and never lets a payer spend what it
//! could not see. The rules are at the top of `crates/state/src/credit.rs`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText};
use dualpower_core::ledger::{CreditRules, LedgerAct, MAX_AMOUNT};
use dualpower_core::{Constitution, EventId, Payload, PublicKey, Rule, VerifiedEvent};
use dualpower_state::{Derivation, GroupState, Refusal};
use proptest::prelude::*;

/// The default limit (20.00).
const LIMIT: u64 = 2_000;

/// Deps that put everything written so far in the past (every helper writes with them, so the
/// events form one chain unless a test picks its deps).
fn heads(s: &Scenario) -> Vec<EventId> {
    s.events.last().map(|e| e.id()).into_iter().collect()
}

fn pay_act(s: &Scenario, to: &str, amount: u64, invoice: Option<EventId>) -> Payload {
    Payload::Ledger(LedgerAct::Pay {
        to: s.key(to),
        amount,
        memo: format!("{amount} to {to}"),
        invoice,
    })
}

/// `by` pays `to` with `deps` as its causal past.
fn pay_with(
    s: &mut Scenario,
    by: &'static str,
    to: &str,
    amount: u64,
    deps: &[EventId],
) -> VerifiedEvent {
    let p = pay_act(s, to, amount, None);
    s.write(by, p, deps, T)
}

/// `by` pays `to` with everything so far in its past.
fn pay(s: &mut Scenario, by: &'static str, to: &str, amount: u64) -> VerifiedEvent {
    let deps = heads(s);
    pay_with(s, by, to, amount, &deps)
}

/// `by` pays `to`, settling `invoice`, with everything so far in its past.
fn pay_invoice(
    s: &mut Scenario,
    by: &'static str,
    to: &str,
    amount: u64,
    invoice: EventId,
) -> VerifiedEvent {
    let deps = heads(s);
    let p = pay_act(s, to, amount, Some(invoice));
    s.write(by, p, &deps, T)
}

fn ledger(s: &mut Scenario, by: &'static str, act: LedgerAct) -> VerifiedEvent {
    let deps = heads(s);
    s.write(by, Payload::Ledger(act), &deps, T)
}

fn invoice(s: &mut Scenario, by: &'static str, payer: &str, amount: u64) -> VerifiedEvent {
    let payer = s.key(payer);
    ledger(
        s,
        by,
        LedgerAct::Invoice {
            payer,
            amount,
            memo: "bread".into(),
        },
    )
}

fn limit(s: &mut Scenario, by: &'static str, member: &str, limit: u64) -> VerifiedEvent {
    let member = s.key(member);
    ledger(s, by, LedgerAct::Limit { member, limit })
}

/// Writes two different events of `by` at the same seq (a fork); the author's head ends on the
/// second.
fn fork(
    s: &mut Scenario,
    by: &'static str,
    first: Payload,
    second: Payload,
    deps: &[EventId],
) -> (VerifiedEvent, VerifiedEvent) {
    let before = s.author(by).clone();
    let a = s.write(by, first, deps, T);
    *s.author(by) = before;
    let b = s.write(by, second, deps, T);
    assert_eq!(a.header().seq, b.header().seq);
    assert_ne!(a.id(), b.id());
    (a, b)
}

fn bal(st: &GroupState, s: &Scenario, who: &str) -> i128 {
    st.credit.balances.get(&s.key(who)).copied().unwrap_or(0)
}

/// Derives `s` with and without `bad` (the last event of its author): it must be refused and
/// change neither the ledger nor the members. Returns the refusal.
#[track_caller]
fn refused_without_effect(s: &Scenario, bad: &VerifiedEvent) -> Refusal {
    let (with, without) = s.with_and_without(bad);
    assert_eq!(
        with.credit, without.credit,
        "the refused event changed the ledger"
    );
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

/// The same state whatever order `s`'s events are delivered in: shuffled sets derived from
/// scratch, and events fed one by one, in random causal orders, to an incremental derivation.
#[track_caller]
fn same_in_every_order(s: &Scenario, reference: &GroupState, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let order = shuffled(&s.events, &mut rng);
        let st = GroupState::derive(&s.network, s.group, &order);
        assert_eq!(st.credit, reference.credit, "shuffled order {seed}");
        let ids = |g: &GroupState| {
            let mut v: Vec<EventId> = g.rejected.iter().map(|(e, _)| *e).collect();
            v.sort();
            v
        };
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
    }
}

// 1. Within and beyond the limit.

#[test]
fn a_payment_within_the_limit_moves_balances_and_an_overspend_is_refused() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let p = pay(&mut s, "A", "B", 1_500);
    let st = s.derive();
    assert_valid(&st, &p);
    assert_eq!(bal(&st, &s, "A"), -1_500);
    assert_eq!(bal(&st, &s, "B"), 1_500);
    assert_eq!(bal(&st, &s, "C"), 0);
    assert_eq!(st.credit.sum(), 0);
    assert_eq!(st.credit.payments.len(), 1);
    let rec = &st.credit.payments[0];
    assert_eq!(
        (rec.id, rec.from, rec.to, rec.amount, rec.invoice),
        (p.id(), s.key("A"), s.key("B"), 1_500, None)
    );

    // 15.00 + 5.01 is beyond 20.00.
    let mut over = s.clone();
    let bad = pay(&mut over, "A", "C", LIMIT - 1_500 + 1);
    let r = refused_without_effect(&over, &bad);
    assert_credit_refusal(&r, "pay", "below its limit of -2000");

    // Exactly to the limit is allowed; one hundredth more is not.
    let ok = pay(&mut s, "A", "C", LIMIT - 1_500);
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(bal(&st, &s, "A"), -(LIMIT as i128));
    let bad = pay(&mut s, "A", "C", 1);
    let r = refused_without_effect(&s, &bad);
    assert_credit_refusal(&r, "pay", "limit of -2000");

    // Paying oneself moves nothing and is refused.
    let mut own = s.clone();
    let bad = pay(&mut own, "B", "B", 100);
    let r = refused_without_effect(&own, &bad);
    assert_credit_refusal(&r, "pay", "cannot pay itself");
}

// 2. Incoming credit counts once it is in the spender's causal past.

#[test]
fn incoming_credit_counts_only_in_the_spender_s_causal_past_and_only_once() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let from_a = pay(&mut s, "A", "B", 1_000);

    // B has not seen A's payment: it may go to -20.00, not to -25.00.
    let mut blind = s.clone();
    let bad = pay_with(&mut blind, "B", "C", 2_500, &[tip]);
    assert!(!bad.header().deps.contains(&from_a.id()));
    let r = refused_without_effect(&blind, &bad);
    assert_credit_refusal(&r, "pay", "below its limit");
    // Though the whole set has B at +10.00.
    assert_eq!(bal(&blind.derive(), &blind, "B"), 1_000);

    // Citing it, the same payment is accepted.
    let ok = pay_with(&mut s, "B", "C", 2_500, &[tip, from_a.id()]);
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(bal(&st, &s, "B"), -1_500);
    assert_eq!(bal(&st, &s, "C"), 2_500);
    assert_eq!(st.credit.sum(), 0);

    // The credit is spent once: B is at -15.00, so 5.01 more is beyond the limit.
    let bad = pay_with(&mut s, "B", "C", 501, &[from_a.id()]);
    let r = refused_without_effect(&s, &bad);
    assert_credit_refusal(&r, "pay", "below its limit");
    let ok = pay_with(&mut s, "B", "C", 500, &[from_a.id()]);
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(bal(&st, &s, "B"), -2_000);
    same_in_every_order(&s, &st, 0..4);
}

// 3. Forks freeze.

#[test]
fn a_forked_payer_is_frozen_in_every_order_and_its_credit_cannot_be_spent() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "F"], Constitution::default());
    // Before its fork F is paid 5.00 by B: that counts, fork or not.
    let to_f = pay(&mut s, "B", "F", 500);
    let deps = heads(&s);
    let first = pay_act(&s, "C", 1_500, None);
    let second = pay_act(&s, "D", 1_500, None);
    // Each branch alone is within F's 25.00; together they are 30.00.
    let (to_c, to_d) = fork(&mut s, "F", first, second, &deps);
    let seq = to_c.header().seq;
    // F keeps writing on one branch; C spends the 15.00 F's first branch claimed to give it.
    let deps = vec![to_c.id(), to_d.id()];
    let later = pay_with(&mut s, "F", "A", 100, &deps);
    let spend = pay_with(&mut s, "C", "A", 2_500, &[to_c.id()]);
    // D spends only within its own limit: that stands.
    let own = pay_with(&mut s, "D", "A", 2_000, &[to_d.id()]);

    let st = s.derive();
    let frozen = Refusal::Forked {
        author: s.key("F"),
        seq,
    };
    assert_eq!(st.forked.get(&s.key("F")), Some(&seq));
    assert_refused(&st, &to_c, frozen.clone());
    assert_refused(&st, &to_d, frozen.clone());
    assert_refused(&st, &later, frozen);
    assert_valid(&st, &to_f);
    assert_valid(&st, &own);
    assert_credit_refusal(&refusal(&st, &spend).unwrap(), "pay", "below its limit");
    assert_eq!(bal(&st, &s, "F"), 500, "what F was paid still counts");
    assert_eq!(bal(&st, &s, "B"), -500);
    assert_eq!(bal(&st, &s, "C"), 0);
    assert_eq!(bal(&st, &s, "D"), -2_000);
    assert_eq!(bal(&st, &s, "A"), 2_000);
    assert_eq!(st.credit.sum(), 0);
    let accepted: Vec<EventId> = st.credit.payments.iter().map(|p| p.id).collect();
    assert_eq!(accepted, vec![to_f.id(), own.id()]);
    same_in_every_order(&s, &st, 0..8);

    // Whichever branch arrives first, the incremental derivation ends frozen too.
    for first in [&to_c, &to_d] {
        let mut d = Derivation::new(&s.network, s.group, &[]);
        let upto = s.events.iter().position(|e| e.id() == to_c.id()).unwrap();
        d.extend(&s.events[..upto]);
        d.extend(std::slice::from_ref(first));
        let alone = d.state().credit.clone();
        assert_eq!(
            alone.balances.get(&s.key("F")),
            Some(&-1_000),
            "one branch alone is a valid payment"
        );
        let rest: Vec<VerifiedEvent> = s.events[upto..]
            .iter()
            .filter(|e| e.id() != first.id())
            .cloned()
            .collect();
        d.extend(&rest);
        assert_eq!(d.state().credit, st.credit);
    }
}

// 4. Removed members, strangers, bad amounts.

#[test]
fn removed_members_strangers_and_bad_amounts_are_refused_without_effect() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    pay(&mut s, "D", "B", 300);
    pay(&mut s, "B", "D", 100);

    // D's payment after its removal.
    let mut removed = s.clone();
    let seen = removed.count("D");
    let deps = heads(&removed);
    let removal = removed.remove("A", "D", seen, &deps);
    let bad = pay_with(&mut removed, "D", "B", 100, &[removal.id()]);
    assert_eq!(
        refused_without_effect(&removed, &bad),
        Refusal::AfterRemoval {
            author: s.key("D"),
            cut: seen
        }
    );
    // A payment to the removed member, after its removal.
    let bad = pay(&mut removed, "B", "D", 100);
    assert_eq!(
        refused_without_effect(&removed, &bad),
        Refusal::TargetNotMember(s.key("D"))
    );
    // What D paid and received before stays.
    let st = removed.derive();
    assert_eq!(bal(&st, &s, "D"), -200);
    assert_eq!(st.credit.payments.len(), 2);

    // To a stranger.
    let mut stranger = s.clone();
    let bad = pay(&mut stranger, "A", "Z", 100);
    assert_eq!(
        refused_without_effect(&stranger, &bad),
        Refusal::TargetNotMember(s.key("Z"))
    );

    // Zero and above the maximum: not even a payment.
    for amount in [0, MAX_AMOUNT + 1, u64::MAX] {
        let p = pay_act(&s, "B", amount, None);
        assert!(Payload::decode(&p.encode()).is_err(), "{amount} decodes");
        let mut odd = s.clone();
        let deps = heads(&odd);
        let bad = odd.write("A", p, &deps, T);
        match refused_without_effect(&odd, &bad) {
            Refusal::Undecodable(_) => {}
            other => panic!("{amount}: expected undecodable, got {other:?}"),
        }
    }
    // The maximum itself decodes, and is refused only as an overspend.
    let mut big = s.clone();
    let bad = pay(&mut big, "A", "B", MAX_AMOUNT);
    assert_credit_refusal(
        &refused_without_effect(&big, &bad),
        "pay",
        "below its limit",
    );
}

// 5. Invoices.

#[test]
fn an_invoice_is_settled_once_by_its_payer_paying_its_author_its_amount() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let inv = invoice(&mut s, "B", "A", 700);
    let st = s.derive();
    assert_valid(&st, &inv);
    let i = &st.credit.invoices[&inv.id()];
    assert_eq!(
        (i.payee, i.payer, i.amount, i.paid_by),
        (s.key("B"), s.key("A"), 700, None)
    );
    assert!(
        st.credit.balances.is_empty(),
        "an invoice alone moves nothing"
    );

    // Wrong amount, wrong payee, wrong payer.
    for (by, to, amount) in [("A", "B", 600), ("A", "C", 700), ("C", "B", 700)] {
        let mut wrong = s.clone();
        let bad = pay_invoice(&mut wrong, by, to, amount, inv.id());
        assert_credit_refusal(
            &refused_without_effect(&wrong, &bad),
            "pay",
            "settles an invoice to its payer",
        );
    }
    // An invoice not in the payer's past (A has not seen it).
    let mut unseen = s.clone();
    let deps: Vec<EventId> = vec![inv.header().backlink.unwrap()];
    let p = pay_act(&unseen, "B", 700, Some(inv.id()));
    let bad = unseen.write("A", p, &deps, T);
    assert!(!bad.header().deps.contains(&inv.id()));
    assert_credit_refusal(
        &refused_without_effect(&unseen, &bad),
        "pay",
        "no such invoice",
    );
    // An invoice to oneself, and to a stranger.
    let mut own = s.clone();
    let bad = invoice(&mut own, "B", "B", 100);
    assert_credit_refusal(
        &refused_without_effect(&own, &bad),
        "invoice",
        "cannot invoice itself",
    );
    let mut stranger = s.clone();
    let bad = invoice(&mut stranger, "B", "Z", 100);
    assert_eq!(
        refused_without_effect(&stranger, &bad),
        Refusal::TargetNotMember(s.key("Z"))
    );

    // A pays it.
    let paid = pay_invoice(&mut s, "A", "B", 700, inv.id());
    let st = s.derive();
    assert_valid(&st, &paid);
    assert_eq!(st.credit.invoices[&inv.id()].paid_by, Some(paid.id()));
    assert_eq!(st.credit.payments.last().unwrap().invoice, Some(inv.id()));
    assert_eq!(bal(&st, &s, "A"), -700);
    assert_eq!(bal(&st, &s, "B"), 700);

    // Twice is refused.
    let again = pay_invoice(&mut s, "A", "B", 700, inv.id());
    assert_credit_refusal(&refused_without_effect(&s, &again), "pay", "paid already");
    let st = s.derive();
    assert_eq!(st.credit.invoices[&inv.id()].paid_by, Some(paid.id()));
    same_in_every_order(&s, &st, 0..4);
}

#[test]
fn an_invoice_refused_as_an_overspend_stays_open_and_is_paid_later() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let inv = invoice(&mut s, "B", "A", 2_500);
    let over = pay_invoice(&mut s, "A", "B", 2_500, inv.id());
    assert_credit_refusal(&refused_without_effect(&s, &over), "pay", "below its limit");
    assert_eq!(s.derive().credit.invoices[&inv.id()].paid_by, None);
    pay(&mut s, "C", "A", 1_000);
    let paid = pay_invoice(&mut s, "A", "B", 2_500, inv.id());
    let st = s.derive();
    assert_valid(&st, &paid);
    assert_eq!(st.credit.invoices[&inv.id()].paid_by, Some(paid.id()));
    assert_eq!(bal(&st, &s, "A"), -1_500);
    same_in_every_order(&s, &st, 0..4);
}

// 6. Limits.

fn limit_proposal(member: PublicKey, limit: u64) -> Proposal {
    Proposal {
        text: ProposalText {
            title: "More credit".into(),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::default(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action: Payload::Ledger(LedgerAct::Limit { member, limit }).encode(),
    }
}

/// A proposal to set `member`'s limit, every one of `voters` voting yes, and A's close.
fn decide_limit(
    s: &mut Scenario,
    voters: &[&'static str],
    member: &str,
    limit: u64,
) -> (VerifiedEvent, VerifiedEvent) {
    let deps = heads(s);
    let member = s.key(member);
    let p = s.write(
        "A",
        Payload::Propose(limit_proposal(member, limit)),
        &deps,
        T,
    );
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
    let c = s.write("A", Payload::Close { proposal: p.id() }, &deps, T);
    (p, c)
}

#[test]
fn limits_are_lowered_freely_and_otherwise_follow_the_rule() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    assert_eq!(s.derive().constitution.credit, CreditRules::default());
    let needs = Refusal::NeedsDecision("set credit limits");

    // Raising one's own, or setting another's (even lower), needs a decision.
    for (by, whose, to) in [("B", "B", 3_000), ("A", "B", 3_000), ("A", "B", 1_000)] {
        let mut raise = s.clone();
        let bad = limit(&mut raise, by, whose, to);
        assert_eq!(
            refused_without_effect(&raise, &bad),
            needs,
            "{by} {whose} {to}"
        );
    }

    // Lowering one's own is free, and binds.
    let low = limit(&mut s, "B", "B", 1_000);
    let st = s.derive();
    assert_valid(&st, &low);
    assert_eq!(st.credit.limits.get(&s.key("B")), Some(&1_000));
    let bad = pay(&mut s, "B", "C", 1_001);
    assert_credit_refusal(
        &refused_without_effect(&s, &bad),
        "pay",
        "below its limit of -1000",
    );
    // Raising it back is not lowering.
    let bad = limit(&mut s, "B", "B", 1_500);
    assert_eq!(refused_without_effect(&s, &bad), needs);
    let ok = pay(&mut s, "B", "C", 1_000);
    assert_valid(&s.derive(), &ok);

    // Under the rule `member`, a member sets another's limit.
    let c = Constitution {
        credit: CreditRules {
            limits: Rule::Member,
            ..CreditRules::default()
        },
        ..Constitution::default()
    };
    let (mut m, _) = group_of(&["A", "B", "C"], c);
    let set = limit(&mut m, "A", "B", 5_000);
    let st = m.derive();
    assert_valid(&st, &set);
    assert_eq!(st.credit.limits.get(&m.key("B")), Some(&5_000));
    let ok = pay(&mut m, "B", "C", 4_000);
    assert_valid(&m.derive(), &ok);
    let mut stranger = m.clone();
    let bad = limit(&mut stranger, "A", "Z", 5_000);
    assert_eq!(
        refused_without_effect(&stranger, &bad),
        Refusal::TargetNotMember(m.key("Z"))
    );

    // A limit set concurrently with a payment that did not see it does not apply to it: the
    // payment is judged at its own causal point (A's limit there is still the default 20.00).
    // A (at 0.00) pays 15.00 while B lowers A's limit to 5.00.
    let base = heads(&m);
    let a_key = m.key("A");
    m.write(
        "B",
        Payload::Ledger(LedgerAct::Limit {
            member: a_key,
            limit: 500,
        }),
        &base,
        T,
    );
    let lowered = m.events.last().unwrap().id();
    let concurrent = pay_with(&mut m, "A", "C", 1_500, &base);
    let st = m.derive();
    assert_valid(&st, &concurrent);
    assert_eq!(bal(&st, &m, "A"), -1_500);
    assert_eq!(st.credit.limits.get(&a_key), Some(&500));
    assert_eq!(st.credit.sum(), 0);
    same_in_every_order(&m, &st, 0..8);
    // A payment that has the lowered limit in its past is judged by it: A is at -15.00, below
    // -5.00 already, so even 0.01 more is refused.
    let after = pay_with(&mut m, "A", "C", 1, &[concurrent.id(), lowered]);
    assert_credit_refusal(
        &refused_without_effect(&m, &after),
        "pay",
        "below its limit of -500",
    );
}

#[test]
fn a_passed_proposal_sets_a_limit_and_a_payment_beyond_the_old_one_is_then_accepted() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let mut before = s.clone();
    let bad = pay(&mut before, "B", "C", 4_000);
    assert_credit_refusal(
        &refused_without_effect(&before, &bad),
        "pay",
        "below its limit of -2000",
    );

    let (p, close) = decide_limit(&mut s, &["A", "B", "C"], "B", 5_000);
    let st = s.derive();
    assert_valid(&st, &p);
    assert_valid(&st, &close);
    assert_eq!(st.credit.limits.get(&s.key("B")), Some(&5_000));
    let ok = pay(&mut s, "B", "C", 4_000);
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(bal(&st, &s, "B"), -4_000);
    let bad = pay(&mut s, "B", "C", 1_001);
    assert_credit_refusal(
        &refused_without_effect(&s, &bad),
        "pay",
        "below its limit of -5000",
    );
    same_in_every_order(&s, &s.derive(), 0..4);

    // A proposal that fails sets nothing.
    let (mut f, _) = group_of(&["A", "B", "C"], Constitution::default());
    decide_limit(&mut f, &[], "B", 5_000);
    assert!(f.derive().credit.limits.is_empty());
}

#[test]
fn the_credit_rules_in_force_at_the_payment_apply() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let mut before = s.clone();
    let bad = pay(&mut before, "B", "C", 4_000);
    assert_credit_refusal(
        &refused_without_effect(&before, &bad),
        "pay",
        "limit of -2000",
    );
    // The admin amends the default limit to 50.00 and lets members set limits.
    let amended = Constitution {
        credit: CreditRules {
            default_limit: 5_000,
            limits: Rule::Member,
            ..CreditRules::default()
        },
        ..Constitution::default()
    };
    let deps = heads(&s);
    let amend = s.write("A", Payload::Amend(amended.clone()), &deps, T);
    let st = s.derive();
    assert_valid(&st, &amend);
    assert_eq!(st.constitution, amended);
    let ok = pay(&mut s, "B", "C", 4_000);
    assert_valid(&s.derive(), &ok);
    // A payment that did not see the amendment is judged by the old limit.
    let (mut blind, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let deps = heads(&blind);
    blind.write("A", Payload::Amend(amended), &deps, T);
    let bad = pay_with(&mut blind, "B", "C", 4_000, &[tip]);
    assert_credit_refusal(
        &refused_without_effect(&blind, &bad),
        "pay",
        "limit of -2000",
    );
    // Under the amended rule, C sets B's limit.
    let set = limit(&mut s, "C", "B", 6_000);
    let st = s.derive();
    assert_valid(&st, &set);
    assert_eq!(st.credit.limits.get(&s.key("B")), Some(&6_000));
    let ok = pay(&mut s, "B", "C", 2_000);
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(bal(&st, &s, "B"), -6_000);
    same_in_every_order(&s, &st, 0..4);
}

// 7. Random histories.

const PEOPLE: [&str; 6] = ["A", "B", "C", "D", "E", "F"];

/// One random payment: (payer, payee, amount, which earlier payments to cite (bits), fork).
type Op = (usize, usize, u64, u32, u8);

/// A group of `n` members and `ops` as payments with partial pasts; returns the scenario and
/// the ids of the events written for the ops.
fn random_ledger(n: usize, ops: &[Op]) -> (Scenario, Vec<EventId>) {
    let names = &PEOPLE[..n];
    let (mut s, tip) = group_of(names, Constitution::default());
    let mut written: Vec<EventId> = Vec::new();
    for (payer, payee, amount, cite, fork_kind) in ops {
        let by = names[payer % n];
        let mut to = names[payee % n];
        if to == by {
            to = names[(payee + 1) % n];
        }
        // The admissions, and the earlier payments picked by the bits of `cite` among the 12
        // newest (an event cites at most 16), so concurrent payments cross.
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
        if fork_kind % 16 == 0 {
            let other = names[(payee + 2) % n];
            let other = if other == by {
                names[(payee + 3) % n]
            } else {
                other
            };
            let first = pay_act(&s, to, *amount, None);
            let second = pay_act(&s, other, *amount, None);
            let (a, b) = fork(&mut s, by, first, second, &deps);
            written.push(a.id());
            written.push(b.id());
        } else {
            let e = pay_with(&mut s, by, to, *amount, &deps);
            written.push(e.id());
        }
    }
    (s, written)
}

/// The rules re-stated from scratch: which of `payments` are accepted, judging each against
/// the accepted payments in its own causal past (computed from the events' deps), with forked
/// authors frozen from their fork seq on.
fn model(s: &Scenario, payments: &[EventId]) -> BTreeSet<EventId> {
    let by_id: HashMap<EventId, &VerifiedEvent> = s.events.iter().map(|e| (e.id(), e)).collect();
    let mut at_seq: HashMap<(PublicKey, u64), BTreeSet<EventId>> = HashMap::new();
    for e in &s.events {
        let h = e.header();
        at_seq.entry((h.author, h.seq)).or_default().insert(e.id());
    }
    let mut forks: BTreeMap<PublicKey, u64> = BTreeMap::new();
    for ((who, seq), ids) in &at_seq {
        if ids.len() > 1 {
            let f = forks.entry(*who).or_insert(*seq);
            *f = (*f).min(*seq);
        }
    }
    let is_payment: BTreeSet<EventId> = payments.iter().copied().collect();
    let mut accepted: BTreeSet<EventId> = BTreeSet::new();
    // Written order is causal.
    for e in s.events.iter().filter(|e| is_payment.contains(&e.id())) {
        let h = e.header();
        if forks.get(&h.author).is_some_and(|f| h.seq >= *f) {
            continue;
        }
        let Some(Payload::Ledger(LedgerAct::Pay { amount, .. })) =
            e.body().and_then(|b| Payload::decode(b).ok())
        else {
            panic!("not a payment")
        };
        let past = causal_past(&by_id, e);
        let seen = balance_in(&by_id, &accepted, &past, &h.author);
        if seen - i128::from(amount) >= -i128::from(LIMIT) {
            accepted.insert(e.id());
        }
    }
    accepted
}

/// Every event in `e`'s causal past (not itself).
fn causal_past(by_id: &HashMap<EventId, &VerifiedEvent>, e: &VerifiedEvent) -> BTreeSet<EventId> {
    let mut past = BTreeSet::new();
    let mut stack: Vec<EventId> = e
        .header()
        .backlink
        .iter()
        .chain(&e.header().deps)
        .copied()
        .collect();
    while let Some(id) = stack.pop() {
        if past.insert(id)
            && let Some(p) = by_id.get(&id)
        {
            stack.extend(p.header().backlink.iter().chain(&p.header().deps).copied());
        }
    }
    past
}

/// `who`'s balance from the `accepted` payments among `past`.
fn balance_in(
    by_id: &HashMap<EventId, &VerifiedEvent>,
    accepted: &BTreeSet<EventId>,
    past: &BTreeSet<EventId>,
    who: &PublicKey,
) -> i128 {
    let mut b = 0i128;
    for id in accepted.intersection(past) {
        let e = by_id[id];
        let Some(Payload::Ledger(LedgerAct::Pay { to, amount, .. })) =
            e.body().and_then(|b| Payload::decode(b).ok())
        else {
            continue;
        };
        if e.header().author == *who {
            b -= i128::from(amount);
        }
        if to == *who {
            b += i128::from(amount);
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_ledgers_are_the_same_in_every_order_and_never_overspend(
        n in 5usize..=6,
        ops in prop::collection::vec((0usize..6, 0usize..6, 1u64..1_500, any::<u32>(), any::<u8>()), 4..28),
        seed in 1u64..u64::MAX,
    ) {
        let (s, payments) = random_ledger(n, &ops);
        let reference = s.derive();
        let credit = &reference.credit;
        prop_assert_eq!(credit.sum(), 0);

        // Accepted exactly as the rules say.
        let expected = model(&s, &payments);
        let accepted: BTreeSet<EventId> = credit.payments.iter().map(|p| p.id).collect();
        prop_assert_eq!(&accepted, &expected);
        prop_assert_eq!(accepted.len(), credit.payments.len());
        for id in &payments {
            prop_assert_eq!(accepted.contains(id), refusal(&reference, by_id_of(&s, id)).is_none());
        }

        // Each accepted payment is within the limit counted from its own causal past.
        let by_id: HashMap<EventId, &VerifiedEvent> = s.events.iter().map(|e| (e.id(), e)).collect();
        for p in &credit.payments {
            let past = causal_past(&by_id, by_id[&p.id]);
            let seen = balance_in(&by_id, &accepted, &past, &p.from);
            prop_assert!(seen - i128::from(p.amount) >= -i128::from(LIMIT),
                "{} spent {} from a seen balance of {}", p.id, p.amount, seen);
        }
        // Balances are the accepted payments.
        let mut balances: BTreeMap<PublicKey, i128> = BTreeMap::new();
        for p in &credit.payments {
            *balances.entry(p.from).or_default() -= i128::from(p.amount);
            *balances.entry(p.to).or_default() += i128::from(p.amount);
        }
        prop_assert_eq!(&balances, &credit.balances);

        let mut rng = Rng(seed);
        for _ in 0..3 {
            let order = shuffled(&s.events, &mut rng);
            let st = GroupState::derive(&s.network, s.group, &order);
            prop_assert_eq!(&st.credit, credit);
        }
        let order = topological(&s.events, &mut rng);
        let mut d = Derivation::new(&s.network, s.group, &[]);
        for chunk in order.chunks(1 + rng.next(4)) {
            d.extend(chunk);
        }
        prop_assert_eq!(&d.state().credit, credit);
    }
}

fn by_id_of<'a>(s: &'a Scenario, id: &EventId) -> &'a VerifiedEvent {
    s.events.iter().find(|e| e.id() == *id).unwrap()
}
