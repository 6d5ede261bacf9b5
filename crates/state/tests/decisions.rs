//! Collective decisions through the membership pass: every method end to end, liquid
//! delegation, votes that are void, late or refused, concurrent closes, quadratic budgets, the
//! discussion phase, role electorates, constitution changes by vote, and independence from the
//! delivery order. The rules are at the top of `crates/state/src/decisions.rs`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

use std::collections::BTreeMap;

use dualpower_core::decision::{
    Ballot, Choice, Electorate, Method, Proposal, ProposalText, Ratio, Scope, Target,
};
use dualpower_core::{Admission, Constitution, EventId, Payload, Rule, VerifiedEvent, causal};
use dualpower_decide::BallotError;
use dualpower_decide::certificate::{Certificate, LostWeight, VoidVote};
use dualpower_state::decisions::{MAX_CHAIN, tiebreak_key};
use dualpower_state::{GroupState, ProposalState, Refusal, Status, WeightHolder};
use proptest::prelude::*;

// Majority ballots.
const YES: Ballot = Ballot::Choice(0);
const NO: Ballot = Ballot::Choice(1);
const ABSTAIN: Ballot = Ballot::Choice(2);
// Consent ballots.
const AGREE: Ballot = Ballot::Choice(0);
const DISAGREE: Ballot = Ballot::Choice(2);
const BLOCK: Ballot = Ballot::Choice(3);

/// A deadline for proposals that others may close, and a time after it.
const DEADLINE: u64 = 5_000;
const AFTER: u64 = 6_000;

/// A proposal decided by `method` over `options` (none for majority and consent), open for
/// voting at once, every member voting, no topic, no deadline, no action.
fn proposal(method: &str, options: &[&str]) -> Proposal {
    Proposal {
        text: text("Rent strike", options),
        method: Method::parse(method).unwrap(),
        electorate: Electorate::Members,
        topic: String::new(),
        voting: true,
        deadline: 0,
        action: Vec::new(),
    }
}

fn text(title: &str, options: &[&str]) -> ProposalText {
    ProposalText {
        title: title.into(),
        body: String::new(),
        options: options
            .iter()
            .map(|l| Choice {
                label: (*l).into(),
                cost: 0,
            })
            .collect(),
    }
}

/// Decision helpers: each writes the next event of the author's log 0.
impl Scenario {
    fn propose(&mut self, by: &'static str, p: Proposal, deps: &[EventId]) -> VerifiedEvent {
        self.write(by, Payload::Propose(p), deps, T)
    }

    /// A vote with the proposal in its past.
    fn vote(
        &mut self,
        by: &'static str,
        p: &VerifiedEvent,
        ballot: Ballot,
        deps: &[EventId],
    ) -> VerifiedEvent {
        self.vote_full(by, p, ballot, "", deps, T)
    }

    fn vote_full(
        &mut self,
        by: &'static str,
        p: &VerifiedEvent,
        ballot: Ballot,
        reason: &str,
        deps: &[EventId],
        timestamp: u64,
    ) -> VerifiedEvent {
        let mut deps = deps.to_vec();
        deps.push(p.id());
        self.write(
            by,
            Payload::Vote {
                proposal: p.id(),
                ballot,
                reason: reason.into(),
            },
            &deps,
            timestamp,
        )
    }

    fn delegate(
        &mut self,
        by: &'static str,
        scope: Scope,
        target: Target,
        deps: &[EventId],
    ) -> VerifiedEvent {
        self.write(by, Payload::Delegate { scope, target }, deps, T)
    }

    /// `by` delegates its weight at group scope to `to`.
    fn delegate_to(&mut self, by: &'static str, to: &str, deps: &[EventId]) -> VerifiedEvent {
        let to = self.key(to);
        self.delegate(by, Scope::Group, Target::To(to), deps)
    }

    fn close(&mut self, by: &'static str, p: &VerifiedEvent, deps: &[EventId]) -> VerifiedEvent {
        self.close_at(by, p, deps, T)
    }

    fn close_at(
        &mut self,
        by: &'static str,
        p: &VerifiedEvent,
        deps: &[EventId],
        timestamp: u64,
    ) -> VerifiedEvent {
        let mut deps = deps.to_vec();
        deps.push(p.id());
        self.write(by, Payload::Close { proposal: p.id() }, &deps, timestamp)
    }

    fn open(
        &mut self,
        by: &'static str,
        p: &VerifiedEvent,
        text: EventId,
        deps: &[EventId],
    ) -> VerifiedEvent {
        let mut deps = deps.to_vec();
        deps.extend([p.id(), text]);
        self.write(
            by,
            Payload::OpenVoting {
                proposal: p.id(),
                text,
            },
            &deps,
            T,
        )
    }

    fn revise(
        &mut self,
        by: &'static str,
        p: &VerifiedEvent,
        text: ProposalText,
        deps: &[EventId],
    ) -> VerifiedEvent {
        let mut deps = deps.to_vec();
        deps.push(p.id());
        self.write(
            by,
            Payload::Revise {
                proposal: p.id(),
                text,
            },
            &deps,
            T,
        )
    }

    fn attest(
        &mut self,
        by: &'static str,
        p: &VerifiedEvent,
        digest: [u8; 32],
        deps: &[EventId],
    ) -> VerifiedEvent {
        let proposal = p.id();
        self.write(by, Payload::Attest { proposal, digest }, deps, T)
    }

    fn withdraw(&mut self, by: &'static str, p: &VerifiedEvent, deps: &[EventId]) -> VerifiedEvent {
        let mut deps = deps.to_vec();
        deps.push(p.id());
        self.write(by, Payload::Withdraw { proposal: p.id() }, &deps, T)
    }
}

fn ids(events: &[&VerifiedEvent]) -> Vec<EventId> {
    events.iter().map(|e| e.id()).collect()
}

#[track_caller]
fn prop<'a>(st: &'a GroupState, p: &VerifiedEvent) -> &'a ProposalState {
    st.proposals
        .get(&p.id())
        .unwrap_or_else(|| panic!("no proposal {}; refused: {:?}", p.id(), st.rejected))
}

#[track_caller]
fn cert<'a>(st: &'a GroupState, p: &VerifiedEvent) -> &'a Certificate {
    prop(st, p)
        .certificate
        .as_ref()
        .unwrap_or_else(|| panic!("proposal {} has no certificate", p.id()))
}

#[track_caller]
fn assert_none_refused(st: &GroupState) {
    assert!(st.rejected.is_empty(), "refused: {:?}", st.rejected);
}

/// Asserts a closed proposal's figures, `passed` and winners, and that `close` counted.
#[track_caller]
fn assert_closed(
    st: &GroupState,
    p: &VerifiedEvent,
    close: &VerifiedEvent,
    figures: &[i64],
    passed: Option<bool>,
    winners: &[u32],
) {
    let ps = prop(st, p);
    assert_eq!(ps.status, Status::Closed, "status");
    assert_eq!(ps.closes, vec![close.id()], "closes");
    let c = cert(st, p);
    assert_eq!(c.proposal, p.id().0);
    assert_eq!(c.closes, vec![close.id().0], "certificate closes");
    assert_eq!(c.outcome.figures, figures, "figures");
    assert_eq!(c.outcome.passed, passed, "passed");
    assert_eq!(c.outcome.winners, winners, "winners");
}

fn bad_ballot(e: BallotError) -> Refusal {
    Refusal::BadBallot(e.to_string())
}

fn void_of(ev: &VerifiedEvent, why: &Refusal) -> VoidVote {
    VoidVote {
        event: ev.id().0,
        reason: why.to_string(),
    }
}

fn no_longer(s: &Scenario, ev: &VerifiedEvent, who: &str) -> VoidVote {
    VoidVote {
        event: ev.id().0,
        reason: format!(
            "{} was no longer in the electorate at the close",
            s.key(who)
        ),
    }
}

fn lost(s: &Scenario, who: &str, reason: &str, at: Option<&str>) -> LostWeight {
    LostWeight {
        member: s.key(who).0,
        reason: reason.into(),
        at: at.map(|a| s.key(a).0),
    }
}

fn held(s: &Scenario, voter: &str, depth: u32) -> WeightHolder {
    WeightHolder::Voter {
        voter: s.key(voter),
        depth,
    }
}

/// The index, among `options`, whose tiebreak key is smallest: who wins a tie between them.
fn tie_winner(p: &VerifiedEvent, options: &[u32]) -> u32 {
    *options
        .iter()
        .min_by_key(|i| tiebreak_key(&p.id(), **i as usize))
        .unwrap()
}

/// Derives the scenario's events in a few other delivery orders (reversed, rotated, shuffled,
/// with duplicates) and asserts the proposals come out identical.
#[track_caller]
fn assert_order_independent(s: &Scenario, reference: &GroupState) {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut orders: Vec<Vec<VerifiedEvent>> = Vec::new();
    orders.push(s.events.iter().rev().cloned().collect());
    let mut rotated = s.events.clone();
    rotated.rotate_left(s.events.len() / 2);
    orders.push(rotated);
    for _ in 0..6 {
        let mut shuffled = s.events.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        let k = (next() % shuffled.len() as u64) as usize;
        shuffled.push(shuffled[k].clone());
        orders.push(shuffled);
    }
    for events in orders {
        let other = GroupState::derive(&s.network, s.group, &events);
        assert_eq!(reference.proposals, other.proposals);
        assert_eq!(reference, &other);
        for (id, p) in &reference.proposals {
            let (a, b) = (&p.certificate, &other.proposals[id].certificate);
            assert_eq!(
                a.as_ref().map(|c| c.encode()),
                b.as_ref().map(|c| c.encode())
            );
            assert_eq!(
                a.as_ref().map(|c| c.digest()),
                b.as_ref().map(|c| c.digest())
            );
        }
    }
}

// 1. Every method, end to end.

#[test]
fn majority_needs_its_threshold_and_its_quorum() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let m = "majority:threshold=2/3,quorum=1/2";

    // Two yes, one no: exactly two thirds of those taking a side; 3 of 5 take part.
    let p1 = s.propose("A", proposal(m, &[]), &[]);
    let v = [
        s.vote("A", &p1, YES, &[]),
        s.vote("B", &p1, YES, &[]),
        s.vote("C", &p1, NO, &[]),
    ];
    let c1 = s.close("A", &p1, &ids(&[&v[0], &v[1], &v[2]]));

    // Three yes, two no: 3/5 is short of two thirds.
    let p2 = s.propose("A", proposal(m, &[]), &[]);
    let mut v2 = vec![s.vote("A", &p2, YES, &[])];
    for (who, b) in [("B", YES), ("C", YES), ("D", NO), ("E", NO)] {
        v2.push(s.vote(who, &p2, b, &[]));
    }
    let c2 = s.close("A", &p2, &ids(&v2.iter().collect::<Vec<_>>()));

    // Two yes and nobody else: unanimous, but 2 of 5 misses the quorum of half.
    let p3 = s.propose("A", proposal(m, &[]), &[]);
    let v3 = [s.vote("A", &p3, YES, &[]), s.vote("B", &p3, YES, &[])];
    let c3 = s.close("A", &p3, &ids(&[&v3[1]]));

    // Abstentions (the option and the explicit ballot) count toward the quorum only.
    let p4 = s.propose("A", proposal(m, &[]), &[]);
    let mut v4 = vec![s.vote("A", &p4, YES, &[])];
    for (who, b) in [
        ("B", YES),
        ("C", NO),
        ("D", ABSTAIN),
        ("E", Ballot::Abstain),
    ] {
        v4.push(s.vote(who, &p4, b, &[]));
    }
    let c4 = s.close("A", &p4, &ids(&v4.iter().collect::<Vec<_>>()));

    let st = s.derive();
    assert_none_refused(&st);

    assert_closed(&st, &p1, &c1, &[2, 1, 0], Some(true), &[]);
    let c = cert(&st, &p1);
    assert_eq!(c.method, m);
    assert_eq!(c.version, "majority@1");
    assert_eq!(c.options, vec!["yes", "no", "abstain"]);
    assert_eq!((c.electorate, c.voters, c.delegated), (5, 3, 0));
    assert_eq!((c.outcome.participation, c.outcome.abstained), (3, 0));
    assert!(c.outcome.quorum_met);
    assert!(c.lost.is_empty() && c.void.is_empty());
    assert_eq!(prop(&st, &p1).votes.len(), 3);
    assert_eq!(prop(&st, &p1).votes[&s.key("C")].event, v[2].id());

    assert_closed(&st, &p2, &c2, &[3, 2, 0], Some(false), &[]);
    assert!(cert(&st, &p2).outcome.quorum_met);

    assert_closed(&st, &p3, &c3, &[2, 0, 0], Some(false), &[]);
    let c = cert(&st, &p3);
    assert!(!c.outcome.quorum_met);
    assert_eq!((c.outcome.participation, c.voters), (2, 2));

    assert_closed(&st, &p4, &c4, &[2, 1, 2], Some(true), &[]);
    let c = cert(&st, &p4);
    assert_eq!((c.outcome.participation, c.outcome.abstained), (5, 2));
    assert_order_independent(&s, &st);
}

#[test]
fn consent_a_block_stops_it_and_must_give_a_reason() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());

    let p1 = s.propose("A", proposal("consent", &[]), &[]);
    let mut v1 = Vec::new();
    for who in ["A", "B", "C"] {
        v1.push(s.vote(who, &p1, AGREE, &[]));
    }
    v1.push(s.vote_full("D", &p1, BLOCK, "the landlord will evict us", &[], T));
    let c1 = s.close("A", &p1, &ids(&v1.iter().collect::<Vec<_>>()));

    // A block without a reason is refused (and listed void); a disagreement does not stop it.
    let p2 = s.propose("A", proposal("consent", &[]), &[]);
    let v2 = [
        s.vote("A", &p2, AGREE, &[]),
        s.vote("B", &p2, AGREE, &[]),
        s.vote("C", &p2, DISAGREE, &[]),
        s.vote_full("D", &p2, BLOCK, "  ", &[], T),
    ];
    let c2 = s.close("A", &p2, &ids(&[&v2[1], &v2[2], &v2[3]]));

    let st = s.derive();
    assert_closed(&st, &p1, &c1, &[3, 0, 0, 1], Some(false), &[]);
    assert_eq!(
        cert(&st, &p1).options,
        vec!["agree", "abstain", "disagree", "block"]
    );
    assert_eq!(
        prop(&st, &p1).votes[&s.key("D")].reason,
        "the landlord will evict us"
    );

    let why = bad_ballot(BallotError::BlockNeedsReason);
    assert_refused(&st, &v2[3], why.clone());
    assert_closed(&st, &p2, &c2, &[2, 0, 1, 0], Some(true), &[]);
    assert_eq!(cert(&st, &p2).void, vec![void_of(&v2[3], &why)]);
    assert!(!prop(&st, &p2).votes.contains_key(&s.key("D")));
    assert_eq!(st.rejected.len(), 1, "{:?}", st.rejected);
}

#[test]
fn consent_block_override_comes_from_the_constitution() {
    let c = Constitution {
        block_override: Some(Ratio { num: 3, den: 4 }),
        ..Constitution::default()
    };
    let (mut s, _) = group_of(&["A", "B", "C", "D"], c);

    // Three agree, one block: 3/4 of those taking a side reach the override.
    let p1 = s.propose("A", proposal("consent", &[]), &[]);
    let mut v1 = Vec::new();
    for who in ["A", "B", "C"] {
        v1.push(s.vote(who, &p1, AGREE, &[]));
    }
    v1.push(s.vote_full("D", &p1, BLOCK, "too risky", &[], T));
    let c1 = s.close("A", &p1, &ids(&v1.iter().collect::<Vec<_>>()));

    // Two agree, one disagree, one block: 2/4 does not.
    let p2 = s.propose("A", proposal("consent", &[]), &[]);
    let v2 = [
        s.vote("A", &p2, AGREE, &[]),
        s.vote("B", &p2, AGREE, &[]),
        s.vote("C", &p2, DISAGREE, &[]),
        s.vote_full("D", &p2, BLOCK, "too risky", &[], T),
    ];
    let c2 = s.close("A", &p2, &ids(&v2.iter().collect::<Vec<_>>()));

    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p1, &c1, &[3, 0, 0, 1], Some(true), &[]);
    assert_closed(&st, &p2, &c2, &[2, 0, 1, 1], Some(false), &[]);
}

#[test]
fn plurality_most_weight_wins() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose(
        "A",
        proposal("plurality", &["strike", "negotiate", "wait"]),
        &[],
    );
    let v = [
        s.vote("A", &p, Ballot::Choice(0), &[]),
        s.vote("B", &p, Ballot::Choice(0), &[]),
        s.vote("C", &p, Ballot::Choice(1), &[]),
        s.vote("D", &p, Ballot::Abstain, &[]),
    ];
    let bad = s.vote("D", &p, Ballot::Rank(vec![0]), &[]);
    let c = s.close("A", &p, &ids(&[&v[1], &v[2], &bad]));
    let st = s.derive();
    assert_refused(
        &st,
        &bad,
        bad_ballot(BallotError::WrongShape {
            method: "plurality",
            expected: "a choice of one option",
        }),
    );
    assert_closed(&st, &p, &c, &[2, 1, 0], None, &[0]);
    let o = &cert(&st, &p).outcome;
    assert_eq!((o.participation, o.abstained, o.tie), (4, 1, false));
    assert_eq!(o.ranking, vec![vec![0], vec![1], vec![2]]);
    assert_eq!(cert(&st, &p).options, vec!["strike", "negotiate", "wait"]);
    // D's standing vote is its abstention: the refused ballot replaced nothing.
    assert_eq!(prop(&st, &p).votes[&s.key("D")].event, v[3].id());
}

#[test]
fn approval_each_approved_option_gets_full_weight() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose("A", proposal("approval", &["x", "y", "z"]), &[]);
    let v = [
        s.vote("A", &p, Ballot::Set(vec![0, 1]), &[]),
        s.vote("B", &p, Ballot::Set(vec![1]), &[]),
        s.vote("C", &p, Ballot::Set(vec![1, 2]), &[]),
        s.vote("D", &p, Ballot::Set(vec![]), &[]),
    ];
    let c = s.close("A", &p, &ids(&v.iter().collect::<Vec<_>>()));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[1, 3, 1], None, &[1]);
    let o = &cert(&st, &p).outcome;
    assert_eq!((o.participation, o.abstained, o.tie), (4, 1, false));
    assert_eq!(o.ranking, vec![vec![1], vec![0, 2]]);
}

#[test]
fn score_highest_total_wins() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose("A", proposal("score", &["x", "y", "z"]), &[]);
    let v = [
        s.vote("A", &p, Ballot::Scores(vec![5, 1, 0]), &[]),
        s.vote("B", &p, Ballot::Scores(vec![4, 5, 0]), &[]),
        s.vote("C", &p, Ballot::Scores(vec![0, 5, 1]), &[]),
    ];
    let bad = s.vote("D", &p, Ballot::Scores(vec![6, 0, 0]), &[]);
    let c = s.close("A", &p, &ids(&[&v[1], &v[2], &bad]));
    let st = s.derive();
    assert_refused(
        &st,
        &bad,
        bad_ballot(BallotError::OutOfRange {
            option: 0,
            score: 6,
            min: 0,
            max: 5,
        }),
    );
    assert_closed(&st, &p, &c, &[9, 11, 1], None, &[1]);
    assert_eq!(
        cert(&st, &p).outcome.ranking,
        vec![vec![1], vec![0], vec![2]]
    );
    assert_eq!(cert(&st, &p).voters, 3);
}

#[test]
fn dot_points_add_up() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose("A", proposal("dot:dots=5", &["x", "y", "z"]), &[]);
    let v = [
        s.vote("A", &p, Ballot::Scores(vec![5, 0, 0]), &[]),
        s.vote("B", &p, Ballot::Scores(vec![2, 3, 0]), &[]),
        s.vote("C", &p, Ballot::Scores(vec![0, 2, 3]), &[]),
    ];
    let bad = s.vote("D", &p, Ballot::Scores(vec![3, 3, 0]), &[]);
    let c = s.close("A", &p, &ids(&[&v[1], &v[2], &bad]));
    let st = s.derive();
    assert_refused(
        &st,
        &bad,
        bad_ballot(BallotError::TooManyDots { used: 6, dots: 5 }),
    );
    assert_closed(&st, &p, &c, &[7, 5, 3], None, &[0]);
    assert_eq!(cert(&st, &p).method, "dot:dots=5");
}

#[test]
fn quadratic_votes_sum_with_sign() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose("A", proposal("quadratic", &["x", "y", "z"]), &[]);
    let v = [
        s.vote("A", &p, Ballot::Scores(vec![3, 0, -1]), &[]),
        s.vote("B", &p, Ballot::Scores(vec![0, 2, 0]), &[]),
        s.vote("C", &p, Ballot::Scores(vec![-2, 1, 0]), &[]),
    ];
    let c = s.close("A", &p, &ids(&v.iter().collect::<Vec<_>>()));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[1, 3, -1], None, &[1]);
    assert_eq!(
        cert(&st, &p).outcome.ranking,
        vec![vec![1], vec![0], vec![2]]
    );
    let period = prop(&st, &p).period;
    for (who, cost) in [("A", 10), ("B", 4), ("C", 5)] {
        assert_eq!(
            st.spent[&(s.key(who), period)],
            BTreeMap::from([(p.id(), cost)]),
            "{who}"
        );
    }
}

#[test]
fn schulze_beats_the_status_quo() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let p = s.propose("A", proposal("schulze", &["a", "b", "c"]), &[]);
    let mut v = Vec::new();
    for (who, g) in [
        ("A", [2, 1, -1]),
        ("B", [2, 1, -1]),
        ("C", [1, 2, -1]),
        ("D", [-1, 1, 0]),
        ("E", [2, -1, 0]),
    ] {
        v.push(s.vote(who, &p, Ballot::Scores(g.to_vec()), &[]));
    }
    let c = s.close("A", &p, &ids(&v.iter().collect::<Vec<_>>()));
    let st = s.derive();
    assert_none_refused(&st);
    // a beats b, c and the status quo; b beats c and the status quo; the status quo beats c.
    assert_closed(&st, &p, &c, &[3, 2, 0], None, &[0]);
    let o = &cert(&st, &p).outcome;
    assert_eq!(
        o.matrix,
        vec![
            vec![0, 3, 4, 4],
            vec![2, 0, 4, 4],
            vec![1, 1, 0, 0],
            vec![1, 1, 3, 0],
        ]
    );
    assert_eq!(o.ranking, vec![vec![0], vec![1], vec![2]]);
    assert!(!o.tie);
}

#[test]
fn irv_transfers_eliminated_preferences() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let p = s.propose("A", proposal("irv", &["a", "b", "c"]), &[]);
    let mut v = Vec::new();
    for (who, r) in [
        ("A", vec![0, 1]),
        ("B", vec![0, 2]),
        ("C", vec![1, 0]),
        ("D", vec![2, 1]),
        ("E", vec![1, 2]),
    ] {
        v.push(s.vote(who, &p, Ballot::Rank(r), &[]));
    }
    let c = s.close("A", &p, &ids(&v.iter().collect::<Vec<_>>()));
    let st = s.derive();
    assert_none_refused(&st);
    // Round 1: 2, 2, 1 — c goes, D's ballot moves to b, which then holds 3 of 5.
    assert_closed(&st, &p, &c, &[2, 3, 0], None, &[1]);
    let o = &cert(&st, &p).outcome;
    assert_eq!(o.rounds, vec![vec![2, 2, 1], vec![2, 3, -1]]);
    assert_eq!(o.ranking, vec![vec![1], vec![0], vec![2]]);
    assert_eq!((o.exhausted, o.tie), (0, false));
}

#[test]
fn budget_funds_greedily_by_approval() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let mut pb = proposal("budget:total=100", &[]);
    pb.text.options = [("park", 60), ("library", 50), ("bench", 10)]
        .iter()
        .map(|(l, c)| Choice {
            label: (*l).into(),
            cost: *c,
        })
        .collect();
    let p = s.propose("A", pb, &[]);
    let v = [
        s.vote("A", &p, Ballot::Set(vec![0, 2]), &[]),
        s.vote("B", &p, Ballot::Set(vec![0, 2]), &[]),
        s.vote("C", &p, Ballot::Set(vec![1, 2]), &[]),
        s.vote("D", &p, Ballot::Set(vec![1]), &[]),
    ];
    let bad = s.vote("E", &p, Ballot::Set(vec![0, 1]), &[]);
    let c = s.close("A", &p, &ids(&[&v[1], &v[2], &v[3], &bad]));
    let st = s.derive();
    assert_refused(
        &st,
        &bad,
        bad_ballot(BallotError::OverBudget {
            cost: 110,
            total: 100,
        }),
    );
    // bench (3), then library (2, cheaper), then park (2) no longer fits.
    assert_closed(&st, &p, &c, &[2, 2, 3], None, &[2, 1]);
    let o = &cert(&st, &p).outcome;
    assert_eq!((o.spent, o.tie), (60, false));
    assert_eq!(o.ranking, vec![vec![2], vec![0, 1]]);
}

// 2. Nobody votes, everybody abstains, ties.

#[test]
fn zero_voters_pass_nothing() {
    let (mut s, _) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let p1 = s.propose("A", proposal("majority:threshold=2/3,quorum=1/2", &[]), &[]);
    let p2 = s.propose("A", proposal("plurality", &["x", "y"]), &[]);
    let open = s.events.len();
    let c1 = s.close("A", &p1, &[]);
    let c2 = s.close("A", &p2, &[]);

    // While voting, the certificate is provisional and names no close.
    let before = GroupState::derive(&s.network, s.group, &s.events[..open]);
    let ps = prop(&before, &p1);
    assert_eq!(ps.status, Status::Voting);
    assert!(ps.closes.is_empty() && ps.late.is_empty());
    let c = ps.certificate.as_ref().unwrap();
    assert!(c.closes.is_empty());
    assert_eq!(c.outcome.passed, Some(false));
    assert_eq!((c.electorate, c.voters), (5, 0));

    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p1, &c1, &[0, 0, 0], Some(false), &[]);
    let o = &cert(&st, &p1).outcome;
    assert!(!o.quorum_met);
    assert_eq!(o.participation, 0);

    assert_closed(&st, &p2, &c2, &[0, 0], None, &[]);
    let o = &cert(&st, &p2).outcome;
    assert!(o.ranking.is_empty());
    assert!(!o.tie);
    assert_eq!(cert(&st, &p2).voters, 0);
}

#[test]
fn all_abstain_passes_nothing() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p1 = s.propose("A", proposal("majority:quorum=1/2", &[]), &[]);
    let p2 = s.propose("A", proposal("plurality", &["x", "y"]), &[]);
    let mut v = Vec::new();
    for who in ["A", "B", "C", "D"] {
        v.push(s.vote(who, &p1, Ballot::Abstain, &[]));
        v.push(s.vote(who, &p2, Ballot::Abstain, &[]));
    }
    let all = ids(&v.iter().collect::<Vec<_>>());
    let c1 = s.close("A", &p1, &all);
    let c2 = s.close("A", &p2, &all);
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p1, &c1, &[0, 0, 4], Some(false), &[]);
    assert_closed(&st, &p2, &c2, &[0, 0], None, &[]);
    for p in [&p1, &p2] {
        let o = &cert(&st, p).outcome;
        assert_eq!((o.participation, o.abstained), (4, 4));
        assert!(o.quorum_met);
        assert!(o.ranking.is_empty());
    }
}

#[test]
fn ties_are_broken_by_content_hash_the_same_way_every_time() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose("A", proposal("plurality", &["x", "y", "z"]), &[]);
    let v = [
        s.vote("A", &p, Ballot::Choice(0), &[]),
        s.vote("B", &p, Ballot::Choice(1), &[]),
        s.vote("C", &p, Ballot::Choice(0), &[]),
        s.vote("D", &p, Ballot::Choice(1), &[]),
    ];
    let c = s.close("A", &p, &ids(&v.iter().collect::<Vec<_>>()));
    let st = s.derive();
    assert_none_refused(&st);
    let winner = tie_winner(&p, &[0, 1]);
    assert_closed(&st, &p, &c, &[2, 2, 0], None, &[winner]);
    let o = &cert(&st, &p).outcome;
    assert!(o.tie);
    assert_eq!(o.ranking, vec![vec![0, 1], vec![2]]);
    assert_eq!(s.derive(), st);
    assert_order_independent(&s, &st);
}

// 3. Delegation.

#[test]
fn delegation_chain_carries_weight_to_the_voter() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
    s.delegate_to("A", "B", &[]);
    let db = s.delegate_to("B", "C", &[tip]);
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let vc = s.vote("C", &p, YES, &[]);
    let vd = s.vote("D", &p, NO, &[]);
    let c = s.close("A", &p, &ids(&[&db, &vc, &vd]));

    // A direct vote overrides the delegation.
    let p2 = s.propose("A", proposal("majority", &[]), &[]);
    let v2 = [
        s.vote("A", &p2, NO, &[]),
        s.vote("C", &p2, YES, &[]),
        s.vote("D", &p2, NO, &[]),
    ];
    let c2 = s.close("A", &p2, &ids(&v2.iter().collect::<Vec<_>>()));

    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[3, 1, 0], Some(true), &[]);
    let ps = prop(&st, &p);
    assert_eq!(
        ps.holders,
        BTreeMap::from([
            (s.key("A"), held(&s, "C", 2)),
            (s.key("B"), held(&s, "C", 1))
        ])
    );
    let ct = cert(&st, &p);
    assert_eq!((ct.voters, ct.delegated), (2, 2));
    assert_eq!(ct.outcome.participation, 4);
    assert!(ct.lost.is_empty());
    assert_eq!(
        st.delegations[&s.key("A")],
        BTreeMap::from([(Scope::Group, Target::To(s.key("B")))])
    );

    assert_closed(&st, &p2, &c2, &[2, 2, 0], Some(false), &[]);
    assert_eq!(
        prop(&st, &p2).holders,
        BTreeMap::from([(s.key("B"), held(&s, "C", 1))])
    );
    assert_eq!(cert(&st, &p2).delegated, 1);
    assert_order_independent(&s, &st);
}

#[test]
fn delegation_cycle_loses_the_weight() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    s.delegate_to("A", "B", &[]);
    let db = s.delegate_to("B", "A", &[tip]);
    // And a chain that ends at someone who neither votes nor delegates.
    let dd = s.delegate_to("D", "E", &[tip]);
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let vc = s.vote("C", &p, YES, &[]);
    let c = s.close("A", &p, &ids(&[&db, &dd, &vc]));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[1, 0, 0], Some(true), &[]);
    let mut lost_ = cert(&st, &p).lost.clone();
    lost_.sort_by_key(|l| l.member);
    let mut expected = vec![
        lost(&s, "A", "cycle", None),
        lost(&s, "B", "cycle", None),
        lost(&s, "D", "dead-end", Some("E")),
    ];
    expected.sort_by_key(|l| l.member);
    assert_eq!(lost_, expected);
    let cycle = WeightHolder::Lost {
        reason: "cycle".into(),
        at: None,
    };
    let dead_end = WeightHolder::Lost {
        reason: "dead-end".into(),
        at: Some(s.key("E")),
    };
    assert_eq!(
        prop(&st, &p).holders,
        BTreeMap::from([
            (s.key("A"), cycle.clone()),
            (s.key("B"), cycle),
            (s.key("D"), dead_end),
        ])
    );
    let ct = cert(&st, &p);
    assert_eq!((ct.electorate, ct.voters, ct.delegated), (5, 1, 0));
}

#[test]
fn topic_scope_beats_group_scope() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    s.delegate_to("A", "B", &[]);
    let dt = s.delegate(
        "A",
        Scope::Topic("housing".into()),
        Target::To(s.key("C")),
        &[],
    );
    let mut housing = proposal("majority", &[]);
    housing.topic = "housing".into();
    let p1 = s.propose("B", housing, &[tip]);
    let mut food = proposal("majority", &[]);
    food.topic = "food".into();
    let p2 = s.propose("B", food, &[]);
    let v = [
        s.vote("B", &p1, NO, &[]),
        s.vote("C", &p1, YES, &[]),
        s.vote("B", &p2, NO, &[]),
        s.vote("C", &p2, YES, &[]),
    ];
    let c1 = s.close("B", &p1, &ids(&[&dt, &v[1]]));
    let c2 = s.close("B", &p2, &ids(&[&dt, &v[3]]));
    let st = s.derive();
    assert_none_refused(&st);
    // Housing: A's topic delegation to C; food: no topic delegation, so the group one to B.
    assert_closed(&st, &p1, &c1, &[2, 1, 0], Some(true), &[]);
    assert_eq!(
        prop(&st, &p1).holders,
        BTreeMap::from([(s.key("A"), held(&s, "C", 1))])
    );
    assert_closed(&st, &p2, &c2, &[1, 2, 0], Some(false), &[]);
    assert_eq!(
        prop(&st, &p2).holders,
        BTreeMap::from([(s.key("A"), held(&s, "B", 1))])
    );
}

#[test]
fn proposal_scope_nobody_blocks_and_inherit_clears() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    s.delegate_to("A", "B", &[]);
    let p1 = s.propose("B", proposal("majority", &[]), &[tip]);
    let p2 = s.propose("B", proposal("majority", &[]), &[]);
    s.delegate("A", Scope::Proposal(p1.id()), Target::Nobody, &[p1.id()]);
    s.delegate("A", Scope::Proposal(p2.id()), Target::Nobody, &[p2.id()]);
    let inherit = s.delegate("A", Scope::Proposal(p2.id()), Target::Inherit, &[]);
    let v1 = s.vote("B", &p1, YES, &[]);
    let v2 = s.vote("B", &p2, YES, &[]);
    let c1 = s.close("B", &p1, &ids(&[&inherit, &v1]));
    let c2 = s.close("B", &p2, &ids(&[&inherit, &v2]));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p1, &c1, &[1, 0, 0], Some(true), &[]);
    assert!(prop(&st, &p1).holders.is_empty());
    assert_eq!(cert(&st, &p1).delegated, 0);
    assert_closed(&st, &p2, &c2, &[2, 0, 0], Some(true), &[]);
    assert_eq!(
        prop(&st, &p2).holders,
        BTreeMap::from([(s.key("A"), held(&s, "B", 1))])
    );
    assert_eq!(
        st.delegations[&s.key("A")],
        BTreeMap::from([
            (Scope::Group, Target::To(s.key("B"))),
            (Scope::Proposal(p1.id()), Target::Nobody),
        ])
    );
}

#[test]
fn delegate_removed_before_the_close_loses_the_weight() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
    s.delegate_to("A", "B", &[]);
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let vb = s.vote("B", &p, YES, &[tip]);
    let seen = s.count("B");
    let r = s.remove("A", "B", seen, &[vb.id()]);
    let vc = s.vote("C", &p, NO, &[]);
    let c = s.close("A", &p, &ids(&[&r, &vc]));
    let st = s.derive();
    assert_none_refused(&st);
    assert!(!st.is_member(&s.key("B")));
    assert_closed(&st, &p, &c, &[0, 1, 0], Some(false), &[]);
    let ct = cert(&st, &p);
    assert_eq!((ct.electorate, ct.voters), (3, 1));
    assert_eq!(ct.lost, vec![lost(&s, "A", "ineligible", Some("B"))]);
    assert_eq!(ct.void, vec![no_longer(&s, &vb, "B")]);
    assert_eq!(
        prop(&st, &p).holders[&s.key("A")],
        WeightHolder::Lost {
            reason: "ineligible".into(),
            at: Some(s.key("B")),
        }
    );
}

#[test]
fn delegation_chain_longer_than_the_limit_is_lost() {
    assert_eq!(MAX_CHAIN, 8);
    let names = ["A", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9"];
    let (mut s, tip) = group_of(&names, Constitution::default());
    let mut ds = Vec::new();
    for w in names.windows(2) {
        ds.push(s.delegate_to(w[0], w[1], &[tip]).id());
    }
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let v = s.vote("M9", &p, YES, &[]);
    let mut deps = ds.clone();
    deps.push(v.id());
    let c = s.close("A", &p, &deps);
    let st = s.derive();
    assert_none_refused(&st);
    // M1 reaches M9 in 8 hops; A would need 9.
    assert_closed(&st, &p, &c, &[9, 0, 0], Some(true), &[]);
    let ct = cert(&st, &p);
    assert_eq!(ct.lost, vec![lost(&s, "A", "too-deep", None)]);
    assert_eq!(ct.delegated, 8);
    let holders = &prop(&st, &p).holders;
    assert_eq!(
        holders[&s.key("A")],
        WeightHolder::Lost {
            reason: "too-deep".into(),
            at: None,
        }
    );
    for (i, n) in names[1..9].iter().enumerate() {
        assert_eq!(holders[&s.key(n)], held(&s, "M9", 8 - i as u32), "{n}");
    }
    assert_eq!(holders.len(), 9);
}

#[test]
fn delegation_to_self_is_refused() {
    let (mut s, _) = group_of(&["A", "B"], Constitution::default());
    let d = s.delegate_to("A", "A", &[]);
    let st = s.derive();
    assert_refused(&st, &d, Refusal::DelegateToSelf);
    assert!(st.delegations.is_empty());
}

#[test]
fn quadratic_voting_ignores_delegation() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let d = s.delegate_to("A", "B", &[]);
    let p = s.propose("A", proposal("quadratic", &["x", "y"]), &[]);
    let v = s.vote("B", &p, Ballot::Scores(vec![2, 0]), &[tip]);
    let c = s.close("A", &p, &ids(&[&d, &v]));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[2, 0], None, &[0]);
    assert!(prop(&st, &p).holders.is_empty());
    let ct = cert(&st, &p);
    assert_eq!((ct.voters, ct.delegated), (1, 0));
    assert!(ct.lost.is_empty());
    assert_eq!(ct.outcome.participation, 1);
}

// 4. Which votes count: the close's causal past, never timestamps.

#[test]
fn voter_removed_mid_vote_is_void() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let vb = s.vote("B", &p, YES, &[tip]);
    let vc = s.vote("C", &p, YES, &[]);
    let seen = s.count("B");
    let r = s.remove("A", "B", seen, &[vb.id()]);
    let vd = s.vote("D", &p, NO, &[]);
    let c = s.close("A", &p, &ids(&[&r, &vc, &vd]));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[1, 1, 0], Some(false), &[]);
    let ct = cert(&st, &p);
    assert_eq!(ct.void, vec![no_longer(&s, &vb, "B")]);
    assert_eq!((ct.electorate, ct.voters), (3, 2));
}

#[test]
fn non_member_vote_is_refused_and_listed_void() {
    let (mut s, _) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let vx = s.vote("X", &p, YES, &[]);
    let vb = s.vote("B", &p, NO, &[]);
    let c = s.close("A", &p, &ids(&[&vx, &vb]));
    let st = s.derive();
    let why = Refusal::NotMember(s.key("X"));
    assert_refused(&st, &vx, why.clone());
    assert_closed(&st, &p, &c, &[0, 1, 0], Some(false), &[]);
    assert_eq!(cert(&st, &p).void, vec![void_of(&vx, &why)]);
    assert!(!prop(&st, &p).votes.contains_key(&s.key("X")));
}

#[test]
fn votes_count_by_the_close_s_past_not_by_timestamps() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D", "E"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[]);
    // Backdated but in the close's past: counts.
    let backdated = s.vote_full("B", &p, YES, "", &[tip], 0);
    // Stamped far in the future and not in the close's past: does not.
    let future = s.vote_full("C", &p, YES, "", &[tip], NEVER);
    let vd = s.vote("D", &p, NO, &[tip]);
    // Concurrent with the close (not in its past): valid, but counted nowhere.
    let concurrent = s.vote("E", &p, YES, &[tip]);
    let c = s.close("A", &p, &ids(&[&backdated, &vd]));
    // With the close in its past: refused.
    let after = s.vote("E", &p, NO, &[c.id()]);
    let st = s.derive();
    assert_refused(&st, &after, Refusal::AfterClose);
    assert_eq!(st.rejected.len(), 1, "{:?}", st.rejected);
    assert_closed(&st, &p, &c, &[1, 1, 0], Some(false), &[]);
    let ps = prop(&st, &p);
    let mut late = ps.late.clone();
    late.sort();
    let mut expected = vec![future.id(), concurrent.id()];
    expected.sort();
    assert_eq!(late, expected);
    let ct = cert(&st, &p);
    assert_eq!(ct.voters, 2);
    assert!(ct.void.is_empty());
    assert_eq!(ps.votes[&s.key("E")].event, concurrent.id());
    assert_order_independent(&s, &st);
}

#[test]
fn concurrent_closes_first_in_causal_order_counts() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let mut pd = proposal("majority", &[]);
    pd.deadline = DEADLINE;
    let p = s.propose("A", pd, &[]);
    let vb = s.vote("B", &p, YES, &[tip]);
    let vc = s.vote("C", &p, YES, &[tip]);
    let vd = s.vote("D", &p, NO, &[tip]);
    // After the deadline any member may close, with evidence of the deadline from another
    // member (A's event dated after it); these two do so concurrently.
    let w = s.write("A", Payload::Merge, &[], AFTER);
    let close_b = s.close_at("B", &p, &[vc.id(), w.id()], AFTER);
    let close_c = s.close_at("C", &p, &[vb.id(), vd.id(), w.id()], AFTER);
    // A close that has seen both: refused, not listed (it was not concurrent with the first).
    let close_a = s.close("A", &p, &ids(&[&close_b, &close_c]));

    let st = s.derive();
    let order = causal::order_events(&s.events);
    let pos = |e: &VerifiedEvent| order.iter().position(|i| s.events[*i].id() == e.id());
    let (first, second) = if pos(&close_b) < pos(&close_c) {
        (&close_b, &close_c)
    } else {
        (&close_c, &close_b)
    };
    assert_refused(&st, second, Refusal::AlreadyClosed(first.id()));
    assert_refused(&st, &close_a, Refusal::AlreadyClosed(first.id()));
    assert_eq!(st.rejected.len(), 2, "{:?}", st.rejected);

    let ps = prop(&st, &p);
    assert_eq!(ps.status, Status::Closed);
    assert_eq!(ps.closes, vec![first.id(), second.id()]);
    let ct = cert(&st, &p);
    assert_eq!(
        ct.closes,
        vec![first.id().0],
        "the certificate depends only on the counting close"
    );
    // B's close saw B's and C's votes; C's close saw all three. A vote in the other close's
    // past only does not count.
    if first.id() == close_b.id() {
        assert_eq!(ct.outcome.figures, vec![2, 0, 0]);
        assert_eq!(ps.late, vec![vd.id()]);
    } else {
        assert_eq!(ct.outcome.figures, vec![2, 1, 0]);
        assert!(ps.late.is_empty());
    }
    assert_eq!(ct.outcome.passed, Some(true));
    assert_order_independent(&s, &st);
}

#[test]
fn close_by_a_non_author_before_the_deadline_is_refused() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let mut pd = proposal("majority", &[]);
    pd.deadline = DEADLINE;
    let p = s.propose("A", pd, &[]);
    let vb = s.vote("B", &p, YES, &[tip]);
    let early = s.close_at("C", &p, &[tip, vb.id()], DEADLINE - 1);
    // Without a deadline nobody but the author may close, however late.
    let p2 = s.propose("A", proposal("majority", &[]), &[]);
    let never = s.close_at("B", &p2, &[], NEVER);
    // The author may close before the deadline.
    let c = s.close("A", &p, &ids(&[&early]));
    let st = s.derive();
    assert_refused(&st, &early, Refusal::TooEarlyToClose { deadline: DEADLINE });
    assert_refused(&st, &never, Refusal::TooEarlyToClose { deadline: 0 });
    assert_eq!(st.rejected.len(), 2, "{:?}", st.rejected);
    assert_closed(&st, &p, &c, &[1, 0, 0], Some(true), &[]);
    assert_eq!(prop(&st, &p2).status, Status::Voting);
}

/// A close that would be refused on its own (too early, by someone else than the author) and
/// happens to come after the counting close in the canonical order, without it in its past.
fn early_close_after_the_counting_close() -> (Scenario, VerifiedEvent, VerifiedEvent, VerifiedEvent)
{
    // The canonical order breaks ties by id, so pad D's log until its early close sorts after
    // A's close (deterministic: the keys and so the ids are fixed).
    for pad in 0..32 {
        let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
        let mut pd = proposal("majority", &[]);
        pd.deadline = DEADLINE;
        let p = s.propose("A", pd, &[]);
        let vb = s.vote("B", &p, YES, &[tip]);
        let close = s.close("A", &p, &[vb.id()]);
        for i in 0..pad {
            s.post("D", &format!("post {i}"), &[tip]);
        }
        let early = s.close_at("D", &p, &[tip], T);
        let order = causal::order_events(&s.events);
        let pos = |e: &VerifiedEvent| order.iter().position(|i| s.events[*i].id() == e.id());
        if pos(&close) < pos(&early) {
            return (s, p, close, early);
        }
    }
    panic!("no padding puts the early close after the counting one");
}

#[test]

fn an_invalid_close_concurrent_with_the_counting_close_is_not_listed() {
    let (s, p, close, early) = early_close_after_the_counting_close();
    let st = s.derive();
    // The same event is refused for the same reason whichever close sorts first…
    assert_refused(&st, &early, Refusal::TooEarlyToClose { deadline: DEADLINE });
    // …and only closes that could have counted are listed next to the one that did.
    assert_eq!(prop(&st, &p).closes, vec![close.id()]);
    assert_eq!(cert(&st, &p).closes, vec![close.id().0]);
}

#[test]
fn changed_vote_latest_in_the_voter_s_log_counts() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[]);
    // The timestamps disagree with the log order; the log order wins.
    let first = s.vote_full("B", &p, YES, "", &[tip], 9_000);
    let second = s.vote_full("B", &p, NO, "changed my mind", &[], 1_000);
    let vc = s.vote("C", &p, YES, &[tip]);
    let c = s.close("A", &p, &ids(&[&second, &vc]));
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[1, 1, 0], Some(false), &[]);
    let b = &prop(&st, &p).votes[&s.key("B")];
    assert_eq!((b.event, &b.ballot), (second.id(), &NO));
    assert_eq!(b.reason, "changed my mind");
    assert_eq!(cert(&st, &p).voters, 2);
    assert_ne!(first.id(), second.id());
    assert!(prop(&st, &p).late.is_empty());
}

// 5. Quadratic budgets.

#[test]
fn quadratic_credits_are_a_budget_per_period() {
    let (mut s, tip) = group_of(&["A", "B"], Constitution::default());
    assert_eq!(Constitution::default().credits, 100);
    let p1 = s.propose("A", proposal("quadratic", &["x", "y", "z"]), &[]);
    let p2 = s.propose("A", proposal("quadratic", &["x", "y", "z"]), &[]);
    let q = |v: [i64; 3]| Ballot::Scores(v.to_vec());
    // 100 + 16 + 1 = 117 > 100.
    let over = s.vote("B", &p1, q([10, 4, 1]), &[tip, p2.id()]);
    let b1 = s.vote("B", &p1, q([8, 0, 0]), &[]); // 64
    let b2 = s.vote("B", &p2, q([6, 0, 0]), &[]); // 36: 100 in all
    let over2 = s.vote("B", &p2, q([7, 0, 0]), &[]); // 49 > 36 left
    let b3 = s.vote("B", &p1, q([5, 0, 0]), &[]); // replaces 64 with 25
    let b4 = s.vote("B", &p2, q([7, 0, 0]), &[]); // 25 + 49 = 74
    let c1 = s.close("A", &p1, &[b4.id()]);
    let c2 = s.close("A", &p2, &[]);
    let st = s.derive();
    assert_refused(
        &st,
        &over,
        Refusal::Overspent {
            cost: 117,
            left: 100,
        },
    );
    assert_refused(&st, &over2, Refusal::Overspent { cost: 49, left: 36 });
    assert_eq!(st.rejected.len(), 2, "{:?}", st.rejected);
    for e in [&b1, &b2, &b3, &b4] {
        assert_valid(&st, e);
    }
    let period = prop(&st, &p1).period;
    assert_eq!(prop(&st, &p2).period, period);
    assert_eq!(
        st.spent[&(s.key("B"), period)],
        BTreeMap::from([(p1.id(), 25), (p2.id(), 49)])
    );
    assert_closed(&st, &p1, &c1, &[5, 0, 0], None, &[0]);
    assert_closed(&st, &p2, &c2, &[7, 0, 0], None, &[0]);
}

#[test]
fn quadratic_credits_without_a_period_are_per_proposal() {
    let c = Constitution {
        credit_period_days: 0,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B"], c);
    let p1 = s.propose("A", proposal("quadratic", &["x", "y"]), &[]);
    let p2 = s.propose("A", proposal("quadratic", &["x", "y"]), &[]);
    let v1 = s.vote("B", &p1, Ballot::Scores(vec![8, 0]), &[tip, p2.id()]);
    let v2 = s.vote("B", &p2, Ballot::Scores(vec![0, 8]), &[]);
    let st = s.derive();
    assert_none_refused(&st);
    assert_valid(&st, &v1);
    assert_valid(&st, &v2);
    let (a, b) = (prop(&st, &p1).period, prop(&st, &p2).period);
    assert_ne!(a, b);
    assert_eq!(st.spent[&(s.key("B"), a)], BTreeMap::from([(p1.id(), 64)]));
    assert_eq!(st.spent[&(s.key("B"), b)], BTreeMap::from([(p2.id(), 64)]));
}

// 6. Discussion, revision, opening, withdrawal.

#[test]
fn discussion_then_voting_on_the_frozen_text() {
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], Constitution::default());
    let mut pd = proposal("plurality", &["x", "y"]);
    pd.voting = false;
    let p = s.propose("A", pd, &[]);
    let early = s.vote("B", &p, Ballot::Choice(0), &[tip]);
    let not_author = s.revise("B", &p, text("Hijacked", &["q", "r"]), &[]);
    let r1 = s.revise("A", &p, text("Rent strike, revised", &["x", "y", "z"]), &[]);

    // In discussion: the latest revision is shown, no certificate.
    let discussing = GroupState::derive(&s.network, s.group, &s.events);
    let ps = prop(&discussing, &p);
    assert_eq!(ps.status, Status::Discussion);
    assert_eq!((ps.text_id, ps.text.options.len()), (r1.id(), 3));
    assert!(ps.certificate.is_none());

    let o = s.open("A", &p, r1.id(), &[]);
    let too_late = s.revise("A", &p, text("Again", &["x", "y"]), &[]);
    let vc = s.vote("C", &p, Ballot::Choice(2), &[o.id()]);
    let vd = s.vote("D", &p, Ballot::Choice(3), &[o.id()]);
    let vb = s.vote("B", &p, Ballot::Choice(0), &[o.id()]);
    let c = s.close("A", &p, &ids(&[&vc, &vd, &vb]));

    let st = s.derive();
    assert_refused(&st, &early, Refusal::VotingNotOpen);
    assert_refused(&st, &not_author, Refusal::NotProposer);
    assert_refused(&st, &too_late, Refusal::VotingOpen);
    assert_refused(
        &st,
        &vd,
        bad_ballot(BallotError::NoSuchOption {
            option: 3,
            options: 3,
        }),
    );
    assert_eq!(st.rejected.len(), 4, "{:?}", st.rejected);
    assert_valid(&st, &r1);
    assert_valid(&st, &o);
    assert_closed(&st, &p, &c, &[1, 0, 1], None, &[tie_winner(&p, &[0, 2])]);
    let ps = prop(&st, &p);
    assert_eq!(ps.text_id, r1.id());
    assert_eq!(ps.text.title, "Rent strike, revised");
    assert_eq!(cert(&st, &p).options, vec!["x", "y", "z"]);
    assert!(cert(&st, &p).outcome.tie);
}

#[test]
fn withdrawal_stops_voting() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[]);
    let vb = s.vote("B", &p, YES, &[tip]);
    let not_author = s.withdraw("B", &p, &[]);
    let w = s.withdraw("A", &p, &[vb.id()]);
    let vc = s.vote("C", &p, YES, &[tip, w.id()]);
    let c = s.close("A", &p, &[]);
    let st = s.derive();
    assert_refused(&st, &not_author, Refusal::NotProposer);
    assert_refused(&st, &vc, Refusal::ProposalEnded);
    assert_refused(&st, &c, Refusal::ProposalEnded);
    assert_eq!(st.rejected.len(), 3, "{:?}", st.rejected);
    let ps = prop(&st, &p);
    assert_eq!(ps.status, Status::Withdrawn);
    assert!(ps.certificate.is_none());
    assert!(ps.closes.is_empty());
}

// 7. Electorates and constitution changes.

#[test]
fn role_electorate_refuses_members_without_the_role() {
    let (mut s, _) = group_of(&["A", "B", "C", "D"], Constitution::default());
    s.role("A", "B", "moderator", true, &[]);
    s.role("A", "C", "moderator", true, &[]);
    let mut pm = proposal("majority", &[]);
    pm.electorate = Electorate::Role("moderator".into());
    let p = s.propose("A", pm, &[]);
    let vb = s.vote("B", &p, YES, &[]);
    let vc = s.vote("C", &p, NO, &[]);
    let vd = s.vote("D", &p, YES, &[]);
    let va = s.vote("A", &p, YES, &[]);
    let c = s.close("A", &p, &ids(&[&vb, &vc, &vd]));
    let mut unknown = proposal("majority", &[]);
    unknown.electorate = Electorate::Role("treasurer".into());
    let bad = s.propose("A", unknown, &[]);
    let st = s.derive();
    let why = Refusal::NotInElectorate("role:moderator".into());
    assert_refused(&st, &vd, why.clone());
    assert_refused(&st, &va, why.clone());
    assert_refused(&st, &bad, Refusal::UnknownRole("treasurer".into()));
    assert_eq!(st.rejected.len(), 3, "{:?}", st.rejected);
    assert_closed(&st, &p, &c, &[1, 1, 0], Some(false), &[]);
    let ct = cert(&st, &p);
    assert_eq!((ct.electorate, ct.voters), (2, 2));
    let mut void = ct.void.clone();
    void.sort_by_key(|v| v.event);
    let mut expected = vec![void_of(&vd, &why), void_of(&va, &why)];
    expected.sort_by_key(|v| v.event);
    assert_eq!(void, expected);
}

#[test]
fn constitution_changes_by_vote() {
    let c0 = Constitution {
        amend: Rule::Vote,
        ..Constitution::default()
    };
    assert_eq!(c0.vote, Method::default());
    assert_eq!(c0.vote.to_text(), "majority:threshold=2/3,quorum=1/2");
    let new = Constitution {
        invite: Rule::Role("admin".into()),
        credits: 50,
        ..c0.clone()
    };
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], c0.clone());
    let amend = |c: &Constitution| Payload::Amend(c.clone()).encode();

    // Directly: refused, the constitution puts it to a vote.
    let direct = s.write("A", Payload::Amend(new.clone()), &[], T);
    // By a proposal with another method: refused.
    let mut other = proposal("majority", &[]);
    other.action = amend(&new);
    let bad = s.propose("B", other, &[tip]);

    // One that fails (2 of 4 for): nothing changes.
    let mut fails = proposal("majority", &[]);
    fails.method = Method::default();
    fails.action = amend(&Constitution {
        credits: 10,
        ..c0.clone()
    });
    let pf = s.propose("A", fails, &[]);
    let mut vf = Vec::new();
    for (who, b) in [("A", YES), ("B", YES), ("C", NO), ("D", NO)] {
        vf.push(s.vote(who, &pf, b, &[tip]));
    }
    let cf = s.close("A", &pf, &ids(&vf.iter().collect::<Vec<_>>()));

    // One that passes (3 of 4): the close enacts it.
    let mut passes = proposal("majority", &[]);
    passes.method = Method::default();
    passes.action = amend(&new);
    let pp = s.propose("A", passes, &[]);
    // An invite by B before the close is judged by the old constitution.
    let (before, _) = s.invite("B", 1, NEVER, &[tip]);
    let mut vp = Vec::new();
    for (who, b) in [("A", YES), ("B", YES), ("C", YES), ("D", NO)] {
        vp.push(s.vote(who, &pp, b, &[tip]));
    }
    let cp = s.close("A", &pp, &ids(&vp.iter().collect::<Vec<_>>()));
    // After it, by the new one: only admins invite.
    let (after, _) = s.invite("B", 1, NEVER, &[cp.id()]);

    let st = s.derive();
    assert_refused(
        &st,
        &direct,
        Refusal::NeedsDecision("amend the constitution"),
    );
    assert!(
        matches!(refusal(&st, &bad), Some(Refusal::BadAction(m)) if m.contains("majority:threshold=2/3,quorum=1/2")),
        "{:?}",
        refusal(&st, &bad)
    );
    assert_valid(&st, &before);
    assert_refused(
        &st,
        &after,
        Refusal::NoRight {
            action: "invite",
            rule: "role:admin".into(),
        },
    );
    assert_eq!(st.rejected.len(), 3, "{:?}", st.rejected);

    assert_closed(&st, &pf, &cf, &[2, 2, 0], Some(false), &[]);
    assert!(!prop(&st, &pf).enacted);
    assert_closed(&st, &pp, &cp, &[3, 1, 0], Some(true), &[]);
    assert!(prop(&st, &pp).enacted);
    assert_eq!(st.constitution, new);
    assert_order_independent(&s, &st);
}

#[test]
fn a_failed_constitution_vote_leaves_it_in_force() {
    let c0 = Constitution {
        amend: Rule::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C"], c0.clone());
    let mut pa = proposal("majority", &[]);
    pa.method = Method::default();
    pa.action = Payload::Amend(Constitution {
        credits: 1,
        ..c0.clone()
    })
    .encode();
    let p = s.propose("A", pa, &[]);
    // Unanimous, but 1 of 3 misses the quorum.
    let v = s.vote("A", &p, YES, &[tip]);
    let c = s.close("A", &p, &[v.id()]);
    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &p, &c, &[1, 0, 0], Some(false), &[]);
    assert!(!cert(&st, &p).outcome.quorum_met);
    assert!(!prop(&st, &p).enacted);
    assert_eq!(st.constitution, c0);
}

#[test]
fn a_removal_by_vote_cuts_the_member_at_what_the_close_saw() {
    let c0 = Constitution {
        removal: Rule::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], c0);
    // A direct removal is refused: the rules put it to a vote.
    let direct = s.remove("A", "D", 0, &[tip]);
    let mut pa = proposal("majority", &[]);
    pa.method = Method::default();
    pa.action = Payload::Remove {
        member: s.key("D"),
        seen: 0,
        reason: "kept leaking minutes".into(),
    }
    .encode();
    let p = s.propose("A", pa, &[tip]);
    // D posts while the vote runs (seen by the close), and votes against.
    let before = s.post("D", "please reconsider", &[p.id()]);
    let mut votes = Vec::new();
    for (who, b) in [("A", YES), ("B", YES), ("C", YES), ("D", NO)] {
        votes.push(s.vote(who, &p, b, &[tip, before.id()]));
    }
    let c = s.close("A", &p, &ids(&votes.iter().collect::<Vec<_>>()));
    // D keeps writing after the close: void by the cut, whatever it cites.
    let after = s.post("D", "still here", &[tip]);
    let st = s.derive();
    assert_refused(&st, &direct, Refusal::NeedsDecision("remove members"));
    assert_closed(&st, &p, &c, &[3, 1, 0], Some(true), &[]);
    assert!(prop(&st, &p).enacted);
    assert!(!st.is_member(&s.key("D")));
    let r = &st.removed[&s.key("D")];
    assert_eq!(
        (r.event, r.by, r.reason.as_str()),
        (c.id(), s.key("A"), "kept leaking minutes")
    );
    assert_eq!(
        r.cut,
        s.count("D") - 1,
        "the cut is what the close saw of D"
    );
    assert_valid(&st, &before);
    assert!(matches!(
        refusal(&st, &after),
        Some(Refusal::AfterRemoval { .. })
    ));
    assert_order_independent(&s, &st);
}

#[test]
fn members_co_sign_the_certificate_and_a_different_digest_shows() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[tip]);
    let v = s.vote("B", &p, YES, &[tip]);
    // Attesting before the close is in one's past is refused.
    let early = s.attest("C", &p, [1; 32], &[p.id()]);
    let c = s.close("A", &p, &[v.id()]);
    let digest = cert(&s.derive(), &p).digest();
    let ok = s.attest("B", &p, digest, &[c.id()]);
    let other = s.attest("C", &p, [9; 32], &[c.id()]);
    let st = s.derive();
    assert_refused(&st, &early, Refusal::NotClosed);
    assert_valid(&st, &ok);
    assert_valid(&st, &other);
    let att = &prop(&st, &p).attestations;
    assert_eq!(att.len(), 2);
    assert_eq!(att[&s.key("B")], digest);
    assert_eq!(att[&s.key("C")], [9; 32], "a dispute is kept, not hidden");
    assert_eq!(
        cert(&st, &p).digest(),
        digest,
        "attestations never change the count"
    );
    assert_order_independent(&s, &st);
}

#[test]
fn an_admission_by_vote_makes_the_newcomer_a_member_at_the_close() {
    let c0 = Constitution {
        admission: Admission::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A"], c0);
    // With admission by vote, group_of's direct admissions would be refused: admit B and C
    // by decision too, one at a time.
    let (invite, key) = s.invite("A", 3, NEVER, &[tip]);
    let join_b = s.join("B", &invite, &key);
    let direct = s.admit("A", &join_b, &[], T);
    let admit_b = |s: &mut Scenario, join: &VerifiedEvent| {
        let mut pa = proposal("majority", &[]);
        pa.method = Method::default();
        pa.action = Payload::Admit {
            member: join.header().author,
            join: join.id(),
        }
        .encode();
        s.propose("A", pa, &[join.id()])
    };
    let p = admit_b(&mut s, &join_b);
    let v = s.vote("A", &p, YES, &[]);
    let c = s.close("A", &p, &[v.id()]);
    // A join the close did not see is not admitted, even if the vote passes.
    let join_c = s.join("C", &invite, &key);
    let q = {
        let mut pa = proposal("majority", &[]);
        pa.method = Method::default();
        pa.action = Payload::Admit {
            member: join_c.header().author,
            join: join_c.id(),
        }
        .encode();
        // Proposed citing only B's admission: C's join is not in its past, nor in the close's.
        s.propose("A", pa, &[c.id()])
    };
    let vq = s.vote("A", &q, YES, &[]);
    let vq2 = s.vote("B", &q, YES, &[q.id(), c.id()]);
    let cq = s.close("A", &q, &[vq.id(), vq2.id()]);
    let st = s.derive();
    assert_refused(&st, &direct, Refusal::NeedsDecision("admit members"));
    assert!(prop(&st, &p).enacted);
    assert!(st.is_member(&s.key("B")));
    assert!(st.members[&s.key("B")].admitted_by.contains(&s.key("A")));
    assert_closed(&st, &q, &cq, &[2, 0, 0], Some(true), &[]);
    assert!(
        !prop(&st, &q).enacted,
        "the join was not in the close's past"
    );
    assert!(!st.is_member(&s.key("C")));
    assert!(st.pending.contains_key(&s.key("C")));
    assert_order_independent(&s, &st);
}

#[test]
fn a_member_who_forks_its_log_has_no_vote() {
    let (mut s, tip) = group_of(&["A", "B", "C"], Constitution::default());
    let p = s.propose("A", proposal("majority", &[]), &[tip]);
    // B signs two different votes at the same position of its log.
    let saved = s.authors["B"].clone();
    let yes = s.vote("B", &p, YES, &[tip]);
    s.authors.insert("B", saved);
    let no = s.vote("B", &p, NO, &[tip]);
    assert_eq!(yes.header().seq, no.header().seq);
    assert_ne!(yes.id(), no.id());
    let va = s.vote("A", &p, YES, &[tip]);
    let c = s.close("A", &p, &[yes.id(), no.id(), va.id()]);
    let st = s.derive();
    assert_closed(&st, &p, &c, &[1, 0, 0], Some(true), &[]);
    let void = &cert(&st, &p).void;
    assert_eq!(void.len(), 2, "{void:?}");
    assert!(void.iter().all(|v| v.reason.contains("forked its log")));
    assert_eq!(cert(&st, &p).voters, 1);
    assert_order_independent(&s, &st);
}

// 8. Order independence.

/// One step of a random scenario: (actor, action, argument, which recent events to cite).
type Step = (usize, u8, u8, u16);

const NAMES: [&str; 4] = ["A", "B", "C", "D"];

/// A group of four with two proposals (a majority vote with a quorum; a plurality vote on a
/// topic with a deadline), then `steps` of votes, changed votes, delegations at every scope,
/// early closes, a removal and chatter, each citing some of the recent events. At the end, B
/// and C close the plurality vote concurrently and A closes the majority vote, each citing the
/// heads of the logs chosen by the bits of `finale`.
fn random_scenario(steps: &[Step], finale: u16) -> Scenario {
    let (mut s, tip) = group_of(&NAMES, Constitution::default());
    let p1 = s.propose("A", proposal("majority:quorum=1/2", &[]), &[]);
    let mut pd = proposal("plurality", &["x", "y", "z"]);
    pd.deadline = DEADLINE;
    pd.topic = "housing".into();
    let p2 = s.propose("B", pd, &[tip]);
    let props = [p1, p2];
    let mut written: Vec<EventId> = Vec::new();
    let mut removed = false;
    for &(actor, action, arg, cite) in steps {
        let by = NAMES[actor % NAMES.len()];
        let p = &props[usize::from(arg % 2)];
        // Cite up to 12 of the most recent events (an event has at most 16 deps).
        let mut deps: Vec<EventId> = written
            .iter()
            .rev()
            .take(12)
            .enumerate()
            .filter(|(i, _)| cite >> i & 1 == 1)
            .map(|(_, e)| *e)
            .collect();
        deps.extend([tip, props[0].id(), props[1].id()]);
        let ev = match action % 12 {
            0..=3 => {
                let ballot = match arg / 2 % 4 {
                    3 => Ballot::Abstain,
                    b => Ballot::Choice(u32::from(b)),
                };
                s.vote(by, p, ballot, &deps)
            }
            4 | 5 => {
                let to = NAMES[usize::from(arg / 2) % NAMES.len()];
                s.delegate_to(by, to, &deps)
            }
            6 | 7 => {
                let scope = match arg / 2 % 3 {
                    0 => Scope::Proposal(p.id()),
                    1 => Scope::Topic("housing".into()),
                    _ => Scope::Group,
                };
                let target = match arg / 6 % 3 {
                    0 => Target::Nobody,
                    1 => Target::Inherit,
                    _ => Target::To(s.key(NAMES[usize::from(arg / 18) % NAMES.len()])),
                };
                s.delegate(by, scope, target, &deps)
            }
            8 => s.close_at(by, p, &deps, if arg & 4 == 0 { T } else { AFTER }),
            9 if !removed => {
                removed = true;
                // C or D (B wrote p2), its cut at or just below what it wrote so far.
                let who = ["C", "D"][usize::from(arg / 2 % 2)];
                let seen = s.count(who).saturating_sub(u64::from(arg / 4 % 2)).max(1);
                s.remove("A", who, seen, &deps)
            }
            _ => s.post(by, "hm", &deps),
        };
        written.push(ev.id());
    }
    let heads = |s: &Scenario, mask: u16| -> Vec<EventId> {
        s.authors
            .values()
            .enumerate()
            .filter(|(i, _)| mask >> i & 1 == 1)
            .map(|(_, a)| a.logs[&0].0)
            .collect()
    };
    let (mut b, mut c) = (heads(&s, finale), heads(&s, finale >> 4));
    // Evidence of the deadline from someone other than the closers (their own clocks are not).
    let w = s.write("A", Payload::Merge, &[], AFTER).id();
    b.push(w);
    c.push(w);
    s.close_at("B", &props[1], &b, AFTER);
    s.close_at("C", &props[1], &c, AFTER);
    let a = heads(&s, finale >> 8);
    s.close("A", &props[0], &a);
    s
}

/// Derives `s` in the order `seed` shuffles it to and checks the proposals against `reference`.
fn same_in_shuffled_order(
    s: &Scenario,
    reference: &GroupState,
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut rng = seed | 1;
    let mut shuffled = s.events.clone();
    for i in (1..shuffled.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        shuffled.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    let other = GroupState::derive(&s.network, s.group, &shuffled);
    prop_assert_eq!(&reference.proposals, &other.proposals);
    prop_assert_eq!(&reference.rejected, &other.rejected);
    prop_assert_eq!(&reference.spent, &other.spent);
    prop_assert_eq!(&reference.delegations, &other.delegations);
    for (id, p) in &reference.proposals {
        let (Some(a), Some(b)) = (&p.certificate, &other.proposals[id].certificate) else {
            return Err(TestCaseError::fail(format!(
                "proposal {id} lacks a certificate"
            )));
        };
        prop_assert_eq!(a.encode(), b.encode());
        prop_assert_eq!(a.digest(), b.digest());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_delivery_order_gives_the_same_tallies(
        steps in prop::collection::vec((0usize..4, any::<u8>(), any::<u8>(), any::<u16>()), 4..48),
        finale in any::<u16>(),
        seeds in prop::collection::vec(any::<u64>(), 4),
    ) {
        let s = random_scenario(&steps, finale);
        let reference = s.derive();
        prop_assert_eq!(reference.proposals.len(), 2);
        for seed in seeds {
            same_in_shuffled_order(&s, &reference, seed)?;
        }
    }
}

/// Steps from a fixed generator, for the fixed instance below.
fn lcg_steps(seed: u64, n: usize) -> Vec<Step> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x >> 33
    };
    (0..n)
        .map(|_| {
            (
                (next() % 4) as usize,
                (next() % 256) as u8,
                (next() % 256) as u8,
                (next() % 65_536) as u16,
            )
        })
        .collect()
}

/// A fixed instance of the random scenario, chosen because it exercises everything at once:
/// concurrent closes, late and void votes, lost and delegated weight.
#[test]
fn a_busy_scenario_gives_the_same_tallies_in_any_order() {
    let s = random_scenario(&lcg_steps(148, 40), 0x0e72);
    let st = s.derive();
    let ps: Vec<&ProposalState> = st.proposals.values().collect();
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(|p| p.status == Status::Closed));
    let certs: Vec<&Certificate> = ps.iter().map(|p| p.certificate.as_ref().unwrap()).collect();
    assert!(ps.iter().any(|p| p.closes.len() == 2));
    assert!(ps.iter().any(|p| !p.late.is_empty()));
    assert!(certs.iter().any(|c| !c.void.is_empty()));
    assert!(certs.iter().any(|c| !c.lost.is_empty()));
    assert!(certs.iter().any(|c| c.delegated > 0));
    assert_order_independent(&s, &st);
    for seed in 0..16 {
        same_in_shuffled_order(&s, &st, seed).unwrap();
    }
}

/// A proposal, by the constitution's vote method, to grant (or revoke) `role` to `member`.
fn role_proposal(s: &Scenario, member: &str, role: &str, grant: bool) -> Proposal {
    let mut p = proposal("majority", &[]);
    p.method = Method::default();
    p.action = Payload::Role {
        member: s.key(member),
        role: role.into(),
        grant,
    }
    .encode();
    p
}

/// The roles `name` holds in `st`.
fn roles_of(st: &GroupState, s: &Scenario, name: &str) -> Vec<String> {
    st.members
        .get(&s.key(name))
        .map(|m| m.roles.iter().cloned().collect())
        .unwrap_or_default()
}

/// Roles under `amend = vote`: a direct grant is refused; a proposal grants only if it passes,
/// from its close on (an event of the grantee using the role counts only with the close in its
/// past); one for a grantee removed before the close enacts nothing and says why; and the
/// result is the same in any delivery order.
#[test]
fn a_role_by_vote_takes_effect_only_when_the_proposal_passes() {
    let c0 = Constitution {
        amend: Rule::Vote,
        invite: Rule::Role("admin".into()),
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], c0);
    let direct = s.role("A", "C", "admin", true, &[tip]);

    // 2 of 4 for: fails, nothing granted.
    let pf = s.propose("A", role_proposal(&s, "B", "moderator", true), &[tip]);
    let mut vf = Vec::new();
    for (who, b) in [("A", YES), ("B", YES), ("C", NO), ("D", NO)] {
        vf.push(s.vote(who, &pf, b, &[tip]));
    }
    let cf = s.close("A", &pf, &ids(&vf.iter().collect::<Vec<_>>()));

    // 3 of 4 for: passes, C is an admin (who may invite) from the close on.
    let pp = s.propose("A", role_proposal(&s, "C", "admin", true), &[tip]);
    let mut vp = Vec::new();
    for (who, b) in [("A", YES), ("B", YES), ("C", YES), ("D", NO)] {
        vp.push(s.vote(who, &pp, b, &[tip]));
    }
    // C invites before the close is in its past (its own vote is): not an admin yet.
    let (early, _) = s.invite("C", 1, NEVER, &[vp[2].id()]);
    let cp = s.close("A", &pp, &ids(&vp.iter().collect::<Vec<_>>()));
    let (late, _) = s.invite("C", 1, NEVER, &[cp.id()]);

    // A grant to D, who is removed (by the admin, directly) before the close: passes, enacts
    // nothing.
    let pd = s.propose("A", role_proposal(&s, "D", "moderator", true), &[tip]);
    let mut vd = Vec::new();
    for who in ["A", "B", "C"] {
        vd.push(s.vote(who, &pd, YES, &[tip]));
    }
    let removal = s.remove("A", "D", s.count("D"), &ids(&vd.iter().collect::<Vec<_>>()));
    let cd = s.close("A", &pd, &[removal.id()]);

    let st = s.derive();
    assert_refused(&st, &direct, Refusal::NeedsDecision("change roles"));
    assert_closed(&st, &pf, &cf, &[2, 2, 0], Some(false), &[]);
    assert!(!prop(&st, &pf).enacted);
    assert_eq!(prop(&st, &pf).not_enacted, None, "it did not pass");
    assert!(!roles_of(&st, &s, "B").contains(&"moderator".to_owned()));

    assert_closed(&st, &pp, &cp, &[3, 1, 0], Some(true), &[]);
    assert!(prop(&st, &pp).enacted);
    assert_eq!(roles_of(&st, &s, "C"), vec!["admin".to_owned()]);
    assert_refused(
        &st,
        &early,
        Refusal::NoRight {
            action: "invite",
            rule: "role:admin".into(),
        },
    );
    assert_valid(&st, &late);

    assert_eq!(prop(&st, &pd).closes, vec![cd.id()]);
    assert_eq!(cert(&st, &pd).outcome.passed, Some(true));
    assert!(!prop(&st, &pd).enacted);
    let why = prop(&st, &pd).not_enacted.clone().unwrap_or_default();
    assert!(why.contains("not a member"), "{why}");
    assert!(!st.is_member(&s.key("D")));
    assert_order_independent(&s, &st);
}

/// A revocation by vote takes the role away at the close, and a role the constitution drops
/// before the close cannot be granted by it (the action is judged at the close's point).
#[test]
fn a_role_by_vote_is_judged_at_the_close() {
    let c0 = Constitution {
        amend: Rule::Vote,
        roles: vec!["admin".into(), "moderator".into(), "treasurer".into()],
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C"], c0.clone());
    let vote_all = |s: &mut Scenario, p: &VerifiedEvent, deps: &[EventId]| -> Vec<EventId> {
        ["A", "B", "C"]
            .iter()
            .map(|w| s.vote(w, p, YES, deps).id())
            .collect()
    };
    // Revoke A's admin role.
    let pr = s.propose("A", role_proposal(&s, "A", "admin", false), &[tip]);
    let vr = vote_all(&mut s, &pr, &[tip]);
    let cr = s.close("A", &pr, &vr);
    // Grant B treasurer, while an amendment dropping `treasurer` passes first.
    let pt = s.propose("B", role_proposal(&s, "B", "treasurer", true), &[tip]);
    let vt = vote_all(&mut s, &pt, &[tip]);
    let mut pa = proposal("majority", &[]);
    pa.method = Method::default();
    pa.action = Payload::Amend(Constitution {
        roles: vec!["admin".into(), "moderator".into()],
        ..c0
    })
    .encode();
    let pam = s.propose("A", pa, &[tip]);
    let va = vote_all(&mut s, &pam, &[tip]);
    let ca = s.close("A", &pam, &va);
    let mut deps = vt.clone();
    deps.push(ca.id());
    let ct = s.close("B", &pt, &deps);

    let st = s.derive();
    assert_none_refused(&st);
    assert_closed(&st, &pr, &cr, &[3, 0, 0], Some(true), &[]);
    assert!(prop(&st, &pr).enacted);
    assert!(!roles_of(&st, &s, "A").contains(&"admin".to_owned()));
    assert!(prop(&st, &pam).enacted);
    assert_closed(&st, &pt, &ct, &[3, 0, 0], Some(true), &[]);
    assert!(!prop(&st, &pt).enacted);
    let why = prop(&st, &pt).not_enacted.clone().unwrap_or_default();
    assert!(why.contains("treasurer"), "{why}");
    assert!(roles_of(&st, &s, "B").is_empty());
    assert_order_independent(&s, &st);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A role granted by vote, with votes, a failing proposal and a concurrent removal, derives
    /// the same roles, proposals and refusals in any delivery order (causal or not).
    #[test]
    fn a_role_by_vote_is_the_same_in_any_order(seed in any::<u64>(), ayes in 0usize..5) {
        let c0 = Constitution {
            amend: Rule::Vote,
            ..Constitution::default()
        };
        let names = ["A", "B", "C", "D", "E"];
        let (mut s, tip) = group_of(&names, c0);
        let p = s.propose("A", role_proposal(&s, "B", "moderator", true), &[tip]);
        let mut votes = Vec::new();
        for (i, who) in names.iter().enumerate() {
            let b = if i < ayes { YES } else { NO };
            votes.push(s.vote(who, &p, b, &[tip]).id());
        }
        let q = s.propose("C", role_proposal(&s, "E", "moderator", true), &[tip]);
        let vq: Vec<EventId> = names.iter().map(|w| s.vote(w, &q, YES, &[tip]).id()).collect();
        // E is removed concurrently with the vote on its role.
        s.remove("A", "E", s.count("E"), &[tip]);
        s.close("A", &p, &votes);
        s.close("C", &q, &vq);
        let reference = s.derive();
        // A's close has A's removal of E in its past: E's vote is void, four members decide.
        let (yes, no) = (ayes.min(4), 4 - ayes.min(4));
        let passed = yes * 3 >= 2 * (yes + no) && yes > no;
        prop_assert_eq!(prop(&reference, &p).enacted, passed);
        prop_assert_eq!(
            roles_of(&reference, &s, "B").contains(&"moderator".to_owned()),
            passed
        );
        let mut rng = Rng(seed | 1);
        for events in [shuffled(&s.events, &mut rng), topological(&s.events, &mut rng)] {
            let other = GroupState::derive(&s.network, s.group, &events);
            prop_assert_eq!(&reference, &other);
        }
    }
}

// Attacks on roles by vote (review of issue 12).

/// A member granted a role by a close that did not see its concurrent removal, then re-admitted
/// later, comes back without the role: a removal ends every grant it is not in the past of.
/// (Without that rule in `Authority::has_role`, D would be a moderator again.)
#[test]
fn a_role_granted_concurrently_with_a_removal_is_gone_after_a_readmission() {
    let c0 = Constitution {
        amend: Rule::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C", "D"], c0);
    let p = s.propose("A", role_proposal(&s, "D", "moderator", true), &[tip]);
    let votes: Vec<EventId> = ["A", "B", "C"]
        .iter()
        .map(|w| s.vote(w, &p, YES, &[tip]).id())
        .collect();
    // A second admin, C (by vote too), removes D on a branch the close of D's grant does not
    // see: the removal and the grant are concurrent.
    let pc = s.propose("A", role_proposal(&s, "C", "admin", true), &[tip]);
    let vc: Vec<EventId> = ["A", "B", "C", "D"]
        .iter()
        .map(|w| s.vote(w, &pc, YES, &[tip]).id())
        .collect();
    let cc = s.close("A", &pc, &vc);
    let removal = s.remove("C", "D", s.count("D"), &[cc.id()]);
    let mut deps = votes.clone();
    deps.push(cc.id());
    let close = s.close("A", &p, &deps);
    // D asks again and A re-admits it, with both the close and the removal in the past.
    let (invite, key) = s.invite("A", 1, NEVER, &[close.id(), removal.id()]);
    let join = s.join("D", &invite, &key);
    let readmit = s.admit("A", &join, &[close.id(), removal.id()], T);
    // D, back, moderates nothing: an event of D's that needs the role would be refused.
    let st = s.derive();
    assert_none_refused(&st);
    assert_valid(&st, &readmit);
    assert!(st.is_member(&s.key("D")), "D was re-admitted");
    assert!(prop(&st, &p).enacted, "D was a member at the close's point");
    assert_eq!(roles_of(&st, &s, "D"), Vec::<String>::new());
    assert_order_independent(&s, &st);
}

/// The group moves role changes from a vote to the admins while a role vote is open: a close
/// with that amendment in its past enacts nothing (the admins decide now, directly), one
/// concurrent with it is judged by the rules at its own point and enacts.
#[test]
fn a_role_vote_closed_after_roles_went_to_the_admins_enacts_nothing() {
    let c0 = Constitution {
        amend: Rule::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C"], c0.clone());
    let vote_all = |s: &mut Scenario, p: &VerifiedEvent| -> Vec<EventId> {
        ["A", "B", "C"]
            .iter()
            .map(|w| s.vote(w, p, YES, &[tip]).id())
            .collect()
    };
    let late = s.propose("B", role_proposal(&s, "B", "moderator", true), &[tip]);
    let vl = vote_all(&mut s, &late);
    let early = s.propose("C", role_proposal(&s, "C", "moderator", true), &[tip]);
    let ve = vote_all(&mut s, &early);
    // C closes its own proposal before hearing of the amendment.
    let ce = s.close("C", &early, &ve);
    let mut pa = proposal("majority", &[]);
    pa.method = Method::default();
    pa.action = Payload::Amend(Constitution {
        amend: Rule::Role("admin".into()),
        ..c0
    })
    .encode();
    let amend = s.propose("A", pa, &[tip]);
    let va = vote_all(&mut s, &amend);
    let ca = s.close("A", &amend, &va);
    let mut deps = vl.clone();
    deps.push(ca.id());
    let cl = s.close("B", &late, &deps);
    // Now the admin grants directly: that is the rule in force.
    let direct = s.role("A", "B", "moderator", true, &[cl.id()]);

    let st = s.derive();
    assert_none_refused(&st);
    assert!(prop(&st, &amend).enacted);
    assert_eq!(st.constitution.amend, Rule::Role("admin".into()));
    assert_closed(&st, &late, &cl, &[3, 0, 0], Some(true), &[]);
    assert!(!prop(&st, &late).enacted);
    let why = prop(&st, &late).not_enacted.clone().unwrap_or_default();
    assert!(why.contains("no longer allow"), "{why}");
    assert!(prop(&st, &early).enacted, "judged at its own point: {ce:?}");
    assert_eq!(roles_of(&st, &s, "C"), vec!["moderator".to_owned()]);
    assert_valid(&st, &direct);
    assert_eq!(roles_of(&st, &s, "B"), vec!["moderator".to_owned()]);
    assert_order_independent(&s, &st);
}

/// A role vote enacts once: after a later vote revoked the role, closing the first proposal
/// again is refused and grants nothing; and of two concurrent closes, one failing and one
/// passing, only the first in the causal order counts, so the passing one enacts nothing when
/// it comes second.
#[test]
fn a_role_vote_enacts_once() {
    let c0 = Constitution {
        amend: Rule::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C"], c0.clone());
    let vote_all = |s: &mut Scenario, p: &VerifiedEvent, deps: &[EventId]| -> Vec<EventId> {
        ["A", "B", "C"]
            .iter()
            .map(|w| s.vote(w, p, YES, deps).id())
            .collect()
    };
    let grant = s.propose("B", role_proposal(&s, "B", "moderator", true), &[tip]);
    let vg = vote_all(&mut s, &grant, &[tip]);
    let cg = s.close("B", &grant, &vg);
    let revoke = s.propose("A", role_proposal(&s, "B", "moderator", false), &[cg.id()]);
    let vr = vote_all(&mut s, &revoke, &[cg.id()]);
    let cr = s.close("A", &revoke, &vr);
    let again = s.close("B", &grant, &[cr.id()]);
    let st = s.derive();
    assert_refused(&st, &again, Refusal::AlreadyClosed(cg.id()));
    assert!(prop(&st, &grant).enacted && prop(&st, &revoke).enacted);
    assert_eq!(roles_of(&st, &s, "B"), Vec::<String>::new());
    assert_order_independent(&s, &st);

    // Two closes after the deadline, concurrent: C's saw only the no votes, D's only the yes
    // votes. Pad C's log until C's failing close sorts first.
    for pad in 0..32 {
        let (mut s, tip) = group_of(&["A", "B", "C", "D", "E"], c0.clone());
        let mut pd = role_proposal(&s, "E", "moderator", true);
        pd.deadline = DEADLINE;
        let p = s.propose("A", pd, &[tip]);
        let no: Vec<EventId> = ["B", "C"]
            .iter()
            .map(|w| s.vote(w, &p, NO, &[tip]).id())
            .collect();
        let yes: Vec<EventId> = ["A", "D", "E"]
            .iter()
            .map(|w| s.vote(w, &p, YES, &[tip]).id())
            .collect();
        let w = s.write("B", Payload::Merge, &no, AFTER);
        for i in 0..pad {
            s.post("C", &format!("pad {i}"), &[tip]);
        }
        let mut seen = no.clone();
        seen.push(w.id());
        let failing = s.close_at("C", &p, &seen, AFTER);
        let mut seen = yes.clone();
        seen.push(w.id());
        let passing = s.close_at("D", &p, &seen, AFTER);
        let order = causal::order_events(&s.events);
        let pos = |e: &VerifiedEvent| order.iter().position(|i| s.events[*i].id() == e.id());
        if pos(&failing) > pos(&passing) {
            continue;
        }
        let st = s.derive();
        assert_refused(&st, &passing, Refusal::AlreadyClosed(failing.id()));
        assert_eq!(cert(&st, &p).outcome.passed, Some(false));
        assert!(!prop(&st, &p).enacted);
        assert_eq!(roles_of(&st, &s, "E"), Vec::<String>::new());
        assert_order_independent(&s, &st);
        return;
    }
    panic!("no padding puts the failing close first");
}

/// A member who writes the proposal payload itself (no operation checking it) gets the same
/// refusal from every node for a role the constitution lacks, a method other than the
/// constitution's, an electorate other than every member, or an action no proposal may enact;
/// a grant to someone who is no member is accepted as a proposal but enacts nothing.
#[test]
fn a_hand_made_role_proposal_is_refused_as_every_node_would() {
    let c0 = Constitution {
        amend: Rule::Vote,
        ..Constitution::default()
    };
    let (mut s, tip) = group_of(&["A", "B", "C"], c0);
    let unknown = s.propose("B", role_proposal(&s, "B", "landlord", true), &[tip]);
    let mut m = role_proposal(&s, "B", "admin", true);
    m.method = Method::parse("consent").unwrap();
    let method = s.propose("B", m, &[tip]);
    let mut e = role_proposal(&s, "B", "admin", true);
    e.electorate = Electorate::Role("moderator".into());
    let electorate = s.propose("B", e, &[tip]);
    let mut k = role_proposal(&s, "B", "admin", true);
    k.action = Payload::Post {
        text: "not an act".into(),
    }
    .encode();
    let kind = s.propose("B", k, &[tip]);
    let mut g = role_proposal(&s, "B", "admin", true);
    g.action = vec![0xff, 0x00, 0x13];
    let garbage = s.propose("B", g, &[tip]);
    // A stranger's key: a proposal, but nothing to enact.
    let mut x = role_proposal(&s, "B", "admin", true);
    x.action = Payload::Role {
        member: identity_of("Z").public(),
        role: "admin".into(),
        grant: true,
    }
    .encode();
    let stranger = s.propose("B", x, &[tip]);
    let vs: Vec<EventId> = ["A", "B", "C"]
        .iter()
        .map(|w| s.vote(w, &stranger, YES, &[tip]).id())
        .collect();
    let cs = s.close("B", &stranger, &vs);

    let st = s.derive();
    assert_refused(&st, &unknown, Refusal::UnknownRole("landlord".into()));
    for ev in [&method, &electorate, &kind, &garbage] {
        assert!(
            matches!(refusal(&st, ev), Some(Refusal::BadAction(_))),
            "{:?}",
            refusal(&st, ev)
        );
        assert!(!st.proposals.contains_key(&ev.id()));
    }
    assert_closed(&st, &stranger, &cs, &[3, 0, 0], Some(true), &[]);
    assert!(!prop(&st, &stranger).enacted);
    assert!(!st.is_member(&identity_of("Z").public()));
    assert_eq!(roles_of(&st, &s, "B"), Vec::<String>::new());
    assert_order_independent(&s, &st);
}
