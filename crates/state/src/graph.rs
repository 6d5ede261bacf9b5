//! The causal graph of one group's events: their causal order, who wrote what at which seq,
//! the causal past of an event, and the forks in authors' logs.
//!
//! It exists so the pass and every domain ask the same questions of the same structure, and so
//! these questions (which depend only on the set of events) are answered once per derivation,
//! not once per pass. Events are kept by causal position (vectors, not maps of ids), because
//! walking a causal past is the costliest question the domains ask.

use std::collections::{BTreeMap, HashMap};

use dualpower_core::{EventId, GroupId, PublicKey, VerifiedEvent, causal};

/// What the graph keeps of each event.
#[derive(Clone, Copy)]
pub(crate) struct Meta {
    pub author: PublicKey,
    pub seq: u64,
    pub log: u64,
    pub timestamp: u64,
    /// Its position in the causal order.
    pub position: usize,
}

/// One group's events, ordered.
pub(crate) struct Graph {
    /// Indices into the caller's slice, in causal order, without duplicates or other groups.
    pub order: Vec<usize>,
    /// Position of each placed event.
    pos: HashMap<EventId, usize>,
    /// By position: what the graph keeps of the event.
    at: Vec<Meta>,
    /// The positions of each placed event's placed predecessors (each placed before it),
    /// event after event.
    preds: Vec<usize>,
    /// By position: where its predecessors start in `preds` (one entry more than events).
    pred_start: Vec<usize>,
    /// Log-0 events by (author, seq), placed or not, to find forks.
    at_seq: HashMap<(PublicKey, u64), EventId>,
    /// Each author whose log 0 holds two different events at one seq: the lowest such seq.
    pub forks: BTreeMap<PublicKey, u64>,
}

/// The part of an event's causal past placed above a floor position, as a set of positions.
pub(crate) struct Past {
    /// Lowest position the set can hold.
    lo: usize,
    /// `seen[p - lo]`: whether position `p` is in the past.
    seen: Vec<bool>,
}

impl Past {
    fn has(&self, position: usize) -> bool {
        position >= self.lo && self.seen.get(position - self.lo).copied().unwrap_or(false)
    }

    fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.seen
            .iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .map(|(i, _)| i + self.lo)
    }
}

impl Graph {
    /// Builds the graph of `group`'s events among `events`.
    pub(crate) fn new(group: GroupId, events: &[VerifiedEvent]) -> Graph {
        let mut g = Graph {
            order: Vec::with_capacity(events.len()),
            pos: HashMap::with_capacity(events.len()),
            at: Vec::with_capacity(events.len()),
            preds: Vec::with_capacity(events.len() * 3),
            pred_start: vec![0],
            at_seq: HashMap::new(),
            forks: BTreeMap::new(),
        };
        let mut seen: HashMap<EventId, usize> = HashMap::with_capacity(events.len());
        // A copy with its body wins over a copy without (bodies can be deleted or not yet
        // fetched), so the verdict never depends on which copy came first.
        let mut with_body: HashMap<EventId, usize> = HashMap::new();
        for (i, e) in events.iter().enumerate() {
            if e.header().group != group {
                continue;
            }
            match seen.entry(e.id()) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                    g.note_seq(e);
                }
                std::collections::hash_map::Entry::Occupied(o) => {
                    if events[*o.get()].body().is_none() && e.body().is_some() {
                        with_body.insert(e.id(), i);
                    }
                }
            }
        }
        for i in causal::order_events(events) {
            let i = with_body.get(&events[i].id()).copied().unwrap_or(i);
            if events[i].header().group == group && !g.pos.contains_key(&events[i].id()) {
                g.place(i, &events[i]);
            }
        }
        g
    }

    /// Records `e`'s (author, seq) in log 0; returns whether it forks the author's log.
    pub(crate) fn note_seq(&mut self, e: &VerifiedEvent) -> bool {
        let h = e.header();
        if h.log == 0
            && let Some(other) = self.at_seq.insert((h.author, h.seq), e.id())
            && other != e.id()
        {
            let f = self.forks.entry(h.author).or_insert(h.seq);
            *f = (*f).min(h.seq);
            return true;
        }
        false
    }

    /// Places `e` (index `i` in the caller's slice) next in the causal order.
    pub(crate) fn place(&mut self, i: usize, e: &VerifiedEvent) {
        let h = e.header();
        let position = self.at.len();
        let mut preds: Vec<usize> = h
            .backlink
            .iter()
            .chain(&h.deps)
            .filter_map(|p| self.pos.get(p).copied())
            .collect();
        preds.sort_unstable();
        preds.dedup();
        self.pos.insert(e.id(), position);
        self.at.push(Meta {
            author: h.author,
            seq: h.seq,
            log: h.log,
            timestamp: h.timestamp,
            position,
        });
        self.preds.extend(preds);
        self.pred_start.push(self.preds.len());
        self.order.push(i);
    }

    /// Makes room for `extra` more events.
    pub(crate) fn reserve(&mut self, extra: usize) {
        self.order.reserve(extra);
        self.pos.reserve(extra);
        self.at.reserve(extra);
        self.preds.reserve(extra * 3);
        self.pred_start.reserve(extra);
    }

    /// What the graph knows of `id`, if it is placed.
    pub(crate) fn meta(&self, id: &EventId) -> Option<&Meta> {
        self.at.get(*self.pos.get(id)?)
    }

    /// The position of a placed event.
    pub(crate) fn position(&self, id: &EventId) -> Option<usize> {
        self.pos.get(id).copied()
    }

    /// The positions of the placed predecessors of the event at `position`.
    pub(crate) fn preds(&self, position: usize) -> &[usize] {
        match (
            self.pred_start.get(position),
            self.pred_start.get(position + 1),
        ) {
            (Some(a), Some(b)) => &self.preds[*a..*b],
            _ => &[],
        }
    }

    /// The causal past of `id` (excluding itself).
    pub(crate) fn ancestors(&self, id: &EventId) -> Past {
        self.ancestors_above(id, None)
    }

    /// The causal past of `id` (excluding itself) down to, not including, causal position
    /// `floor`: every ancestor placed after `floor`, and no event at or before it.
    ///
    /// Exact for what it keeps: a path from `id` down to an ancestor runs through events placed
    /// after that ancestor (the order is topological), so pruning at `floor` loses no ancestor
    /// above it. It costs what lies between, not the whole history, which is what makes a close
    /// cost the length of its vote rather than the age of the group.
    pub(crate) fn ancestors_above(&self, id: &EventId, floor: Option<usize>) -> Past {
        let lo = floor.map_or(0, |f| f.saturating_add(1));
        let Some(start) = self.position(id) else {
            return Past {
                lo,
                seen: Vec::new(),
            };
        };
        let mut seen = vec![false; start.saturating_sub(lo)];
        let mut stack: Vec<usize> = self.preds(start).to_vec();
        while let Some(p) = stack.pop() {
            if p < lo || seen[p - lo] {
                continue;
            }
            seen[p - lo] = true;
            stack.extend(
                self.preds(p)
                    .iter()
                    .copied()
                    .filter(|q| *q >= lo && !seen[*q - lo]),
            );
        }
        Past { lo, seen }
    }

    /// Whether `past` holds event `id`.
    pub(crate) fn contains(&self, past: &Past, id: &EventId) -> bool {
        self.position(id).is_some_and(|p| past.has(p))
    }

    /// The events of `past`.
    pub(crate) fn metas<'a>(&'a self, past: &'a Past) -> impl Iterator<Item = &'a Meta> + 'a {
        past.positions().filter_map(|p| self.at.get(p))
    }

    /// How many of `member`'s log-0 events `past` holds, as the length of its log there (the
    /// highest seq plus one).
    pub(crate) fn seen_of(&self, member: &PublicKey, past: &Past) -> u64 {
        self.metas(past)
            .filter(|m| m.author == *member && m.log == 0)
            .map(|m| m.seq.saturating_add(1))
            .max()
            .unwrap_or(0)
    }
}

impl Graph {
    /// The log-0 event of `author` at `seq`, if any (the last one seen, if it forked).
    pub(crate) fn at_seq(&self, author: &PublicKey, seq: u64) -> Option<&EventId> {
        self.at_seq.get(&(*author, seq))
    }

    /// How many events are placed.
    pub(crate) fn len(&self) -> usize {
        self.at.len()
    }

    /// The id of the event at `position`, given the caller's slice.
    pub(crate) fn id_at(&self, events: &[VerifiedEvent], position: usize) -> Option<EventId> {
        self.order.get(position).map(|i| events[*i].id())
    }
}
