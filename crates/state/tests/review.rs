//! An outside review of the derivation pass, written as a malicious member would attack it:
//! removal cycles, re-admission after removal, leave and rejoin, forks at authority events,
//! deadline evidence from frozen members, withheld bodies, and adversarial batches fed to the
//! incremental [`Derivation`].
//!
//! Every test asserts the correct behaviour. Eight of them reproduced rule breaks when written (removal
//! cycles of three rotating between passes, decided removals ranked by id, roles surviving a
//! removal, an incomplete vouch counting as re-admission, void events as deadline evidence, a
//! body-less copy winning over the full one); those are fixed and the tests now guard them.
//! A ninth, a cost attack on the incremental path (refused removals forcing full derivations),
//! is fixed too.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dualpower_core::decision::{Ballot, Electorate, Method, Proposal, ProposalText};
use dualpower_core::{Constitution, EventId, Payload, Rule, VerifiedEvent};
use dualpower_state::{Derivation, GroupState, Refusal};

const YES: Ballot = Ballot::Choice(0);

/// The full derivation must not depend on the delivery order, and a `Derivation` fed the
/// events in any split must equal the full derivation of what it was given, after every batch.
#[track_caller]
fn assert_consistent(s: &Scenario) -> GroupState {
    let st = s.derive();
    let mut rev = s.events.clone();
    rev.reverse();
    assert_eq!(
        GroupState::derive(&s.network, s.group, &rev),
        st,
        "reversed order"
    );
    for seed in [3, 17, 99] {
        assert_eq!(
            GroupState::derive(
                &s.network,
                s.group,
                &shuffled(&s.events, &mut Rng(seed | 1))
            ),
            st,
            "shuffle {seed}"
        );
    }
    let orders = [s.events.clone(), rev, shuffled(&s.events, &mut Rng(5 | 1))];
    for events in &orders {
        for (prefix, size) in [(1, 1), (0, 3), (events.len() / 2, 2)] {
            let mut d = Derivation::new(&s.network, s.group, &events[..prefix]);
            let mut at = prefix;
            while at < events.len() {
                let end = (at + size).min(events.len());
                d.extend(&events[at..end]);
                let full = GroupState::derive(&s.network, s.group, &events[..end]);
                assert_eq!(d.state(), &full, "incremental after {at}..{end}");
                at = end;
            }
            assert_eq!(d.state(), &st, "incremental at the end");
        }
    }
    st
}

/// A proposal decided by majority, open for voting at once, enacting `action`.
fn proposal_with(action: Vec<u8>) -> Proposal {
    Proposal {
        text: ProposalText {
            title: "motion".into(),
            body: String::new(),
            options: Vec::new(),
        },
        method: Method::default(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action,
    }
}

fn vote(s: &mut Scenario, by: &'static str, p: &VerifiedEvent, deps: &[EventId]) -> VerifiedEvent {
    let mut deps = deps.to_vec();
    deps.push(p.id());
    s.write(
        by,
        Payload::Vote {
            proposal: p.id(),
            ballot: YES,
            reason: String::new(),
        },
        &deps,
        T,
    )
}

fn close(
    s: &mut Scenario,
    by: &'static str,
    p: &VerifiedEvent,
    deps: &[EventId],
    ts: u64,
) -> VerifiedEvent {
    let mut deps = deps.to_vec();
    deps.push(p.id());
    s.write(by, Payload::Close { proposal: p.id() }, &deps, ts)
}

/// Three admins remove each other in a cycle (A→B, B→C, C→A), all concurrent. Seniority (the
/// creator) decides: A's removal stands, B is cut, and C's removal of A is overruled. Nothing
/// depends on ids or on the delivery order.
#[test]
fn a_removal_cycle_of_three_is_settled_by_seniority() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let gb = s.role("A", "B", "admin", true, &[tip]);
    let gc = s.role("A", "C", "admin", true, &[gb.id()]);
    let base = [gc.id()];
    // Each cut is what the remover saw before anyone wrote a removal, so each cuts the next.
    let (a, b, c) = (s.count("A"), s.count("B"), s.count("C"));
    let ab = s.remove("A", "B", b, &base);
    let bc = s.remove("B", "C", c, &base);
    let ca = s.remove("C", "A", a, &base);
    // Each keeps writing on its own branch.
    let pa = s.post("A", "still here", &[ab.id()]);
    let pc = s.post("C", "me too", &[ca.id()]);
    let st = assert_consistent(&s);
    assert_valid(&st, &ab);
    assert!(matches!(
        refusal(&st, &bc),
        Some(Refusal::AfterRemoval { .. })
    ));
    assert_refused(&st, &ca, Refusal::RemovalOverruled(ab.id()));
    assert_valid(&st, &pa);
    assert_valid(&st, &pc);
    assert_eq!(members(&st), keys(&s, &["A", "C"]));
}

/// A cycle of three admins below the creator (B→C, C→D, D→B) where the senior remover is D: ids are ground by having each
/// remover first post a varying number of events, which moves every id; the outcome must not
/// move with them.
#[test]
fn a_removal_cycle_among_admins_does_not_depend_on_ids() {
    let mut outcomes = Vec::new();
    for grind in 0..4u64 {
        let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
        let mut last = tip;
        for who in ["D", "C", "B"] {
            last = s.role("A", who, "admin", true, &[last]).id();
        }
        // Grinding: each attacker varies a timestamp so its removal's id sorts differently.
        // Cuts are taken before any removal is written, so each removal cuts the next.
        let base = [last];
        let (sb, sc, sd) = (s.count("B"), s.count("C"), s.count("D"));
        let r1 = s.write(
            "B",
            Payload::Remove {
                member: s.key("C"),
                seen: sc,
                reason: "x".into(),
            },
            &base,
            T + grind,
        );
        let r2 = s.write(
            "C",
            Payload::Remove {
                member: s.key("D"),
                seen: sd,
                reason: "x".into(),
            },
            &base,
            T + 3 * grind,
        );
        let r3 = s.write(
            "D",
            Payload::Remove {
                member: s.key("B"),
                seen: sb,
                reason: "x".into(),
            },
            &base,
            T + 7 * grind,
        );
        let st = assert_consistent(&s);
        let stands: Vec<bool> = [&r1, &r2, &r3]
            .iter()
            .map(|r| refusal(&st, r).is_none())
            .collect();
        outcomes.push((members(&st), stands));
    }
    // D got admin first (after the creator), so D's removal of B stands whatever the ids.
    assert!(outcomes.windows(2).all(|w| w[0] == w[1]), "{outcomes:?}");
    let (mem, stands) = &outcomes[0];
    assert_eq!(stands, &vec![false, false, true]);
    let (s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    assert_eq!(mem, &keys(&s, &["A", "C", "D"]));
}

/// A removed admin, re-admitted by a plain member (the default constitution lets any member
/// admit), must come back as a plain member: the removal took its role away. Otherwise any
/// member can restore a removed admin's powers, and the restored admin removes its remover.
#[test]
fn a_readmitted_admin_does_not_get_its_role_back() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let g = s.role("A", "B", "admin", true, &[tip]);
    let rm = s.remove("A", "B", s.count("B"), &[g.id()]);
    // C (a plain member) invites B back and admits it.
    let (invite, key) = s.invite("C", 1, NEVER, &[rm.id()]);
    let join = s.join("B", &invite, &key);
    let back = s.admit("C", &join, &[rm.id()], T);
    // B, restored, removes A.
    let revenge = s.remove("B", "A", s.count("A"), &[back.id()]);
    let st = assert_consistent(&s);
    assert_valid(&st, &back);
    assert!(st.is_member(&s.key("B")));
    assert!(
        st.members[&s.key("B")].roles.is_empty(),
        "roles after re-admission: {:?}",
        st.members[&s.key("B")].roles
    );
    assert!(matches!(
        refusal(&st, &revenge),
        Some(Refusal::NoRight { .. })
    ));
    assert!(st.is_member(&s.key("A")));
}

/// A removed member writes past its cut, then is re-admitted: its events past the cut that are
/// not after the re-admission stay void, and a removal it signs before the re-admission (citing
/// old deps) cannot cut its remover.
#[test]
fn a_readmitted_member_cannot_revive_backdated_events() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let g = s.role("A", "B", "admin", true, &[tip]);
    let rm = s.remove("A", "B", s.count("B"), &[g.id()]);
    // B, cut, backdates a removal of A citing only the grant.
    let backdated = s.remove("B", "A", s.count("A"), &[g.id()]);
    let void_post = s.post("B", "void", &[g.id()]);
    let (invite, key) = s.invite("A", 1, NEVER, &[rm.id()]);
    let join = s.join("B", &invite, &key);
    let back = s.admit("A", &join, &[], T);
    let after = s.post("B", "back again", &[back.id()]);
    let st = assert_consistent(&s);
    assert!(matches!(
        refusal(&st, &backdated),
        Some(Refusal::AfterRemoval { .. })
    ));
    assert!(matches!(
        refusal(&st, &void_post),
        Some(Refusal::AfterRemoval { .. })
    ));
    assert_valid(&st, &join);
    assert_valid(&st, &back);
    assert_valid(&st, &after);
    assert!(st.is_member(&s.key("A")) && st.is_member(&s.key("B")));
}

/// B leaves while A concurrently removes it with a lower cut, then B rejoins and is
/// re-admitted, then a concurrent removal of the re-admitted B by C and a removal of C by B.
#[test]
fn leave_rejoin_and_a_cut_across_the_rejoin() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let gc = s.role("A", "C", "admin", true, &[tip]);
    let gb = s.role("A", "B", "admin", true, &[gc.id()]);
    let seen = s.count("B");
    let p = s.post("B", "bye soon", &[gb.id()]);
    let leave = s.write("B", Payload::Leave, &[p.id()], T);
    let rm = s.remove("A", "B", seen, &[gb.id()]);
    let (invite, key) = s.invite("A", 1, NEVER, &[leave.id(), rm.id()]);
    let join = s.join("B", &invite, &key);
    let back = s.admit("A", &join, &[], T);
    let base = [back.id()];
    let cb = s.remove("C", "B", s.count("B"), &base);
    let bc = s.remove("B", "C", s.count("C"), &base);
    let st = assert_consistent(&s);
    // The lower cut wins over the leave: B's post is void.
    assert!(matches!(
        refusal(&st, &p),
        Some(Refusal::AfterRemoval { .. })
    ));
    assert_valid(&st, &back);
    // C's grant is older than B's: C stands.
    assert_valid(&st, &cb);
    assert!(refusal(&st, &bc).is_some());
    assert_eq!(members(&st), keys(&s, &["A", "C"]));
}

/// Two decided removals (each a proposer closing its own passed proposal) cut each other. The
/// winner must follow seniority, not the order of the two closes' ids. The ids are ground by
/// varying the closes' timestamps (which the proposer's own close does not check).
#[test]
fn decided_removals_in_a_cycle_do_not_depend_on_ids() {
    let c0 = Constitution {
        removal: Rule::Vote,
        ..Constitution::default()
    };
    let mut winners = Vec::new();
    for grind in 0..6u64 {
        let (mut s, tip) = group_of(&["A", "B", "C"], c0.clone());
        let remove = |s: &Scenario, who: &str| {
            Payload::Remove {
                member: s.key(who),
                seen: 0,
                reason: "x".into(),
            }
            .encode()
        };
        let pa = s.write(
            "A",
            Payload::Propose(proposal_with(remove(&s, "B"))),
            &[tip],
            T,
        );
        let pb = s.write(
            "B",
            Payload::Propose(proposal_with(remove(&s, "A"))),
            &[tip],
            T,
        );
        let mut votes = Vec::new();
        for who in ["A", "B", "C"] {
            votes.push(vote(&mut s, who, &pa, &[pb.id()]).id());
            votes.push(vote(&mut s, who, &pb, &[pa.id()]).id());
        }
        let ca = close(&mut s, "A", &pa, &votes, T + grind);
        let cb = close(&mut s, "B", &pb, &votes, T + 100 + grind * 7);
        let st = assert_consistent(&s);
        assert!(refusal(&st, &ca).is_none() != refusal(&st, &cb).is_none());
        winners.push((refusal(&st, &ca).is_none(), ca.id() < cb.id()));
    }
    // The creator A is senior: its close stands whatever the ids.
    assert!(winners.iter().all(|(a_won, _)| *a_won), "{winners:?}");
}

/// A close by a non-author after the deadline needs another member's event dated at or after
/// the deadline. An event its author may not sign (past its own fork) is no evidence.
#[test]
fn a_forked_members_void_event_is_no_deadline_evidence() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let mut p = proposal_with(Vec::new());
    p.deadline = 5_000;
    let prop = s.write("A", Payload::Propose(p), &[tip], T);
    // C forks its log at the next seq: two posts at one seq, one dated in the future.
    let mut fork = s.clone();
    let honest = s.post("C", "hello", &[prop.id()]);
    let witness = fork.write(
        "C",
        Payload::Post {
            text: "from the future".into(),
        },
        &[prop.id()],
        9_000,
    );
    s.events.push(witness.clone());
    let close = close(&mut s, "B", &prop, &[witness.id(), honest.id()], 9_000);
    let st = assert_consistent(&s);
    assert!(matches!(
        refusal(&st, &witness),
        Some(Refusal::Forked { .. })
    ));
    assert_refused(&st, &close, Refusal::NoDeadlineEvidence { deadline: 5_000 });
}

/// Likewise a removed member's event past its cut (void wherever it sits) is no evidence, even
/// when the close does not have the removal in its past.
#[test]
fn a_removed_members_void_event_is_no_deadline_evidence() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let mut p = proposal_with(Vec::new());
    p.deadline = 5_000;
    let prop = s.write("A", Payload::Propose(p), &[tip], T);
    let rm = s.remove("A", "C", s.count("C"), &[prop.id()]);
    let witness = s.write(
        "C",
        Payload::Post {
            text: "from the future".into(),
        },
        &[prop.id()],
        9_000,
    );
    let close = close(&mut s, "B", &prop, &[witness.id()], 9_000);
    let st = assert_consistent(&s);
    assert_valid(&st, &rm);
    assert!(matches!(
        refusal(&st, &witness),
        Some(Refusal::AfterRemoval { .. })
    ));
    assert_refused(&st, &close, Refusal::NoDeadlineEvidence { deadline: 5_000 });
}

/// The same witness written by a member who was not forked counts (the rule above is not
/// simply refusing every close).
#[test]
fn an_honest_members_event_is_deadline_evidence() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let mut p = proposal_with(Vec::new());
    p.deadline = 5_000;
    let prop = s.write("A", Payload::Propose(p), &[tip], T);
    let witness = s.write(
        "C",
        Payload::Post {
            text: "late".into(),
        },
        &[prop.id()],
        9_000,
    );
    let early = close(&mut s, "B", &prop, &[], 9_000);
    let c = close(&mut s, "B", &prop, &[witness.id()], 9_000);
    let st = assert_consistent(&s);
    assert_refused(&st, &early, Refusal::NoDeadlineEvidence { deadline: 5_000 });
    assert_valid(&st, &c);
}

/// A fork exactly at a removal: the remover signs two events at the removal's seq (the removal
/// and a post). The removal is refused (its author is frozen from that seq), whichever batch or
/// order brings the second branch.
#[test]
fn a_fork_at_a_removal_voids_it_in_every_order() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let g = s.role("A", "B", "admin", true, &[tip]);
    let mut fork = s.clone();
    let rm = s.remove("B", "C", s.count("C"), &[g.id()]);
    let other = fork.post("B", "innocent", &[g.id()]);
    s.events.push(other.clone());
    let later = s.post("C", "still a member", &[rm.id()]);
    let st = assert_consistent(&s);
    assert!(matches!(refusal(&st, &rm), Some(Refusal::Forked { .. })));
    assert!(matches!(refusal(&st, &other), Some(Refusal::Forked { .. })));
    assert_valid(&st, &later);
    assert!(st.is_member(&s.key("C")));
}

/// A fork exactly at an admission: the admitter signs two admissions of two newcomers at one
/// seq. Neither admits; whatever the newcomers do after is refused.
#[test]
fn a_fork_at_an_admission_admits_nobody() {
    let (mut s, tip) = group_of(&["A", "B"], Constitution::default());
    let (invite, key) = s.invite("B", 2, NEVER, &[tip]);
    let jx = s.join("X", &invite, &key);
    let jy = s.join("Y", &invite, &key);
    let mut fork = s.clone();
    let ax = s.admit("B", &jx, &[jy.id()], T);
    let ay = fork.admit("B", &jy, &[jx.id()], T);
    s.events.push(ay.clone());
    let px = s.post("X", "in?", &[ax.id()]);
    let st = assert_consistent(&s);
    assert!(matches!(refusal(&st, &ax), Some(Refusal::Forked { .. })));
    assert!(matches!(refusal(&st, &ay), Some(Refusal::Forked { .. })));
    assert!(refusal(&st, &px).is_some());
    assert_eq!(members(&st), keys(&s, &["A", "B"]));
}

/// An amendment to `vouches:2` concurrent with an admission under `invite`: the admission is
/// judged under the rule in its own past, and a vouch under the new rule concurrent with the
/// amendment does not complete anyone alone.
#[test]
fn an_amendment_concurrent_with_admissions() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let (invite, key) = s.invite("B", 3, NEVER, &[tip]);
    let jx = s.join("X", &invite, &key);
    let jy = s.join("Y", &invite, &key);
    let amend = s.write(
        "A",
        Payload::Amend(Constitution {
            admission: dualpower_core::Admission::Vouches(2),
            ..Constitution::default()
        }),
        &[jx.id(), jy.id()],
        T,
    );
    // Concurrent with the amendment: complete under `invite`.
    let ax = s.admit("B", &jx, &[], T);
    // After the amendment: one vouch is not enough.
    let ay = s.admit("C", &jy, &[amend.id()], T);
    let py = s.post("Y", "in?", &[ay.id()]);
    let st = assert_consistent(&s);
    assert_valid(&st, &ax);
    assert!(st.is_member(&s.key("X")));
    assert!(!st.is_member(&s.key("Y")));
    assert!(refusal(&st, &py).is_some());
}

/// A decided removal whose target removed the closer concurrently (a cycle with a decided
/// removal): the decision stands and the member's counter-removal is overruled.
#[test]
fn a_decided_removal_in_a_cycle_stands() {
    let c0 = Constitution {
        removal: Rule::Role("admin".into()),
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C"], c0);
    let gb = s.role("A", "B", "admin", true, &[tip]);
    // The constitution puts removal to a vote; B and C are still members.
    let amend = s.write(
        "A",
        Payload::Amend(Constitution {
            removal: Rule::Vote,
            ..Constitution::default()
        }),
        &[gb.id()],
        T,
    );
    let action = Payload::Remove {
        member: s.key("B"),
        seen: 0,
        reason: "x".into(),
    }
    .encode();
    let p = s.write(
        "C",
        Payload::Propose(proposal_with(action)),
        &[amend.id()],
        T,
    );
    let mut votes = Vec::new();
    for who in ["A", "B", "C"] {
        votes.push(vote(&mut s, who, &p, &[]).id());
    }
    // B cannot remove directly under `vote`; the only cycle is two decided removals, tested
    // above. Here the decision stands and B is cut at what the close saw.
    let c = close(&mut s, "C", &p, &votes, T);
    let after = s.post("B", "still here", &[votes[1]]);
    let st = assert_consistent(&s);
    assert_valid(&st, &c);
    assert!(!st.is_member(&s.key("B")));
    assert!(matches!(
        refusal(&st, &after),
        Some(Refusal::AfterRemoval { .. })
    ));
}

/// The same event delivered once without its body (as a peer that pruned it would serve it)
/// and once with it: the state must not depend on which copy came first.
#[test]
fn a_bodyless_copy_does_not_depend_on_arrival_order() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let g = s.role("A", "B", "admin", true, &[tip]);
    let rm = s.remove("B", "C", s.count("C"), &[g.id()]);
    let stripped = rm.clone().without_body();
    let mut first = s.events.clone();
    first.push(stripped.clone());
    let mut second = vec![stripped.clone()];
    second.extend(s.events.iter().cloned());
    let a = GroupState::derive(&s.network, s.group, &first);
    let b = GroupState::derive(&s.network, s.group, &second);
    assert_eq!(a, b);
    // And a Derivation that saw the body-less copy first must take the body when it comes.
    let mut events = s.events.clone();
    events.pop();
    events.push(stripped);
    let mut d = Derivation::new(&s.network, s.group, &events);
    d.extend(std::slice::from_ref(&rm));
    assert_eq!(d.state(), &s.derive());
}

/// Adversarial batches: duplicates inside a batch and of old events, an event of another
/// group, an event that sorts before old ones, and a fork whose second branch arrives in a
/// later batch. After each, the incremental state equals the full derivation.
#[test]
fn adversarial_batches_match_the_full_derivation() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p1 = s.post("B", "one", &[tip]);
    let mut fork = s.clone();
    let p2 = s.post("B", "two", &[p1.id()]);
    let v = s.post("C", "reply", &[p2.id()]);
    let forked = fork.post("B", "two, again", &[p1.id()]);
    // A group of its own by another creator.
    let (other, _) = Scenario::new("Z", Constitution::default());
    let foreign = other.events[0].clone();
    // An event citing only genesis, so it may sort before old ones.
    let early = s.post("A", "backdated", &[]);
    let n = s.events.len();
    let base = s.events[..n - 3].to_vec();
    let mut d = Derivation::new(&s.network, s.group, &base);
    let mut given = base.clone();
    let batches: Vec<Vec<VerifiedEvent>> = vec![
        vec![p2.clone(), p2.clone(), base[0].clone()],
        vec![early.clone()],
        vec![v.clone(), forked.clone()],
        vec![foreign.clone(), v.clone()],
    ];
    for b in batches {
        d.extend(&b);
        given.extend(b);
        assert_eq!(d.state(), &GroupState::derive(&s.network, s.group, &given));
    }
    assert!(matches!(
        refusal(d.state(), &p2),
        Some(Refusal::Forked { .. })
    ));
    assert_valid(d.state(), &p1);
}

/// Anyone (not even a member) can sign events for a group. A refused removal used to force a
/// full derivation each; now only a removal that enters the settlement does. (An outsider's
/// *first* event citing only the genesis still sorts before old events and falls back once per
/// identity: that cost attack remains, see the closing note of issue 10; keeping outsiders'
/// events out of a group's store is issue 11's.)
#[test]
fn an_outsider_cannot_force_a_full_derivation_per_event() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let mut last = tip;
    for i in 0..50 {
        last = s.post(["A", "B", "C"][i % 3], "chatter", &[last]).id();
    }
    let mut d = Derivation::new(&s.network, s.group, &s.events);
    let genesis = s.events[0].id();
    for i in 0..20u64 {
        let e = if i % 2 == 0 {
            s.write(
                "Mallory",
                Payload::Post {
                    text: format!("spam {i}"),
                },
                &[genesis],
                T + i,
            )
        } else {
            let target = s.key("A");
            s.write(
                "Mallory",
                Payload::Remove {
                    member: target,
                    seen: 0,
                    reason: "spam".into(),
                },
                &[last],
                T + i,
            )
        };
        d.extend(std::slice::from_ref(&e));
    }
    assert_eq!(d.state(), &s.derive());
    assert!(
        d.full_derivations() <= 2,
        "{} full derivations for 20 refused events",
        d.full_derivations()
    );
}

/// Under `vouches:2`, a removed member gets one vouch after its removal: that is not a
/// re-admission (it does not complete), so what the member writes past its cut stays void,
/// prekeys included.
#[test]
fn one_vouch_after_a_removal_is_not_a_readmission() {
    let c0 = Constitution {
        admission: dualpower_core::Admission::Vouches(2),
        ..Constitution::default()
    };
    let (mut s, genesis) = Scenario::new("A", c0);
    let (invite, key) = s.invite("A", 5, NEVER, &[genesis.id()]);
    let jc = s.join("C", &invite, &key);
    // Under vouches:2 the creator alone completes nobody: admit C and B under `invite`, then
    // go back to vouches:2.
    let amend_in = s.write("A", Payload::Amend(Constitution::default()), &[jc.id()], T);
    let ac = s.admit("A", &jc, &[amend_in.id()], T);
    let jb = s.join("B", &invite, &key);
    let ab = s.admit("A", &jb, &[ac.id()], T);
    let back_to_vouches = s.write(
        "A",
        Payload::Amend(Constitution {
            admission: dualpower_core::Admission::Vouches(2),
            ..Constitution::default()
        }),
        &[ab.id()],
        T,
    );
    let rm = s.remove("A", "B", s.count("B"), &[back_to_vouches.id()]);
    // C alone vouches for B again: incomplete under vouches:2.
    let vouch = s.admit("C", &jb, &[rm.id()], T);
    let prekey = s.prekey("B", 9, &[vouch.id()]);
    let post = s.post("B", "back?", &[vouch.id()]);
    let st = assert_consistent(&s);
    assert_valid(&st, &vouch);
    assert!(!st.is_member(&s.key("B")));
    assert!(refusal(&st, &post).is_some());
    assert!(
        matches!(refusal(&st, &prekey), Some(Refusal::AfterRemoval { .. })),
        "prekey of a removed member: {:?}",
        refusal(&st, &prekey)
    );
}
