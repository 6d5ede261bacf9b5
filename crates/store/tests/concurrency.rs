//! Concurrent use of one store: many threads ingesting and appending at once go through the
//! single writer's group commit, and the result is the same as sequential use.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Mutex;

use common::{Rng, assert_consistent, build_dag, identity, open};
use dualpower_core::{EventId, Payload};
use dualpower_store::Ingested;

#[test]
fn concurrent_overlapping_ingests_match_sequential_ingest() {
    let dag = build_dag(31, 5, 300);
    let ref_dir = tempfile::tempdir().unwrap();
    let reference = open(ref_dir.path());
    common::ingest_all_stored(&reference, &dag.events);

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let reported = Mutex::new(Vec::<EventId>::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (store, dag, reported) = (&store, &dag, &reported);
            s.spawn(move || {
                // Every thread delivers every event, in its own shuffled order and batching.
                let mut rng = Rng::new(t);
                let mut evs = dag.events.clone();
                rng.shuffle(&mut evs);
                let mut rest = &evs[..];
                while !rest.is_empty() {
                    let n = (rng.range(1, 9) as usize).min(rest.len());
                    let (batch, tail) = rest.split_at(n);
                    rest = tail;
                    let out = store.ingest(batch.to_vec()).unwrap();
                    let mut mine = Vec::new();
                    for o in out {
                        match o {
                            Ok(Ingested::Stored { id, released }) => {
                                mine.push(id);
                                mine.extend(released);
                            }
                            Ok(Ingested::Duplicate { .. } | Ingested::Quarantined { .. }) => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    reported.lock().unwrap().extend(mine);
                }
            });
        }
    });
    let reported = reported.into_inner().unwrap();
    let unique: HashSet<EventId> = reported.iter().copied().collect();
    assert_eq!(
        unique.len(),
        reported.len(),
        "an event was reported stored twice"
    );
    assert_eq!(unique, dag.ids().into_iter().collect::<HashSet<_>>());
    assert_eq!(store.digest().unwrap(), reference.digest().unwrap());
    assert!(store.quarantine().unwrap().is_empty());
    assert!(store.verify_all(|_, _| {}).unwrap().ok());
    assert_consistent(&store);
}

#[test]
fn concurrent_appends_to_one_log_never_fork() {
    let dag = build_dag(32, 3, 20);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    common::ingest_all_stored(&store, &dag.events);
    let me = identity(77);
    let seqs = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (store, me, seqs, dag) = (&store, &me, &seqs, &dag);
            s.spawn(move || {
                for i in 0..25u64 {
                    let body = Payload::Post {
                        text: format!("thread {t} note {i}"),
                    }
                    .encode();
                    let ev = store.append(me, dag.group, 0, body, 0, i).unwrap();
                    assert_eq!(ev.header().author, me.public());
                    seqs.lock().unwrap().push(ev.header().seq);
                }
            });
        }
    });
    let mut seqs = seqs.into_inner().unwrap();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..100).collect::<Vec<u64>>());
    let logs = store.logs(Some(dag.group)).unwrap();
    let mine = logs.iter().find(|l| l.author == me.public()).unwrap();
    assert_eq!((mine.len, mine.forked), (100, false));
    let counts = store.counts().unwrap();
    assert_eq!((counts.events, counts.forks), (120, 0));
    // The first append depends on the heads of the other logs.
    let first = store
        .group_events(dag.group)
        .unwrap()
        .into_iter()
        .find(|e| e.header().author == me.public() && e.header().seq == 0)
        .unwrap();
    assert!(!first.header().deps.is_empty());
    for d in &first.header().deps {
        assert!(store.event(*d).unwrap().is_some());
    }
    let report = store.verify_all(|_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_consistent(&store);
}
