//! Regression tests for the authority rules an attacker tried to break (issue 10): a removed
//! admin overturning its removal, a cut below what the remover had seen, a rule change applied
//! backwards, a forked author keeping authority, and a close timed by the closer's own clock.
//! Each of these failed on the code before the fix.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText};
use dualpower_core::{Admission, Constitution, EventId, Payload, VerifiedEvent};
use dualpower_state::{GroupState, Refusal, Status};

/// Every rotation and the reversal of the events give the same state as `reference`.
#[track_caller]
fn same_in_other_orders(s: &Scenario, reference: &GroupState) {
    let n = s.events.len();
    for k in [1, n / 3, n / 2, n - 1] {
        let mut ev = s.events.clone();
        ev.rotate_left(k.min(n));
        assert_eq!(&GroupState::derive(&s.network, s.group, &ev), reference);
    }
    let mut ev = s.events.clone();
    ev.reverse();
    assert_eq!(&GroupState::derive(&s.network, s.group, &ev), reference);
}

/// Writes `make(i)` for several `i` as the next event of `author`, and keeps the variant whose
/// id sorts first (`first`) or last: the attacker grinding its event id. The others are dropped
/// from the scenario (they were never published).
fn ground(
    s: &mut Scenario,
    author: &'static str,
    first: bool,
    make: impl Fn(u64) -> (Payload, Vec<EventId>),
) -> VerifiedEvent {
    let before = s.clone();
    let mut best: Option<(VerifiedEvent, Scenario)> = None;
    for i in 0..16 {
        let mut t = before.clone();
        let (p, deps) = make(i);
        let ev = t.write(author, p, &deps, T + i);
        let better = match &best {
            None => true,
            Some((b, _)) => (ev.id() < b.id()) == first,
        };
        if better {
            best = Some((ev, t));
        }
    }
    let (ev, t) = best.expect("sixteen variants");
    *s = t;
    ev
}

/// A majority proposal open for voting at once, with `deadline` (0 for none).
fn majority(deadline: u64) -> Payload {
    Payload::Propose(Proposal {
        text: ProposalText {
            title: "Rent strike".into(),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::parse("majority").expect("method"),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline,
        action: Vec::new(),
    })
}

fn removal(member: dualpower_core::PublicKey, seen: u64, why: u64) -> Payload {
    Payload::Remove {
        member,
        seen,
        reason: format!("grind {why}"),
    }
}

#[test]
fn a_removed_admin_cannot_remove_its_remover_with_a_backdated_removal() {
    for first in [true, false] {
        let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
        let grant = s.role("A", "B", "admin", true, &[tip]);
        // B sees the grant (its own past) before anything else happens.
        let b_post = s.post("B", "hello", &[grant.id()]);
        let seen_b = s.count("B");
        let rm_b = s.remove("A", "B", seen_b, &[b_post.id()]);
        // B, now removed, writes a removal of A that cites only events from before it, and
        // grinds its id to sort first (or last).
        let seen_a = s.count("A") - 1;
        let a = s.key("A");
        let back = ground(&mut s, "B", first, |i| {
            (removal(a, seen_a, i), vec![grant.id()])
        });
        let st = s.derive();
        assert_valid(&st, &rm_b);
        assert!(st.is_member(&s.key("A")), "the remover stays");
        assert!(
            st.removed.contains_key(&s.key("B")),
            "the removed stays removed"
        );
        assert_refused(
            &st,
            &back,
            Refusal::AfterRemoval {
                author: s.key("B"),
                cut: seen_b,
            },
        );
        same_in_other_orders(&s, &st);
    }
}

#[test]
fn removals_that_cut_each_other_are_settled_by_seniority_not_by_id() {
    for first in [true, false] {
        // A (creator) and B (admin) remove each other concurrently, each unaware of the other.
        let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
        let grant = s.role("A", "B", "admin", true, &[tip]);
        let b_seen = s.post("B", "ack", &[grant.id()]);
        let rm_b = s.remove("A", "B", s.count("B"), &[b_seen.id()]);
        let seen_a = s.count("A") - 1;
        let a = s.key("A");
        let rm_a = ground(&mut s, "B", first, |i| {
            (removal(a, seen_a, i), vec![grant.id()])
        });
        let st = s.derive();
        assert!(st.is_member(&s.key("A")), "the senior remover stands");
        assert!(!st.is_member(&s.key("B")));
        assert_valid(&st, &rm_b);
        assert!(st.rejected.iter().any(|(e, _)| *e == rm_a.id()));
        same_in_other_orders(&s, &st);
    }
}

#[test]
fn a_removed_senior_admin_cannot_escape_by_backdating_a_removal_of_a_third() {
    // A is the creator; B is a later admin. B removes A (the group agreed); A answers with a
    // removal of C citing only old events. That removal does not cut B, so there is no cycle:
    // A's removal stands and A's answer is void.
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let grant = s.role("A", "B", "admin", true, &[tip]);
    let a_seen = s.count("A");
    let rm_a = s.remove("B", "A", a_seen, &[grant.id()]);
    let answer = s.remove("A", "C", s.count("C"), &[tip]);
    let st = s.derive();
    assert_valid(&st, &rm_a);
    assert!(st.removed.contains_key(&s.key("A")));
    assert!(st.is_member(&s.key("C")));
    assert_refused(
        &st,
        &answer,
        Refusal::AfterRemoval {
            author: s.key("A"),
            cut: a_seen,
        },
    );
    same_in_other_orders(&s, &st);
}

#[test]
fn a_cut_below_the_removals_own_past_is_refused() {
    let (mut s, tip) = group_of(&["A", "B"], Constitution::default());
    // B invites and admits C: C's membership rests on B's admission.
    let (inv, key) = s.invite("B", 1, NEVER, &[tip]);
    let j = s.join("C", &inv, &key);
    let adm = s.admit("B", &j, &[], T);
    // A removes B citing B's admission, but claims to have seen none of B's events.
    let rm = s.remove("A", "B", 0, &[adm.id()]);
    let st = s.derive();
    assert_refused(
        &st,
        &rm,
        Refusal::CutBelowPast {
            seen: 0,
            past: s.count("B"),
        },
    );
    assert_valid(&st, &adm);
    assert!(
        st.is_member(&s.key("C")),
        "what the remover had seen stays valid"
    );
    assert!(st.is_member(&s.key("B")));
    // The honest cut removes B and keeps C.
    let honest = s.remove("A", "B", s.count("B"), &[rm.id()]);
    let st = s.derive();
    assert_valid(&st, &honest);
    assert!(!st.is_member(&s.key("B")));
    assert!(st.is_member(&s.key("C")));
    same_in_other_orders(&s, &st);
}

#[test]
fn a_stricter_admission_rule_applies_forward_only() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let grant = s.role("A", "B", "admin", true, &[tip]);
    let strict = Constitution {
        admission: Admission::Vouches(2),
        ..Constitution::default()
    };
    let amend = s.write("A", Payload::Amend(strict), &[grant.id()], T);
    // A newcomer after the amendment needs two vouches.
    let (inv, key) = s.invite("A", 5, NEVER, &[amend.id()]);
    let j = s.join("D", &inv, &key);
    let one = s.admit("A", &j, &[], T);
    let st = s.derive();
    assert_valid(&st, &amend);
    for m in ["A", "B", "C"] {
        assert!(
            st.is_member(&s.key(m)),
            "{m} was admitted under `invite` and stays"
        );
    }
    assert_eq!(
        st.members[&s.key("B")].roles.iter().collect::<Vec<_>>(),
        vec!["admin"]
    );
    assert!(!st.is_member(&s.key("D")), "one vouch is not enough now");
    assert_valid(&st, &one);
    s.admit("B", &j, &[one.id()], T);
    let st = s.derive();
    assert!(st.is_member(&s.key("D")));
    same_in_other_orders(&s, &st);
}

#[test]
fn a_forked_author_has_no_authority_from_the_fork_on() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let grant = s.role("A", "B", "admin", true, &[tip]);
    let before = s.post("B", "before the fork", &[grant.id()]);
    // B signs two different events at the same seq.
    let fork_point = s.clone();
    let one = s.post("B", "version one", &[]);
    let mut other = fork_point.clone();
    let two = other.post("B", "version two", &[]);
    s.events.push(two.clone());
    // On branch one B removes C and grants D a role; another member cites branch two.
    let rm = s.remove("B", "C", s.count("C"), &[]);
    let role = s.role("B", "D", "moderator", true, &[]);
    let cites = s.post("A", "seen", &[two.id()]);
    for order in [false, true] {
        let mut ev = s.events.clone();
        if order {
            ev.reverse();
        }
        let st = GroupState::derive(&s.network, s.group, &ev);
        let seq = before.header().seq + 1;
        assert_eq!(st.forked.get(&s.key("B")), Some(&seq));
        assert_valid(&st, &before);
        let frozen = Refusal::Forked {
            author: s.key("B"),
            seq,
        };
        for e in [&one, &two, &rm, &role] {
            assert_refused(&st, e, frozen.clone());
        }
        assert_valid(&st, &cites);
        assert!(st.is_member(&s.key("C")));
        assert!(st.members[&s.key("D")].roles.is_empty());
    }
}

#[test]
fn a_forked_voter_has_no_vote_whichever_version_arrives_first() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.write("A", majority(0), &[tip], T);
    let fork_point = s.clone();
    let vote = |s: &mut Scenario, b: Ballot| {
        s.write(
            "B",
            Payload::Vote {
                proposal: p.id(),
                ballot: b,
                reason: String::new(),
            },
            &[p.id()],
            T,
        )
    };
    let yes = vote(&mut s, Ballot::Choice(0));
    let mut other = fork_point.clone();
    let no = vote(&mut other, Ballot::Choice(1));
    s.events.push(no.clone());
    let c = s.write(
        "C",
        Payload::Vote {
            proposal: p.id(),
            ballot: Ballot::Choice(0),
            reason: String::new(),
        },
        &[p.id()],
        T,
    );
    let close = s.write(
        "A",
        Payload::Close { proposal: p.id() },
        &[yes.id(), no.id(), c.id()],
        T,
    );
    let st = s.derive();
    assert_valid(&st, &close);
    let ps = &st.proposals[&p.id()];
    assert_eq!(ps.status, Status::Closed);
    let cert = ps.certificate.as_ref().expect("closed");
    assert_eq!(cert.voters, 1, "only C's vote counts");
    assert_eq!(cert.void.len(), 2);
    same_in_other_orders(&s, &st);
}

#[test]
fn a_voter_cannot_close_early_with_its_own_clock() {
    const DEADLINE: u64 = 5_000;
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.write("A", majority(DEADLINE), &[tip], T);
    let vb = s.write(
        "B",
        Payload::Vote {
            proposal: p.id(),
            ballot: Ballot::Choice(0),
            reason: String::new(),
        },
        &[p.id()],
        T,
    );
    // B dates its close after the deadline; nothing else says the deadline has passed.
    let early = s.write(
        "B",
        Payload::Close { proposal: p.id() },
        &[vb.id()],
        DEADLINE + 1,
    );
    let st = s.derive();
    assert_refused(
        &st,
        &early,
        Refusal::NoDeadlineEvidence { deadline: DEADLINE },
    );
    assert_eq!(st.proposals[&p.id()].status, Status::Voting);
    // B's own later event is no evidence either; C's is.
    let own = s.post("B", "still waiting", &[]);
    let again = s.write(
        "B",
        Payload::Close { proposal: p.id() },
        &[own.id()],
        DEADLINE + 2,
    );
    let st = s.derive();
    assert_refused(
        &st,
        &again,
        Refusal::NoDeadlineEvidence { deadline: DEADLINE },
    );
    let witness = s.write("C", Payload::Merge, &[], DEADLINE);
    let ok = s.write(
        "B",
        Payload::Close { proposal: p.id() },
        &[witness.id()],
        DEADLINE + 3,
    );
    let st = s.derive();
    assert_valid(&st, &ok);
    assert_eq!(st.proposals[&p.id()].status, Status::Closed);
    same_in_other_orders(&s, &st);
}
