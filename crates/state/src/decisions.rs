//! Collective decisions as derived state: proposals, votes, delegations, closes and the tally
//! certificates they produce.
//!
//! Decisions are a domain of the causal-order pass ([`crate::pass`]): whether a vote counts
//! depends on who was a member at the vote's causal point (read through [`Cx`]), and a passed
//! proposal enacts a change of authority (an amendment, a role change, a removal, an admission)
//! that it returns as an [`Act`] for the pass to record.
//!
//! Rules (see DESIGN.md, "Authority under concurrency", and `docs/decisions.md`):
//!
//! * **Proposals, openings, revisions, withdrawals and closes are control events**: each gets a
//!   bit, so "was voting open at this vote", "was it closed" are exact causal-past questions.
//! * **A vote counts** if, at its causal point, the proposal was open for voting and not closed
//!   or withdrawn, the author was in the electorate, and the ballot fits the frozen text; *and*
//!   it is in the close's causal past, is the author's latest such vote (by its own log order),
//!   and the author is still in the electorate at the close. A vote from someone removed before
//!   the close is void (listed in the certificate).
//! * **Timestamps decide nothing** on their own. Members other than the author may close after
//!   the deadline only with evidence from someone else: the close's causal past must hold an
//!   event of another member dated at or after the deadline ([`Refusal::NoDeadlineEvidence`]).
//!   A backdated vote that is not in the close's past does not count; one that is counts,
//!   whatever its timestamp says.
//! * **The first close wins.** Of several closes of one proposal, the first in the canonical
//!   causal order (predecessors first, ties by event id) is the one whose past counts; the others
//!   are refused and, if they were concurrent with it, listed in [`ProposalState::closes`] so
//!   the group sees it (the certificate depends only on the counting close's past). A vote in a concurrent close's past but not the winner's does not count.
//! * **Delegation** is resolved at the close over the close's causal past: for each member the
//!   latest delegation per scope (by its own log order), the most specific scope that says
//!   anything wins (proposal, then topic, then group), then [`dualpower_decide::liquid`].
//! * **Attestations**: members' nodes co-sign the certificate digest they computed once the
//!   close is in their past; the latest attestation of each member is kept.
//! * **Quadratic budgets** are per member per period and checked along the member's own log,
//!   where a replaced vote gives its credits back.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use dualpower_core::decision::{
    Ballot, Electorate, MethodKind, Proposal, ProposalText, Scope, Target,
};
use dualpower_core::payload::{Admission, Constitution, Rule};
use dualpower_core::{EventId, Payload, PublicKey};
use dualpower_decide::certificate::{Certificate, LostWeight, VoidVote};
use dualpower_decide::liquid::{self, Holder, Lost};
use dualpower_decide::{Cast, Input};

use crate::authority::{Act, Authority, Bits, Cx};
use crate::domain::{Domain, Effect};
use crate::refusal::Refusal;

/// Longest delegation chain that carries weight.
pub const MAX_CHAIN: u32 = 8;

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Open for discussion; the author may revise it.
    Discussion,
    /// Open for voting.
    Voting,
    /// Closed: the certificate is final.
    Closed,
    /// Withdrawn by its author.
    Withdrawn,
}

impl Status {
    /// A word for people.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Discussion => "discussion",
            Status::Voting => "voting",
            Status::Closed => "closed",
            Status::Withdrawn => "withdrawn",
        }
    }
}

/// A member's standing vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentVote {
    /// The vote event.
    pub event: EventId,
    /// The ballot.
    pub ballot: Ballot,
    /// The reason given.
    pub reason: String,
}

/// Who carries a member's weight on a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightHolder {
    /// A voter, `depth` delegation hops away.
    Voter {
        /// The voter.
        voter: PublicKey,
        /// Hops.
        depth: u32,
    },
    /// Nobody: the weight is lost, for this reason (`cycle`, `dead-end`, `ineligible`,
    /// `too-deep`), at this member where known.
    Lost {
        /// Why.
        reason: String,
        /// Where the chain broke.
        at: Option<PublicKey>,
    },
}

/// A proposal as of the whole event set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalState {
    /// The proposal event.
    pub id: EventId,
    /// Its author.
    pub author: PublicKey,
    /// As proposed.
    pub proposal: Proposal,
    /// The text in force: the frozen one once voting opened, else the latest revision.
    pub text: ProposalText,
    /// The event carrying that text.
    pub text_id: EventId,
    /// Where it stands.
    pub status: Status,
    /// Standing votes (the latest valid vote of each member), for display.
    pub votes: BTreeMap<PublicKey, CurrentVote>,
    /// The certificate: final once closed, provisional (as if closed over every event) while
    /// voting.
    pub certificate: Option<Certificate>,
    /// Where delegated weight goes (provisional while voting).
    pub holders: BTreeMap<PublicKey, WeightHolder>,
    /// Valid votes that arrived outside the close's past (they do not count).
    pub late: Vec<EventId>,
    /// The close events: the one that counts first, then concurrent ones.
    pub closes: Vec<EventId>,
    /// Whether its action (e.g. a constitution change) took effect.
    pub enacted: bool,
    /// Why a proposal that passed did not enact its action (e.g. the member was no longer a
    /// member at the close); `None` if it enacted it, did not pass, or carries no action.
    pub not_enacted: Option<String>,
    /// The proposal's own timestamp (ms, advisory: what its author's clock said).
    pub timestamp: u64,
    /// Quadratic voting: the budget period it draws on.
    pub period: [u8; 32],
    /// Members' co-signatures of the certificate: the digest each one's node computed (its
    /// latest attestation). One that differs from [`Certificate::digest`] is a dispute.
    pub attestations: BTreeMap<PublicKey, [u8; 32]>,
}

/// Each member's standing delegations, by scope.
pub type Delegations = BTreeMap<PublicKey, BTreeMap<Scope, Target>>;

/// Voice credits spent by a member in a period, per proposal.
pub type Spent = BTreeMap<(PublicKey, [u8; 32]), BTreeMap<EventId, u64>>;

struct VoteRec {
    id: EventId,
    /// Its control bit: an accepted vote is a control event, so whether it is in a close's
    /// past is a bit test rather than a walk over the voting period.
    bit: usize,
    author: PublicKey,
    ballot: Ballot,
    reason: String,
}

/// One member's delegations: in the order recorded, and by scope (a close asks for the latest
/// of each scope, and must not scan every delegation the member ever made).
#[derive(Default)]
struct Delegs {
    recs: Vec<DelegRec>,
    by_scope: BTreeMap<Scope, Vec<usize>>,
}

struct DelegRec {
    id: EventId,
    /// Its control bit: a delegation is a control event, so "is it in this close's past" is a
    /// bit test however old it is.
    bit: usize,
    scope: Scope,
    target: Target,
}

struct Prop {
    author: PublicKey,
    idx: Option<usize>,
    /// Quadratic voting: the budget period this proposal draws on.
    period: [u8; 32],
    p: Proposal,
    /// Revisions: (event, bit, text), in causal order.
    revisions: Vec<(EventId, usize, ProposalText)>,
    /// The accepted opening: (bit, text event).
    open: Option<(Option<usize>, EventId)>,
    withdrawn: Option<usize>,
    /// Valid close: (event, bit).
    close: Option<(EventId, usize)>,
    concurrent: Vec<EventId>,
    votes: Vec<VoteRec>,
    /// Votes in the counting close's past.
    in_close: HashSet<EventId>,
    void: Vec<(EventId, String)>,
    certificate: Option<Certificate>,
    holders: BTreeMap<PublicKey, WeightHolder>,
    enacted: bool,
    /// Why a passed proposal's action did not take effect at its close.
    not_enacted: Option<String>,
    /// The proposal event's advisory timestamp.
    timestamp: u64,
    attestations: BTreeMap<PublicKey, [u8; 32]>,
}

/// The decision bookkeeping of one membership pass.
#[derive(Default)]
pub(crate) struct Book {
    props: BTreeMap<EventId, Prop>,
    delegs: HashMap<PublicKey, Delegs>,
    /// Quadratic budgets: (member, period) → proposal → credits spent.
    spent: HashMap<(PublicKey, [u8; 32]), BTreeMap<EventId, u64>>,
    /// Which proposal a marker event belongs to, so its bit can be recorded.
    pending_mark: HashMap<EventId, (EventId, MarkKind)>,
    /// The author of a delegation waiting for its bit.
    pending_deleg: HashMap<EventId, PublicKey>,
    /// Proposals changed since [`Book::take_changes`] was last called.
    dirty: BTreeSet<EventId>,
    /// Who had a delegation accepted since then.
    delegated: BTreeSet<PublicKey>,
}

#[derive(Clone, Copy)]
enum MarkKind {
    Propose,
    Revise,
    Open,
    Withdraw,
    Close,
    Vote,
}

fn in_electorate(auth: &Authority, e: &Electorate, who: &PublicKey, at: &Bits) -> bool {
    auth.is_member(who, at)
        && match e {
            Electorate::Members => true,
            Electorate::Role(r) => auth.has_role(who, r, at),
        }
}

/// The tie-break key of option `i` of a proposal: a hash, so option order alone never decides.
pub fn tiebreak_key(proposal: &EventId, i: usize) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("dualpower option tiebreak v1");
    h.update(&proposal.0);
    h.update(&(i as u32).to_le_bytes());
    *h.finalize().as_bytes()
}

impl Prop {
    fn open_at(&self, at: &Bits) -> bool {
        self.p.voting || self.open.is_some_and(|(i, _)| i.is_some_and(|i| at.has(i)))
    }
    fn closed_at(&self, at: &Bits) -> bool {
        self.close.is_some_and(|(_, i)| at.has(i))
    }
    fn withdrawn_at(&self, at: &Bits) -> bool {
        self.withdrawn.is_some_and(|i| at.has(i))
    }
    fn text_of(&self, id: &EventId, text_id: &EventId) -> Option<&ProposalText> {
        if text_id == id {
            return Some(&self.p.text);
        }
        self.revisions
            .iter()
            .find(|(r, _, _)| r == text_id)
            .map(|(_, _, t)| t)
    }
    /// The text voted on: the one the opening froze, else the proposal's own.
    fn frozen_text(&self, id: &EventId) -> &ProposalText {
        match self.open {
            Some((_, t)) => self.text_of(id, &t).unwrap_or(&self.p.text),
            None => &self.p.text,
        }
    }

    /// The number of options voted on and their costs.
    fn frozen(&self, id: &EventId) -> (usize, Vec<u64>) {
        let costs = self.frozen_text(id).costs(&self.p.method);
        (costs.len(), costs)
    }
}

impl Book {
    /// A proposal to change, marked as changed.
    fn prop_mut(&mut self, proposal: &EventId) -> Option<&mut Prop> {
        let p = self.props.get_mut(proposal)?;
        self.dirty.insert(*proposal);
        Some(p)
    }

    /// The proposals changed, and who had a delegation accepted, since the last call.
    pub(crate) fn take_changes(&mut self) -> (BTreeSet<EventId>, BTreeSet<PublicKey>) {
        (
            std::mem::take(&mut self.dirty),
            std::mem::take(&mut self.delegated),
        )
    }

    fn prop_at<'a>(&'a self, proposal: &EventId, past: &Bits) -> Result<&'a Prop, Refusal> {
        match self.props.get(proposal) {
            Some(p) if p.idx.is_some_and(|i| past.has(i)) => Ok(p),
            _ => Err(Refusal::UnknownProposal(*proposal)),
        }
    }

    /// A proposal. Returns the act to record (a marker).
    pub(crate) fn propose(&mut self, cx: &Cx<'_>, p: Proposal) -> Result<Act, Refusal> {
        let c = cx.auth.constitution_at(cx.past);
        if let Electorate::Role(r) = &p.electorate
            && !c.roles.contains(r)
        {
            return Err(Refusal::UnknownRole(r.clone()));
        }
        if !p.action.is_empty() {
            check_action(c, &p)?;
        }
        // The quadratic budget period is fixed by the proposal's own point and timestamp.
        let period: [u8; 32] = if c.credit_period_days == 0 {
            cx.id.0
        } else {
            let n = cx.timestamp / c.credit_period_days.saturating_mul(86_400_000).max(1);
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&n.to_be_bytes());
            k
        };
        self.dirty.insert(cx.id);
        self.props.insert(
            cx.id,
            Prop {
                author: cx.author,
                idx: None,
                period,
                p,
                revisions: Vec::new(),
                open: None,
                withdrawn: None,
                close: None,
                concurrent: Vec::new(),
                votes: Vec::new(),
                in_close: HashSet::new(),
                void: Vec::new(),
                certificate: None,
                holders: BTreeMap::new(),
                enacted: false,
                not_enacted: None,
                timestamp: cx.timestamp,
                attestations: BTreeMap::new(),
            },
        );
        self.pending_mark.insert(cx.id, (cx.id, MarkKind::Propose));
        Ok(Act::Marker)
    }

    pub(crate) fn revise(
        &mut self,
        cx: &Cx<'_>,
        proposal: EventId,
        text: ProposalText,
    ) -> Result<Act, Refusal> {
        let p = self.prop_at(&proposal, cx.past)?;
        if p.author != cx.author {
            return Err(Refusal::NotProposer);
        }
        if p.open_at(cx.past) || p.open.is_some() {
            return Err(Refusal::VotingOpen);
        }
        if p.withdrawn.is_some() || p.close.is_some() {
            return Err(Refusal::ProposalEnded);
        }
        let check = Proposal {
            text: text.clone(),
            ..p.p.clone()
        };
        check
            .check()
            .map_err(|e| Refusal::Undecodable(e.to_string()))?;
        if let Some(p) = self.prop_mut(&proposal) {
            p.revisions.push((cx.id, usize::MAX, text));
        }
        self.pending_mark
            .insert(cx.id, (proposal, MarkKind::Revise));
        Ok(Act::Marker)
    }

    pub(crate) fn open(
        &mut self,
        cx: &Cx<'_>,
        proposal: EventId,
        text: EventId,
    ) -> Result<Act, Refusal> {
        let p = self.prop_at(&proposal, cx.past)?;
        if p.author != cx.author {
            return Err(Refusal::NotProposer);
        }
        if p.p.voting || p.open.is_some() {
            return Err(Refusal::VotingOpen);
        }
        if p.withdrawn.is_some() || p.close.is_some() {
            return Err(Refusal::ProposalEnded);
        }
        let known = text == proposal
            || p.revisions
                .iter()
                .any(|(r, bit, _)| *r == text && cx.past.has(*bit));
        if !known {
            return Err(Refusal::UnknownProposal(text));
        }
        if let Some(p) = self.prop_mut(&proposal) {
            p.open = Some((None, text));
        }
        self.pending_mark.insert(cx.id, (proposal, MarkKind::Open));
        Ok(Act::Marker)
    }

    pub(crate) fn withdraw(&mut self, cx: &Cx<'_>, proposal: EventId) -> Result<Act, Refusal> {
        let p = self.prop_at(&proposal, cx.past)?;
        if p.author != cx.author {
            return Err(Refusal::NotProposer);
        }
        if p.withdrawn.is_some() || p.close.is_some() {
            return Err(Refusal::ProposalEnded);
        }
        self.pending_mark
            .insert(cx.id, (proposal, MarkKind::Withdraw));
        Ok(Act::Marker)
    }

    /// A member's node co-signs a closed proposal's certificate digest.
    pub(crate) fn attest(
        &mut self,
        cx: &Cx<'_>,
        proposal: EventId,
        digest: [u8; 32],
    ) -> Result<(), Refusal> {
        let p = self.prop_at(&proposal, cx.past)?;
        if !p.closed_at(cx.past) {
            return Err(Refusal::NotClosed);
        }
        if let Some(p) = self.prop_mut(&proposal) {
            p.attestations.insert(cx.author, digest);
        }
        Ok(())
    }

    /// Records the bit a marker event received.
    pub(crate) fn marked(&mut self, id: &EventId, bit: usize) {
        if let Some(who) = self.pending_deleg.remove(id) {
            if let Some(r) = self.delegs.get_mut(&who).and_then(|d| d.recs.last_mut()) {
                r.bit = bit;
            }
            return;
        }
        let Some((proposal, kind)) = self.pending_mark.remove(id) else {
            return;
        };
        let Some(p) = self.prop_mut(&proposal) else {
            return;
        };
        match kind {
            MarkKind::Propose => p.idx = Some(bit),
            MarkKind::Revise => {
                if let Some(r) = p.revisions.iter_mut().find(|(r, _, _)| r == id) {
                    r.1 = bit;
                }
            }
            MarkKind::Open => {
                if let Some(o) = p.open.as_mut() {
                    o.0 = Some(bit);
                }
            }
            MarkKind::Withdraw => p.withdrawn = Some(bit),
            MarkKind::Close => {
                if let Some(c) = p.close.as_mut() {
                    c.1 = bit;
                }
            }
            MarkKind::Vote => {
                if let Some(v) = p.votes.last_mut().filter(|v| v.id == *id) {
                    v.bit = bit;
                }
            }
        }
    }

    pub(crate) fn vote(
        &mut self,
        cx: &Cx<'_>,
        proposal: EventId,
        ballot: Ballot,
        reason: String,
    ) -> Result<Act, Refusal> {
        let verdict = self.judge_vote(cx, &proposal, &ballot, &reason);
        match verdict {
            Ok(spend) => {
                if let Some((key, cost)) = spend {
                    self.spent.entry(key).or_default().insert(proposal, cost);
                }
                if let Some(p) = self.prop_mut(&proposal) {
                    p.votes.push(VoteRec {
                        id: cx.id,
                        bit: usize::MAX,
                        author: cx.author,
                        ballot,
                        reason,
                    });
                }
                self.pending_mark.insert(cx.id, (proposal, MarkKind::Vote));
                Ok(Act::Marker)
            }
            Err(r) => {
                if let Some(p) = self.prop_mut(&proposal) {
                    p.void.push((cx.id, r.to_string()));
                }
                Err(r)
            }
        }
    }

    /// Judges a vote at its point; on success, the quadratic budget entry to record.
    fn judge_vote(
        &self,
        cx: &Cx<'_>,
        proposal: &EventId,
        ballot: &Ballot,
        reason: &str,
    ) -> Result<Option<(BudgetKey, u64)>, Refusal> {
        let p = self.prop_at(proposal, cx.past)?;
        if p.withdrawn_at(cx.past) {
            return Err(Refusal::ProposalEnded);
        }
        if p.closed_at(cx.past) {
            return Err(Refusal::AfterClose);
        }
        if !p.open_at(cx.past) {
            return Err(Refusal::VotingNotOpen);
        }
        if !in_electorate(cx.auth, &p.p.electorate, &cx.author, cx.past) {
            return Err(Refusal::NotInElectorate(p.p.electorate.to_text()));
        }
        let (options, costs) = p.frozen(proposal);
        dualpower_decide::validate(&p.p.method, options, &costs, ballot, reason)
            .map_err(|e| Refusal::BadBallot(e.to_string()))?;
        if !matches!(p.p.method.kind, MethodKind::Quadratic) {
            return Ok(None);
        }
        let c = cx.auth.constitution_at(cx.past);
        let period = p.period;
        let key = (cx.author, period);
        let cost = dualpower_decide::quadratic_cost(ballot);
        let others: u64 = self
            .spent
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(q, _)| *q != proposal)
            .map(|(_, c)| *c)
            .fold(0u64, |a, b| a.saturating_add(b));
        if others.saturating_add(cost) > c.credits {
            return Err(Refusal::Overspent {
                cost,
                left: c.credits.saturating_sub(others),
            });
        }
        Ok(Some((key, cost)))
    }

    pub(crate) fn delegate(
        &mut self,
        cx: &Cx<'_>,
        scope: Scope,
        target: Target,
    ) -> Result<Act, Refusal> {
        if let Scope::Proposal(q) = &scope {
            self.prop_at(q, cx.past)?;
        }
        if target == Target::To(cx.author) {
            return Err(Refusal::DelegateToSelf);
        }
        let d = self.delegs.entry(cx.author).or_default();
        d.by_scope
            .entry(scope.clone())
            .or_default()
            .push(d.recs.len());
        d.recs.push(DelegRec {
            id: cx.id,
            bit: usize::MAX,
            scope,
            target,
        });
        self.pending_deleg.insert(cx.id, cx.author);
        self.delegated.insert(cx.author);
        Ok(Act::Marker)
    }

    /// A close. Returns the act to record: a marker, or the change the proposal enacts.
    pub(crate) fn close(&mut self, cx: &Cx<'_>, proposal: EventId) -> Result<Act, Refusal> {
        let p = self.prop_at(&proposal, cx.past)?;
        // The close's own right comes first, so a close without it is refused for that
        // whatever its place in the order, and never listed as contesting the result.
        if p.withdrawn_at(cx.past) {
            return Err(Refusal::ProposalEnded);
        }
        if !p.open_at(cx.past) {
            return Err(Refusal::VotingNotOpen);
        }
        // Every vote on the proposal (counted, void or late) comes after it in the causal
        // order, so the close's past above the proposal is all its count needs; and accepted
        // votes have bits, so only a deadline witness or void votes need even that walk.
        // A close that already has the counting close in its past is refused before any walk
        // (a flood of such closes must not each cost a walk of the history).
        if let Some((first, bit)) = p.close
            && cx.past.has(bit)
        {
            return Err(Refusal::AlreadyClosed(first));
        }
        let floor = cx.graph.meta(&proposal).map(|m| m.position);
        let walk = || cx.graph.ancestors_above(&cx.id, floor);
        let mut above = None;
        if p.author != cx.author {
            let ancestors = above.insert(walk());
            let deadline = p.p.deadline;
            let after = deadline > 0 && cx.timestamp >= deadline;
            if !after || !in_electorate(cx.auth, &p.p.electorate, &cx.author, cx.past) {
                return Err(Refusal::TooEarlyToClose { deadline });
            }
            // The closer's own clock is not evidence: another member must have dated an event
            // at or after the deadline, and that event must be in the close's past.
            // A void event (forked, past a cut) is no evidence.
            let witness = |m: &crate::graph::Meta| {
                m.author != cx.author
                    && m.timestamp >= deadline
                    && cx.auth.is_member(&m.author, cx.past)
                    && !cx.void(m)
            };
            // Looked for above the proposal first; only when there is none there is the rest
            // of the past walked.
            let witnessed = cx.graph.metas(ancestors).any(witness)
                || cx.graph.metas(&cx.graph.ancestors(&cx.id)).any(witness);
            if !witnessed {
                return Err(Refusal::NoDeadlineEvidence { deadline });
            }
        }
        if let Some((first, bit)) = p.close {
            if !cx.past.has(bit) {
                // Concurrent with the close that counts: flagged, not counted.
                if let Some(p) = self.prop_mut(&proposal) {
                    p.concurrent.push(cx.id);
                }
            }
            return Err(Refusal::AlreadyClosed(first));
        }
        if p.withdrawn.is_some() {
            return Err(Refusal::ProposalEnded);
        }
        let voids = if p.void.is_empty() {
            None
        } else {
            Some(above.take().unwrap_or_else(walk))
        };
        let past = Past::At(cx.past, &|e: &EventId| {
            voids.as_ref().is_some_and(|a| cx.graph.contains(a, e))
        });
        let (cert, holders) = self.conclude(cx.auth, &proposal, p, cx.past, &past, cx.id);
        let passed = cert.outcome.passed == Some(true);
        let (act, not_enacted) = match (passed, p.p.action.is_empty()) {
            (true, false) => match enactment(cx, &proposal, p) {
                Ok(act) => (Some(act), None),
                Err(why) => (None, Some(why)),
            },
            _ => (None, None),
        };
        let enacted = act.is_some();
        if let Some(p) = self.prop_mut(&proposal) {
            p.in_close = p
                .votes
                .iter()
                .filter(|v| cx.past.has(v.bit))
                .map(|v| v.id)
                .collect();
            p.close = Some((cx.id, usize::MAX));
            p.certificate = Some(cert);
            p.holders = holders;
            p.enacted = enacted;
            p.not_enacted = not_enacted;
        }
        self.pending_mark.insert(cx.id, (proposal, MarkKind::Close));
        Ok(act.unwrap_or(Act::Marker))
    }

    /// The certificate of `proposal` over the point `at`, counting the votes in `past`.
    fn conclude(
        &self,
        auth: &Authority,
        proposal: &EventId,
        p: &Prop,
        at: &Bits,
        past: &Past<'_>,
        close: EventId,
    ) -> (Certificate, BTreeMap<PublicKey, WeightHolder>) {
        let members = auth.members_at(at);
        let electorate: std::borrow::Cow<'_, [PublicKey]> = match &p.p.electorate {
            Electorate::Members => members,
            Electorate::Role(r) => members
                .iter()
                .filter(|k| auth.has_role(k, r, at))
                .copied()
                .collect(),
        };
        let (latest, void) = counted_votes(p, &electorate, past);
        let weights = self.weights(p, proposal, &electorate, &latest, at);
        // Voters are few and both lists are in key order: find each voter in the electorate
        // rather than each member among the voters.
        let casts: Vec<Cast<'_>> = latest
            .iter()
            .filter_map(|(k, v)| {
                let i = electorate.binary_search(k).ok()?;
                Some(Cast {
                    weight: weights.res.weight.get(i).copied().unwrap_or(1),
                    ballot: &v.ballot,
                })
            })
            .collect();
        let (options, costs) = p.frozen(proposal);
        let tiebreak: Vec<[u8; 32]> = (0..options).map(|i| tiebreak_key(proposal, i)).collect();
        let outcome = dualpower_decide::tally(&Input {
            method: &p.p.method,
            options,
            costs: &costs,
            tiebreak: &tiebreak,
            electorate: electorate.len() as u64,
            block_override: auth.constitution_at(at).block_override,
            casts: &casts,
        });
        let text_id = p.open.map(|(_, t)| t).unwrap_or(*proposal);
        let mut counted: Vec<EventId> = latest.values().map(|v| v.id).collect();
        counted.sort();
        let mut h = blake3::Hasher::new_derive_key("dualpower tally inputs v1");
        h.update(&proposal.0);
        h.update(&text_id.0);
        h.update(&(counted.len() as u64).to_le_bytes());
        for v in &counted {
            h.update(&v.0);
        }
        h.update(&(weights.used.len() as u64).to_le_bytes());
        for d in &weights.used {
            h.update(&d.0);
        }
        let delegated = weights
            .res
            .weight
            .iter()
            .zip(&weights.voted)
            .filter(|(_, v)| **v)
            .map(|(w, _)| w.saturating_sub(1))
            .sum();
        let cert = Certificate {
            proposal: proposal.0,
            method: p.p.method.to_text(),
            version: dualpower_decide::version(&p.p.method).to_owned(),
            options: p.frozen_text(proposal).labels(&p.p.method),
            inputs: *h.finalize().as_bytes(),
            closes: vec![close.0],
            electorate: electorate.len() as u64,
            voters: latest.len() as u64,
            delegated,
            lost: weights.lost,
            void,
            outcome,
        };
        (cert, weights.holders)
    }

    /// Resolves delegated weight over the electorate (plus delegates outside it).
    fn weights(
        &self,
        p: &Prop,
        proposal: &EventId,
        electorate: &[PublicKey],
        latest: &BTreeMap<PublicKey, &VoteRec>,
        at: &Bits,
    ) -> Weights {
        // The electorate is sorted, so only delegates outside it need an index of their own.
        let mut extra: HashMap<PublicKey, u32> = HashMap::new();
        let mut keys = electorate.to_vec();
        let mut eligible = vec![true; electorate.len()];
        let mut voted = vec![false; electorate.len()];
        for k in latest.keys() {
            if let Ok(i) = electorate.binary_search(k) {
                voted[i] = true;
            }
        }
        let mut target: Vec<Option<u32>> = vec![None; electorate.len()];
        let mut used: Vec<EventId> = Vec::new();
        if p.p.method.allows_delegation() {
            let scopes = Book::scopes(p, proposal);
            for (i, who) in electorate.iter().enumerate() {
                if voted[i] {
                    continue;
                }
                let Some((to, id)) = self.effective(who, &scopes, at) else {
                    continue;
                };
                used.push(id);
                let t = match electorate.binary_search(&to) {
                    Ok(j) => j as u32,
                    Err(_) => *extra.entry(to).or_insert_with(|| {
                        keys.push(to);
                        eligible.push(false);
                        voted.push(false);
                        target.push(None);
                        (keys.len() - 1) as u32
                    }),
                };
                target[i] = Some(t);
            }
        }
        used.sort();
        used.dedup();
        let res = liquid::resolve(&voted, &eligible, &target, MAX_CHAIN);
        let (holders, lost) = holders_of(&res, &keys);
        Weights {
            res,
            voted,
            used,
            holders,
            lost,
        }
    }

    /// The member's effective delegation for a proposal at the point `at`: the most specific
    /// of `scopes` with a say wins. Returns the delegate and the delegation event that decided
    /// it.
    fn effective(
        &self,
        who: &PublicKey,
        scopes: &[Scope],
        at: &Bits,
    ) -> Option<(PublicKey, EventId)> {
        let d = self.delegs.get(who)?;
        let latest = |scope: &Scope| {
            d.by_scope
                .get(scope)?
                .iter()
                .rev()
                .map(|i| &d.recs[*i])
                .find(|r| at.has(r.bit))
        };
        for s in scopes {
            match latest(s) {
                None => {}
                Some(r) => match &r.target {
                    Target::Inherit => {}
                    Target::Nobody => return None,
                    Target::To(k) => return Some((*k, r.id)),
                },
            }
        }
        None
    }

    /// The scopes a delegation for `proposal` may come from, most specific first.
    fn scopes(p: &Prop, proposal: &EventId) -> Vec<Scope> {
        let mut scopes = vec![Scope::Proposal(*proposal)];
        if !p.p.topic.is_empty() {
            scopes.push(Scope::Topic(p.p.topic.clone()));
        }
        scopes.push(Scope::Group);
        scopes
    }

    /// The proposals as of the whole set: final certificates for closed ones, provisional ones
    /// (as if closed over every event) for those still voting.
    pub(crate) fn finish(
        &self,
        auth: &Authority,
        all: &Bits,
    ) -> (BTreeMap<EventId, ProposalState>, Delegations, Spent) {
        let mut out = BTreeMap::new();
        for id in self.props.keys() {
            if let Some(state) = self.proposal_state(auth, all, id) {
                out.insert(*id, state);
            }
        }
        (out, self.delegations(), self.spent())
    }

    /// What [`Book::finish`] gives for proposal `id` (`None` if it was refused).
    pub(crate) fn proposal_state(
        &self,
        auth: &Authority,
        all: &Bits,
        id: &EventId,
    ) -> Option<ProposalState> {
        let id = *id;
        let p = self.props.get(&id)?;
        p.idx?;
        let provisional = (p.close.is_none() && p.withdrawn.is_none() && p.open_at(all))
            .then(|| self.conclude(auth, &id, p, all, &Past::All, id));
        let (certificate, holders) = match provisional {
            Some((mut cert, holders)) => {
                cert.closes.clear();
                (Some(cert), holders)
            }
            None => (p.certificate.clone(), p.holders.clone()),
        };
        let status = if p.close.is_some() {
            Status::Closed
        } else if p.withdrawn.is_some() {
            Status::Withdrawn
        } else if p.open_at(all) {
            Status::Voting
        } else {
            Status::Discussion
        };
        let mut closes: Vec<EventId> = p.close.iter().map(|(c, _)| *c).collect();
        closes.extend(p.concurrent.iter().copied());
        let (text_id, text) = match p.open {
            Some((_, t)) => (t, p.text_of(&id, &t).unwrap_or(&p.p.text).clone()),
            None => match p.revisions.last() {
                Some((r, _, t)) => (*r, t.clone()),
                None => (id, p.p.text.clone()),
            },
        };
        let mut votes = BTreeMap::new();
        for v in &p.votes {
            votes.insert(
                v.author,
                CurrentVote {
                    event: v.id,
                    ballot: v.ballot.clone(),
                    reason: v.reason.clone(),
                },
            );
        }
        let late = match &p.close {
            Some(_) => p
                .votes
                .iter()
                .filter(|v| !p.in_close.contains(&v.id))
                .map(|v| v.id)
                .collect(),
            None => Vec::new(),
        };
        Some(ProposalState {
            id,
            author: p.author,
            proposal: p.p.clone(),
            text,
            text_id,
            status,
            votes,
            certificate,
            holders,
            late,
            closes,
            enacted: p.enacted,
            not_enacted: p.not_enacted.clone(),
            timestamp: p.timestamp,
            period: p.period,
            attestations: p.attestations.clone(),
        })
    }

    /// Every member's standing delegations.
    pub(crate) fn delegations(&self) -> Delegations {
        self.delegs
            .keys()
            .filter_map(|who| Some((*who, self.delegations_of(who)?)))
            .collect()
    }

    /// `who`'s standing delegations, if any.
    pub(crate) fn delegations_of(&self, who: &PublicKey) -> Option<BTreeMap<Scope, Target>> {
        let mut m = BTreeMap::new();
        for r in &self.delegs.get(who)?.recs {
            match r.target {
                Target::Inherit => {
                    m.remove(&r.scope);
                }
                _ => {
                    m.insert(r.scope.clone(), r.target.clone());
                }
            }
        }
        (!m.is_empty()).then_some(m)
    }

    /// Quadratic credits spent.
    pub(crate) fn spent(&self) -> Spent {
        self.spent.iter().map(|(k, v)| (*k, v.clone())).collect()
    }
}

impl Book {
    /// A vote refused before it reached the book (its author was not a member, or was cut):
    /// listed in the certificate as void.
    pub(crate) fn void_vote(&mut self, proposal: &EventId, id: EventId, why: &Refusal) {
        if let Some(p) = self.prop_mut(proposal) {
            p.void.push((id, why.to_string()));
        }
    }
}

/// The past a count is taken over.
enum Past<'a> {
    /// Every event (a provisional count).
    All,
    /// A close's: its control events, and which refused (void) votes it holds.
    At(&'a Bits, &'a dyn Fn(&EventId) -> bool),
}

impl Past<'_> {
    fn has_vote(&self, v: &VoteRec) -> bool {
        match self {
            Past::All => true,
            Past::At(bits, _) => bits.has(v.bit),
        }
    }

    fn has_void(&self, id: &EventId) -> bool {
        match self {
            Past::All => true,
            Past::At(_, void) => void(id),
        }
    }
}

/// A quadratic budget: (member, period).
type BudgetKey = (PublicKey, [u8; 32]);

/// Checks a proposal's action against the constitution `c` (in force at the proposal's point):
/// only what the constitution puts to a vote, by its vote method, decided by every member.
pub fn check_action(c: &Constitution, p: &Proposal) -> Result<(), Refusal> {
    let bad = |why: String| Refusal::BadAction(why);
    let action = Payload::decode(&p.action).map_err(|e| bad(e.to_string()))?;
    if let Payload::Work(dualpower_core::work::Work::Tasks(specs)) = &action {
        // Tasks by decision: a decision of every member by the constitution's method,
        // whoever may also create tasks directly. A method of the author's choosing would let a
        // member outside the task rule pass a proposal with its own vote alone.
        if let Some(t) = specs.iter().find(|t| !c.work.has_domain(&t.domain)) {
            return Err(bad(format!("the group has no domain `{}`", t.domain)));
        }
        if p.method != c.vote {
            return Err(bad(format!(
                "the constitution decides tasks by `{}`, not `{}`",
                c.vote.to_text(),
                p.method.to_text()
            )));
        }
        if p.electorate != Electorate::Members {
            return Err(bad("every member decides the group's tasks".into()));
        }
        return Ok(());
    }
    let rule = match &action {
        Payload::Ledger(
            dualpower_core::ledger::LedgerAct::Limit { .. }
            | dualpower_core::ledger::LedgerAct::Link { .. }
            | dualpower_core::ledger::LedgerAct::Grant { .. },
        ) => c.credit.limits.clone(),
        Payload::Amend(new) => {
            new.check().map_err(|e| bad(e.to_string()))?;
            c.amend.clone()
        }
        Payload::Role { role, .. } => {
            if !c.roles.contains(role) {
                return Err(Refusal::UnknownRole(role.clone()));
            }
            c.amend.clone()
        }
        // The cut of a removal by decision is what the close saw; `seen` is ignored.
        Payload::Remove { .. } => c.removal.clone(),
        Payload::Admit { .. } => match c.admission {
            Admission::Vote => Rule::Vote,
            ref other => Rule::Role(format!("(admission {})", other.to_text())),
        },
        other => {
            return Err(bad(format!(
                "a proposal cannot enact a `{}` event",
                other.kind_name()
            )));
        }
    };
    if rule != Rule::Vote {
        return Err(bad(format!(
            "the constitution lets `{}` do this directly; proposals enact only what it puts to a vote",
            rule.to_text()
        )));
    }
    if p.method != c.vote {
        return Err(bad(format!(
            "the constitution decides this by `{}`, not `{}`",
            c.vote.to_text(),
            p.method.to_text()
        )));
    }
    if !matches!(
        p.method.kind,
        MethodKind::Majority { .. } | MethodKind::Consent
    ) {
        return Err(bad("only a yes/no method can enact a change".into()));
    }
    if p.electorate != Electorate::Members {
        return Err(bad(
            "every member decides changes to the constitution".into()
        ));
    }
    Ok(())
}

/// Delegated weight resolved for one count.
struct Weights {
    res: liquid::Resolution,
    voted: Vec<bool>,
    /// The delegation events that decided where weight went, sorted.
    used: Vec<EventId>,
    holders: BTreeMap<PublicKey, WeightHolder>,
    lost: Vec<LostWeight>,
}

/// The latest vote of each member of `electorate` in the past (`in_past`; votes are recorded in
/// causal order, which follows each author's log), and the void votes with their reasons.
fn counted_votes<'a>(
    p: &'a Prop,
    electorate: &[PublicKey],
    past: &Past<'_>,
) -> (BTreeMap<PublicKey, &'a VoteRec>, Vec<VoidVote>) {
    let mut latest: BTreeMap<PublicKey, &VoteRec> = BTreeMap::new();
    for v in p.votes.iter().filter(|v| past.has_vote(v)) {
        latest.insert(v.author, v);
    }
    let mut void: Vec<VoidVote> = p
        .void
        .iter()
        .filter(|(id, _)| past.has_void(id))
        .map(|(id, r)| VoidVote {
            event: id.0,
            reason: r.clone(),
        })
        .collect();
    latest.retain(|who, v| {
        let ok = electorate.binary_search(who).is_ok();
        if !ok {
            void.push(VoidVote {
                event: v.id.0,
                reason: format!("{who} was no longer in the electorate at the close"),
            });
        }
        ok
    });
    void.sort_by_key(|a| a.event);
    (latest, void)
}

/// Who carries each member's weight, and the weight lost on the way.
fn holders_of(
    res: &liquid::Resolution,
    keys: &[PublicKey],
) -> (BTreeMap<PublicKey, WeightHolder>, Vec<LostWeight>) {
    let mut holders = BTreeMap::new();
    let mut lost = Vec::new();
    for (i, h) in res.holder.iter().enumerate() {
        let Some(&who) = keys.get(i) else {
            continue;
        };
        match h {
            Holder::Own => {}
            Holder::Held { by, depth } => {
                if let Some(voter) = keys.get(*by as usize) {
                    holders.insert(
                        who,
                        WeightHolder::Voter {
                            voter: *voter,
                            depth: *depth,
                        },
                    );
                }
            }
            Holder::Lost(l) => {
                let (reason, at) = match l {
                    Lost::Cycle => ("cycle", None),
                    Lost::DeadEnd { at } => ("dead-end", keys.get(*at as usize).copied()),
                    Lost::Ineligible { at } => ("ineligible", keys.get(*at as usize).copied()),
                    Lost::TooDeep => ("too-deep", None),
                };
                lost.push(LostWeight {
                    member: who.0,
                    reason: reason.into(),
                    at: at.map(|k| k.0),
                });
                holders.insert(
                    who,
                    WeightHolder::Lost {
                        reason: reason.into(),
                        at,
                    },
                );
            }
        }
    }
    (holders, lost)
}

/// The change a passed proposal enacts at its close, if its action is one the constitution in
/// force at the close puts to a vote and still applies there; otherwise why not (in words for
/// people: the close's author and every member see it).
fn enactment(cx: &Cx<'_>, id: &EventId, p: &Prop) -> Result<Act, String> {
    check_action(cx.constitution(), &p.p)
        .map_err(|r| format!("the rules in force at the close no longer allow it ({r})"))?;
    let action = Payload::decode(&p.p.action).map_err(|e| e.to_string())?;
    match action {
        Payload::Work(dualpower_core::work::Work::Tasks(specs)) => Ok(Act::Tasks {
            proposal: *id,
            specs,
        }),
        Payload::Ledger(dualpower_core::ledger::LedgerAct::Limit { member, limit }) => {
            if !cx.is_member(&member) {
                return Err(format!("{member} was not a member at the close"));
            }
            Ok(Act::Limit { member, limit })
        }
        Payload::Ledger(dualpower_core::ledger::LedgerAct::Link { group, terms }) => {
            crate::credit::link_act(cx, group, terms)
        }
        Payload::Ledger(dualpower_core::ledger::LedgerAct::Grant { to, amount, memo }) => {
            if !cx.is_member(&to) {
                return Err(format!("{to} was not a member at the close"));
            }
            Ok(Act::Grant { to, amount, memo })
        }
        Payload::Amend(new) => Ok(Act::Constitution(Box::new(new))),
        Payload::Admit { member, .. } if cx.is_member(&member) => {
            Err(format!("{member} was already a member at the close"))
        }
        Payload::Admit { member, join } => {
            if cx.auth.join_in(&join, &member, cx.past).is_none() {
                return Err(format!(
                    "{member}'s join had not reached the close's author (or was withdrawn)"
                ));
            }
            Ok(Act::Admit {
                member,
                by: p.author,
                invite: None,
                complete: true,
            })
        }
        // A removal by decision cuts the member's log after what the close had seen of it.
        Payload::Remove { member, reason, .. } if cx.is_member(&member) => Ok(Act::Remove {
            member,
            by: cx.author,
            cut: cx.graph.seen_of(&member, &cx.graph.ancestors(&cx.id)),
            reason,
            decided: true,
        }),
        Payload::Remove { member, .. } => {
            Err(format!("{member} was no longer a member at the close"))
        }
        // A role is granted only to someone who is a member at the close (the role itself was
        // checked against the constitution in force there, by `check_action`); revoking is
        // harmless either way.
        Payload::Role {
            member,
            role,
            grant,
        } => {
            if grant && !cx.is_member(&member) {
                return Err(format!("{member} was not a member at the close"));
            }
            Ok(Act::Role {
                member,
                role,
                grant,
            })
        }
        other => Err(format!(
            "a proposal cannot enact a `{}` event",
            other.kind_name()
        )),
    }
}

/// Whether decisions judges `p`.
pub fn owns(p: &Payload) -> bool {
    matches!(
        p,
        Payload::Propose(_)
            | Payload::Revise { .. }
            | Payload::OpenVoting { .. }
            | Payload::Withdraw { .. }
            | Payload::Vote { .. }
            | Payload::Delegate { .. }
            | Payload::Attest { .. }
            | Payload::Close { .. }
    )
}

impl Domain for Book {
    fn judge(&mut self, cx: &Cx<'_>, payload: Payload) -> Result<Effect, Refusal> {
        match payload {
            Payload::Propose(p) => self.propose(cx, p).map(Effect::act),
            Payload::Revise { proposal, text } => self.revise(cx, proposal, text).map(Effect::act),
            Payload::OpenVoting { proposal, text } => {
                self.open(cx, proposal, text).map(Effect::act)
            }
            Payload::Withdraw { proposal } => self.withdraw(cx, proposal).map(Effect::act),
            Payload::Vote {
                proposal,
                ballot,
                reason,
            } => self.vote(cx, proposal, ballot, reason).map(Effect::act),
            Payload::Delegate { scope, target } => {
                self.delegate(cx, scope, target).map(Effect::act)
            }
            Payload::Attest { proposal, digest } => {
                self.attest(cx, proposal, digest).map(|()| Effect::None)
            }
            Payload::Close { proposal } => self.close(cx, proposal).map(Effect::act),
            _ => Ok(Effect::None),
        }
    }

    fn refused(&mut self, cx: &Cx<'_>, payload: &Payload, why: &Refusal) {
        if let Payload::Vote { proposal, .. } = payload {
            self.void_vote(proposal, cx.id, why);
        }
    }

    fn marked(&mut self, id: &EventId, bit: usize) {
        Book::marked(self, id, bit);
    }
}
