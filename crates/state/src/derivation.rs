//! Incremental derivation: a group's state kept up to date as events arrive, at a cost that
//! follows the new events rather than the whole history whenever that gives the same result.
//!
//! [`GroupState::derive`] is a pure function of the set of events; a [`Derivation`] must give
//! exactly that function of the union, always. It keeps the last pass of the derivation (the
//! authority record, the domains, each event's past) and the causal graph, and appends a batch
//! to that pass when doing so is the same as deriving again:
//!
//! * **The order only grows at its end.** The causal order of the union must be the old order
//!   followed by the batch's own. That holds when no old event cites a new one (they were
//!   missing) and each new event whose predecessors are all old has a larger id than every old
//!   event placed after its latest predecessor: the canonical order (predecessors first, ties
//!   by smallest id) then never picks a new event before an old one.
//! * **Nothing earlier changes verdict.** Removals and leaves that enter the settlement (valid
//!   at their point, or held because a cut stands; checked after the step) and closes of
//!   proposals that carry an action (which may enact one) change the settlement of cuts,
//!   which reaches back over the whole history; a second event at an author's seq (a fork) voids the author's
//!   later events wherever they sit; an invite that an earlier join named but that was missing
//!   changes that join's verdict; events of another group take part in the order; an event
//!   citing one the order left out (on a claimed cycle) stays out of it. Any of these falls
//!   back to a full derivation.
//!
//! Everything else (posts, comments, votes, delegations, proposals and closes without actions,
//! admissions, joins, roles, prekeys, key shares) is judged at its causal point exactly as a
//! full derivation's last pass would judge it, because that pass judges every event with the
//! same settled cuts and the same authority record as of its point.

use std::collections::HashSet;
use std::sync::Arc;

use dualpower_core::event::FLAG_ENCRYPTED;
use dualpower_core::{EventId, GroupId, NetworkId, Payload, VerifiedEvent, causal};

use crate::graph::Graph;
use crate::group::GroupState;
use crate::pass::{self, Opened, Run, Settled};

/// How far back from the end of the order a new event's predecessors may sit for the batch to
/// be appended; older ones would make the check itself cost the history.
const MAX_REACH: usize = 1 << 16;

/// A group's derived state together with what is needed to extend it.
pub struct Derivation {
    network: NetworkId,
    group: GroupId,
    /// Every event given, in arrival order (the graph's order indexes into it).
    events: Vec<VerifiedEvent>,
    /// Ids of every event given.
    ids: HashSet<EventId>,
    /// Ids cited by a given event but not given.
    missing: HashSet<EventId>,
    /// Events given without their body (a later copy with it changes their verdict).
    bodyless: HashSet<EventId>,
    /// Whether an event of another group was given (they take part in the order).
    foreign: bool,
    graph: Graph,
    run: Run,
    known: Settled,
    state: GroupState,
    full: usize,
    /// Plaintext of encrypted decision events (see [`Opened`]).
    opened: Arc<Opened>,
}

impl Derivation {
    /// Derives `group`'s state from `events`.
    pub fn new(network: &NetworkId, group: GroupId, events: &[VerifiedEvent]) -> Derivation {
        Self::new_opened(network, group, events, Opened::new())
    }

    /// Derives `group`'s state from `events`, reading encrypted decision payloads from `opened`
    /// (see [`GroupState::derive_opened`]).
    pub fn new_opened(
        network: &NetworkId,
        group: GroupId,
        events: &[VerifiedEvent],
        opened: Opened,
    ) -> Derivation {
        let opened = Arc::new(opened);
        let graph = Graph::new(group, events);
        let (run, known) = pass::settled_run(network, group, events, &graph, opened.clone());
        let mut run = run;
        let state = run.state(&graph);
        run.mark_clean();
        // Room to grow, so the first batches do not copy the history into larger vectors.
        let room = events.len() / 4 + 1024;
        let mut all = Vec::with_capacity(events.len() + room);
        all.extend_from_slice(events);
        let (mut graph, mut run) = (graph, run);
        graph.reserve(room);
        run.reserve(room);
        let mut d = Derivation {
            network: *network,
            group,
            events: all,
            ids: HashSet::with_capacity(events.len() + room),
            missing: HashSet::new(),
            bodyless: HashSet::new(),
            foreign: false,
            graph,
            run,
            known,
            state,
            full: 1,
            opened,
        };
        d.note(0);
        d
    }

    /// Adds `new` events (any order; duplicates and events already given are ignored). The
    /// state is then exactly [`GroupState::derive`] of every event given so far.
    pub fn extend(&mut self, new: &[VerifiedEvent]) {
        self.extend_opened(new, Opened::new());
    }

    /// Adds `new` events and the plaintext `opened` of encrypted ones among them. An opening of
    /// an event given before (a key that arrived later) derives again from scratch, since
    /// that event's verdict may change what came after it.
    pub fn extend_opened(&mut self, new: &[VerifiedEvent], opened: Opened) {
        let late = opened.keys().any(|id| self.ids.contains(id));
        if !opened.is_empty() {
            let all = Arc::make_mut(&mut self.opened);
            all.extend(opened);
            self.run.opened = self.opened.clone();
        }
        if late {
            let fresh: Vec<VerifiedEvent> = new
                .iter()
                .filter(|e| !self.ids.contains(&e.id()))
                .cloned()
                .collect();
            let mut seen = HashSet::new();
            let fresh = fresh.into_iter().filter(|e| seen.insert(e.id())).collect();
            self.rederive(fresh);
            return;
        }
        let mut seen = HashSet::new();
        let fresh: Vec<VerifiedEvent> = new
            .iter()
            .filter(|e| !self.ids.contains(&e.id()) && seen.insert(e.id()))
            .cloned()
            .collect();
        // A known event given before without its body, now with it: its verdict changes.
        let bodies: Vec<VerifiedEvent> = new
            .iter()
            .filter(|e| e.body().is_some() && self.bodyless.contains(&e.id()))
            .cloned()
            .collect();
        if !bodies.is_empty() {
            let mut all = fresh;
            all.extend(bodies);
            self.rederive(all);
            return;
        }
        if fresh.is_empty() {
            return;
        }
        let Some(order) = self.appendable(&fresh) else {
            self.rederive(fresh);
            return;
        };
        let before = self.run.removal_candidates();
        let refused = self.run.refused();
        let start = self.events.len();
        self.run.membership().learn_invites(self.group, &fresh);
        self.events.extend(fresh);
        for i in order {
            let idx = start + i;
            self.graph.note_seq(&self.events[idx]);
            self.graph.place(idx, &self.events[idx]);
            let position = self.graph.len() - 1;
            self.run.step(
                &self.network,
                self.group,
                &self.events,
                &self.graph,
                &self.known,
                position,
            );
        }
        self.note(start);
        if self.run.removal_candidates() != before {
            // Not reached by the checks above; kept so a new source of removals can never make
            // the incremental state differ from a full derivation.
            self.rederive(Vec::new());
            return;
        }
        self.run.refresh(&mut self.state, refused);
    }

    /// The state as of every event given so far.
    pub fn state(&self) -> &GroupState {
        &self.state
    }

    /// How many full derivations this has run (one at creation, then one per fallback).
    pub fn full_derivations(&self) -> usize {
        self.full
    }

    /// Derives again from every event given plus `fresh`.
    fn rederive(&mut self, fresh: Vec<VerifiedEvent>) {
        let start = self.events.len();
        self.events.extend(fresh);
        self.graph = Graph::new(self.group, &self.events);
        let (run, known) = pass::settled_run(
            &self.network,
            self.group,
            &self.events,
            &self.graph,
            self.opened.clone(),
        );
        self.state = run.state(&self.graph);
        self.run = run;
        self.run.mark_clean();
        self.known = known;
        self.full += 1;
        self.note(start);
    }

    /// Records the ids, citations and groups of the events from index `start` on.
    fn note(&mut self, start: usize) {
        for e in &self.events[start..] {
            self.ids.insert(e.id());
            self.missing.remove(&e.id());
            if e.body().is_some() {
                self.bodyless.remove(&e.id());
            } else if e.header().body_len > 0 {
                self.bodyless.insert(e.id());
            }
            if e.header().group != self.group {
                self.foreign = true;
            }
        }
        for e in &self.events[start..] {
            let h = e.header();
            for p in h.backlink.iter().chain(&h.deps) {
                if !self.ids.contains(p) {
                    self.missing.insert(*p);
                }
            }
        }
    }

    /// The causal order of `fresh` (indices into it) if appending them to the pass gives what
    /// a full derivation would; `None` otherwise.
    fn appendable(&mut self, fresh: &[VerifiedEvent]) -> Option<Vec<usize>> {
        if self.foreign || fresh.iter().any(|e| e.header().group != self.group) {
            return None;
        }
        if fresh.iter().any(|e| self.missing.contains(&e.id())) {
            return None;
        }
        let order = causal::order_events(fresh);
        if order.len() != fresh.len() {
            return None;
        }
        let new_ids: HashSet<EventId> = fresh.iter().map(|e| e.id()).collect();
        let mut seqs = HashSet::new();
        for e in fresh {
            let h = e.header();
            // A fork, old or within the batch.
            if h.log == 0
                && (self
                    .graph
                    .at_seq(&h.author, h.seq)
                    .is_some_and(|o| *o != e.id())
                    || !seqs.insert((h.author, h.seq)))
            {
                return None;
            }
            let preds: Vec<&EventId> = h.backlink.iter().chain(&h.deps).collect();
            // Citing a given event the order left out (on a claimed cycle) keeps an event out
            // of the order too.
            if preds
                .iter()
                .any(|p| self.ids.contains(*p) && self.graph.position(p).is_none())
            {
                return None;
            }
            if preds.iter().any(|p| new_ids.contains(*p)) {
                continue;
            }
            // A new event with only old predecessors: every old event placed after the latest
            // of them must come before it by id.
            let latest = preds.iter().filter_map(|p| self.graph.position(p)).max();
            let from = latest.map_or(0, |l| l + 1);
            if self.graph.len() - from > MAX_REACH {
                return None;
            }
            let id = e.id();
            if (from..self.graph.len())
                .any(|p| self.graph.id_at(&self.events, p).is_some_and(|o| o > id))
            {
                return None;
            }
        }
        if fresh.iter().any(|e| self.reaches_back(e, fresh)) {
            return None;
        }
        Some(order)
    }

    /// The payload the pass judges `e` by: its clear body, or what was opened of it.
    fn payload(&self, e: &VerifiedEvent) -> Option<Payload> {
        if e.header().flags & FLAG_ENCRYPTED != 0 {
            return self
                .opened
                .get(&e.id())
                .filter(|p| crate::decisions::owns(p))
                .cloned();
        }
        e.body().map(Payload::decode)?.ok()
    }

    /// Whether `e` could change verdicts of events before it (see the module documentation).
    fn reaches_back(&mut self, e: &VerifiedEvent, fresh: &[VerifiedEvent]) -> bool {
        let Some(payload) = self.payload(e) else {
            return false;
        };
        // Removals and leaves are not refused here: one that becomes a candidate (valid, or held
        // because a cut stands) changes the settlement, which `extend` sees after the step and
        // answers with a full derivation; one refused outright changes nothing else, so an
        // outsider's stream of invalid removals costs no full derivation.
        match payload {
            Payload::Invite { .. } => self.run.membership().unknown_invites.contains(&e.id()),
            Payload::Close { proposal } => {
                let event = match self.graph.position(&proposal) {
                    Some(p) => self.graph.order.get(p).map(|i| &self.events[*i]),
                    None => fresh.iter().find(|f| f.id() == proposal),
                };
                match event.and_then(|ev| self.payload(ev)) {
                    Some(Payload::Propose(p)) => !p.action.is_empty(),
                    _ => false,
                }
            }
            _ => false,
        }
    }
}
