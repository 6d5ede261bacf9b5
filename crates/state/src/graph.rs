//! The causal graph of one group's events: their causal order, who wrote what at which seq,
//! the causal past of an event, and the forks in authors' logs.
//!
//! It exists so the pass and every domain ask the same questions of the same structure, and so
//! these questions (which depend only on the set of events) are answered once per derivation,
//! not once per pass.

use std::collections::{BTreeMap, HashMap, HashSet};

use dualpower_core::{EventId, GroupId, PublicKey, VerifiedEvent, causal};

/// What the graph keeps of each event.
#[derive(Clone, Copy)]
pub(crate) struct Meta {
    pub author: PublicKey,
    pub seq: u64,
    pub log: u64,
    pub timestamp: u64,
}

/// One group's events, ordered.
pub(crate) struct Graph {
    /// Indices into the caller's slice, in causal order, without duplicates or other groups.
    pub order: Vec<usize>,
    meta: HashMap<EventId, Meta>,
    links: HashMap<EventId, Vec<EventId>>,
    /// Each author whose log 0 holds two different events at one seq: the lowest such seq.
    pub forks: BTreeMap<PublicKey, u64>,
}

impl Graph {
    /// Builds the graph of `group`'s events among `events`.
    pub(crate) fn new(group: GroupId, events: &[VerifiedEvent]) -> Graph {
        let mut meta = HashMap::with_capacity(events.len());
        let mut links = HashMap::with_capacity(events.len());
        let mut at_seq: HashMap<(PublicKey, u64), EventId> = HashMap::new();
        let mut forks: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for e in events.iter().filter(|e| e.header().group == group) {
            let h = e.header();
            let id = e.id();
            if meta.contains_key(&id) {
                continue;
            }
            meta.insert(
                id,
                Meta {
                    author: h.author,
                    seq: h.seq,
                    log: h.log,
                    timestamp: h.timestamp,
                },
            );
            links.insert(id, h.backlink.iter().chain(&h.deps).copied().collect());
            if h.log == 0
                && let Some(other) = at_seq.insert((h.author, h.seq), id)
                && other != id
            {
                let f = forks.entry(h.author).or_insert(h.seq);
                *f = (*f).min(h.seq);
            }
        }
        let mut placed = HashSet::with_capacity(meta.len());
        let order = causal::order_events(events)
            .into_iter()
            .filter(|i| events[*i].header().group == group && placed.insert(events[*i].id()))
            .collect();
        Graph {
            order,
            meta,
            links,
            forks,
        }
    }

    /// What the graph knows of `id`.
    pub(crate) fn meta(&self, id: &EventId) -> Option<&Meta> {
        self.meta.get(id)
    }

    /// Every event id of the group.
    pub(crate) fn ids(&self) -> HashSet<EventId> {
        self.meta.keys().copied().collect()
    }

    /// The causal past of `id` (excluding itself).
    pub(crate) fn ancestors(&self, id: &EventId) -> HashSet<EventId> {
        let mut seen = HashSet::new();
        let mut stack: Vec<EventId> = self.links.get(id).cloned().unwrap_or_default();
        while let Some(e) = stack.pop() {
            if seen.insert(e)
                && let Some(ps) = self.links.get(&e)
            {
                stack.extend(ps.iter().copied());
            }
        }
        seen
    }

    /// How many of `member`'s log-0 events `past` holds, as the length of its log there (the
    /// highest seq plus one).
    pub(crate) fn seen_of(&self, member: &PublicKey, past: &HashSet<EventId>) -> u64 {
        past.iter()
            .filter_map(|e| self.meta.get(e))
            .filter(|m| m.author == *member && m.log == 0)
            .map(|m| m.seq.saturating_add(1))
            .max()
            .unwrap_or(0)
    }
}
