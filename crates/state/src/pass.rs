//! The causal-order pass: folds a group's events, in causal order, through the judges of their
//! domains, and settles the removals that cut each other.
//!
//! Every event is first screened by rules that hold whatever its payload (it is in log 0; its
//! author has not forked before it; it is not past a cut that stands; its author was a member
//! at its causal point), then judged by the domain that owns its payload kind
//! ([`crate::domain::Domain`]). What a domain accepts as a change of authority comes back as
//! [`Act`]s, which the pass records in the [`Authority`] so later events are judged with them
//! in their causal past.
//!
//! **Cuts and cycles.** A cut voids the removed member's events wherever they sit in the causal
//! order, including events that claim old deps, so a pass cannot apply cuts as it goes. Instead
//! a pass judges with a set of cuts that stand ([`Settled`]), collects every removal valid at its
//! point, and [`settle`] decides which of them stand: a removal stands if every removal that
//! would cut it (a removal of its author whose cut is at or below it) falls; removals left
//! undecided cut each other in a cycle, which seniority breaks (a removal by decision first,
//! then the creator, then by the causal order of the grants that gave each remover its right;
//! never ids, timestamps or arrival order). The pass runs again with the settled cuts until
//! nothing changes (in practice one pass without removals, two with).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use dualpower_core::event::FLAG_ENCRYPTED;
use dualpower_core::payload::Rule;
use dualpower_core::{EventId, GroupId, NetworkId, Payload, PublicKey, VerifiedEvent};

use crate::aid::{self, AidBook};
use crate::authority::{Act, Authority, Bits, Cx};
use crate::credit::{self, CreditBook};
use crate::decisions::{self, Book};
use crate::domain::{Domain, Effect};
use crate::graph::Graph;
use crate::group::GroupState;
use crate::keys::{self, Keys};
use crate::membership::{self, Membership};
use crate::refusal::Refusal;
use crate::work::{self, WorkBook};

/// Passes after which the settlement is taken as it is (each pass is a pure function of the
/// set, so the result stays deterministic; no honest history needs more than two).
const MAX_PASSES: usize = 6;

/// The plaintext of encrypted events, by event id, as a member's keys opened them. Only
/// decision payloads count (proposals, revisions, votes, delegations, closes, attestations):
/// membership and key events are judged only in the clear, so every node, whatever keys it
/// holds, agrees on who is a member and which keys exist.
pub type Opened = HashMap<EventId, Payload>;

impl GroupState {
    /// Derives the state of `group` from a set of verified events (any order, duplicates
    /// ignored). `network` is needed to check join proofs. Encrypted events count as opaque:
    /// see [`GroupState::derive_opened`].
    pub fn derive(network: &NetworkId, group: GroupId, events: &[VerifiedEvent]) -> GroupState {
        Self::derive_opened(network, group, events, Arc::new(Opened::new()))
    }

    /// Derives the state of `group` from `events`, reading encrypted decision payloads from
    /// `opened` (a pure function of the events and the opened set).
    pub fn derive_opened(
        network: &NetworkId,
        group: GroupId,
        events: &[VerifiedEvent],
        opened: Arc<Opened>,
    ) -> GroupState {
        let graph = Graph::new(group, events);
        let (run, _) = settled_run(network, group, events, &graph, opened);
        run.state(&graph)
    }
}

/// Runs passes over `graph`'s events until the settlement of removals is stable; returns the
/// last pass and the settlement it was judged with.
pub(crate) fn settled_run(
    network: &NetworkId,
    group: GroupId,
    events: &[VerifiedEvent],
    graph: &Graph,
    opened: Arc<Opened>,
) -> (Run, Settled) {
    let mut known = Settled::default();
    let mut run = Run::new(network, group, events, graph, &known, opened.clone());
    for _ in 1..MAX_PASSES {
        let next = settle(&run.auth, &run.removals);
        if next == known {
            break;
        }
        known = next;
        run = Run::new(network, group, events, graph, &known, opened.clone());
    }
    (run, known)
}

/// The domains that judge events, by payload kind.
struct Domains {
    membership: Membership,
    keys: Keys,
    decisions: Book,
    work: WorkBook,
    credit: CreditBook,
    aid: AidBook,
}

impl Domains {
    /// The judge of `p`; `None` for content (posts, comments, reactions, direct messages,
    /// merges, encrypted bodies), which the feed judges and which changes no authority.
    fn route(&mut self, p: &Payload) -> Option<&mut dyn Domain> {
        if membership::owns(p) {
            Some(&mut self.membership)
        } else if keys::owns(p) {
            Some(&mut self.keys)
        } else if decisions::owns(p) {
            Some(&mut self.decisions)
        } else if work::owns(p) {
            Some(&mut self.work)
        } else if credit::owns(p) {
            Some(&mut self.credit)
        } else if aid::owns(p) {
            Some(&mut self.aid)
        } else {
            None
        }
    }
}

/// The removals that stand and those that lost a cycle, as settled after a pass.
#[derive(Default, PartialEq, Eq)]
pub(crate) struct Settled {
    /// Member → (cut, removal event) of every removal that stands.
    cuts: BTreeMap<PublicKey, Vec<(u64, EventId)>>,
    /// Removal → the senior removal it cut and lost to.
    overruled: BTreeMap<EventId, EventId>,
    /// Member → the lowest cut that stands (what a domain sees through `Cx::cuts`).
    lowest: BTreeMap<PublicKey, u64>,
}

/// A removal valid at its own causal point.
struct Candidate {
    id: EventId,
    author: PublicKey,
    seq: u64,
    member: PublicKey,
    cut: u64,
    past: Arc<Bits>,
    /// Its control index, unless it was held back as overruled.
    idx: Option<usize>,
    /// Seniority of the remover: smaller is senior.
    rank: (u8, usize),
}

/// One pass over the events.
pub(crate) struct Run {
    st: GroupState,
    auth: Authority,
    domains: Domains,
    removals: Vec<Candidate>,
    /// By causal position: the control events in the event's past, including itself if it is
    /// one.
    incl: Vec<Arc<Bits>>,
    /// Whether an act other than a marker was recorded since [`Run::refresh`] (members, roles,
    /// the constitution or invites may have changed).
    authority_changed: bool,
    /// Plaintext of encrypted decision events.
    pub(crate) opened: Arc<Opened>,
}

impl Run {
    fn new(
        network: &NetworkId,
        group: GroupId,
        events: &[VerifiedEvent],
        graph: &Graph,
        known: &Settled,
        opened: Arc<Opened>,
    ) -> Run {
        let mut run = Run {
            opened,
            st: GroupState {
                group,
                ..GroupState::default()
            },
            auth: Authority::default(),
            domains: Domains {
                membership: Membership::new(group, events),
                keys: Keys::default(),
                decisions: Book::default(),
                work: WorkBook::default(),
                credit: CreditBook::default(),
                aid: AidBook::default(),
            },
            removals: Vec::new(),
            incl: Vec::with_capacity(graph.order.len()),
            authority_changed: false,
        };
        for position in 0..graph.order.len() {
            run.step(network, group, events, graph, known, position);
        }
        run
    }

    /// Judges the event at causal `position` (every earlier one has been judged).
    pub(crate) fn step(
        &mut self,
        network: &NetworkId,
        group: GroupId,
        events: &[VerifiedEvent],
        graph: &Graph,
        known: &Settled,
        position: usize,
    ) {
        let ev = &events[graph.order[position]];
        let h = ev.header();
        let parents: Vec<Arc<Bits>> = graph
            .preds(position)
            .iter()
            .filter_map(|p| self.incl.get(*p).cloned())
            .collect();
        let past = Bits::union(&parents);
        let cx = Cx {
            auth: &self.auth,
            past: &past,
            graph,
            network,
            group,
            id: ev.id(),
            author: h.author,
            seq: h.seq,
            timestamp: h.timestamp,
            position,
            cuts: &known.lowest,
        };
        let opened = self.opened.get(&ev.id());
        let verdict = judge(
            &mut self.domains,
            &mut self.removals,
            &cx,
            ev,
            known,
            opened,
        );
        let mine = match verdict {
            Ok(Effect::Acts(acts)) => {
                self.domains.work.saw(h.author, h.timestamp);
                self.record(ev.id(), h.seq, h.author, h.timestamp, acts, &past)
            }
            Ok(Effect::None) => {
                self.domains.work.saw(h.author, h.timestamp);
                past
            }
            Err(r) => {
                self.st.rejected.push((ev.id(), r));
                past
            }
        };
        self.incl.push(mine);
    }

    /// How many removals this pass found valid at their point (settled or not).
    pub(crate) fn removal_candidates(&self) -> usize {
        self.removals.len()
    }

    /// Membership, to learn invites that arrive later.
    pub(crate) fn membership(&mut self) -> &mut Membership {
        &mut self.domains.membership
    }

    /// Records accepted control events; returns the event's inclusive past.
    fn record(
        &mut self,
        id: EventId,
        seq: u64,
        author: PublicKey,
        timestamp: u64,
        acts: Vec<Act>,
        past: &Arc<Bits>,
    ) -> Arc<Bits> {
        let mut mine = (**past).clone();
        for act in acts {
            if !matches!(act, Act::Marker) {
                self.authority_changed = true;
            }
            let c = candidate(
                &self.auth,
                id,
                author,
                seq,
                past,
                &act,
                Some(self.auth.ctrls.len()),
            );
            let tasks = match &act {
                Act::Tasks { proposal, specs } => Some((*proposal, specs.clone())),
                _ => None,
            };

            let idx = self.auth.push(id, act, past.clone());
            match &self.auth.ctrls[idx].act {
                Act::Limit { member, limit } => {
                    self.domains
                        .credit
                        .set_limit(id, Some(idx), *member, *limit);
                }
                Act::Link { group, terms } => self.domains.credit.link(id, idx, *group, terms),
                Act::Grant { to, amount, memo } => self.domains.credit.grant(
                    &self.st.group,
                    id,
                    idx,
                    &self.auth.ctrls[idx].past,
                    *to,
                    *amount,
                    memo,
                    timestamp,
                ),
                _ => {}
            }
            if let Some((proposal, specs)) = tasks {
                self.domains
                    .work
                    .enacted(id, author, timestamp, proposal, &specs, idx);
            }
            self.removals.extend(c);
            self.domains.marked(&id, idx);
            mine.set(idx);
        }
        Arc::new(mine)
    }

    /// Makes room for `extra` more events.
    pub(crate) fn reserve(&mut self, extra: usize) {
        self.incl.reserve(extra);
    }

    /// How many events this pass refused so far.
    pub(crate) fn refused(&self) -> usize {
        self.st.rejected.len()
    }

    /// Forgets what changed so far: `st` is [`Run::state`] as of now.
    pub(crate) fn mark_clean(&mut self) {
        self.authority_changed = false;
        self.domains.keys.take_touched();
        self.domains.decisions.take_changes();
        self.domains.work.take_touched();
        self.domains.credit.take_touched();
        self.domains.aid.take_touched();
    }

    /// Brings `st`, the state as of the last [`Run::refresh`] or [`Run::mark_clean`] when this
    /// pass had refused `refused` events, up to date at the cost of what changed since: new
    /// refusals, the membership part if the authority record changed, the keys part if that or
    /// a key event did, the proposals that changed, and the provisional certificates of those
    /// still voting if members or delegations changed.
    pub(crate) fn refresh(&mut self, st: &mut GroupState, refused: usize) {
        st.rejected.extend(
            self.st
                .rejected
                .get(refused..)
                .unwrap_or(&[])
                .iter()
                .cloned(),
        );
        let all = Bits::all(self.auth.ctrls.len());
        let authority = std::mem::take(&mut self.authority_changed);
        let keys = self.domains.keys.take_touched();
        if authority {
            st.members.clear();
            st.removed.clear();
            st.pending.clear();
            self.domains.membership.finish(&self.auth, &all, st);
        }
        if authority || keys {
            self.domains.keys.finish(&self.auth, st);
        }
        // Group time moves with every event; the rest of the work view only when work changed.
        self.domains.work.refresh(&self.auth, &all, &mut st.work);
        self.domains.credit.refresh(&mut st.credit);
        self.domains.aid.refresh(&mut st.aid);
        let book = &mut self.domains.decisions;
        let (mut ids, delegated) = book.take_changes();
        for who in &delegated {
            match book.delegations_of(who) {
                Some(m) => {
                    st.delegations.insert(*who, m);
                }
                None => {
                    st.delegations.remove(who);
                }
            }
        }
        st.spent = book.spent();
        if authority || !delegated.is_empty() {
            ids.extend(
                st.proposals
                    .iter()
                    .filter(|(_, p)| p.status == crate::decisions::Status::Voting)
                    .map(|(id, _)| *id),
            );
        }
        for id in ids {
            match book.proposal_state(&self.auth, &all, &id) {
                Some(p) => {
                    st.proposals.insert(id, p);
                }
                None => {
                    st.proposals.remove(&id);
                }
            }
        }
    }

    /// The state as of every event judged so far.
    pub(crate) fn state(&self, graph: &Graph) -> GroupState {
        let mut st = self.st.clone();
        let all = Bits::all(self.auth.ctrls.len());
        self.domains.membership.finish(&self.auth, &all, &mut st);
        self.domains.keys.finish(&self.auth, &mut st);
        let (proposals, delegations, spent) = self.domains.decisions.finish(&self.auth, &all);
        st.proposals = proposals;
        st.delegations = delegations;
        st.spent = spent;
        st.work = self.domains.work.view(&self.auth, &all);
        st.credit = self.domains.credit.view();
        st.aid = self.domains.aid.view();
        st.forked = graph.forks.clone();
        st
    }
}

impl Domains {
    /// Tells every domain which bit control event `id` got (each keeps what it returned).
    fn marked(&mut self, id: &EventId, bit: usize) {
        let all: [&mut dyn Domain; 6] = [
            &mut self.membership,
            &mut self.keys,
            &mut self.decisions,
            &mut self.work,
            &mut self.credit,
            &mut self.aid,
        ];
        for d in all {
            d.marked(id, bit);
        }
    }
}

/// Screens and judges one event; an accepted removal that lost a cycle is refused here (and
/// stays a candidate, so the next settlement sees the same removals).
fn judge(
    domains: &mut Domains,
    removals: &mut Vec<Candidate>,
    cx: &Cx<'_>,
    ev: &VerifiedEvent,
    known: &Settled,
    opened: Option<&Payload>,
) -> Result<Effect, Refusal> {
    let h = ev.header();
    let payload = if h.flags & FLAG_ENCRYPTED != 0 {
        opened.filter(|p| crate::governed(p)).cloned()
    } else {
        match ev.body() {
            None if h.body_len == 0 => None,
            None => return Err(Refusal::BodyMissing),
            Some(b) => Some(Payload::decode(b).map_err(|e| Refusal::Undecodable(e.to_string()))?),
        }
    };
    // Members write to log 0 only, so a cut (a seq in log 0) covers all they write.
    if h.log != 0 {
        return Err(Refusal::OtherLog(h.log));
    }
    if let Err(r) = screen(cx, payload.as_ref(), known) {
        if let Some(p) = &payload
            && let Some(d) = domains.route(p)
        {
            // A removal void only because a cut stands still takes part in the settlement
            // (held, as an overruled one is), so every pass settles the same removals and a
            // cycle cannot rotate from pass to pass.
            if matches!(r, Refusal::AfterRemoval { .. })
                && matches!(p, Payload::Remove { .. } | Payload::Leave)
                && let Ok(Effect::Acts(acts)) = d.judge(cx, p.clone())
            {
                removals.extend(acts.iter().filter_map(|a| {
                    candidate(cx.auth, cx.id, cx.author, cx.seq, cx.past, a, None)
                }));
            }
            d.refused(cx, p, &r);
        }
        return Err(r);
    }
    let Some(payload) = payload else {
        return Ok(Effect::None);
    };
    let Some(domain) = domains.route(&payload) else {
        return Ok(Effect::None);
    };
    let effect = domain.judge(cx, payload)?;
    if let Some(winner) = known.overruled.get(&cx.id)
        && let Effect::Acts(acts) = &effect
    {
        let held = acts
            .iter()
            .filter_map(|a| candidate(cx.auth, cx.id, cx.author, cx.seq, cx.past, a, None));
        removals.extend(held);
        return Err(Refusal::RemovalOverruled(*winner));
    }
    Ok(effect)
}

/// The removal candidate an act makes, if it is a removal.
fn candidate(
    auth: &Authority,
    id: EventId,
    author: PublicKey,
    seq: u64,
    past: &Bits,
    act: &Act,
    idx: Option<usize>,
) -> Option<Candidate> {
    let Act::Remove {
        member,
        cut,
        decided,
        ..
    } = act
    else {
        return None;
    };
    // A decision ranks before any one remover; between decisions, their closers' seniority
    // (never the close's place in the order, which ids decide).
    let rank = (u8::from(!*decided), seniority(auth, &author, past));
    Some(Candidate {
        id,
        author,
        seq,
        member: *member,
        cut: *cut,
        past: Arc::new(past.clone()),
        idx,
        rank,
    })
}

/// Rules that hold whatever the payload: no authority past a fork, nothing past a cut that
/// stands, and (except for a genesis, a join, or a joiner's prekey) membership at the point.
fn screen(cx: &Cx<'_>, payload: Option<&Payload>, known: &Settled) -> Result<(), Refusal> {
    let genesis = matches!(payload, Some(Payload::GroupGenesis(_)));
    if !genesis
        && let Some(&seq) = cx.graph.forks.get(&cx.author)
        && cx.seq >= seq
    {
        return Err(Refusal::Forked {
            author: cx.author,
            seq,
        });
    }
    if genesis || matches!(payload, Some(Payload::Join { .. })) {
        return Ok(());
    }
    // Re-admitted after removal `rid`: an admission in this event's past that has it in its own.
    let readmitted = |rid: &EventId| {
        cx.auth.index_of(rid).is_some_and(|r| {
            cx.auth
                .admits
                .get(&cx.author)
                .into_iter()
                .flatten()
                .any(|a| {
                    cx.past.has(*a)
                        && cx.auth.ctrls[*a].past.has(r)
                        && matches!(cx.auth.ctrls[*a].act, Act::Admit { complete: true, .. })
                })
        })
    };
    if let Some((cut, _)) = known
        .cuts
        .get(&cx.author)
        .into_iter()
        .flatten()
        .find(|(cut, rid)| cx.seq >= *cut && !readmitted(rid))
    {
        return Err(Refusal::AfterRemoval {
            author: cx.author,
            cut: *cut,
        });
    }
    let prekey = matches!(payload, Some(Payload::Prekey { .. }));
    let joined = || {
        cx.auth
            .joins
            .get(&cx.author)
            .into_iter()
            .flatten()
            .any(|j| cx.past.has(*j))
    };
    if cx.is_member(&cx.author) || (prekey && joined()) {
        Ok(())
    } else if prekey {
        Err(Refusal::PrekeyWithoutJoin)
    } else {
        Err(Refusal::NotMember(cx.author))
    }
}

/// A remover's seniority at `past`: the earliest grant of the role the removal rule in force
/// requires, or (where any member may remove) the earliest admission. The creator's come first.
fn seniority(auth: &Authority, who: &PublicKey, past: &Bits) -> usize {
    let by_role = match &auth.constitution_at(past).removal {
        Rule::Role(r) => auth.first_grant(who, r),
        Rule::Member | Rule::Vote => None,
    };
    by_role
        .or_else(|| auth.admits.get(who).and_then(|a| a.first().copied()))
        .unwrap_or(usize::MAX)
}

/// Decides which removals stand (see the module documentation).
fn settle(auth: &Authority, cands: &[Candidate]) -> Settled {
    #[derive(Clone, Copy, PartialEq)]
    enum S {
        Open,
        In,
        Out,
    }
    let mut by_author: HashMap<PublicKey, Vec<usize>> = HashMap::new();
    for (i, c) in cands.iter().enumerate() {
        by_author.entry(c.author).or_default().push(i);
    }
    // r cuts s: s is by r's member, at or above r's cut, and not written after a re-admission
    // that followed r.
    let cuts = |r: &Candidate, s: &Candidate| {
        s.seq >= r.cut
            && !r.idx.is_some_and(|ri| {
                auth.admits.get(&s.author).into_iter().flatten().any(|a| {
                    s.past.has(*a)
                        && auth.ctrls[*a].past.has(ri)
                        && matches!(auth.ctrls[*a].act, Act::Admit { complete: true, .. })
                })
            })
    };
    let mut targets: Vec<Vec<usize>> = vec![Vec::new(); cands.len()];
    let mut attackers: Vec<Vec<usize>> = vec![Vec::new(); cands.len()];
    for (r, rc) in cands.iter().enumerate() {
        for &s in by_author.get(&rc.member).into_iter().flatten() {
            if s != r && cuts(rc, &cands[s]) {
                targets[r].push(s);
                attackers[s].push(r);
            }
        }
    }
    let mut state = vec![S::Open; cands.len()];
    let mut out = Settled::default();
    loop {
        // Grounded: a removal none of whose attackers can stand, stands.
        let mut changed = true;
        while changed {
            changed = false;
            for s in 0..cands.len() {
                if state[s] == S::Open && attackers[s].iter().all(|a| state[*a] == S::Out) {
                    state[s] = S::In;
                    for &t in &targets[s] {
                        state[t] = S::Out;
                    }
                    changed = true;
                }
            }
        }
        // What is left cuts each other in cycles: the senior remover's removal stands.
        let Some(pick) = (0..cands.len())
            .filter(|i| state[*i] == S::Open)
            .min_by_key(|i| (cands[*i].rank, *i))
        else {
            break;
        };
        state[pick] = S::In;
        for &t in &targets[pick] {
            state[t] = S::Out;
        }
        for &a in &attackers[pick] {
            if state[a] == S::Open {
                state[a] = S::Out;
                out.overruled.insert(cands[a].id, cands[pick].id);
            }
        }
    }
    for (i, c) in cands.iter().enumerate() {
        if state[i] == S::In {
            out.cuts.entry(c.member).or_default().push((c.cut, c.id));
        } else if attackers[i].iter().any(|a| state[*a] == S::In) {
            out.overruled.remove(&c.id);
        }
    }
    for (member, v) in out.cuts.iter_mut() {
        v.sort();
        v.dedup();
        if let Some((cut, _)) = v.first() {
            out.lowest.insert(*member, *cut);
        }
    }
    out
}
