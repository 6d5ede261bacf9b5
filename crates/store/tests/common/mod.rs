//! Shared helpers for the store's integration tests: a deterministic PRNG, signing helpers and a
//! generator of valid multi-author DAGs.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use dualpower_core::{
    Draft, EventId, Genesis, GroupId, Identity, NetworkId, Payload, VerifiedEvent,
};
use dualpower_store::{Ingested, Store, StoreConfig};

/// The network every test store uses.
pub fn network() -> NetworkId {
    NetworkId::named("store-tests")
}

/// Default test configuration (on the test network).
pub fn config() -> StoreConfig {
    StoreConfig {
        network: network(),
        ..Default::default()
    }
}

/// Opens a store with [`config`] in `dir`.
pub fn open(dir: &Path) -> Store {
    Store::open(dir, config()).unwrap()
}

/// A deterministic identity for a small number.
pub fn identity(n: u64) -> Identity {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_be_bytes());
    seed[8..16].copy_from_slice(b"storetst");
    Identity::from_seed(&seed)
}

/// SplitMix64: a tiny deterministic PRNG (no dependency, same stream everywhere).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x005e_ed0f_d0a1_90e3)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(hi > lo);
        lo + self.next_u64() % (hi - lo)
    }

    /// Uniform index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Signs a post at an explicit position.
#[allow(clippy::too_many_arguments)]
pub fn post(
    who: &Identity,
    group: GroupId,
    log: u64,
    seq: u64,
    backlink: Option<EventId>,
    deps: Vec<EventId>,
    text: &str,
) -> VerifiedEvent {
    post_on(who, group, log, seq, backlink, deps, text, &network())
}

/// Like [`post`], signed for any network.
#[allow(clippy::too_many_arguments)]
pub fn post_on(
    who: &Identity,
    group: GroupId,
    log: u64,
    seq: u64,
    backlink: Option<EventId>,
    deps: Vec<EventId>,
    text: &str,
    net: &NetworkId,
) -> VerifiedEvent {
    Draft {
        group,
        log,
        seq,
        backlink,
        deps,
        timestamp: 1_700_000_000_000 + seq,
        body: Payload::Post { text: text.into() }.encode(),
        flags: 0,
    }
    .sign(who, net)
    .unwrap()
}

/// A chain of `len` posts by `who` in log 0 of `group`, without deps, starting at seq 0.
pub fn chain(who: &Identity, group: GroupId, len: u64, tag: &str) -> Vec<VerifiedEvent> {
    let mut out: Vec<VerifiedEvent> = Vec::new();
    for seq in 0..len {
        let back = out.last().map(|e| e.id());
        out.push(post(
            who,
            group,
            0,
            seq,
            back,
            vec![],
            &format!("{tag} {seq}"),
        ));
    }
    out
}

/// A group genesis event by `creator` (seq 0 of log 0) and the group it creates.
pub fn genesis(creator: &Identity, name: &str, nonce: [u8; 16]) -> (GroupId, VerifiedEvent) {
    let g = Genesis {
        name: name.into(),
        nonce,
        constitution: Default::default(),
    };
    let group = g.group_id(&creator.public());
    let ev = Draft {
        group,
        log: 0,
        seq: 0,
        backlink: None,
        deps: vec![],
        timestamp: 1_700_000_000_000,
        body: Payload::GroupGenesis(g).encode(),
        flags: 0,
    }
    .sign(creator, &network())
    .unwrap();
    (group, ev)
}

/// A valid multi-author history of one group.
#[derive(Clone, Debug)]
pub struct Dag {
    /// The group.
    pub group: GroupId,
    /// The authors (author 0 created the group).
    pub authors: Vec<Identity>,
    /// Every event, in creation order (a causal order: predecessors first).
    pub events: Vec<VerifiedEvent>,
}

impl Dag {
    /// Ids of all events.
    pub fn ids(&self) -> Vec<EventId> {
        self.events.iter().map(|e| e.id()).collect()
    }

    /// Ids of events that some other event of the DAG names as backlink or dep.
    pub fn referenced(&self) -> BTreeSet<EventId> {
        self.events
            .iter()
            .flat_map(|e| {
                let h = e.header();
                h.backlink.into_iter().chain(h.deps.iter().copied())
            })
            .collect()
    }
}

/// Builds a valid DAG deterministically from `seed`: `authors` authors each with log 0 in one
/// group (author 0's seq 0 is the group genesis), `events` events in all. Each event's backlink is
/// the author's previous event; its deps are 0..=3 current heads of other authors' logs (every
/// author's first event depends on the genesis), so there are many cross-log deps.
pub fn build_dag(seed: u64, authors: usize, events: usize) -> Dag {
    assert!(authors >= 1 && events >= 1);
    let mut rng = Rng::new(seed);
    let ids: Vec<Identity> = (0..authors as u64)
        .map(|a| identity(seed.wrapping_mul(1000).wrapping_add(a)))
        .collect();
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&seed.to_be_bytes());
    let (group, gen_ev) = genesis(&ids[0], &format!("dag {seed}"), nonce);
    let genesis_id = gen_ev.id();
    let mut heads: Vec<Option<(u64, EventId)>> = vec![None; authors];
    heads[0] = Some((0, genesis_id));
    let mut out = vec![gen_ev];
    for i in 1..events {
        let a = rng.below(authors);
        let (seq, backlink) = match heads[a] {
            Some((s, id)) => (s + 1, Some(id)),
            None => (0, None),
        };
        let others: Vec<EventId> = heads
            .iter()
            .enumerate()
            .filter(|(b, _)| *b != a)
            .filter_map(|(_, h)| h.map(|(_, id)| id))
            .collect();
        let mut deps = Vec::new();
        if !others.is_empty() {
            for _ in 0..rng.below(4) {
                deps.push(others[rng.below(others.len())]);
            }
        }
        if backlink.is_none() && a != 0 {
            deps.push(genesis_id);
        }
        let ev = post(
            &ids[a],
            group,
            0,
            seq,
            backlink,
            deps,
            &format!("dag {seed} event {i} by {a} seq {seq}"),
        );
        heads[a] = Some((seq, ev.id()));
        out.push(ev);
    }
    Dag {
        group,
        authors: ids,
        events: out,
    }
}

/// Ingests `events` in one call and asserts each is stored (not duplicate, quarantined, etc.).
pub fn ingest_all_stored(store: &Store, events: &[VerifiedEvent]) {
    let out = store.ingest(events.to_vec()).unwrap();
    for (ev, o) in events.iter().zip(out) {
        match o {
            Ok(Ingested::Stored { id, .. }) => assert_eq!(id, ev.id()),
            other => panic!("expected {} to be stored, got {other:?}", ev.id()),
        }
    }
}

/// Rows of a SQLite table keyed by `id`-like first column, for "nothing changed" checks that go
/// beyond the digest.
pub fn count_rows(store: &Store, table: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        store.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Asserts the store's invariants that must hold at every commit point:
/// * every log holds exactly seq 0..=height, its head is its last event;
/// * every quarantined event waits for something, and nothing it waits for is stored;
/// * the counts agree with the tables.
pub fn assert_consistent(store: &Store) {
    let conn = rusqlite::Connection::open_with_flags(
        store.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.events, rows as u64, "counts.events vs events table");
    let bad_logs: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM logs l WHERE l.height + 1 !=
                (SELECT COUNT(DISTINCT seq) FROM events e WHERE e.log_pk = l.log_pk)
             OR (l.height >= 0 AND l.head IS NOT
                (SELECT MIN(e.id) FROM events e WHERE e.log_pk = l.log_pk AND e.seq = l.height))
             OR l.fork_seq IS NOT (SELECT MIN(seq) FROM (SELECT seq FROM events e
                WHERE e.log_pk = l.log_pk GROUP BY seq HAVING COUNT(*) > 1))
             OR l.forked != (l.fork_seq IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        bad_logs, 0,
        "a log's height/head/fork seq disagrees with its events"
    );
    let q = store.quarantine().unwrap();
    assert_eq!(counts.quarantined, q.len() as u64);
    let mut waits: HashMap<EventId, Vec<EventId>> = HashMap::new();
    for (id, missing) in q {
        assert!(
            !missing.is_empty(),
            "{id} is quarantined but waits for nothing"
        );
        for m in &missing {
            assert!(
                store.event(*m).unwrap().is_none(),
                "{id} waits for {m}, which is stored (should have been released)"
            );
        }
        assert!(
            store.event(id).unwrap().is_none(),
            "{id} both stored and quarantined"
        );
        waits.insert(id, missing);
    }
    let orphan_waits: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM quarantine_waits w WHERE w.id NOT IN (SELECT id FROM quarantine)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        orphan_waits, 0,
        "quarantine_waits rows without a quarantined event"
    );
    let logs = store.logs(None).unwrap();
    assert_eq!(
        counts.logs,
        logs.iter().filter(|l| l.len > 0).count() as u64,
        "counts.logs vs logs()"
    );
    assert_eq!(counts.forks, store.forks().unwrap().len() as u64);
}
