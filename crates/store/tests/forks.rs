//! Forks are data: both versions of a log position are stored events, whatever order they
//! arrive in, and events of other authors citing either version are stored, not stranded in
//! quarantine. (Before, only the first version was an event; the second sat in a side table
//! that dependency checks, `group_events` and quarantine release never saw.)
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_consistent, chain, identity, open, post};
use dualpower_core::{EventId, GroupId, VerifiedEvent};
use dualpower_store::{Ingested, Store};

fn group() -> GroupId {
    GroupId([7; 32])
}

/// A forked author (seq 1 signed twice, each version extended once) and another author whose
/// events cite each version.
struct Fork {
    base: Vec<VerifiedEvent>,
    a: VerifiedEvent,
    b: VerifiedEvent,
    a_next: VerifiedEvent,
    b_next: VerifiedEvent,
    /// By another author, citing `b`.
    cites_b: VerifiedEvent,
    /// By another author, citing `a_next`, after `cites_b`.
    cites_a: VerifiedEvent,
}

fn fork() -> Fork {
    let (forker, other) = (identity(1), identity(2));
    let base = chain(&forker, group(), 1, "base");
    let a = post(
        &forker,
        group(),
        0,
        1,
        Some(base[0].id()),
        vec![],
        "version A",
    );
    let b = post(
        &forker,
        group(),
        0,
        1,
        Some(base[0].id()),
        vec![],
        "version B",
    );
    let a_next = post(&forker, group(), 0, 2, Some(a.id()), vec![], "after A");
    let b_next = post(&forker, group(), 0, 2, Some(b.id()), vec![], "after B");
    let cites_b = post(&other, group(), 0, 0, None, vec![b.id()], "cites B");
    let cites_a = post(
        &other,
        group(),
        0,
        1,
        Some(cites_b.id()),
        vec![a_next.id()],
        "cites A",
    );
    Fork {
        base,
        a,
        b,
        a_next,
        b_next,
        cites_b,
        cites_a,
    }
}

fn one(store: &Store, ev: &VerifiedEvent) -> Ingested {
    store
        .ingest(vec![ev.clone()])
        .unwrap()
        .pop()
        .unwrap()
        .unwrap()
}

fn ids(store: &Store) -> Vec<EventId> {
    let mut ids: Vec<EventId> = store
        .group_events(group())
        .unwrap()
        .iter()
        .map(|e| e.id())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_dep_on_the_second_version_is_satisfied_in_either_order() {
    let f = fork();
    let mut seen = Vec::new();
    for (first, second) in [(&f.a, &f.b), (&f.b, &f.a)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        common::ingest_all_stored(&store, &f.base);
        assert!(matches!(one(&store, first), Ingested::Stored { .. }));
        assert_eq!(
            one(&store, second),
            Ingested::ForkDetected {
                id: second.id(),
                existing: first.id(),
                released: vec![],
            }
        );
        // Citing the version that arrived second: stored, not quarantined.
        assert_eq!(
            one(&store, &f.cites_b),
            Ingested::Stored {
                id: f.cites_b.id(),
                released: vec![],
            }
        );
        let got = ids(&store);
        assert!(got.contains(&f.a.id()) && got.contains(&f.b.id()));
        assert_eq!(got.len(), 4);
        assert!(store.event(second.id()).unwrap().is_some());
        assert!(store.quarantine().unwrap().is_empty());
        assert_eq!(store.forks().unwrap().len(), 1);
        assert!(store.verify_all(|_, _| {}).unwrap().ok());
        assert_consistent(&store);
        seen.push((got, store.digest().unwrap(), store.logs(None).unwrap()));
    }
    assert_eq!(seen[0], seen[1], "the arrival order left a trace");
}

#[test]
fn events_waiting_for_either_branch_are_released_and_orders_converge() {
    let f = fork();
    let all = [
        f.base[0].clone(),
        f.a.clone(),
        f.b.clone(),
        f.a_next.clone(),
        f.b_next.clone(),
        f.cites_b.clone(),
        f.cites_a.clone(),
    ];
    let mut rng = common::Rng::new(5);
    let mut reference: Option<(Vec<EventId>, [u8; 32])> = None;
    for round in 0..12 {
        let mut order = all.to_vec();
        if round > 0 {
            rng.shuffle(&mut order);
        } else {
            // The citing events first: everything waits, then is released by the versions.
            order.reverse();
        }
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for ev in &order {
            store
                .ingest(vec![ev.clone()])
                .unwrap()
                .pop()
                .unwrap()
                .unwrap();
        }
        assert!(
            store.quarantine().unwrap().is_empty(),
            "round {round}: something stayed in quarantine"
        );
        let got = ids(&store);
        assert_eq!(got.len(), all.len(), "round {round}");
        assert_consistent(&store);
        let now = (got, store.digest().unwrap());
        match &reference {
            None => reference = Some(now),
            Some(r) => assert_eq!(&now, r, "round {round}"),
        }
    }
}

#[test]
fn old_fork_proofs_become_events_when_the_store_opens() {
    // A store written before forks were data holds the second version in the `forks` table
    // only. Reopening feeds it through today's rules.
    let f = fork();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    common::ingest_all_stored(&store, &[f.base[0].clone(), f.a.clone()]);
    store.close().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join(dualpower_store::DB_FILE)).unwrap();
        let (envelope, body) = f.b.clone().into_parts();
        conn.execute(
            "INSERT INTO forks (conflicting, log_pk, seq, existing, envelope, body)
             SELECT ?1, log_pk, 1, ?2, ?3, ?4 FROM events WHERE id = ?2",
            rusqlite::params![&f.b.id().0[..], &f.a.id().0[..], envelope, body],
        )
        .unwrap();
    }
    let store = open(dir.path());
    assert!(store.event(f.b.id()).unwrap().is_some());
    assert_eq!(store.forks().unwrap().len(), 1);
    assert!(matches!(one(&store, &f.cites_b), Ingested::Stored { .. }));
    assert!(store.verify_all(|_, _| {}).unwrap().ok());
    assert_consistent(&store);
}
