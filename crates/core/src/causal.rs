//! Causal order: the one total order of a set of events that every node computes identically.
//!
//! An event comes after its backlink and its deps; among events whose predecessors are all
//! placed, the smallest id goes first. The result depends only on the set, never on arrival
//! order. Predecessors that are not in the set are treated as already satisfied (a partial set
//! still orders deterministically).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::event::{EventId, VerifiedEvent};

/// Orders events causally by their backlinks and deps, ties by id. Returns indices into
/// `events`.
pub fn order_events(events: &[VerifiedEvent]) -> Vec<usize> {
    let preds: Vec<Vec<EventId>> = events
        .iter()
        .map(|e| {
            let h = e.header();
            h.backlink.iter().chain(&h.deps).copied().collect()
        })
        .collect();
    order(
        events
            .iter()
            .zip(&preds)
            .map(|(e, p)| (e.id(), p.as_slice())),
    )
}

/// Orders `items` (id, predecessors) causally, ties by id. Returns indices into `items`.
/// Duplicate ids are placed once (the first occurrence).
pub fn order<'a, I>(items: I) -> Vec<usize>
where
    I: IntoIterator<Item = (EventId, &'a [EventId])>,
{
    let items: Vec<(EventId, &[EventId])> = items.into_iter().collect();
    let mut index: HashMap<EventId, usize> = HashMap::with_capacity(items.len());
    for (i, (id, _)) in items.iter().enumerate() {
        index.entry(*id).or_insert(i);
    }
    let mut waiting = vec![0usize; items.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    let mut ready = BinaryHeap::new();
    for (i, (id, preds)) in items.iter().enumerate() {
        if index[id] != i {
            continue;
        }
        let mut seen: Vec<usize> = preds
            .iter()
            .filter_map(|p| index.get(p).copied())
            .filter(|&p| p != i)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        waiting[i] = seen.len();
        for p in seen {
            dependents[p].push(i);
        }
        if waiting[i] == 0 {
            ready.push(Reverse((*id, i)));
        }
    }
    let mut out = Vec::with_capacity(items.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        out.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(Reverse((items[d].0, d)));
            }
        }
    }
    // Events on a cycle cannot exist (ids are hashes of what they cite), but a forged set could
    // claim one; such events are left out rather than looping.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> EventId {
        EventId([b; 32])
    }

    #[test]
    fn predecessors_first_ties_by_id_independent_of_input_order() {
        let a = (id(9), vec![]);
        let b = (id(1), vec![id(9)]);
        let c = (id(5), vec![]);
        let d = (id(2), vec![id(1), id(5)]);
        let sets = [
            vec![a.clone(), b.clone(), c.clone(), d.clone()],
            vec![d.clone(), c.clone(), b.clone(), a.clone()],
            vec![b.clone(), d.clone(), a.clone(), c.clone()],
        ];
        for set in sets {
            let order = order(set.iter().map(|(i, p)| (*i, p.as_slice())));
            let ids: Vec<EventId> = order.iter().map(|&i| set[i].0).collect();
            assert_eq!(ids, vec![id(5), id(9), id(1), id(2)]);
        }
    }
}
