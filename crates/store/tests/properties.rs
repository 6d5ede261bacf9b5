//! Property tests: a store's contents depend only on the set of events it received, never on the
//! order, the batching, duplicates or restarts along the way.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::{Dag, assert_consistent, build_dag, open};
use dualpower_core::{EventId, VerifiedEvent};
use dualpower_store::{BundleWriter, Ingested, Store};
use proptest::prelude::*;

/// The reference: every event in creation order, in one call.
fn in_order(dag: &Dag) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    common::ingest_all_stored(&store, &dag.events);
    (dir, store)
}

fn export(store: &Store, dag: &Dag) -> Vec<u8> {
    let mut out = Vec::new();
    store.export_group(dag.group, &mut out).unwrap();
    out
}

#[derive(Debug, Clone)]
struct Plan {
    seed: u64,
    authors: usize,
    events: usize,
    order: Vec<usize>,
    splits: Vec<usize>,
    dups: Vec<usize>,
    reopen_after: Option<usize>,
    scoped: bool,
}

fn plan() -> impl Strategy<Value = Plan> {
    (any::<u64>(), 2usize..6, 30usize..60).prop_flat_map(|(seed, authors, events)| {
        (
            Just((0..events).collect::<Vec<usize>>()).prop_shuffle(),
            prop::collection::vec(1usize..12, 1..events),
            prop::collection::vec(0..events, 0..6),
            prop::option::of(0usize..8),
            any::<bool>(),
        )
            .prop_map(move |(order, splits, dups, reopen_after, scoped)| Plan {
                seed,
                authors,
                events,
                order,
                splits,
                dups,
                reopen_after,
                scoped,
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Shuffled arrival, random batch boundaries, duplicates and a restart in between give the
    /// same store as in-order ingest, and every event is reported stored exactly once.
    #[test]
    fn any_arrival_order_gives_the_same_store(p in plan()) {
        let dag = build_dag(p.seed, p.authors, p.events);
        let (_rd, reference) = in_order(&dag);

        // The arrival stream: the shuffled events with some repeated right after themselves or
        // at the end.
        let mut stream: Vec<VerifiedEvent> = p.order.iter().map(|&i| dag.events[i].clone()).collect();
        for (k, &d) in p.dups.iter().enumerate() {
            if k % 2 == 0 {
                let at = stream.iter().position(|e| e.id() == dag.events[d].id()).unwrap();
                stream.insert(at + 1, dag.events[d].clone());
            } else {
                stream.push(dag.events[d].clone());
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let mut store = open(dir.path());
        let mut reported: Vec<EventId> = Vec::new();
        let mut quarantines = 0usize;
        let mut rest = &stream[..];
        let mut call = 0usize;
        while !rest.is_empty() {
            let take = p.splits.get(call).copied().unwrap_or(rest.len()).min(rest.len());
            let (batch, tail) = rest.split_at(take);
            rest = tail;
            let out = if p.scoped {
                store.ingest_into(dag.group, batch.to_vec()).unwrap()
            } else {
                store.ingest(batch.to_vec()).unwrap()
            };
            prop_assert_eq!(out.len(), batch.len());
            for (ev, o) in batch.iter().zip(out) {
                match o {
                    Ok(Ingested::Stored { id, released }) => {
                        prop_assert_eq!(id, ev.id());
                        reported.push(id);
                        reported.extend(released);
                    }
                    Ok(Ingested::Quarantined { id, missing }) => {
                        prop_assert_eq!(id, ev.id());
                        prop_assert!(!missing.is_empty());
                        quarantines += 1;
                    }
                    Ok(Ingested::Duplicate { id }) => prop_assert_eq!(id, ev.id()),
                    other => prop_assert!(false, "unexpected outcome {:?} for {}", other, ev.id()),
                }
            }
            if p.reopen_after == Some(call) {
                assert_consistent(&store);
                let digest = store.digest().unwrap();
                store.close().unwrap();
                store = open(dir.path());
                prop_assert_eq!(store.digest().unwrap(), digest);
            }
            call += 1;
        }

        // An event that arrives before one of its predecessors must have waited in quarantine.
        let mut seen = HashSet::new();
        let causal = p.order.iter().all(|&i| {
            let h = dag.events[i].header();
            let ok = h.backlink.iter().chain(&h.deps).all(|d| seen.contains(d));
            seen.insert(dag.events[i].id());
            ok
        });
        prop_assert_eq!(quarantines == 0, causal);

        let all: HashSet<EventId> = dag.ids().into_iter().collect();
        let unique: HashSet<EventId> = reported.iter().copied().collect();
        prop_assert_eq!(unique.len(), reported.len(), "an event was reported stored twice");
        prop_assert_eq!(&unique, &all);

        prop_assert!(store.quarantine().unwrap().is_empty());
        prop_assert_eq!(store.counts().unwrap(), reference.counts().unwrap());
        prop_assert_eq!(store.digest().unwrap(), reference.digest().unwrap());
        prop_assert_eq!(store.logs(None).unwrap(), reference.logs(None).unwrap());
        prop_assert_eq!(store.groups().unwrap(), reference.groups().unwrap());
        prop_assert_eq!(export(&store, &dag), export(&reference, &dag));
        let report = store.verify_all(|_, _| {}).unwrap();
        prop_assert!(report.ok(), "{:?}", report.problems);
        prop_assert_eq!(report.events, p.events as u64);
        assert_consistent(&store);

        // Everything again: all duplicates, nothing changes.
        let digest = store.digest().unwrap();
        let out = store.ingest(stream.clone()).unwrap();
        let all_dup = out.iter().all(|o| matches!(o, Ok(Ingested::Duplicate { .. })));
        prop_assert!(all_dup, "re-ingest was not all duplicates: {:?}", out);
        prop_assert_eq!(store.digest().unwrap(), digest);
    }

    /// A bundle whose frames were shuffled imports to the same store, and the import report
    /// agrees with what the store holds.
    #[test]
    fn shuffled_bundle_imports_to_the_same_store(p in plan()) {
        let dag = build_dag(p.seed, p.authors, p.events);
        let (_rd, reference) = in_order(&dag);
        let mut buf = Vec::new();
        let mut w = BundleWriter::new(&mut buf, reference.network()).unwrap();
        for &i in &p.order {
            let ev = &dag.events[i];
            w.push(ev.envelope(), ev.body()).unwrap();
        }
        prop_assert_eq!(w.finish().unwrap().1, p.events as u64);

        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let report = store.import(&buf[..], |_| {}).unwrap();
        prop_assert_eq!(report.read, p.events as u64);
        prop_assert_eq!(report.stored, p.events as u64);
        prop_assert_eq!(report.quarantined, 0);
        prop_assert_eq!(report.duplicates, 0);
        prop_assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        prop_assert_eq!(report.damaged, None);
        prop_assert_eq!(store.digest().unwrap(), reference.digest().unwrap());
        let report = store.verify_all(|_, _| {}).unwrap();
        prop_assert!(report.ok(), "{:?}", report.problems);
    }
}
