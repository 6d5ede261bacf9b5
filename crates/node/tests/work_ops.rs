//! Work operations (`ops::apply` with the task, role, mediation and vouch ops) between real
//! stores and keys, events copied by hand as a bundle would.
//!
//! What it proves: every mistake the issue names (claiming a full task, confirming your own
//! work, confirming twice, a non-member's or a removed member's confirmation, volunteering for a
//! role you are excluded from) and the other common ones get an error that says what was wrong,
//! and **nothing is written** (the group's event count is unchanged); the valid path works, and
//! a member's node reveals its sortition secret by itself once the list is closed.
#![allow(clippy::unwrap_used)]

mod common;
use common::{Member, admit, apply, create, exchange, member, refused, state};

use dualpower_core::GroupId;
use dualpower_node::ops::{self, ConstitutionArgs, Op, TaskArgs};

fn did(m: &Member) -> String {
    m.id.public().to_did()
}

/// A group of `n` members (the first created it with `rules`), all admitted, events exchanged.
fn group(n: usize, rules: ConstitutionArgs) -> (Vec<Member>, GroupId) {
    let ms: Vec<Member> = (0..n).map(|_| member()).collect();
    let g = create(&ms[0], rules, 1_000);
    let all: Vec<&Member> = ms.iter().collect();
    for (i, m) in ms.iter().enumerate().skip(1) {
        admit(&ms[0], m, &all, g, 2_000 + i as u64 * 10);
    }
    exchange(&all, g);
    for m in &ms {
        ops::run_agent(&m.store, &m.id, g, 3_000).unwrap();
    }
    exchange(&all, g);
    (ms, g)
}

fn task_id(m: &Member, g: GroupId) -> String {
    let st = state(m, g);
    let (r, _) = st.work.tasks.iter().next().unwrap();
    dualpower_node::work::task_text(r)
}

#[test]
fn mistakes_with_tasks_are_refused_and_write_nothing() {
    let rules = ConstitutionArgs {
        confirmations: Some(1),
        ..ConstitutionArgs::default()
    };
    let (ms, g) = group(4, rules);
    let all: Vec<&Member> = ms.iter().collect();
    let (a, b, c, d) = (&ms[0], &ms[1], &ms[2], &ms[3]);
    let gh = g.to_hex();
    let now = 10_000;
    refused(
        a,
        g,
        Op::TaskCreate {
            group: gh.clone(),
            task: TaskArgs {
                title: "Fix it".into(),
                domain: Some("gardening".into()),
                ..TaskArgs::default()
            },
        },
        now,
        "no domain `gardening`",
    );
    refused(
        a,
        g,
        Op::TaskCreate {
            group: gh.clone(),
            task: TaskArgs {
                title: "   ".into(),
                ..TaskArgs::default()
            },
        },
        now,
        "title",
    );
    apply(
        a,
        Op::TaskCreate {
            group: gh.clone(),
            task: TaskArgs {
                title: "Fix the boiler".into(),
                slots: Some(1),
                ..TaskArgs::default()
            },
        },
        now,
    );
    exchange(&all, g);
    let t = task_id(a, g);
    let claim = |_: &Member| Op::TaskClaim {
        group: gh.clone(),
        task: t.clone(),
    };
    refused(
        b,
        g,
        Op::TaskClaim {
            group: gh.clone(),
            task: "zz".into(),
        },
        now,
        "not a task id",
    );
    refused(
        b,
        g,
        Op::TaskClaim {
            group: gh.clone(),
            task: "abcd".into(),
        },
        now,
        "no task `abcd`",
    );
    refused(
        b,
        g,
        Op::TaskDone {
            group: gh.clone(),
            task: t.clone(),
            note: String::new(),
        },
        now,
        "no slot",
    );
    apply(b, claim(b), now + 1);
    refused(b, g, claim(b), now + 2, "already");
    exchange(&all, g);
    refused(c, g, claim(c), now + 3, "full");
    refused(
        c,
        g,
        Op::TaskConfirm {
            group: gh.clone(),
            task: t.clone(),
            member: did(b),
        },
        now + 3,
        "has not marked",
    );
    apply(
        b,
        Op::TaskDone {
            group: gh.clone(),
            task: t.clone(),
            note: "done".into(),
        },
        now + 4,
    );
    refused(
        b,
        g,
        Op::TaskConfirm {
            group: gh.clone(),
            task: t.clone(),
            member: did(b),
        },
        now + 5,
        "own work",
    );
    refused(
        b,
        g,
        Op::TaskDispute {
            group: gh.clone(),
            task: t.clone(),
            member: did(b),
            reason: "x".into(),
        },
        now + 5,
        "own work",
    );
    exchange(&all, g);
    refused(
        c,
        g,
        Op::TaskDispute {
            group: gh.clone(),
            task: t.clone(),
            member: String::new(),
            reason: " ".into(),
        },
        now + 6,
        "say why",
    );
    apply(
        c,
        Op::TaskConfirm {
            group: gh.clone(),
            task: t.clone(),
            member: String::new(),
        },
        now + 6,
    );
    refused(
        c,
        g,
        Op::TaskConfirm {
            group: gh.clone(),
            task: t.clone(),
            member: String::new(),
        },
        now + 7,
        "already",
    );
    exchange(&all, g);
    let st = state(a, g);
    let task = st.work.tasks.values().next().unwrap();
    assert!(task.completed.contains_key(&b.id.public()), "{task:?}");
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let receipts_before = st.work.receipts.len();

    // D is removed; its confirmation is refused by its own node (no longer a member) and,
    // written anyway by hand, by every node's judge.
    apply(
        a,
        Op::Remove {
            group: gh.clone(),
            member: did(d),
            reason: "moved away".into(),
        },
        now + 8,
    );
    exchange(&all, g);
    refused(
        d,
        g,
        Op::TaskConfirm {
            group: gh.clone(),
            task: t.clone(),
            member: String::new(),
        },
        now + 9,
        "not a member",
    );
    refused(
        d,
        g,
        Op::Vouch {
            group: gh.clone(),
            member: did(b),
            domain: "care".into(),
        },
        now + 9,
        "not a member",
    );
    // A stranger: not a member at all.
    let stranger = member();
    exchange(&[a, &stranger], g);
    let e = ops::apply(
        &stranger.store,
        &stranger.id,
        Op::TaskConfirm {
            group: gh.clone(),
            task: t.clone(),
            member: String::new(),
        },
        now + 9,
    );
    assert!(e.is_err(), "a stranger confirmed");
    refused(
        a,
        g,
        Op::Vouch {
            group: gh.clone(),
            member: did(a),
            domain: "care".into(),
        },
        now + 9,
        "themselves",
    );
    refused(
        a,
        g,
        Op::Vouch {
            group: gh.clone(),
            member: did(b),
            domain: "nope".into(),
        },
        now + 9,
        "no domain",
    );
    apply(
        a,
        Op::Vouch {
            group: gh.clone(),
            member: did(b),
            domain: "care".into(),
        },
        now + 10,
    );
    assert_eq!(state(a, g).work.receipts.len(), receipts_before + 1);
    // A new open task in the domain where A (the seed) vouched for B suggests B; C, confirmed
    // by nobody trusted, has no reputation there; D is no longer a member.
    apply(
        a,
        Op::TaskCreate {
            group: gh.clone(),
            task: TaskArgs {
                title: "Fix the other boiler".into(),
                slots: Some(2),
                domain: Some("care".into()),
                ..TaskArgs::default()
            },
        },
        now + 11,
    );
    // Reputation is computed once per derived state, whichever read asks for it.
    let st = ops::view(&a.store, &a.id, g, now + 12).unwrap().state;
    let again = ops::view(&a.store, &a.id, g, now + 13).unwrap().state;
    assert!(
        std::sync::Arc::ptr_eq(&st, &again),
        "an unchanged group shares its state"
    );
    let rep = ops::derived::reputation(&a.store, g, &st);
    assert!(std::sync::Arc::ptr_eq(
        &rep,
        &ops::derived::reputation(&a.store, g, &again)
    ));
    assert_eq!(*rep, st.reputation());
    let v = dualpower_node::work::work_json(&st, &rep);
    let open = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "Fix the other boiler")
        .unwrap();
    let suggested: Vec<&str> = open["suggested"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert!(suggested.contains(&did(b).as_str()), "{open}");
    assert!(!suggested.contains(&did(c).as_str()), "{open}");
    assert!(
        !suggested.contains(&did(d).as_str()),
        "a removed member is not suggested"
    );
}

#[test]
fn a_rotating_role_is_drawn_and_its_holder_sits_the_next_term_out() {
    let rules = ConstitutionArgs {
        roles: Some(vec!["admin".into(), "facilitator".into()]),
        rotate: Some(vec!["facilitator:1".into()]),
        reveal_hours: Some(1),
        ..ConstitutionArgs::default()
    };
    let (ms, g) = group(3, rules);
    let all: Vec<&Member> = ms.iter().collect();
    let (a, b, c) = (&ms[0], &ms[1], &ms[2]);
    let gh = g.to_hex();
    let now = 10_000;
    let vol = |m: &Member, t: u64| {
        ops::apply(
            &m.store,
            &m.id,
            Op::RoleVolunteer {
                group: gh.clone(),
                role: "facilitator".into(),
            },
            t,
        )
    };
    refused(
        a,
        g,
        Op::RoleVolunteer {
            group: gh.clone(),
            role: "admin".into(),
        },
        now,
        "does not rotate",
    );
    refused(
        a,
        g,
        Op::RoleDraw {
            group: gh.clone(),
            role: "facilitator".into(),
        },
        now,
        "nobody has volunteered",
    );
    vol(b, now).unwrap();
    refused(
        b,
        g,
        Op::RoleVolunteer {
            group: gh.clone(),
            role: "facilitator".into(),
        },
        now + 1,
        "already",
    );
    vol(c, now + 1).unwrap();
    exchange(&all, g);
    // A closes the list; B's and C's nodes reveal by themselves; A draws.
    apply(
        a,
        Op::RoleDraw {
            group: gh.clone(),
            role: "facilitator".into(),
        },
        now + 2,
    );
    exchange(&all, g);
    refused(
        a,
        g,
        Op::RoleVolunteer {
            group: gh.clone(),
            role: "facilitator".into(),
        },
        now + 3,
        "closed",
    );
    for m in [b, c] {
        let revealed = ops::work_duties(&m.store, &m.id, g, now + 3).unwrap();
        assert_eq!(revealed.len(), 1);
        assert!(
            ops::work_duties(&m.store, &m.id, g, now + 4)
                .unwrap()
                .is_empty(),
            "reveals once"
        );
    }
    exchange(&all, g);
    // A closed the list, so A's node draws once every reveal is in.
    assert!(
        ops::work_duties(&b.store, &b.id, g, now + 5)
            .unwrap()
            .is_empty()
    );
    let drawn = ops::work_duties(&a.store, &a.id, g, now + 5).unwrap();
    assert_eq!(drawn.len(), 1, "the closer's node draws");
    exchange(&all, g);
    let st = state(a, g);
    let (holder, term, _) = st.work.holders["facilitator"];
    assert_eq!(term, 0);
    assert!(holder == b.id.public() || holder == c.id.public());
    for m in [b, c] {
        assert_eq!(
            state(m, g).work.holders["facilitator"].0,
            holder,
            "same holder everywhere"
        );
    }
    // The holder sits the next term out (rest defaults to 1).
    let h = if holder == b.id.public() { b } else { c };
    refused(
        h,
        g,
        Op::RoleVolunteer {
            group: gh.clone(),
            role: "facilitator".into(),
        },
        now + 6,
        "sits out",
    );

    // Succession: A and the other member volunteer for term 1. Half an hour before the term
    // ends (group time), the holder's node closes the list by itself, the volunteers' nodes
    // reveal, the holder's node draws, and the successor starts when the term ends.
    let other = if holder == b.id.public() { c } else { b };
    let (_, _, end) = st.work.holders["facilitator"];
    for m in [a, other] {
        vol(m, now + 10).unwrap();
    }
    exchange(&all, g);
    let late = end - 1_800_000;
    for m in [a, b, c] {
        common::post(m, g, "late in the term", late);
    }
    exchange(&all, g);
    assert!(
        ops::work_duties(&other.store, &other.id, g, late + 1)
            .unwrap()
            .is_empty(),
        "only the holder's node closes before the term ends"
    );
    assert_eq!(
        ops::work_duties(&h.store, &h.id, g, late + 1)
            .unwrap()
            .len(),
        1
    );
    exchange(&all, g);
    for m in [a, other] {
        assert_eq!(
            ops::work_duties(&m.store, &m.id, g, late + 2)
                .unwrap()
                .len(),
            1,
            "reveal"
        );
    }
    exchange(&all, g);
    assert_eq!(
        ops::work_duties(&h.store, &h.id, g, late + 3)
            .unwrap()
            .len(),
        1,
        "draw"
    );
    exchange(&all, g);
    let st = state(a, g);
    let next = dualpower_core::work::Pool::Term {
        role: "facilitator".into(),
        term: 1,
    };
    let successor = st.work.draws[&next].winner.unwrap();
    assert!(successor == a.id.public() || successor == other.id.public());
    assert_eq!(
        st.work.draws[&next].at, end,
        "the successor starts when the term ends"
    );
    assert_eq!(
        st.work.holders["facilitator"].0, holder,
        "until then the holder holds"
    );
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
}
