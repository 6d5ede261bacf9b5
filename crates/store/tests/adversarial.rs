//! Adversarial integration tests: one test per link rule and per damaged input. Every test checks
//! the exact outcome and that nothing else in the store changed.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{self, Read};
use std::ops::Range;

use common::{
    assert_consistent, build_dag, chain, config, count_rows, identity, network, open, post, post_on,
};
use dualpower_core::{Event, EventError, EventId, GroupId, NetworkId, cbor, verify_batch};
use dualpower_store::{
    AppendError, BundleError, BundleReader, BundleWriter, Counts, IngestError, Ingested, LogInfo,
    Store, StoreConfig, StoreError,
};

/// Everything observable about a store, for "nothing else changed" checks.
#[derive(Debug, PartialEq)]
struct Snapshot {
    digest: [u8; 32],
    counts: Counts,
    quarantine: Vec<(EventId, Vec<EventId>)>,
    logs: Vec<LogInfo>,
    raw_log_rows: i64,
    raw_wait_rows: i64,
    fork_ids: Vec<(EventId, EventId)>,
}

fn snapshot(store: &Store) -> Snapshot {
    Snapshot {
        digest: store.digest().unwrap(),
        counts: store.counts().unwrap(),
        quarantine: store.quarantine().unwrap(),
        logs: store.logs(None).unwrap(),
        raw_log_rows: count_rows(store, "logs"),
        raw_wait_rows: count_rows(store, "quarantine_waits"),
        fork_ids: store
            .forks()
            .unwrap()
            .iter()
            .map(|f| (f.existing.id(), f.conflicting.id()))
            .collect(),
    }
}

fn group(n: u8) -> GroupId {
    GroupId([n; 32])
}

fn one(store: &Store, ev: &dualpower_core::VerifiedEvent) -> Result<Ingested, IngestError> {
    let mut out = store.ingest(vec![ev.clone()]).unwrap();
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

#[test]
fn duplicate_ingest_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = identity(1);
    let evs = chain(&a, group(1), 4, "a");
    common::ingest_all_stored(&store, &evs[..3]);
    let before = snapshot(&store);

    for ev in &evs[..3] {
        assert_eq!(one(&store, ev), Ok(Ingested::Duplicate { id: ev.id() }));
    }
    assert_eq!(snapshot(&store), before);

    // The same new event twice in one call: stored once, then a duplicate.
    let out = store.ingest(vec![evs[3].clone(), evs[3].clone()]).unwrap();
    assert_eq!(
        out,
        vec![
            Ok(Ingested::Stored {
                id: evs[3].id(),
                released: vec![]
            }),
            Ok(Ingested::Duplicate { id: evs[3].id() }),
        ]
    );
    let after = snapshot(&store);
    assert_eq!(after.counts.events, before.counts.events + 1);

    // A duplicate of a quarantined event reports the same wait and changes nothing.
    let b = identity(2);
    let bs = chain(&b, group(1), 3, "b");
    let q = Ok(Ingested::Quarantined {
        id: bs[2].id(),
        missing: vec![bs[1].id()],
    });
    assert_eq!(one(&store, &bs[2]), q);
    let with_q = snapshot(&store);
    assert_eq!(one(&store, &bs[2]), q);
    assert_eq!(snapshot(&store), with_q);
    assert_consistent(&store);
}

#[test]
fn wrong_backlink_is_rejected_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = identity(1);
    let evs = chain(&a, group(1), 1, "a");
    let other = chain(&identity(2), group(1), 1, "b");
    common::ingest_all_stored(&store, &evs);
    common::ingest_all_stored(&store, &other);
    let before = snapshot(&store);

    // Backlink names a stored event of another log.
    let bad = post(&a, group(1), 0, 1, Some(other[0].id()), vec![], "bad");
    assert_eq!(
        one(&store, &bad),
        Err(IngestError::WrongBacklink {
            seq: 1,
            expected: evs[0].id(),
            found: other[0].id(),
        })
    );
    assert_eq!(snapshot(&store), before);
    assert!(store.event(bad.id()).unwrap().is_none());
    // A backlink naming nothing stored is not refused (since forks are data): it may be another
    // version of seq 0 that has not arrived yet, so the event waits for it.
    let junk = EventId([0xab; 32]);
    let bad2 = post(&a, group(1), 0, 1, Some(junk), vec![], "bad2");
    assert_eq!(
        one(&store, &bad2),
        Ok(Ingested::Quarantined {
            id: bad2.id(),
            missing: vec![junk],
        })
    );
    assert!(store.event(bad2.id()).unwrap().is_none());

    // The right seq 1 is still accepted afterwards.
    let good = post(&a, group(1), 0, 1, Some(evs[0].id()), vec![], "good");
    assert!(matches!(one(&store, &good), Ok(Ingested::Stored { .. })));
    assert_consistent(&store);
}

#[test]
fn seq_gap_is_quarantined_then_released() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let evs = chain(&identity(1), group(1), 3, "a");
    common::ingest_all_stored(&store, &evs[..1]);
    let before = snapshot(&store);

    assert_eq!(
        one(&store, &evs[2]),
        Ok(Ingested::Quarantined {
            id: evs[2].id(),
            missing: vec![evs[1].id()],
        })
    );
    let mid = snapshot(&store);
    assert_eq!(
        mid.counts,
        Counts {
            quarantined: 1,
            ..before.counts
        }
    );
    assert_eq!(mid.quarantine, vec![(evs[2].id(), vec![evs[1].id()])]);
    assert_eq!(
        mid.logs, before.logs,
        "a quarantined event must not move the log"
    );
    assert!(store.event(evs[2].id()).unwrap().is_none());

    assert_eq!(
        one(&store, &evs[1]),
        Ok(Ingested::Stored {
            id: evs[1].id(),
            released: vec![evs[2].id()],
        })
    );
    let end = snapshot(&store);
    assert_eq!(end.counts.quarantined, 0);
    assert!(end.quarantine.is_empty());
    assert_eq!(end.raw_wait_rows, 0);
    assert_eq!(end.counts.events, 3);
    assert_eq!(end.logs[0].head, Some(evs[2].id()));

    // Same contents as in-order ingest.
    let dir2 = tempfile::tempdir().unwrap();
    let fresh = open(dir2.path());
    common::ingest_all_stored(&fresh, &evs);
    assert_eq!(fresh.digest().unwrap(), end.digest);
    assert_consistent(&store);
}

#[test]
fn missing_dep_is_quarantined_then_released_transitively() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (identity(1), identity(2));
    let a0 = post(&a, group(1), 0, 0, None, vec![], "a0");
    let b0 = post(&b, group(1), 0, 0, None, vec![a0.id()], "b0");
    let b1 = post(&b, group(1), 0, 1, Some(b0.id()), vec![], "b1");
    let before = snapshot(&store);

    assert_eq!(
        one(&store, &b0),
        Ok(Ingested::Quarantined {
            id: b0.id(),
            missing: vec![a0.id()],
        })
    );
    // b1 waits for b0 (its backlink, itself quarantined).
    assert_eq!(
        one(&store, &b1),
        Ok(Ingested::Quarantined {
            id: b1.id(),
            missing: vec![b0.id()],
        })
    );
    let mid = snapshot(&store);
    assert_eq!(
        mid.counts,
        Counts {
            quarantined: 2,
            ..before.counts
        }
    );
    assert_eq!(mid.counts.events, 0);

    assert_eq!(
        one(&store, &a0),
        Ok(Ingested::Stored {
            id: a0.id(),
            released: vec![b0.id(), b1.id()],
        })
    );
    let end = snapshot(&store);
    assert!(end.quarantine.is_empty());
    assert_eq!(end.counts.events, 3);
    assert_eq!(end.counts.logs, 2);
    assert_eq!(end.raw_wait_rows, 0);
    assert!(store.verify_all(|_, _| {}).unwrap().ok());
    assert_consistent(&store);
}

#[test]
fn fork_versions_are_both_stored_and_either_branch_extends() {
    // Forks are data (was: only the first version was kept and the log frozen): both versions
    // are events, either branch may be extended, and events citing either are stored.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (identity(1), identity(2));
    let evs = chain(&a, group(1), 2, "a");
    let bs = chain(&b, group(1), 1, "b");
    common::ingest_all_stored(&store, &evs);
    common::ingest_all_stored(&store, &bs);
    let before = snapshot(&store);

    let evil = post(
        &a,
        group(1),
        0,
        1,
        Some(evs[0].id()),
        vec![],
        "a 1 but different",
    );
    assert_ne!(evil.id(), evs[1].id());
    assert_eq!(
        one(&store, &evil),
        Ok(Ingested::ForkDetected {
            id: evil.id(),
            existing: evs[1].id(),
            released: vec![],
        })
    );
    let (small, large) = if evil.id() < evs[1].id() {
        (&evil, &evs[1])
    } else {
        (&evs[1], &evil)
    };
    let forks = store.forks().unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(&forks[0].existing, small, "the smaller id is `existing`");
    assert_eq!(&forks[0].conflicting, large);
    let after = snapshot(&store);
    assert_eq!(
        after.counts,
        Counts {
            forks: 1,
            events: before.counts.events + 1,
            ..before.counts
        }
    );
    let logs = store.logs(Some(group(1))).unwrap();
    let la = logs.iter().find(|l| l.author == a.public()).unwrap();
    let lb = logs.iter().find(|l| l.author == b.public()).unwrap();
    assert!(la.forked);
    assert_eq!(la.fork_seq, Some(1));
    assert!(la.fork_digest.is_some());
    assert_eq!((la.len, la.head), (2, Some(small.id())));
    assert!(!lb.forked, "only the forked log is flagged");
    assert_eq!((lb.fork_seq, lb.fork_digest), (None, None));
    // Both versions are events.
    assert_eq!(store.event(evs[1].id()).unwrap().as_ref(), Some(&evs[1]));
    assert_eq!(store.event(evil.id()).unwrap().as_ref(), Some(&evil));
    let in_group: Vec<EventId> = store
        .group_events(group(1))
        .unwrap()
        .iter()
        .map(|e| e.id())
        .collect();
    assert!(in_group.contains(&evs[1].id()) && in_group.contains(&evil.id()));

    // Either branch may be extended; a gapped event waits like in any log.
    let a2 = post(&a, group(1), 0, 2, Some(evs[1].id()), vec![], "a2");
    let a2_evil = post(&a, group(1), 0, 2, Some(evil.id()), vec![], "a2 on evil");
    assert!(matches!(one(&store, &a2), Ok(Ingested::Stored { .. })));
    assert!(matches!(
        one(&store, &a2_evil),
        Ok(Ingested::ForkDetected { .. })
    ));
    let far = post(&a, group(1), 0, 7, Some(EventId([1; 32])), vec![], "far");
    assert!(matches!(
        one(&store, &far),
        Ok(Ingested::Quarantined { .. })
    ));
    // A backlink to a version at another seq never links.
    let crooked = post(&a, group(1), 0, 3, Some(evil.id()), vec![], "crooked");
    assert!(matches!(
        one(&store, &crooked),
        Err(IngestError::WrongBacklink { .. })
    ));
    let la = store
        .logs(Some(group(1)))
        .unwrap()
        .into_iter()
        .find(|l| l.author == a.public())
        .unwrap();
    assert_eq!((la.len, la.fork_seq), (3, Some(1)));
    assert_eq!(la.head, Some(a2.id().min(a2_evil.id())));
    let extended = snapshot(&store);

    // Re-ingesting either side is a duplicate.
    for ev in [&evil, &evs[1], &a2_evil] {
        assert_eq!(one(&store, ev), Ok(Ingested::Duplicate { id: ev.id() }));
    }
    assert_eq!(snapshot(&store), extended);

    // A local append to the forked log is refused.
    assert!(matches!(
        store.append(&a, group(1), 0, b"x".to_vec(), 0, 0),
        Err(AppendError::Forked)
    ));
    assert_eq!(snapshot(&store).digest, extended.digest);

    // Another author may cite either version, and the whole store re-verifies.
    let b1 = post(
        &b,
        group(1),
        0,
        1,
        Some(bs[0].id()),
        vec![evs[1].id(), evil.id()],
        "b1",
    );
    assert!(matches!(one(&store, &b1), Ok(Ingested::Stored { .. })));
    let report = store.verify_all(|_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.forks, 2);
    assert_eq!(store.counts().unwrap().forks, 2);
    assert_consistent(&store);
}

#[test]
fn versions_per_position_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = identity(1);
    let evs = chain(&a, group(1), 1, "a");
    common::ingest_all_stored(&store, &evs);
    let max = dualpower_store::MAX_VERSIONS_PER_SEQ;
    for i in 1..max {
        let v = post(&a, group(1), 0, 0, None, vec![], &format!("version {i}"));
        assert!(matches!(one(&store, &v), Ok(Ingested::ForkDetected { .. })));
    }
    let before = snapshot(&store);
    let one_more = post(&a, group(1), 0, 0, None, vec![], "one too many");
    assert_eq!(
        one(&store, &one_more),
        Err(IngestError::TooManyVersions { seq: 0, max })
    );
    assert_eq!(snapshot(&store), before);
    assert_eq!(before.counts.events, max);
    assert_consistent(&store);
}

#[test]
fn dep_in_another_group_is_rejected_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (identity(1), identity(2));
    let x = chain(&b, group(2), 1, "x");
    let a0 = chain(&a, group(1), 1, "a");
    common::ingest_all_stored(&store, &x);
    common::ingest_all_stored(&store, &a0);
    let before = snapshot(&store);

    // A new log (its log row must not survive the rejection) ...
    let c = identity(3);
    let c0 = post(&c, group(1), 0, 0, None, vec![x[0].id(), a0[0].id()], "c0");
    assert_eq!(
        one(&store, &c0),
        Err(IngestError::DepInOtherGroup { dep: x[0].id() })
    );
    // ... and an existing one.
    let a1 = post(&a, group(1), 0, 1, Some(a0[0].id()), vec![x[0].id()], "a1");
    assert_eq!(
        one(&store, &a1),
        Err(IngestError::DepInOtherGroup { dep: x[0].id() })
    );
    assert_eq!(snapshot(&store), before);
    assert_consistent(&store);
}

#[test]
fn replays_into_another_group_or_network_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = identity(1);
    let evs = chain(&a, group(1), 2, "a");
    common::ingest_all_stored(&store, &evs[..1]);
    let before = snapshot(&store);

    // A scoped ingest refuses events of another group.
    let out = store.ingest_into(group(9), vec![evs[1].clone()]).unwrap();
    assert_eq!(
        out,
        vec![Err(IngestError::WrongGroup {
            expected: group(9),
            found: group(1),
        })]
    );
    assert_eq!(snapshot(&store), before);

    // Re-labelling the group in the header (keeping the signature) breaks the signature.
    let mut h = evs[1].header().clone();
    h.group = group(9);
    let mut w = cbor::Writer::with_capacity(512);
    w.array(2)
        .bytes(&h.encode())
        .bytes(evs[1].event().signature());
    let forged = Event::decode(w.into_bytes(), evs[1].body().map(<[u8]>::to_vec)).unwrap();
    assert_eq!(forged.header().group, group(9));
    assert_eq!(
        forged.clone().verify(store.network()).unwrap_err(),
        EventError::BadSignature
    );

    // An event signed for another network does not verify on this one (single or batch).
    let foreign = post_on(
        &a,
        group(1),
        0,
        1,
        Some(evs[0].id()),
        vec![],
        "a 1",
        &NetworkId::named("other"),
    );
    let (env, body) = foreign.clone().into_parts();
    let decoded = Event::decode(env.clone(), body.clone()).unwrap();
    assert_eq!(
        decoded.clone().verify(store.network()).unwrap_err(),
        EventError::BadSignature
    );
    let batch = verify_batch(vec![decoded, forged], store.network());
    assert!(batch.iter().all(|r| r == &Err(EventError::BadSignature)));

    // Smuggled in a bundle labelled with this store's network, it is rejected, nothing stored.
    let mut buf = Vec::new();
    let mut bw = BundleWriter::new(&mut buf, store.network()).unwrap();
    bw.push(&env, body.as_deref()).unwrap();
    bw.finish().unwrap();
    let report = store.import(&buf[..], |_| {}).unwrap();
    assert_eq!(report.read, 1);
    assert_eq!(report.stored, 0);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].id, Some(foreign.id()));
    assert!(
        report.rejected[0].reason.contains("bad signature"),
        "{}",
        report.rejected[0].reason
    );
    assert_eq!(snapshot(&store), before);

    // The genuine seq 1 still goes in.
    assert!(matches!(one(&store, &evs[1]), Ok(Ingested::Stored { .. })));
}

#[test]
fn quarantine_bound_is_enforced_without_side_effects() {
    let cfg = StoreConfig {
        max_quarantine: 3,
        ..config()
    };
    let a = identity(1);
    let evs = chain(&a, group(1), 6, "a");

    // Four gapped events in one call: the fourth does not fit.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), cfg.clone()).unwrap();
    common::ingest_all_stored(&store, &evs[..1]);
    let out = store.ingest(evs[2..6].to_vec()).unwrap();
    for (i, o) in out[..3].iter().enumerate() {
        assert_eq!(
            o,
            &Ok(Ingested::Quarantined {
                id: evs[2 + i].id(),
                missing: vec![evs[1 + i].id()],
            })
        );
    }
    assert_eq!(out[3], Err(IngestError::QuarantineFull { max: 3 }));
    let full = snapshot(&store);
    assert_eq!(full.counts.quarantined, 3);
    let waiting: Vec<EventId> = full.quarantine.iter().map(|q| q.0).collect();
    assert_eq!(waiting, vec![evs[2].id(), evs[3].id(), evs[4].id()]);

    // Again in its own call, and again after a restart (the bound counts what is on disk).
    assert_eq!(
        one(&store, &evs[5]),
        Err(IngestError::QuarantineFull { max: 3 })
    );
    assert_eq!(snapshot(&store), full);
    store.close().unwrap();
    let store = Store::open(dir.path(), cfg.clone()).unwrap();
    assert_eq!(
        one(&store, &evs[5]),
        Err(IngestError::QuarantineFull { max: 3 })
    );
    assert_eq!(snapshot(&store), full);
    // Already-quarantined events are still answered (they take no new room).
    assert_eq!(
        one(&store, &evs[3]),
        Ok(Ingested::Quarantined {
            id: evs[3].id(),
            missing: vec![evs[2].id()],
        })
    );
    assert_eq!(snapshot(&store), full);

    // Filling the gap drains the quarantine; then the refused event fits.
    assert_eq!(
        one(&store, &evs[1]),
        Ok(Ingested::Stored {
            id: evs[1].id(),
            released: vec![evs[2].id(), evs[3].id(), evs[4].id()],
        })
    );
    assert_eq!(store.counts().unwrap().quarantined, 0);
    assert!(matches!(one(&store, &evs[5]), Ok(Ingested::Stored { .. })));
    assert_consistent(&store);
    drop(store);

    // The per-log bound, independently of the global one.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        StoreConfig {
            max_quarantine_per_log: 2,
            ..config()
        },
    )
    .unwrap();
    let bs = chain(&identity(2), group(1), 4, "b");
    let out = store.ingest(evs[2..5].to_vec()).unwrap();
    assert!(matches!(out[0], Ok(Ingested::Quarantined { .. })));
    assert!(matches!(out[1], Ok(Ingested::Quarantined { .. })));
    assert_eq!(out[2], Err(IngestError::QuarantineFull { max: 2 }));
    let before = snapshot(&store);
    // Another log still has room.
    assert!(matches!(
        one(&store, &bs[3]),
        Ok(Ingested::Quarantined { .. })
    ));
    assert_eq!(
        store.counts().unwrap().quarantined,
        before.counts.quarantined + 1
    );
    assert_consistent(&store);
}

#[test]
fn mixed_batch_keeps_exactly_the_valid_events() {
    let (a, b, c, d) = (identity(1), identity(2), identity(3), identity(4));
    let g1 = group(1);
    let a_ev = chain(&a, g1, 5, "a");
    let b0 = post(&b, g1, 0, 0, None, vec![a_ev[0].id()], "b0");
    let c_ev = chain(&c, g1, 2, "c");
    let c0_evil = post(&c, g1, 0, 0, None, vec![], "c0 evil");
    let x = chain(&d, group(2), 2, "x");
    let base = |store: &Store| {
        common::ingest_all_stored(store, &a_ev[..3]);
        common::ingest_all_stored(store, &[b0.clone(), c_ev[0].clone(), x[0].clone()]);
        assert!(matches!(
            one(store, &c0_evil),
            Ok(Ingested::ForkDetected { .. })
        ));
    };

    let b1 = post(&b, g1, 0, 1, Some(b0.id()), vec![a_ev[3].id()], "b1");
    let a4_bad = post(&a, g1, 0, 4, Some(b0.id()), vec![], "a4 bad");
    let e0_other_dep = post(&identity(5), g1, 0, 0, None, vec![x[0].id()], "e0");
    let batch = vec![
        a_ev[3].clone(), // valid
        a4_bad.clone(),  // wrong backlink (a3 is stored by then)
        x[1].clone(),    // another group
        b1.clone(),      // valid, depends on a3 from the same batch
        e0_other_dep,    // dep in another group
        c_ev[1].clone(), // valid: extends a forked log (forks are data)
        a_ev[0].clone(), // duplicate
        a_ev[4].clone(), // valid
    ];

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    base(&store);
    let out = store.ingest_into(g1, batch).unwrap();
    let stored = |id: EventId| {
        Ok(Ingested::Stored {
            id,
            released: vec![],
        })
    };
    assert_eq!(
        out,
        vec![
            stored(a_ev[3].id()),
            Err(IngestError::WrongBacklink {
                seq: 4,
                expected: a_ev[3].id(),
                found: b0.id(),
            }),
            Err(IngestError::WrongGroup {
                expected: g1,
                found: group(2),
            }),
            stored(b1.id()),
            Err(IngestError::DepInOtherGroup { dep: x[0].id() }),
            stored(c_ev[1].id()),
            Ok(Ingested::Duplicate { id: a_ev[0].id() }),
            stored(a_ev[4].id()),
        ]
    );

    let dir2 = tempfile::tempdir().unwrap();
    let reference = open(dir2.path());
    base(&reference);
    common::ingest_all_stored(
        &reference,
        &[
            a_ev[3].clone(),
            b1.clone(),
            c_ev[1].clone(),
            a_ev[4].clone(),
        ],
    );
    assert_eq!(snapshot(&store), snapshot(&reference));
    assert_consistent(&store);
}

#[test]
fn opening_with_another_network_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    common::ingest_all_stored(&store, &chain(&identity(1), group(1), 3, "a"));
    let digest = store.digest().unwrap();
    store.close().unwrap();

    let other = NetworkId::named("other");
    match Store::open(
        dir.path(),
        StoreConfig {
            network: other,
            ..Default::default()
        },
    ) {
        Err(StoreError::WrongNetwork { stored, requested }) => {
            assert_eq!(stored, network());
            assert_eq!(requested, other);
        }
        other => panic!("expected WrongNetwork, got {other:?}"),
    }
    // The default (main) network too.
    assert!(matches!(
        Store::open(dir.path(), StoreConfig::default()),
        Err(StoreError::WrongNetwork { .. })
    ));
    // The data is untouched.
    let store = open(dir.path());
    assert_eq!(store.digest().unwrap(), digest);
    assert_eq!(store.network(), &network());
}

/// Builds a store holding a small DAG, closes it and returns its directory and events.
fn closed_dag_store(seed: u64) -> (tempfile::TempDir, common::Dag) {
    let dir = tempfile::tempdir().unwrap();
    let dag = build_dag(seed, 3, 24);
    let store = open(dir.path());
    common::ingest_all_stored(&store, &dag.events);
    let report = store.verify_all(|_, _| {}).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.events, 24);
    assert_eq!(report.logs, 3);
    store.close().unwrap();
    (dir, dag)
}

fn sqlite(dir: &tempfile::TempDir) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.path().join(dualpower_store::DB_FILE)).unwrap()
}

fn problem_ids(report: &dualpower_store::VerifyReport) -> Vec<Option<EventId>> {
    report.problems.iter().map(|p| p.id).collect()
}

#[test]
fn verify_all_catches_a_tampered_envelope() {
    let (dir, dag) = closed_dag_store(11);
    let victim = dag.events[10].id();
    {
        let conn = sqlite(&dir);
        let mut env: Vec<u8> = conn
            .query_row(
                "SELECT envelope FROM events WHERE id = ?1",
                [&victim.0[..]],
                |r| r.get(0),
            )
            .unwrap();
        let last = env.len() - 1; // inside the signature
        env[last] ^= 0x01;
        let n = conn
            .execute(
                "UPDATE events SET envelope = ?1 WHERE id = ?2",
                rusqlite::params![env, &victim.0[..]],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let store = open(dir.path());
    let report = store.verify_all(|_, _| {}).unwrap();
    assert!(!report.ok());
    assert!(
        report.problems.iter().any(|p| p.id == Some(victim)),
        "{:?}",
        report.problems
    );
    // Nobody else is blamed: every problem is about the victim or its tampered bytes.
    let mut env = dag.events[10].envelope().to_vec();
    let last = env.len() - 1;
    env[last] ^= 0x01;
    let tampered_hash = EventId(*blake3::hash(&env).as_bytes());
    for p in &report.problems {
        assert!(
            p.id == Some(victim) || p.id == Some(tampered_hash),
            "unexpected problem {p:?}"
        );
    }
    // Reading it back reports damage instead of returning wrong bytes.
    assert!(matches!(
        store.event(victim),
        Err(StoreError::Corrupt { .. })
    ));
}

/// verify_all should name the stored id of a damaged event for every problem it finds, so the
/// user can locate it. Today the signature problem names the hash of the tampered envelope.
#[test]
fn verify_all_names_the_stored_id_for_every_problem() {
    let (dir, dag) = closed_dag_store(12);
    let victim = dag.events[5].id();
    {
        let conn = sqlite(&dir);
        let mut env = dag.events[5].envelope().to_vec();
        let last = env.len() - 1;
        env[last] ^= 0x01;
        conn.execute(
            "UPDATE events SET envelope = ?1 WHERE id = ?2",
            rusqlite::params![env, &victim.0[..]],
        )
        .unwrap();
    }
    let store = open(dir.path());
    let report = store.verify_all(|_, _| {}).unwrap();
    assert!(!report.ok());
    assert!(
        problem_ids(&report).iter().all(|id| *id == Some(victim)),
        "{:?}",
        report.problems
    );
}

#[test]
fn verify_all_catches_a_changed_body() {
    let (dir, dag) = closed_dag_store(13);
    let victim = dag.events[7].id();
    {
        let conn = sqlite(&dir);
        let mut body = dag.events[7].body().unwrap().to_vec();
        let last = body.len() - 1; // a character of the post text: same length, other hash
        body[last] ^= 0x01;
        conn.execute(
            "UPDATE events SET body = ?1 WHERE id = ?2",
            rusqlite::params![body, &victim.0[..]],
        )
        .unwrap();
    }
    let store = open(dir.path());
    let report = store.verify_all(|_, _| {}).unwrap();
    assert_eq!(
        problem_ids(&report),
        vec![Some(victim)],
        "{:?}",
        report.problems
    );
    assert!(
        report.problems[0].what.contains("body_hash"),
        "{:?}",
        report.problems
    );
    assert!(matches!(
        store.event(victim),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn verify_all_catches_a_deleted_event() {
    let (dir, dag) = closed_dag_store(14);
    // An event that is the backlink of a later one in its log.
    let referenced = dag.referenced();
    let victim = dag
        .events
        .iter()
        .find(|e| e.header().seq > 0 && referenced.contains(&e.id()))
        .unwrap()
        .id();
    {
        let conn = sqlite(&dir);
        let n = conn
            .execute("DELETE FROM events WHERE id = ?1", [&victim.0[..]])
            .unwrap();
        assert_eq!(n, 1);
    }
    let store = open(dir.path());
    let report = store.verify_all(|_, _| {}).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.what.contains("gap") || p.what.contains("missing")),
        "{:?}",
        report.problems
    );
}

// ---------------------------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------------------------

/// Where each event frame of a bundle lies (parsed independently of `BundleReader`).
#[derive(Debug)]
struct FrameLoc {
    start: usize,
    envelope: Range<usize>,
    body: Option<Range<usize>>,
    end: usize,
}

fn parse_frames(b: &[u8]) -> Vec<FrameLoc> {
    assert_eq!(&b[..8], b"DPBUNDLE");
    let u32_at = |i: usize| u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
    let mut i = 8 + 1 + 32;
    let mut out = Vec::new();
    while b[i] == 1 {
        let start = i;
        let el = u32_at(i + 1);
        let envelope = i + 5..i + 5 + el;
        let bl = u32_at(envelope.end);
        let body = (bl > 0).then(|| envelope.end + 4..envelope.end + 4 + bl - 1);
        let end = body.as_ref().map_or(envelope.end + 4, |r| r.end);
        out.push(FrameLoc {
            start,
            envelope,
            body,
            end,
        });
        i = end;
    }
    assert_eq!(b[i], 0, "end marker");
    assert_eq!(i + 9, b.len());
    out
}

fn frame_id(b: &[u8], f: &FrameLoc) -> EventId {
    EventId(*blake3::hash(&b[f.envelope.clone()]).as_bytes())
}

/// A store holding a DAG (no forks, nothing quarantined) and its exported bundle.
fn source_with_bundle(seed: u64, n: usize) -> (tempfile::TempDir, Store, common::Dag, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let dag = build_dag(seed, 4, n);
    common::ingest_all_stored(&store, &dag.events);
    let mut bundle = Vec::new();
    let written = store.export_group(dag.group, &mut bundle).unwrap();
    assert_eq!(written, n as u64);
    (dir, store, dag, bundle)
}

#[test]
fn bundle_round_trip_reproduces_the_store() {
    let (_d, src, dag, bundle) = source_with_bundle(21, 40);
    let frames = parse_frames(&bundle);
    assert_eq!(frames.len(), 40);
    // Causal order: each event's predecessors come before it.
    let pos: std::collections::HashMap<EventId, usize> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| (frame_id(&bundle, f), i))
        .collect();
    for ev in &dag.events {
        let h = ev.header();
        for p in h.backlink.iter().chain(&h.deps) {
            assert!(pos[p] < pos[&ev.id()], "bundle not in causal order");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let dst = open(dir.path());
    let mut progress = Vec::new();
    let report = dst.import(&bundle[..], |n| progress.push(n)).unwrap();
    assert_eq!(report.read, 40);
    assert_eq!(report.stored, 40);
    assert_eq!(
        (report.duplicates, report.quarantined, report.forks),
        (0, 0, 0)
    );
    assert!(report.rejected.is_empty());
    assert_eq!(report.damaged, None);
    assert_eq!(progress.last(), Some(&(bundle.len() as u64)));
    assert_eq!(dst.digest().unwrap(), src.digest().unwrap());
    assert_eq!(dst.groups().unwrap(), src.groups().unwrap());
    assert_eq!(dst.groups().unwrap()[0].events, 40);

    // Exporting again gives the same bytes; importing again changes nothing.
    let mut again = Vec::new();
    dst.export_group(dag.group, &mut again).unwrap();
    assert_eq!(again, bundle);
    let digest = dst.digest().unwrap();
    let report = dst.import(&bundle[..], |_| {}).unwrap();
    assert_eq!((report.stored, report.duplicates), (0, 40));
    assert_eq!(dst.digest().unwrap(), digest);
}

#[test]
fn bundle_round_trip_carries_fork_proofs() {
    let (_d, src, dag, _) = source_with_bundle(22, 20);
    let last = dag.events.last().unwrap().header().clone();
    let author = dag
        .authors
        .iter()
        .find(|i| i.public() == last.author)
        .unwrap();
    let evil = post(
        author,
        dag.group,
        0,
        last.seq,
        last.backlink,
        last.deps.clone(),
        "conflicting",
    );
    assert!(matches!(
        one(&src, &evil),
        Ok(Ingested::ForkDetected { .. })
    ));
    let mut bundle = Vec::new();
    assert_eq!(src.export_group(dag.group, &mut bundle).unwrap(), 21);

    let dir = tempfile::tempdir().unwrap();
    let dst = open(dir.path());
    let report = dst.import(&bundle[..], |_| {}).unwrap();
    // Both versions are events now, so both are stored (and the second counted as a fork).
    assert_eq!((report.stored, report.forks), (21, 1));
    assert_eq!(dst.digest().unwrap(), src.digest().unwrap());
    assert_eq!(dst.forks().unwrap().len(), 1);
}

#[test]
fn bundle_with_a_tampered_body_rejects_exactly_that_event() {
    let (_d, src, dag, bundle) = source_with_bundle(23, 30);
    let frames = parse_frames(&bundle);

    // The last event in causal order: nothing depends on it, so all others must be stored.
    let k = frames.len() - 1;
    let mut bad = bundle.clone();
    let body = frames[k].body.clone().unwrap();
    bad[body.end - 1] ^= 0x01;
    let victim = frame_id(&bundle, &frames[k]);

    let dir = tempfile::tempdir().unwrap();
    let dst = open(dir.path());
    let report = dst.import(&bad[..], |_| {}).unwrap();
    assert_eq!(report.read, 30);
    assert_eq!(report.stored, 29);
    assert_eq!(report.quarantined, 0);
    assert_eq!(report.damaged, None);
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert_eq!(report.rejected[0].index, k as u64);
    assert_eq!(report.rejected[0].id, Some(victim));
    assert!(
        report.rejected[0].reason.contains("body_hash"),
        "{}",
        report.rejected[0].reason
    );
    assert!(dst.event(victim).unwrap().is_none());
    for f in &frames[..k] {
        assert!(dst.event(frame_id(&bundle, f)).unwrap().is_some());
    }
    assert_eq!(dst.counts().unwrap().events, 29);

    // A tampered event in the middle: its dependents wait in quarantine, the report's counts
    // agree with the store, and the genuine bundle later completes the store.
    let referenced = dag.referenced();
    let m = (1..k)
        .find(|&i| referenced.contains(&frame_id(&bundle, &frames[i])))
        .unwrap();
    let mut bad = bundle.clone();
    let body = frames[m].body.clone().unwrap();
    bad[body.end - 1] ^= 0x01;
    let victim = frame_id(&bundle, &frames[m]);
    let dir = tempfile::tempdir().unwrap();
    let dst = open(dir.path());
    let r1 = dst.import(&bad[..], |_| {}).unwrap();
    assert_eq!(r1.rejected.len(), 1);
    assert_eq!(r1.rejected[0].id, Some(victim));
    let counts = dst.counts().unwrap();
    assert_eq!(r1.stored, counts.events);
    assert_eq!(r1.quarantined, counts.quarantined);
    assert!(r1.quarantined > 0, "event {m} should have dependents");
    assert_eq!(r1.stored + r1.quarantined, 29);
    assert_consistent(&dst);
    let r2 = dst.import(&bundle[..], |_| {}).unwrap();
    assert!(r2.rejected.is_empty());
    assert_eq!(r1.stored + r2.stored, 30);
    assert_eq!(dst.counts().unwrap().quarantined, 0);
    assert_eq!(dst.digest().unwrap(), src.digest().unwrap());
}

/// Link-rule rejections during an import should carry the event's id (it is known).
#[test]
fn bundle_link_rejections_carry_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let x = chain(&identity(2), group(2), 1, "x");
    common::ingest_all_stored(&store, &x);
    let bad = post(&identity(1), group(1), 0, 0, None, vec![x[0].id()], "bad");
    let mut buf = Vec::new();
    let mut w = BundleWriter::new(&mut buf, store.network()).unwrap();
    w.push(bad.envelope(), bad.body()).unwrap();
    w.finish().unwrap();
    let report = store.import(&buf[..], |_| {}).unwrap();
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].id, Some(bad.id()));
}

#[test]
fn truncated_bundle_keeps_every_complete_event() {
    let (_d, _src, _dag, bundle) = source_with_bundle(24, 30);
    let frames = parse_frames(&bundle);
    for (cut, complete) in [
        // In the middle of frame 17's envelope.
        (frames[17].envelope.start + 10, 17),
        // In the middle of frame 9's body length.
        (frames[9].envelope.end + 2, 9),
        // Exactly after frame 29 (the end marker is missing).
        (frames[29].end, 30),
        // Inside the end marker's count.
        (frames[29].end + 4, 30),
        // Right after the header.
        (41, 0),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let dst = open(dir.path());
        let report = dst.import(&bundle[..cut], |_| {}).unwrap();
        assert!(report.damaged.is_some(), "cut at {cut}: {report:?}");
        assert_eq!(report.read, complete as u64, "cut at {cut}");
        assert_eq!(report.stored, complete as u64, "cut at {cut}");
        assert!(report.rejected.is_empty());
        for f in &frames[..complete] {
            assert!(dst.event(frame_id(&bundle, f)).unwrap().is_some());
        }
        let counts = dst.counts().unwrap();
        assert_eq!((counts.events, counts.quarantined), (complete as u64, 0));
    }
    // The reader reports where the damaged frame starts.
    let mut r = BundleReader::new(&bundle[..frames[17].envelope.start + 10]).unwrap();
    for _ in 0..17 {
        assert!(r.next_frame().unwrap().is_ok());
    }
    match r.next_frame() {
        Some(Err(BundleError::Damaged { offset, reason })) => {
            assert_eq!(offset, frames[17].start as u64);
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    assert!(r.next_frame().is_none());
}

#[test]
fn garbage_and_foreign_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    common::ingest_all_stored(&store, &chain(&identity(1), group(1), 2, "a"));
    let before = snapshot(&store);

    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    assert!(matches!(
        store.import(&garbage[..], |_| {}),
        Err(BundleError::NotABundle)
    ));
    assert!(matches!(
        store.import(&b"DPBUN"[..], |_| {}),
        Err(BundleError::NotABundle)
    ));
    assert!(matches!(
        store.import(&[][..], |_| {}),
        Err(BundleError::NotABundle)
    ));
    let mut v2 = b"DPBUNDLE".to_vec();
    v2.push(2);
    v2.extend_from_slice(&network().0);
    assert!(matches!(
        store.import(&v2[..], |_| {}),
        Err(BundleError::UnknownVersion(2))
    ));
    let mut foreign = Vec::new();
    BundleWriter::new(&mut foreign, &NetworkId::named("other"))
        .unwrap()
        .finish()
        .unwrap();
    match store.import(&foreign[..], |_| {}) {
        Err(BundleError::WrongNetwork { expected, found }) => {
            assert_eq!(expected, network());
            assert_eq!(found, NetworkId::named("other"));
        }
        other => panic!("expected WrongNetwork, got {other:?}"),
    }
    // A wrong end count and trailing bytes are reported as damage.
    let mut empty = Vec::new();
    BundleWriter::new(&mut empty, &network())
        .unwrap()
        .finish()
        .unwrap();
    let mut wrong_count = empty.clone();
    let n = wrong_count.len();
    wrong_count[n - 1] = 5;
    let r = store.import(&wrong_count[..], |_| {}).unwrap();
    assert!(r.damaged.as_deref().unwrap().contains("holds 5 events"));
    let mut trailing = empty.clone();
    trailing.push(0);
    let r = store.import(&trailing[..], |_| {}).unwrap();
    assert!(
        r.damaged
            .as_deref()
            .unwrap()
            .contains("after the end marker")
    );
    // An unknown frame tag.
    let mut tag = empty[..41].to_vec();
    tag.push(7);
    let r = store.import(&tag[..], |_| {}).unwrap();
    assert!(r.damaged.as_deref().unwrap().contains("unknown frame tag"));
    assert_eq!(snapshot(&store), before);
}

/// A reader that fails the test if it is asked for a large read at once (that would mean a
/// length prefix was trusted and a buffer of that size allocated), and otherwise yields `data`
/// followed by endless zeros.
struct Guard<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Read for Guard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        assert!(
            buf.len() <= 128 * 1024,
            "the bundle reader asked for {} bytes at once",
            buf.len()
        );
        let n = buf.len().min(4096);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = self.data.get(self.pos + i).copied().unwrap_or(0);
        }
        self.pos += n;
        Ok(n)
    }
}

#[test]
fn huge_length_prefixes_are_damage_not_allocations() {
    let (_d, _src, _dag, bundle) = source_with_bundle(25, 6);
    let frames = parse_frames(&bundle);
    let keep = frames[2].end;

    // Huge envelope length after two good frames; huge body length; a length just over the cap.
    let mut huge_env = bundle[..keep].to_vec();
    huge_env.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff]);
    let mut huge_body = bundle[..keep].to_vec();
    let env = &bundle[frames[0].envelope.clone()];
    huge_body.push(1);
    huge_body.extend_from_slice(&(env.len() as u32).to_be_bytes());
    huge_body.extend_from_slice(env);
    huge_body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    let mut just_over = bundle[..keep].to_vec();
    just_over.push(1);
    just_over
        .extend_from_slice(&(dualpower_core::event::MAX_ENVELOPE_BYTES as u32 + 1).to_be_bytes());

    for (name, bytes) in [
        ("envelope", &huge_env),
        ("body", &huge_body),
        ("just over", &just_over),
    ] {
        let mut r = BundleReader::new(Guard {
            data: bytes,
            pos: 0,
        })
        .unwrap();
        for _ in 0..3 {
            assert!(r.next_frame().unwrap().is_ok(), "{name}");
        }
        match r.next_frame() {
            Some(Err(BundleError::Damaged { offset, reason })) => {
                assert_eq!(offset, keep as u64, "{name}");
                assert!(reason.contains("exceeds"), "{name}: {reason}");
            }
            other => panic!("{name}: expected Damaged, got {other:?}"),
        }
        assert!(r.next_frame().is_none(), "{name}: reader must stop");

        let dir = tempfile::tempdir().unwrap();
        let dst = open(dir.path());
        let report = dst
            .import(
                Guard {
                    data: bytes,
                    pos: 0,
                },
                |_| {},
            )
            .unwrap();
        assert!(
            report.damaged.as_deref().unwrap().contains("exceeds"),
            "{name}: {report:?}"
        );
        assert_eq!((report.read, report.stored), (3, 3), "{name}");
        assert_eq!(dst.counts().unwrap().events, 3);
    }
}

/// A quarantined row damaged on disk must not block the writer: when it would be released it is
/// dropped (a peer can send the event again), and everything else in the call is stored.
#[test]
fn a_damaged_quarantine_row_is_dropped_without_blocking_the_writer() {
    let cfg = StoreConfig {
        max_quarantine: 1,
        ..config()
    };
    let a = chain(&identity(1), group(1), 3, "a");
    let b = chain(&identity(2), group(1), 3, "b");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), cfg.clone()).unwrap();
    common::ingest_all_stored(&store, &a[..1]);
    assert!(matches!(
        one(&store, &a[2]),
        Ok(Ingested::Quarantined { .. })
    ));
    store.close().unwrap();
    {
        let conn = sqlite(&dir);
        let mut env = a[2].envelope().to_vec();
        let last = env.len() - 1;
        env[last] ^= 0x01;
        let n = conn
            .execute(
                "UPDATE quarantine SET envelope = ?1 WHERE id = ?2",
                rusqlite::params![env, &a[2].id().0[..]],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let store = Store::open(dir.path(), cfg).unwrap();
    // verify_all points at the damaged row while it is there.
    let report = store.verify_all(|_, _| {}).unwrap();
    assert_eq!(
        problem_ids(&report),
        vec![Some(a[2].id())],
        "{:?}",
        report.problems
    );

    // b0 is fine; a1 releases the damaged row, which is dropped instead of failing the call.
    let out = store.ingest(vec![b[0].clone(), a[1].clone()]).unwrap();
    assert!(matches!(out[0], Ok(Ingested::Stored { .. })));
    assert_eq!(
        out[1],
        Ok(Ingested::Stored {
            id: a[1].id(),
            released: vec![]
        })
    );
    assert_eq!(store.counts().unwrap().quarantined, 0);
    // The quarantine has room again, and the genuine event can now be stored.
    assert!(matches!(one(&store, &a[2]), Ok(Ingested::Stored { .. })));
    assert!(store.verify_all(|_, _| {}).unwrap().ok());
    assert_consistent(&store);
}

/// Two `Store`s on one directory (two `dualpower` commands at once) must not be able to break
/// the link rules: either the second open is refused, or every writer sees the other's commits.
/// Each writer trusts its private cache of log rows and counts, so the store holds an exclusive
/// lock on the directory; writers that take turns still keep every rule.
#[test]
fn a_second_store_on_the_same_directory_cannot_break_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = open(dir.path());
    // The second open is refused while the first store is open...
    assert!(matches!(
        Store::open(dir.path(), config()),
        Err(StoreError::Locked { .. })
    ));
    drop(s1);
    // ...and allowed again once it is closed. The rest shows why the lock is needed: two
    // writers in turn still keep the rules, because each starts from the database.
    let s1 = open(dir.path());
    let s1_events = chain(&identity(9), group(1), 1, "z");
    common::ingest_all_stored(&s1, &s1_events);
    drop(s1);
    let s2 = open(dir.path());
    let a = identity(1);
    let evs = chain(&a, group(1), 3, "a");
    common::ingest_all_stored(&s2, &evs[..2]);
    drop(s2);
    let s1 = open(dir.path());
    let evil = post(&a, group(1), 0, 1, Some(evs[0].id()), vec![], "a 1 evil");
    assert!(matches!(one(&s1, &evil), Ok(Ingested::ForkDetected { .. })));
    drop(s1);
    let s2 = open(dir.path());
    assert!(
        matches!(
            s2.append(&a, group(1), 0, b"x".to_vec(), 0, 0),
            Err(AppendError::Forked)
        ),
        "the second writer appended to a forked log of its own"
    );
    let b = chain(&identity(2), group(1), 2, "b");
    assert!(matches!(one(&s2, &b[1]), Ok(Ingested::Quarantined { .. })));
    drop(s2);
    let s1 = open(dir.path());
    assert!(matches!(
        one(&s1, &b[0]),
        Ok(Ingested::Stored { released, .. }) if released == vec![b[1].id()]
    ));
    assert_consistent(&s1);
}
