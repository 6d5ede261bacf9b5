//! Sync reconciles forked logs: two stores holding different versions of a log position (each
//! unaware of the other's) converge to identical event sets through the sync protocol alone, and
//! events citing either branch end up stored on both sides. The protocol runs in process: the
//! requester's [`Session`], the responder's [`answer`] and [`store_answer`], with every request
//! and answer passed through the wire encoding, as the node does.
#![allow(clippy::unwrap_used)]

use dualpower_core::{Draft, EventId, GroupId, Identity, NetworkId, Payload, VerifiedEvent};
use dualpower_net::{Request, Response};
use dualpower_node::sync::{Session, Step, answer, store_answer};
use dualpower_store::{Store, StoreConfig};

fn net() -> NetworkId {
    NetworkId::named("fork-sync-test")
}

fn group() -> GroupId {
    GroupId([3; 32])
}

fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        dir.path(),
        StoreConfig {
            network: net(),
            ..Default::default()
        },
    )
    .unwrap();
    (s, dir)
}

fn identity(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

fn post(
    who: &Identity,
    seq: u64,
    backlink: Option<EventId>,
    deps: Vec<EventId>,
    text: &str,
) -> VerifiedEvent {
    Draft {
        group: group(),
        log: 0,
        seq,
        backlink,
        deps,
        timestamp: 1_700_000_000_000 + seq,
        body: Payload::Post { text: text.into() }.encode(),
        flags: 0,
    }
    .sign(who, &net())
    .unwrap()
}

/// `len` events of `who` continuing `prefix` (the part both branches share).
fn branch(who: &Identity, prefix: &[VerifiedEvent], len: u64, tag: &str) -> Vec<VerifiedEvent> {
    let mut out = prefix.to_vec();
    while (out.len() as u64) < len {
        let seq = out.len() as u64;
        let back = out.last().map(|e| e.id());
        out.push(post(who, seq, back, vec![], &format!("{tag} {seq}")));
    }
    out
}

fn put(store: &Store, events: &[VerifiedEvent]) {
    for o in store.ingest(events.to_vec()).unwrap() {
        o.unwrap();
    }
}

/// One sync session: `requester` pulls from `responder`. Returns the requests sent.
fn pull(requester: &Store, responder: &Store) -> usize {
    let token = [9; 32];
    let mut session = Session::new(token);
    let mut req = session.start(&requester.logs(Some(group())).unwrap());
    for sent in 1..=64 {
        // Through the wire format both ways, as between two nodes.
        let req_wire = Request::decode(&req.encode()).unwrap();
        let res = answer(responder, Some(group()), req_wire).unwrap();
        let res = Response::decode(&res.encode()).unwrap();
        let local = requester.logs(Some(group())).unwrap();
        let step = match res {
            Response::Events { events, .. } => {
                let f = store_answer(requester, group(), events, &req).unwrap();
                assert_eq!(f.invalid, 0, "the responder sent unasked or invalid events");
                session.after_events(&requester.logs(Some(group())).unwrap(), f.stored.len())
            }
            other => session
                .on_answer(&local, other, &|id| requester.contains(id).unwrap())
                .unwrap(),
        };
        match step {
            Step::Send(next) => req = next,
            Step::Done => return sent,
        }
    }
    panic!("a sync session did not end within 64 requests");
}

fn ids(store: &Store) -> Vec<EventId> {
    let mut v: Vec<EventId> = store
        .group_events(group())
        .unwrap()
        .iter()
        .map(|e| e.id())
        .collect();
    v.sort();
    v
}

/// Syncs both ways until the stores agree (at most `rounds` rounds); returns the rounds used.
fn converge(x: &Store, y: &Store, rounds: usize) -> usize {
    for round in 1..=rounds {
        pull(x, y);
        pull(y, x);
        if ids(x) == ids(y) && x.digest().unwrap() == y.digest().unwrap() {
            return round;
        }
    }
    panic!(
        "no convergence after {rounds} rounds: {} vs {} events",
        ids(x).len(),
        ids(y).len()
    );
}

#[test]
fn stores_holding_different_versions_converge() {
    let (forker, other) = (identity(1), identity(2));
    let shared = branch(&forker, &[], 3, "shared");
    // Same length on both sides: only the heads differ, so lengths alone see nothing.
    let a = branch(&forker, &shared, 6, "A");
    let b = branch(&forker, &shared, 6, "B");
    let (x, _dx) = store();
    let (y, _dy) = store();
    put(&x, &a);
    put(&y, &b);
    // Each side has an unforked log and an event citing its own branch's head.
    let on_a = post(&other, 0, None, vec![a[5].id()], "cites A");
    put(&x, std::slice::from_ref(&on_a));
    assert!(!x.logs(Some(group())).unwrap().iter().any(|l| l.forked));

    converge(&x, &y, 3);
    let logs = x.logs(Some(group())).unwrap();
    let forked = logs.iter().find(|l| l.author == forker.public()).unwrap();
    assert_eq!(forked.fork_seq, Some(3));
    assert_eq!(ids(&x).len(), 3 + 3 + 3 + 1);
    for s in [&x, &y] {
        assert!(s.quarantine().unwrap().is_empty());
        assert!(s.contains(&a[5].id()).unwrap() && s.contains(&b[5].id()).unwrap());
        assert!(s.verify_all(|_, _| {}).unwrap().ok());
    }

    // A later event citing the B branch, written where A was first: it reaches the other side
    // by sync and is stored there, not quarantined.
    let on_b = post(&other, 1, Some(on_a.id()), vec![b[5].id()], "cites B");
    put(&x, std::slice::from_ref(&on_b));
    converge(&x, &y, 2);
    assert!(y.contains(&on_b.id()).unwrap());
    assert!(y.quarantine().unwrap().is_empty());
}

#[test]
fn divergent_branches_of_different_lengths_converge() {
    let (forker, other) = (identity(3), identity(4));
    let shared = branch(&forker, &[], 10, "shared");
    let a = branch(&forker, &shared, 40, "A");
    let b = branch(&forker, &shared, 15, "B");
    let (x, _dx) = store();
    let (y, _dy) = store();
    put(&x, &a);
    put(&y, &b);
    // An event citing the shorter branch lives only where that branch is.
    let on_b = post(&other, 0, None, vec![b[14].id()], "cites B");
    put(&y, std::slice::from_ref(&on_b));

    converge(&x, &y, 3);
    assert_eq!(ids(&x).len(), 10 + 30 + 5 + 1);
    assert!(x.contains(&on_b.id()).unwrap());
    for s in [&x, &y] {
        assert!(s.quarantine().unwrap().is_empty());
        let l = s
            .logs(Some(group()))
            .unwrap()
            .into_iter()
            .find(|l| l.author == forker.public())
            .unwrap();
        assert_eq!((l.len, l.fork_seq), (40, Some(10)));
    }
}

#[test]
fn a_side_that_knows_the_fork_sends_both_branches() {
    // One store already holds both versions (e.g. from gossip); the other holds one branch and
    // is ahead on it. Lengths say the second store has everything; the fork flag says otherwise.
    let forker = identity(5);
    let shared = branch(&forker, &[], 2, "shared");
    let a = branch(&forker, &shared, 8, "A");
    let b = branch(&forker, &shared, 4, "B");
    let (x, _dx) = store();
    let (y, _dy) = store();
    put(&x, &a[..5]);
    put(&x, &b[2..]);
    put(&y, &a);
    converge(&x, &y, 2);
    assert_eq!(ids(&y).len(), 8 + 2);
}

#[test]
fn unforked_stores_stay_cheap() {
    // No fork: a store behind its peer catches up in the usual rounds, and an equal pair
    // answers in one request (the Tips round is only for digests that stay different).
    let who = identity(6);
    let log = branch(&who, &[], 30, "plain");
    let (x, _dx) = store();
    let (y, _dy) = store();
    put(&x, &log);
    put(&y, &log[..10]);
    pull(&y, &x);
    assert_eq!(ids(&x), ids(&y));
    assert_eq!(pull(&y, &x), 1);
    // The store that is ahead finds nothing to fetch: one Tips round shows the peer's head is
    // one it holds, and it stops (Summary, Fetch, Tips).
    let longer = branch(&who, &log, 31, "plain");
    put(&x, &longer[30..]);
    let before = ids(&x);
    assert_eq!(pull(&x, &y), 3);
    assert_eq!(ids(&x), before);
}
