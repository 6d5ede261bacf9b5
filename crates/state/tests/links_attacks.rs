//! An outside review of links between groups, demurrage and grants: attacks on the rules of
//! `crates/state/src/credit.rs` and `crates/state/src/aid.rs` (Mirror), through the pass.
//!
//! Tests named `attack_*` replay an attack the review found (each failed before its fix: a
//! bridge of another link taking a payment's id or a mirror, a payer forking after its payment
//! was carried, a late `Linked` of an old run); tests named `pin_*` pin a rule that held.
#![allow(clippy::unwrap_used)]

mod common;
use common::ledger::{bal, proposal, terms};
use common::*;

use dualpower_core::aid::{AidAct, Category, Intent};
use dualpower_core::decision::Ballot;
use dualpower_core::ledger::{
    CreditRules, DEMURRAGE_PERIOD_MS, LedgerAct, clearing_account, commons_account,
};
use dualpower_core::{Constitution, EventId, GroupId, Payload, PublicKey, VerifiedEvent};

const A_NAMES: [&str; 3] = ["ann", "bridge", "carl"];
/// B has a second bridge, `cbridge`, for its link to a third group C that A never named.
const B_NAMES: [&str; 4] = ["bea", "bridge", "dan", "cbridge"];
const A_EXTENDS: u64 = 5_000;
const B_EXTENDS: u64 = 3_000;
/// The third group (B's business alone).
const GC: GroupId = GroupId([0xc0; 32]);

fn heads(s: &Scenario) -> Vec<EventId> {
    s.events.last().map(|e| e.id()).into_iter().collect()
}

fn ledger(s: &mut Scenario, by: &'static str, act: LedgerAct) -> VerifiedEvent {
    let deps = heads(s);
    s.write(by, Payload::Ledger(act), &deps, T)
}

/// `voters[0]` proposes `act`, each of `voters` votes yes, `voters[0]` closes; every event
/// cites the one before, starting from `tip` (None: the newest event). Returns the close.
fn decide_from(
    s: &mut Scenario,
    voters: &[&'static str],
    act: LedgerAct,
    tip: Option<EventId>,
) -> VerifiedEvent {
    let by = voters[0];
    let mut tip = tip.or_else(|| heads(s).first().copied());
    let mut next = |s: &mut Scenario, who: &'static str, p: Payload| {
        let deps: Vec<EventId> = tip.into_iter().collect();
        let e = s.write(who, p, &deps, T);
        tip = Some(e.id());
        e
    };
    let p = next(s, by, Payload::Propose(proposal(act)));
    for v in voters {
        next(
            s,
            v,
            Payload::Vote {
                proposal: p.id(),
                ballot: Ballot::Choice(0),
                reason: String::new(),
            },
        );
    }
    next(s, by, Payload::Close { proposal: p.id() })
}

fn decide(s: &mut Scenario, voters: &[&'static str], act: LedgerAct) -> VerifiedEvent {
    decide_from(s, voters, act, None)
}

struct Pair {
    a: Scenario,
    b: Scenario,
    close_a: VerifiedEvent,
    close_b: VerifiedEvent,
}

fn decided_pair() -> Pair {
    let (mut a, _) = group_of(&A_NAMES, Constitution::default());
    let (mut b, _) = group_of(&B_NAMES, Constitution::default());
    let bridge = a.key("bridge");
    let close_a = decide(
        &mut a,
        &A_NAMES,
        LedgerAct::Link {
            group: b.group,
            terms: terms("Bakers", A_EXTENDS, &[bridge]),
        },
    );
    let close_b = decide(
        &mut b,
        &B_NAMES,
        LedgerAct::Link {
            group: a.group,
            terms: terms("Tenants", B_EXTENDS, &[bridge]),
        },
    );
    assert_valid(&a.derive(), &close_a);
    assert_valid(&b.derive(), &close_b);
    Pair {
        a,
        b,
        close_a,
        close_b,
    }
}

fn open_pair() -> Pair {
    let mut p = decided_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let (ca, cb) = (p.close_a.id(), p.close_b.id());
    let la = ledger(
        &mut p.a,
        "bridge",
        LedgerAct::Linked {
            group: gb,
            decision: cb,
        },
    );
    let lb = ledger(
        &mut p.b,
        "bridge",
        LedgerAct::Linked {
            group: ga,
            decision: ca,
        },
    );
    assert_valid(&p.a.derive(), &la);
    assert_valid(&p.b.derive(), &lb);
    p
}

/// B also links to C, with `cbridge` as its bridge, and `cbridge` opens it.
fn link_b_to_c(p: &mut Pair) {
    let cbridge = p.b.key("cbridge");
    let close = decide(
        &mut p.b,
        &B_NAMES,
        LedgerAct::Link {
            group: GC,
            terms: terms("Carpenters", B_EXTENDS, &[cbridge]),
        },
    );
    assert_valid(&p.b.derive(), &close);
    let l = ledger(
        &mut p.b,
        "cbridge",
        LedgerAct::Linked {
            group: GC,
            decision: EventId([1; 32]),
        },
    );
    assert_valid(&p.b.derive(), &l);
}

fn pay_out(
    s: &mut Scenario,
    by: &'static str,
    group: GroupId,
    to: PublicKey,
    n: u64,
) -> VerifiedEvent {
    ledger(
        s,
        by,
        LedgerAct::PayOut {
            group,
            to,
            amount: n,
            memo: "bread".into(),
        },
    )
}

#[allow(clippy::too_many_arguments)]
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

// Finding 1: "once per origin" is global, not per link.

/// A bridge of B's link to C (a key A never named) credits a payment "from C" citing the id
/// of A's payment across as its origin. B's rule "one PayIn per origin" does not look at the
/// group, so the real credit for A's payment, by the bridge both A and B named, is refused:
/// A's payer paid, A's payee is never credited, and (see the node test
/// `link_attacks.rs`) the honest bridge's node even marks it delivered.
#[test]
fn attack_a_bridge_of_another_link_squats_the_origin_of_a_payment_across() {
    let mut p = open_pair();
    link_b_to_c(&mut p);
    let (ga, gb) = (p.a.group, p.b.group);
    let (ann, bea, cbridge) = (p.a.key("ann"), p.b.key("bea"), p.b.key("cbridge"));

    let out = pay_out(&mut p.a, "ann", gb, bea, 700);
    assert_valid(&p.a.derive(), &out);

    // The C bridge's PayIn: from C's clearing account, 0.01 to itself, "origin" A's payment.
    let squat = pay_in(&mut p.b, "cbridge", GC, out.id(), cbridge, cbridge, 1);
    assert_valid(&p.b.derive(), &squat);

    // The real credit, by the bridge of the A link.
    let real = pay_in(&mut p.b, "bridge", ga, out.id(), ann, bea, 700);
    let st = p.b.derive();
    assert_eq!(
        refusal(&st, &real),
        None,
        "the real credit of A's payment was refused because another link's bridge used its id"
    );
    assert_eq!(bal(&st, &bea), 700);
}

// Finding 2: a payment across that the bridge carried can be voided afterwards by its payer.

/// Ann pays across, the (honest) bridge credits Bea in B and marks it delivered in A; then Ann
/// forks her log at the payment's seq. Forks freeze: A voids the payment (and the settle), Ann
/// is back to 0, but B's credit to Bea stands. Each ledger still sums to zero, but the two
/// clearing accounts no longer mirror each other: B's members gave 7.00 for nothing.
#[test]
fn attack_a_payer_forks_after_the_bridge_carried_its_payment() {
    let mut p = open_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let (ann, bea) = (p.a.key("ann"), p.b.key("bea"));
    let (in_a, in_b) = (clearing_account(&gb), clearing_account(&ga));

    let before = p.a.authors["ann"].clone();
    let out = pay_out(&mut p.a, "ann", gb, bea, 700);
    let inn = pay_in(&mut p.b, "bridge", ga, out.id(), ann, bea, 700);
    let done = ledger(
        &mut p.a,
        "bridge",
        LedgerAct::Settle {
            origin: out.id(),
            result: Ok(inn.id()),
        },
    );
    let (st_a, st_b) = (p.a.derive(), p.b.derive());
    assert_valid(&st_a, &out);
    assert_valid(&st_a, &done);
    assert_valid(&st_b, &inn);
    assert_eq!(bal(&st_a, &in_a) + bal(&st_b, &in_b), 0, "mirrored before");

    // Ann signs a second event at the seq of her payment (after everything above).
    p.a.authors.insert("ann", before);
    let deps = heads(&p.a);
    let fork = p.a.post("ann", "never mind", &deps);
    assert_eq!(fork.header().seq, out.header().seq, "a fork");

    let (st_a, st_b) = (p.a.derive(), p.b.derive());
    assert_eq!(st_a.credit.sum(), 0);
    assert_eq!(st_b.credit.sum(), 0);
    assert_eq!(bal(&st_b, &bea), 700, "B credited Bea");
    assert_eq!(
        bal(&st_a, &in_a) + bal(&st_b, &in_b),
        0,
        "A's clearing account for B ({}) and B's for A ({}) must mirror each other; Ann's balance in A is {}",
        bal(&st_a, &in_a),
        bal(&st_b, &in_b),
        bal(&st_a, &ann),
    );
}

// Finding 3: the link's view says open while the judge says not open.

/// B decided to link (run 1); before the bridge's `Linked` reached them, B's members closed
/// and reopened the link (run 2). The bridge's `Linked` (citing only run 1) is concurrent with
/// both closes; when the causal order puts it after the reopening, it is accepted for run 1 and
/// sets `links[A].opened`, so the view (and the bridge's node, which opens a link only while
/// `opened` is None) says open, while the judge asks for a `Linked` of run 2: every payment
/// across and every credit is refused, and no duty ever writes the missing `Linked`.
#[test]
fn a_late_linked_of_an_old_run_never_makes_the_view_disagree_with_the_judge() {
    let mut p = decided_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let bridge = p.a.key("bridge");
    let voters = ["bea", "dan", "cbridge"];
    let c2 = decide_from(
        &mut p.b,
        &voters,
        LedgerAct::Link {
            group: ga,
            terms: terms("Tenants", B_EXTENDS, &[]),
        },
        Some(p.close_b.id()),
    );
    let c3 = decide_from(
        &mut p.b,
        &voters,
        LedgerAct::Link {
            group: ga,
            terms: terms("Tenants", B_EXTENDS, &[bridge]),
        },
        Some(c2.id()),
    );
    let st = p.b.derive();
    assert_valid(&st, &c2);
    assert_valid(&st, &c3);
    assert_eq!(st.credit.links[&ga].opened, None);

    // The bridge's Linked, written when it had seen only run 1 (its timestamp varies, as a
    // real one would, so the causal order puts it before or after the reopening). In every
    // order the view and the judge agree: the view says open exactly when a payment across is
    // accepted (found by the review: the view once said open while every payment was refused).
    let ann = p.a.key("ann");
    let mut late = 0;
    for ts in T..T + 200 {
        let mut b = p.b.clone();
        let l = b.write(
            "bridge",
            Payload::Ledger(LedgerAct::Linked {
                group: ga,
                decision: p.close_a.id(),
            }),
            &[p.close_b.id()],
            ts,
        );
        let out = pay_out(&mut b, "bea", ga, ann, 100);
        let st = b.derive();
        if refusal(&st, &l).is_some() {
            continue;
        }
        let open = st.credit.links[&ga].opened.is_some();
        late += usize::from(!open);
        assert_eq!(
            open,
            refusal(&st, &out).is_none(),
            "timestamp {ts}: the view says open = {open}, the payment: {:?}",
            refusal(&st, &out)
        );
    }
    assert!(late > 0, "some order puts the Linked after the reopening");
    let _ = (gb, bridge);
}

// Finding 4: mirrors are keyed by origin only.

fn intent(text: &str) -> Intent {
    Intent {
        need: false,
        category: Category::Food,
        text: text.into(),
        quantity: 4,
        unit: "loaves".into(),
        place: "Elm Street".into(),
        from: 0,
        until: 0,
        expires: NEVER,
        linked: true,
    }
}

/// A bridge of B's link to C overwrites the mirror of A's offer (same origin) with its own
/// text and author, attributed to C; the A bridge's node compares only `open`, so it never
/// puts A's offer back while `open` matches.
#[test]
fn attack_a_bridge_of_another_link_overwrites_a_mirror_of_this_link() {
    let mut p = open_pair();
    link_b_to_c(&mut p);
    let ga = p.a.group;
    let ann = p.a.key("ann");
    let origin = EventId([0x42; 32]);
    let real = ledger_aid(
        &mut p.b,
        "bridge",
        AidAct::Mirror {
            group: ga,
            origin,
            author: ann,
            intent: intent("Bread on Fridays"),
            open: 4,
        },
    );
    assert_valid(&p.b.derive(), &real);
    let cb = p.b.key("cbridge");
    let fake = ledger_aid(
        &mut p.b,
        "cbridge",
        AidAct::Mirror {
            group: GC,
            origin,
            author: cb,
            intent: intent("Send your deposit to cbridge first"),
            open: 4,
        },
    );
    let st = p.b.derive();
    let m = &st
        .aid
        .mirrored
        .get(&(ga, origin))
        .or_else(|| st.aid.mirrored.get(&(GC, origin)))
        .unwrap();
    assert!(
        refusal(&st, &fake).is_some() || m.group == ga,
        "A's mirrored offer now reads `{}` from group {:?} by {}",
        m.intent.text,
        m.group,
        m.author
    );
}

fn ledger_aid(s: &mut Scenario, by: &'static str, act: AidAct) -> VerifiedEvent {
    let deps = heads(s);
    s.write(by, Payload::Aid(act), &deps, T)
}

// Rules that held (pins).

#[test]
fn pin_hostile_demurrage_periods_are_refused_without_panic() {
    let c = Constitution {
        credit: CreditRules {
            demurrage: 100,
            ..CreditRules::default()
        },
        ..Constitution::default()
    };
    let (mut s, _) = group_of(&["x", "y", "z"], c);
    let p = DEMURRAGE_PERIOD_MS;
    // Everybody in period 3: only period 2 may be charged.
    for n in ["x", "y", "z"] {
        let deps = heads(&s);
        s.write(n, Payload::Post { text: "now".into() }, &deps, 3 * p + 5);
    }
    let x = s.key("x");
    let deps = heads(&s);
    s.write(
        "x",
        Payload::Ledger(LedgerAct::Pay {
            to: s.key("y"),
            amount: 1_000,
            memo: String::new(),
            invoice: None,
        }),
        &deps,
        3 * p + 5,
    );
    for period in [u64::MAX, u64::MAX - 1, 3, 4, 1, 0] {
        let e = ledger(&mut s, "y", LedgerAct::Demurrage { period });
        assert!(refusal(&s.derive(), &e).is_some(), "period {period}");
    }
    // A member postdating alone does not end the period early.
    let deps = heads(&s);
    let e = s.write(
        "y",
        Payload::Ledger(LedgerAct::Demurrage { period: 3 }),
        &deps,
        10 * p,
    );
    assert!(refusal(&s.derive(), &e).is_some(), "postdated alone");
    let ok = ledger(&mut s, "z", LedgerAct::Demurrage { period: 2 });
    let again = ledger(&mut s, "x", LedgerAct::Demurrage { period: 2 });
    let st = s.derive();
    assert_valid(&st, &ok);
    assert!(refusal(&st, &again).is_some(), "charged twice");
    assert_eq!(bal(&st, &s.key("y")), 990, "1% of 10.00");
    assert_eq!(bal(&st, &x), -1_000, "negative balances pay nothing");
    assert_eq!(bal(&st, &commons_account(&s.group)), 10);
    assert_eq!(st.credit.sum(), 0);
}

/// A PayIn to the commons or to a clearing account (not members) is refused; so is a Link
/// whose "bridge" is the other group's clearing account.
#[test]
fn pin_pay_ins_to_accounts_nobody_holds_are_refused() {
    let mut p = open_pair();
    let (ga, gb) = (p.a.group, p.b.group);
    let (ann, bea) = (p.a.key("ann"), p.b.key("bea"));
    let out = pay_out(&mut p.a, "ann", gb, bea, 700);
    let _ = out;
    for to in [
        commons_account(&gb),
        clearing_account(&ga),
        clearing_account(&GC),
    ] {
        let mut b = p.b.clone();
        let e = pay_in(&mut b, "bridge", ga, EventId([9; 32]), ann, to, 100);
        assert!(refusal(&b.derive(), &e).is_some());
    }
}
