//! The work domain through the pass: tasks by decision and directly, claims, peer-confirmed
//! completion and its receipts, reputation, commit-reveal sortition (order independence,
//! grinding, withholding, the drawn holder's rights), mediation, and Sybil rings. The rules are
//! at the top of `crates/state/src/work.rs`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};

use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText};
use dualpower_core::work::{
    Pool, Rotation, Settlement, TaskRef, TaskSpec, Work, WorkRules, commitment,
};
use dualpower_core::{Constitution, EventId, Payload, PublicKey, Rule, VerifiedEvent};
use dualpower_reputation::{ONE, sybil_bound};
use dualpower_state::work::{draw_pick, draw_seed};
use dualpower_state::{GroupState, Refusal};
use proptest::prelude::*;

const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;

/// Deps that put everything written so far in the past: the last event (every helper here
/// writes with it, so the events form one chain).
fn heads(s: &Scenario) -> Vec<EventId> {
    s.events.last().map(|e| e.id()).into_iter().collect()
}

/// `by` writes `w` with everything so far in its past.
fn act(s: &mut Scenario, by: &'static str, w: Work, ts: u64) -> VerifiedEvent {
    let deps = heads(s);
    s.write(by, Payload::Work(w), &deps, ts)
}

/// `by` posts at `ts` with everything so far in its past (moves group time).
fn post(s: &mut Scenario, by: &'static str, text: &str, ts: u64) -> VerifiedEvent {
    let deps = heads(s);
    s.write(by, Payload::Post { text: text.into() }, &deps, ts)
}

/// Every one of `names` posts at `ts`.
fn advance(s: &mut Scenario, names: &[&'static str], ts: u64) {
    for n in names {
        post(s, n, "later", ts);
    }
}

fn spec(title: &str, slots: u64, domain: &str) -> TaskSpec {
    TaskSpec {
        title: title.into(),
        slots,
        skills: Vec::new(),
        due: 0,
        domain: domain.into(),
    }
}

fn task(ev: &VerifiedEvent, index: u64) -> TaskRef {
    TaskRef {
        event: ev.id(),
        index,
    }
}

fn term(role: &str, n: u64) -> Pool {
    Pool::Term {
        role: role.into(),
        term: n,
    }
}

/// A volunteer's secret for a pool (deterministic).
fn secret(name: &str, pool: &Pool) -> [u8; 32] {
    *blake3::hash(format!("{name}/{pool:?}").as_bytes()).as_bytes()
}

fn volunteer(s: &mut Scenario, by: &'static str, pool: &Pool, ts: u64) -> VerifiedEvent {
    let commit = commitment(&s.group, pool, &s.key(by), &secret(by, pool));
    act(
        s,
        by,
        Work::Volunteer {
            pool: pool.clone(),
            commit,
        },
        ts,
    )
}

fn reveal(s: &mut Scenario, by: &'static str, pool: &Pool, ts: u64) -> VerifiedEvent {
    let secret = secret(by, pool);
    act(
        s,
        by,
        Work::Reveal {
            pool: pool.clone(),
            secret,
        },
        ts,
    )
}

/// Volunteers, close, reveals by all, and the draw, everything at `ts`; returns the draw.
fn full_draw(
    s: &mut Scenario,
    pool: &Pool,
    vols: &[&'static str],
    closer: &'static str,
    ts: u64,
) -> VerifiedEvent {
    for v in vols {
        volunteer(s, v, pool, ts);
    }
    act(s, closer, Work::CloseList(pool.clone()), ts);
    for v in vols {
        reveal(s, v, pool, ts);
    }
    act(s, closer, Work::Draw(pool.clone()), ts)
}

/// What the seed of `pool` drawn over `names`' secrets picks.
fn expected_pick(s: &Scenario, pool: &Pool, names: &[&str]) -> PublicKey {
    let revealed: BTreeMap<PublicKey, [u8; 32]> =
        names.iter().map(|n| (s.key(n), secret(n, pool))).collect();
    let seed = draw_seed(&s.group, pool, &revealed);
    draw_pick(&seed, revealed.keys().copied()).unwrap()
}

fn rotating(rest: u64, limit: u64) -> Constitution {
    Constitution {
        roles: vec!["admin".into(), "facilitator".into()],
        work: WorkRules {
            rotations: vec![Rotation {
                role: "facilitator".into(),
                term_days: 1,
                limit,
                rest,
            }],
            reveal_hours: 1,
            ..WorkRules::default()
        },
        ..Constitution::default()
    }
}

/// Derives `s` with and without `bad`: the event must be refused and change neither the work
/// state nor the members. Returns the refusal.
#[track_caller]
fn refused_without_effect(s: &Scenario, bad: &VerifiedEvent) -> Refusal {
    let (with, without) = s.with_and_without(bad);
    assert_eq!(
        with.work, without.work,
        "the refused event changed the work state"
    );
    assert_eq!(
        with.members, without.members,
        "the refused event changed the members"
    );
    refusal(&with, bad).unwrap_or_else(|| panic!("{} should be refused", bad.id()))
}

#[track_caller]
fn assert_work_refusal(r: &Refusal, act: &str, why: &str) {
    match r {
        Refusal::Work { act: a, why: w } if *a == act && w.contains(why) => {}
        other => panic!("expected `{act}` refused with `{why}`, got {other:?}"),
    }
}

fn key(name: &str) -> PublicKey {
    identity_of(name).public()
}

fn names(prefix: &str, n: usize) -> Vec<&'static str> {
    (0..n)
        .map(|i| &*Box::leak(format!("{prefix}{i}").into_boxed_str()))
        .collect()
}

// 1. The main flow.

fn tasks_proposal(specs: Vec<TaskSpec>) -> Proposal {
    Proposal {
        text: ProposalText {
            title: "Fix the roof".into(),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::default(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action: Payload::Work(Work::Tasks(specs)).encode(),
    }
}

/// A proposal to create tasks, votes (`yes` of them yes, the rest of `voters` no) and A's close.
fn decide_tasks(
    s: &mut Scenario,
    voters: &[&'static str],
    yes: usize,
) -> (VerifiedEvent, VerifiedEvent) {
    let deps = heads(s);
    let p = s.write(
        "A",
        Payload::Propose(tasks_proposal(vec![spec("Fix the roof", 2, "logistics")])),
        &deps,
        T,
    );
    for (i, v) in voters.iter().enumerate() {
        let ballot = Ballot::Choice(if i < yes { 0 } else { 1 });
        s.write(
            v,
            Payload::Vote {
                proposal: p.id(),
                ballot,
                reason: String::new(),
            },
            &heads(s),
            T,
        );
    }
    let deps = heads(s);
    let c = s.write("A", Payload::Close { proposal: p.id() }, &deps, T);
    (p, c)
}

#[test]
fn tasks_by_decision_are_claimed_done_confirmed_and_earn_reputation() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let (p, close) = decide_tasks(&mut s, &["A", "B", "C", "D"], 3);
    let t = task(&close, 0);
    let st = s.derive();
    let tk = &st.work.tasks[&t];
    assert_eq!(tk.proposal, Some(p.id()), "the task records its proposal");
    assert_eq!(tk.creator, s.key("A"));
    assert_eq!(tk.spec.slots, 2);

    act(&mut s, "B", Work::Claim(t), T);
    act(&mut s, "C", Work::Claim(t), T);
    act(
        &mut s,
        "B",
        Work::Done {
            task: t,
            note: "patched".into(),
        },
        T,
    );
    act(
        &mut s,
        "C",
        Work::Done {
            task: t,
            note: "helped".into(),
        },
        T,
    );
    // One confirmation of B's part: not yet (k = 2).
    act(
        &mut s,
        "A",
        Work::Confirm {
            task: t,
            worker: key("B"),
        },
        T,
    );
    let st = s.derive();
    assert!(st.work.tasks[&t].completed.is_empty());
    assert!(st.work.receipts.is_empty());

    act(
        &mut s,
        "D",
        Work::Confirm {
            task: t,
            worker: key("B"),
        },
        T,
    );
    act(
        &mut s,
        "D",
        Work::Confirm {
            task: t,
            worker: key("C"),
        },
        T,
    );
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let tk = &st.work.tasks[&t];
    assert_eq!(
        tk.completed.keys().copied().collect::<Vec<_>>(),
        vec![s.key("B")],
        "B counts with two confirmations; C has one"
    );
    let mut by: Vec<PublicKey> = tk.completed[&s.key("B")].clone();
    by.sort();
    assert_eq!(by, keys(&s, &["A", "D"]));
    let to_b: Vec<_> = st
        .work
        .receipts
        .iter()
        .filter(|r| r.to == s.key("B"))
        .collect();
    assert_eq!(to_b.len(), 2);
    assert!(
        to_b.iter()
            .all(|r| r.what == "task" && r.domain == "logistics")
    );
    assert!(st.work.receipts.iter().all(|r| r.to != s.key("C")));

    let rep = st.work.reputation(&st.constitution.work, st.creator);
    let log = &rep["logistics"];
    assert!(log[&s.key("B")].share > 0, "B earned trust from the seed A");
    assert_eq!(log.get(&s.key("C")).map_or(0, |x| x.share), 0);
    assert!(!rep.contains_key("care"));
}

#[test]
fn a_failed_proposal_creates_no_tasks() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let (_, close) = decide_tasks(&mut s, &["A", "B", "C", "D"], 1);
    let st = s.derive();
    assert!(!st.work.tasks.contains_key(&task(&close, 0)));
    assert!(st.work.tasks.is_empty());
}

/// A member outside the task rule cannot create tasks with a proposal of its own choosing
/// (a simple majority with its one vote, or a vote of a role it alone holds): tasks by decision
/// take the constitution's method and every member's vote.
#[test]
fn tasks_by_decision_need_the_constitution_s_method_and_every_member() {
    let mut rules = Constitution::default();
    rules.roles.push("coordinator".into());
    rules.work.tasks = Rule::Role("coordinator".into());
    let (mut s, _) = group_of(&["A", "B", "C", "D"], rules);
    for (method, electorate) in [
        ("majority", Electorate::Members),
        ("consent", Electorate::Members),
        (
            "majority:threshold=2/3,quorum=1/2",
            Electorate::Role("admin".into()),
        ),
    ] {
        let mut p = tasks_proposal(vec![spec("Sneak a task in", 1, "logistics")]);
        p.method = Method::parse(method).unwrap();
        p.electorate = electorate;
        let deps = heads(&s);
        let prop = s.write("B", Payload::Propose(p), &deps, T);
        let deps = heads(&s);
        s.write(
            "B",
            Payload::Vote {
                proposal: prop.id(),
                ballot: Ballot::Choice(0),
                reason: String::new(),
            },
            &deps,
            T,
        );
        let deps = heads(&s);
        s.write(
            "B",
            Payload::Close {
                proposal: prop.id(),
            },
            &deps,
            T,
        );
        let st = s.derive();
        assert!(st.work.tasks.is_empty(), "{method}: {:?}", st.work.tasks);
        assert!(
            st.rejected.iter().any(|(id, _)| *id == prop.id())
                || st.proposals.get(&prop.id()).is_some_and(|p| !p.enacted),
            "{method}: the proposal must be refused or not enacted"
        );
    }
}

// 2. Direct creation under the rule `work.tasks`.

#[test]
fn direct_tasks_follow_the_rule() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let ev = act(
        &mut s,
        "B",
        Work::Tasks(vec![spec("Flyers", 1, "outreach")]),
        T,
    );
    let st = s.derive();
    assert_valid(&st, &ev);
    let tk = &st.work.tasks[&task(&ev, 0)];
    assert_eq!((tk.creator, tk.proposal), (s.key("B"), None));
    let bad = act(
        &mut s,
        "B",
        Work::Tasks(vec![spec("Flyers", 1, "gardening")]),
        T,
    );
    let r = refused_without_effect(&s, &bad);
    assert_work_refusal(&r, "tasks", "no domain `gardening`");

    let c = Constitution {
        roles: vec!["admin".into(), "coordinator".into()],
        work: WorkRules {
            tasks: Rule::Role("coordinator".into()),
            ..WorkRules::default()
        },
        ..Constitution::default()
    };
    let (mut s, _) = group_of(&["A", "B", "C"], c);
    let bad = act(
        &mut s,
        "B",
        Work::Tasks(vec![spec("Flyers", 1, "outreach")]),
        T,
    );
    let r = refused_without_effect(&s, &bad);
    assert_eq!(
        r,
        Refusal::NoRight {
            action: "create tasks",
            rule: "role:coordinator".into()
        }
    );
    // With the role granted, the same act is allowed.
    let deps = heads(&s);
    s.role("A", "B", "coordinator", true, &deps);
    let ok = act(
        &mut s,
        "B",
        Work::Tasks(vec![spec("Flyers", 1, "outreach")]),
        T,
    );
    let st = s.derive();
    assert_valid(&st, &ok);
    assert!(st.work.tasks.contains_key(&task(&ok, 0)));
}

// 3. Bad input: refused with the reason, and no effect at all.

/// A group A..F (k = 2) with a one-slot task `t1` claimed by B and done, and a two-slot task
/// `t2` claimed by B.
fn task_base() -> (Scenario, TaskRef, TaskRef) {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E", "F"], Constitution::default());
    let ev = act(
        &mut s,
        "A",
        Work::Tasks(vec![spec("Roof", 1, "logistics"), spec("Food", 2, "care")]),
        T,
    );
    let (t1, t2) = (task(&ev, 0), task(&ev, 1));
    act(&mut s, "B", Work::Claim(t1), T);
    act(&mut s, "B", Work::Claim(t2), T);
    act(
        &mut s,
        "B",
        Work::Done {
            task: t1,
            note: "done".into(),
        },
        T,
    );
    (s, t1, t2)
}

#[test]
fn bad_claims_are_refused_without_effect() {
    let (base, t1, t2) = task_base();
    let mut s = base.clone();
    let bad = act(&mut s, "C", Work::Claim(t1), T);
    assert_work_refusal(
        &refused_without_effect(&s, &bad),
        "claim",
        "the task is full",
    );

    let mut s = base.clone();
    let bad = act(&mut s, "B", Work::Claim(t2), T);
    assert_work_refusal(
        &refused_without_effect(&s, &bad),
        "claim",
        "holds a slot on this task already",
    );
    // The free slot of t2 is there for someone else.
    let mut s = base;
    let ok = act(&mut s, "C", Work::Claim(t2), T);
    assert_valid(&s.derive(), &ok);
}

#[test]
fn bad_confirmations_are_refused_without_effect() {
    let (base, t1, _) = task_base();
    let b = base.key("B");

    let mut s = base.clone();
    let bad = act(
        &mut s,
        "B",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    assert_work_refusal(
        &refused_without_effect(&s, &bad),
        "confirm",
        "nobody confirms their own work",
    );

    let mut s = base.clone();
    act(
        &mut s,
        "C",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    let bad = act(
        &mut s,
        "C",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    assert_work_refusal(
        &refused_without_effect(&s, &bad),
        "confirm",
        "confirmed this completion already",
    );

    // D confirms with the task in its past but not B's Done.
    let mut s = base.clone();
    // B's Done is the last event; the one before it has everything else in its past.
    let before_done = vec![s.events[s.events.len() - 2].id()];
    let bad = s.write(
        "D",
        Payload::Work(Work::Confirm {
            task: t1,
            worker: b,
        }),
        &before_done,
        T,
    );
    let r = refused_without_effect(&s, &bad);
    assert_work_refusal(&r, "confirm", "the completion is not in the author's past");

    // Someone who never joined.
    let mut s = base.clone();
    let bad = act(
        &mut s,
        "Z",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    let r = refused_without_effect(&s, &bad);
    assert_eq!(r, Refusal::NotMember(s.key("Z")));

    // A removed member.
    let mut s = base;
    let deps = heads(&s);
    let seen = s.count("E");
    s.remove("A", "E", seen, &deps);
    let bad = act(
        &mut s,
        "E",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    let r = refused_without_effect(&s, &bad);
    assert_eq!(
        r,
        Refusal::AfterRemoval {
            author: key("E"),
            cut: seen
        }
    );
}

#[test]
fn excluded_volunteers_are_refused_without_effect() {
    // rest = 1: B held term 0, so B sits out term 1.
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], rotating(1, 0));
    let d = full_draw(&mut s, &term("facilitator", 0), &["B"], "A", T);
    assert_valid(&s.derive(), &d);
    assert_eq!(
        s.derive().work.draws[&term("facilitator", 0)].winner,
        Some(s.key("B"))
    );
    let mut s2 = s.clone();
    let bad = volunteer(&mut s2, "B", &term("facilitator", 1), T);
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "volunteer",
        "sits out 1 term(s)",
    );
    // Others may volunteer; twice is refused.
    let ok = volunteer(&mut s, "C", &term("facilitator", 1), T);
    assert_valid(&s.derive(), &ok);
    let bad = volunteer(&mut s, "C", &term("facilitator", 1), T);
    assert_work_refusal(
        &refused_without_effect(&s, &bad),
        "volunteer",
        "volunteered for this already",
    );

    // limit = 2, rest = 0: B serves terms 0 and 1, not 2.
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], rotating(0, 2));
    full_draw(&mut s, &term("facilitator", 0), &["B"], "A", T);
    advance(&mut s, &["A", "C", "D"], T + DAY);
    full_draw(&mut s, &term("facilitator", 1), &["B"], "A", T + DAY);
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_eq!(
        st.work.draws[&term("facilitator", 1)].winner,
        Some(s.key("B"))
    );
    let mut s2 = s.clone();
    let bad = volunteer(&mut s2, "B", &term("facilitator", 2), T + DAY);
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "volunteer",
        "held at most 2 term(s) in a row",
    );
    let ok = volunteer(&mut s, "C", &term("facilitator", 2), T + DAY);
    assert_valid(&s.derive(), &ok);
}

#[test]
fn bad_reveals_and_early_draws_are_refused_without_effect() {
    let pool = term("facilitator", 0);
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], rotating(0, 0));
    volunteer(&mut s, "B", &pool, T);
    volunteer(&mut s, "C", &pool, T);

    let mut s2 = s.clone();
    let bad = reveal(&mut s2, "B", &pool, T);
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "reveal",
        "reveals come after the list closes",
    );

    act(&mut s, "A", Work::CloseList(pool.clone()), T);
    let mut s2 = s.clone();
    let bad = act(
        &mut s2,
        "B",
        Work::Reveal {
            pool: pool.clone(),
            secret: secret("C", &pool),
        },
        T,
    );
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "reveal",
        "does not match the author's commitment",
    );

    reveal(&mut s, "B", &pool, T);
    let mut s2 = s.clone();
    let bad = act(&mut s2, "D", Work::Draw(pool.clone()), T + HOUR / 2);
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "draw",
        "1 of 2 volunteers revealed",
    );
    // Once C reveals, the draw goes ahead at once.
    reveal(&mut s, "C", &pool, T);
    let ok = act(&mut s, "D", Work::Draw(pool.clone()), T);
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(
        st.work.draws[&pool].winner,
        Some(expected_pick(&s, &pool, &["B", "C"]))
    );
}

#[test]
fn bad_mediation_acts_and_self_vouches_are_refused_without_effect() {
    let (mut s, t1, _) = task_base();
    let b = s.key("B");
    let dispute = act(
        &mut s,
        "C",
        Work::Dispute {
            task: t1,
            worker: b,
            reason: "not done".into(),
        },
        T,
    );
    let pool = Pool::Case(dispute.id());
    let mut s2 = s.clone();
    let bad = volunteer(&mut s2, "B", &pool, T);
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "volunteer",
        "a party cannot mediate its own case",
    );
    full_draw(&mut s, &pool, &["D", "E"], "A", T);
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let mediator = st.work.draws[&pool].winner.unwrap();
    assert_eq!(mediator, expected_pick(&s, &pool, &["D", "E"]));
    let other = if mediator == s.key("D") { "E" } else { "D" };
    for who in [other, "A", "B"] {
        let mut s2 = s.clone();
        let bad = act(
            &mut s2,
            who,
            Work::Outcome {
                case: dispute.id(),
                settlement: Settlement::Agreed,
                text: "fine".into(),
            },
            T,
        );
        assert_work_refusal(
            &refused_without_effect(&s2, &bad),
            "outcome",
            "only the drawn mediator records the outcome",
        );
    }

    let me = s.key("C");
    let bad = act(
        &mut s,
        "C",
        Work::Vouch {
            member: me,
            domain: "care".into(),
        },
        T,
    );
    assert_work_refusal(
        &refused_without_effect(&s, &bad),
        "vouch",
        "nobody vouches for themselves",
    );
}

// 4. Sortition.

/// A group A..F with B, C, D volunteering for term 0, E closing, all revealing, F drawing.
fn sortition() -> Scenario {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E", "F"], rotating(0, 0));
    let pool = term("facilitator", 0);
    for v in ["B", "C", "D"] {
        volunteer(&mut s, v, &pool, T);
    }
    act(&mut s, "E", Work::CloseList(pool.clone()), T);
    for v in ["D", "B", "C"] {
        reveal(&mut s, v, &pool, T);
    }
    act(&mut s, "F", Work::Draw(pool), T);
    s
}

#[test]
fn the_draw_is_the_same_for_every_delivery_order() {
    let s = sortition();
    let reference = s.derive();
    let pool = term("facilitator", 0);
    assert!(reference.rejected.is_empty(), "{:?}", reference.rejected);
    assert_eq!(
        reference.work.draws[&pool].winner,
        Some(expected_pick(&s, &pool, &["B", "C", "D"]))
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..12 {
        let order = shuffled(&s.events, &mut rng);
        let st = GroupState::derive(&s.network, s.group, &order);
        assert_eq!(st.work, reference.work);
    }
}

#[test]
fn neither_the_closer_nor_the_last_volunteer_can_grind_the_draw() {
    let pool = term("facilitator", 0);
    let mut winners = BTreeSet::new();
    let mut draw_ids = BTreeSet::new();
    for v in 0..50u64 {
        let (mut s, _) = group_of(&["A", "B", "C", "D", "E", "F"], rotating(0, 0));
        volunteer(&mut s, "B", &pool, T);
        volunteer(&mut s, "C", &pool, T);
        // The last volunteer (D) and the closer (E) write extra events first, so every id
        // after differs, and pick their own timestamps.
        for i in 0..v % 3 {
            post(&mut s, "D", &format!("filler {v} {i}"), T + v);
        }
        act(
            &mut s,
            "E",
            Work::Mediate {
                parties: vec![key("A"), key("F")],
                about: format!("unrelated {v}"),
            },
            T + 2 * v,
        );
        volunteer(&mut s, "D", &pool, T + 3 * v);
        act(&mut s, "E", Work::CloseList(pool.clone()), T + 5 * v);
        reveal(&mut s, "B", &pool, T);
        reveal(&mut s, "C", &pool, T);
        reveal(&mut s, "D", &pool, T + 7 * v);
        let draw = act(&mut s, "E", Work::Draw(pool.clone()), T + 11 * v);
        let st = s.derive();
        assert!(st.rejected.is_empty(), "{:?}", st.rejected);
        assert_eq!(st.work.draws[&pool].drawn, Some(draw.id()));
        draw_ids.insert(draw.id());
        winners.insert(st.work.draws[&pool].winner.unwrap());
    }
    assert_eq!(draw_ids.len(), 50, "every variant has its own ids");
    assert_eq!(winners.len(), 1, "the winner changed: {winners:?}");
}

#[test]
fn withholding_a_reveal_is_visible_and_the_draw_is_over_the_rest() {
    let pool = term("facilitator", 0);
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E", "F"], rotating(0, 0));
    for v in ["B", "C", "D"] {
        volunteer(&mut s, v, &pool, T);
    }
    act(&mut s, "E", Work::CloseList(pool.clone()), T);
    reveal(&mut s, "B", &pool, T);
    reveal(&mut s, "C", &pool, T);
    // D withholds. One member's late clock does not open the window...
    let mut s2 = s.clone();
    let bad = act(&mut s2, "F", Work::Draw(pool.clone()), T + 2 * HOUR);
    assert_work_refusal(
        &refused_without_effect(&s2, &bad),
        "draw",
        "2 of 3 volunteers revealed",
    );
    // ...but the group's time passing does.
    advance(&mut s, &["A", "B", "C", "E"], T + 2 * HOUR);
    let draw = act(&mut s, "F", Work::Draw(pool.clone()), T + 2 * HOUR);
    let st = s.derive();
    assert_valid(&st, &draw);
    let d = &st.work.draws[&pool];
    assert_eq!(d.withheld(), vec![s.key("D")]);
    assert_eq!(d.winner, Some(expected_pick(&s, &pool, &["B", "C"])));
    let revealed: BTreeMap<PublicKey, [u8; 32]> = ["B", "C"]
        .iter()
        .map(|n| (s.key(n), secret(n, &pool)))
        .collect();
    assert_eq!(d.seed, Some(draw_seed(&s.group, &pool, &revealed)));
}

#[test]
fn the_drawn_holder_has_the_role_s_rights_for_its_term_only() {
    let mut c = rotating(0, 0);
    // The creator holds the first role by grant; invites need the facilitator role.
    c.roles = vec!["facilitator".into(), "admin".into()];
    c.invite = Rule::Role("facilitator".into());
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], c);
    let pool = term("facilitator", 0);
    full_draw(&mut s, &pool, &["B", "C"], "D", T);
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let w = expected_pick(&s, &pool, &["B", "C"]);
    assert_eq!(st.work.draws[&pool].winner, Some(w));
    let (holder, other) = if w == s.key("B") {
        ("B", "C")
    } else {
        ("C", "B")
    };
    assert_eq!(st.work.holders["facilitator"].0, w);

    let deps = heads(&s);
    let (during, _) = s.invite(holder, 1, NEVER, &deps);
    let deps = heads(&s);
    let (not_holder, _) = s.invite(other, 1, NEVER, &deps);
    let st = s.derive();
    assert_valid(&st, &during);
    assert!(st.invites.contains_key(&during.id()));
    let no_right = Refusal::NoRight {
        action: "invite",
        rule: "role:facilitator".into(),
    };
    assert_refused(&st, &not_holder, no_right.clone());

    // Two days later in the group's time (everyone else's clocks), the term is over.
    advance(&mut s, &["A", other, "D", "E"], T + 2 * DAY);
    let deps = heads(&s);
    let (after, _) = s.invite(holder, 1, NEVER, &deps);
    let st = s.derive();
    assert_refused(&st, &after, no_right);
    assert!(!st.work.holders.contains_key("facilitator"));
    // The invite written during the term stays valid.
    assert_valid(&st, &during);
}

/// A successor drawn before the term ends takes over when it ends, not at its draw: the
/// holder keeps its rights for its whole term, the successor gets them only then.
#[test]
fn a_successor_drawn_early_starts_when_the_term_ends() {
    let mut c = rotating(1, 0);
    c.roles = vec!["facilitator".into(), "admin".into()];
    c.invite = Rule::Role("facilitator".into());
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], c);
    let first = term("facilitator", 0);
    full_draw(&mut s, &first, &["B"], "D", T);
    assert_eq!(s.derive().work.holders["facilitator"].0, s.key("B"));
    // 23.5 hours into the 24-hour term (inside the 1-hour reveal window before its end), C is
    // drawn for the next term.
    let late = T + DAY - DAY / 48;
    advance(&mut s, &["A", "C", "D", "E"], late);
    let next = term("facilitator", 1);
    full_draw(&mut s, &next, &["C"], "D", late);
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_eq!(st.work.draws[&next].winner, Some(s.key("C")));
    assert_eq!(
        st.work.draws[&next].at,
        T + DAY,
        "the next term starts at the end of this one"
    );
    assert_eq!(
        st.work.holders["facilitator"].0,
        s.key("B"),
        "B holds until its term ends"
    );
    let deps = heads(&s);
    let (b_still, _) = s.invite("B", 1, NEVER, &deps);
    let deps = heads(&s);
    let (c_early, _) = s.invite("C", 1, NEVER, &deps);
    let st = s.derive();
    assert_valid(&st, &b_still);
    let no_right = Refusal::NoRight {
        action: "invite",
        rule: "role:facilitator".into(),
    };
    assert_refused(&st, &c_early, no_right.clone());
    // Past the end of B's term, C holds the role and B does not.
    advance(&mut s, &["A", "D", "E"], T + DAY + DAY / 24);
    let deps = heads(&s);
    let (c_now, _) = s.invite("C", 1, NEVER, &deps);
    let deps = heads(&s);
    let (b_after, _) = s.invite("B", 1, NEVER, &deps);
    let st = s.derive();
    assert_valid(&st, &c_now);
    assert_refused(&st, &b_after, no_right);
    assert_eq!(st.work.holders["facilitator"].0, s.key("C"));
}

// 5. Mediation.

/// B's completion of t1 is confirmed by C and D, disputed by E, mediated by a drawn volunteer
/// (of A and F), settled with `settlement` and agreed by both parties.
fn mediated(settlement: Settlement) -> (Scenario, GroupState, TaskRef, PublicKey) {
    let (mut s, t1, _) = task_base();
    let b = s.key("B");
    act(
        &mut s,
        "C",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    act(
        &mut s,
        "D",
        Work::Confirm {
            task: t1,
            worker: b,
        },
        T,
    );
    assert!(s.derive().work.tasks[&t1].completed.contains_key(&b));
    let dispute = act(
        &mut s,
        "E",
        Work::Dispute {
            task: t1,
            worker: b,
            reason: "the roof still leaks".into(),
        },
        T,
    );
    let st = s.derive();
    assert!(
        !st.work.tasks[&t1].completed.contains_key(&b),
        "a dispute suspends it"
    );
    assert_eq!(
        st.work.cases[&dispute.id()].parties,
        keys(&s, &["B", "E"]).into_iter().collect()
    );
    let pool = Pool::Case(dispute.id());
    full_draw(&mut s, &pool, &["A", "F"], "C", T);
    let m = s.derive().work.draws[&pool].winner.unwrap();
    let mediator = if m == s.key("A") { "A" } else { "F" };
    let outcome = act(
        &mut s,
        mediator,
        Work::Outcome {
            case: dispute.id(),
            settlement,
            text: "settled".into(),
        },
        T,
    );
    act(
        &mut s,
        "B",
        Work::Agree {
            outcome: outcome.id(),
        },
        T,
    );
    let before = s.derive();
    assert!(
        before.work.cases[&dispute.id()].settled().is_none(),
        "one party agreed"
    );
    assert!(before.work.receipts.iter().all(|r| r.what != "mediation"));
    act(
        &mut s,
        "E",
        Work::Agree {
            outcome: outcome.id(),
        },
        T,
    );
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_eq!(st.work.cases[&dispute.id()].settled(), Some(settlement));
    (s, st, t1, m)
}

#[test]
fn mediation_receipts_go_to_the_mediator_and_overturned_work_does_not_count() {
    for settlement in [Settlement::Overturned, Settlement::Agreed] {
        let (s, st, t1, m) = mediated(settlement);
        let b = s.key("B");
        let med: Vec<_> = st
            .work
            .receipts
            .iter()
            .filter(|r| r.what == "mediation")
            .map(|r| (r.from, r.to, r.domain.as_str()))
            .collect();
        assert_eq!(
            med,
            vec![
                (keys(&s, &["B", "E"])[0], m, "mediation"),
                (keys(&s, &["B", "E"])[1], m, "mediation")
            ]
        );
        let counts = st.work.tasks[&t1].completed.contains_key(&b);
        let task_receipts = st
            .work
            .receipts
            .iter()
            .filter(|r| r.what == "task" && r.to == b)
            .count();
        match settlement {
            Settlement::Overturned => {
                assert!(!counts, "overturned: the completion does not count");
                assert_eq!(task_receipts, 0, "overturned work earns nothing");
            }
            _ => {
                assert!(counts, "agreed: the completion counts");
                assert_eq!(task_receipts, 2, "each confirmer's receipt, once");
            }
        }
    }
}

// 6. Sybil rings.

/// `by` vouches for `member` in `domain`.
fn vouch(s: &mut Scenario, by: &'static str, member: &str, ts: u64) -> VerifiedEvent {
    let member = s.key(member);
    act(
        s,
        by,
        Work::Vouch {
            member,
            domain: "care".into(),
        },
        ts,
    )
}

fn seeded(seeds: &[&str]) -> Constitution {
    let mut seeds: Vec<PublicKey> = seeds.iter().map(|n| identity_of(n).public()).collect();
    seeds.sort();
    Constitution {
        work: WorkRules {
            seeds,
            ..WorkRules::default()
        },
        ..Constitution::default()
    }
}

/// Honest H0..H9 (seeds H0, H1) vouching along a ring with two hops, and a sybil inviter S0
/// who admits S1..S49; the 50 fakes vouch for the next three each, twice over. With `attack`,
/// H7 vouches for S0 once.
fn sybil_group(attack: bool) -> (Scenario, Vec<&'static str>, Vec<&'static str>) {
    let honest = names("H", 10);
    let fakes = names("S", 50);
    let mut all = honest.clone();
    all.push(fakes[0]);
    let (mut s, _) = group_of(&all, seeded(&["H0", "H1"]));
    let deps = heads(&s);
    let (inv, key) = s.invite(fakes[0], 49, NEVER, &deps);
    for f in &fakes[1..] {
        let join = s.join(f, &inv, &key);
        let deps = heads(&s);
        s.admit(fakes[0], &join, &deps, T);
    }
    for (i, h) in honest.iter().enumerate() {
        for d in [1, 2] {
            vouch(&mut s, h, honest[(i + d) % honest.len()], T);
        }
    }
    for _ in 0..2 {
        for (i, f) in fakes.iter().enumerate() {
            for d in 1..=3 {
                vouch(&mut s, f, fakes[(i + d) % fakes.len()], T);
            }
        }
    }
    if attack {
        vouch(&mut s, "H7", fakes[0], T);
    }
    (s, honest, fakes)
}

#[test]
fn a_sybil_ring_holds_at_most_the_bound_of_its_one_attack_edge() {
    let (s, _, fakes) = sybil_group(true);
    let st = s.derive();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    assert_eq!(st.members.len(), 60);
    let rep = st.work.reputation(&st.constitution.work, st.creator);
    let care = &rep["care"];
    let share = |n: &str| care.get(&s.key(n)).map_or(0, |x| x.share);
    let ring: u64 = fakes.iter().map(|f| share(f)).sum();
    // H7 gave three equal receipts (H8, H9, S0): a third of its trust flows to the ring.
    let inflow = share("H7") / 3;
    let bound = sybil_bound(inflow, ONE / 5);
    assert!(ring > 0, "the attack edge carries some trust");
    assert!(ring <= bound + bound / 100, "ring {ring} > bound {bound}");
    // However many fakes and vouches: 50 fakes hold less than 4/3 of H7's own trust.
    assert!(
        ring < share("H7") * 4 / 3 + share("H7") / 100,
        "ring {ring}"
    );

    let (s, _, fakes) = sybil_group(false);
    let st = s.derive();
    let rep = st.work.reputation(&st.constitution.work, st.creator);
    let ring: u64 = fakes
        .iter()
        .map(|f| rep["care"].get(&s.key(f)).map_or(0, |x| x.share))
        .sum();
    assert_eq!(ring, 0, "without the attack edge the ring has nothing");
}

#[test]
fn a_pair_vouching_100_times_gains_little_more_than_5_times() {
    let with = |n: u64| {
        let (mut s, _) = group_of(&["A", "B", "C", "P", "Q"], seeded(&["A"]));
        vouch(&mut s, "A", "B", T);
        vouch(&mut s, "A", "P", T);
        vouch(&mut s, "B", "C", T);
        vouch(&mut s, "C", "A", T);
        for _ in 0..n {
            vouch(&mut s, "P", "Q", T);
            vouch(&mut s, "Q", "P", T);
        }
        let st = s.derive();
        assert!(st.rejected.is_empty());
        let rep = st.work.reputation(&st.constitution.work, st.creator);
        rep["care"][&s.key("P")].share + rep["care"][&s.key("Q")].share
    };
    let (five, hundred) = (with(5), with(100));
    assert!(five > 0);
    assert!(
        hundred * 10 <= five * 12,
        "100 times: {hundred}, 5 times: {five}"
    );
}

// 7. Order independence of random work histories.

const PEOPLE: [&str; 5] = ["A", "B", "C", "D", "E"];

/// One random act: (author, kind, task, other member, how many earlier events to depend on).
type Op = (usize, u8, usize, usize, usize);

fn random_history(ops: &[Op], k: u64) -> Scenario {
    let c = Constitution {
        work: WorkRules {
            confirmations: k,
            ..WorkRules::default()
        },
        ..Constitution::default()
    };
    let (mut s, _) = group_of(&PEOPLE, c);
    let tasks = act(
        &mut s,
        "A",
        Work::Tasks(vec![spec("One", 1, "care"), spec("Two", 2, "tech")]),
        T,
    );
    let base = s.events.len();
    for (i, (who, kind, t, other, back)) in ops.iter().enumerate() {
        let by = PEOPLE[*who];
        let t = task(&tasks, (*t % 2) as u64);
        let other = s.key(PEOPLE[*other]);
        let w = match kind % 6 {
            0 => Work::Claim(t),
            1 => Work::Done {
                task: t,
                note: format!("n{i}"),
            },
            2 | 3 => Work::Confirm {
                task: t,
                worker: other,
            },
            4 => Work::Dispute {
                task: t,
                worker: other,
                reason: format!("r{i}"),
            },
            _ => Work::Vouch {
                member: other,
                domain: "care".into(),
            },
        };
        // Deps: the task event and a random suffix of what came since (partial pasts, so
        // concurrent acts cross).
        let n = s.events.len();
        let mut deps = vec![tasks.id()];
        deps.extend(
            s.events[(n - back % (n - base + 1)).max(base)..]
                .iter()
                .map(|e| e.id()),
        );
        s.write(by, Payload::Work(w), &deps, T + i as u64);
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_work_histories_derive_the_same_in_every_order(
        ops in prop::collection::vec((0usize..5, 0u8..6, 0usize..2, 0usize..5, 0usize..6), 4..24),
        k in 1u64..3,
        seed in 1u64..u64::MAX,
    ) {
        let s = random_history(&ops, k);
        let reference = s.derive();
        let rules = &reference.constitution.work;
        let rep = reference.work.reputation(rules, reference.creator);
        let mut rng = Rng(seed);
        for _ in 0..3 {
            let order = shuffled(&s.events, &mut rng);
            let st = GroupState::derive(&s.network, s.group, &order);
            prop_assert_eq!(&st.work, &reference.work);
            prop_assert_eq!(st.work.reputation(rules, st.creator), rep.clone());
            let mut r1: Vec<_> = st.rejected.iter().map(|(e, _)| *e).collect();
            let mut r2: Vec<_> = reference.rejected.iter().map(|(e, _)| *e).collect();
            r1.sort();
            r2.sort();
            prop_assert_eq!(r1, r2);
        }
    }
}
