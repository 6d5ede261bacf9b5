//! Catch-up sync benchmark: the real sync decisions (`dualpower_node::sync`) and wire encoding
//! between two real stores, in one process (no sockets, so round trips and bytes are exact and
//! CPU per side is measured separately), compared with raw negentropy on the same sets.
//!
//! `cargo run --release -p dualpower-bench --bin sync [-- EVENTS AUTHORS]`
//!
//! Scenarios (B syncs from A; A holds everything): identical sets; B lacks 1, 100, 10 000 random
//! events; B lacks the newest 1 000; B is empty. In Dual Power every log is stored as a
//! contiguous prefix, so a "random missing event" is a random log missing its newest events:
//! k differences = k tail events removed from random logs. Events here depend only on their own
//! log, so a missing suffix does not hold back other logs (with cross-log deps, B's store would
//! hold the dependents in quarantine and the sets would not be comparable with negentropy's).

use std::time::{Duration, Instant};

use dualpower_bench::{generate_with, network};
use dualpower_core::{EventId, GroupId, VerifiedEvent};
use dualpower_net::{GroupAccess, IdKnowledge, Request, Response};
use dualpower_node::sync;
use dualpower_store::{Store, StoreConfig};
use negentropy::{Id, Negentropy, NegentropyStorageVector};

struct Side {
    cpu: Duration,
    bytes_out: u64,
}

struct Outcome {
    round_trips: u64,
    requester: Side,
    responder: Side,
    fetched: usize,
    wall: Duration,
    event_bytes: u64,
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(
        dir,
        StoreConfig {
            network: network(),
            ..StoreConfig::default()
        },
    )
    .expect("store")
}

fn fill(store: &Store, events: &[VerifiedEvent]) {
    for chunk in events.chunks(5000) {
        store.ingest(chunk.to_vec()).expect("ingest");
    }
}

/// One catch-up with the node's logic: summary → heights → events … until in sync.
fn catch_up(a: &Store, b: &Store, group: GroupId) -> Outcome {
    let token = IdKnowledge.token(&group);
    let mut req_side = Side {
        cpu: Duration::ZERO,
        bytes_out: 0,
    };
    let mut res_side = Side {
        cpu: Duration::ZERO,
        bytes_out: 0,
    };
    let mut round_trips = 0;
    let mut fetched = 0;
    let mut event_bytes = 0u64;
    let start = Instant::now();
    let frame = |b: &[u8]| b.len() as u64 + 4;
    let mut ask = |req: Request, req_side: &mut Side, res_side: &mut Side| -> Response {
        round_trips += 1;
        let bytes = req.encode();
        req_side.bytes_out += frame(&bytes);
        let t = Instant::now();
        let req = Request::decode(&bytes).expect("decode");
        let res = sync::answer(a, Some(group), req).expect("answer");
        let bytes = res.encode();
        res_side.cpu += t.elapsed();
        res_side.bytes_out += frame(&bytes);
        Response::decode(&bytes).expect("decode")
    };
    let t = Instant::now();
    let mut session = sync::Session::new(token);
    let mut req = session.start(&b.logs(Some(group)).expect("logs"));
    req_side.cpu += t.elapsed();
    loop {
        let asked = req.clone();
        let res = ask(req, &mut req_side, &mut res_side);
        let t = Instant::now();
        let step = match res {
            Response::Events { events, .. } => {
                event_bytes += events
                    .iter()
                    .map(|(e, b)| (e.len() + b.as_ref().map_or(0, Vec::len)) as u64)
                    .sum::<u64>();
                let f = sync::store_answer(b, group, events, &asked).expect("store");
                assert_eq!(f.invalid, 0);
                fetched += f.stored.len();
                session.after_events(&b.logs(Some(group)).expect("logs"), f.stored.len())
            }
            other => session
                .on_answer(&b.logs(Some(group)).expect("logs"), other, &|id| {
                    b.contains(id).expect("contains")
                })
                .expect("valid answer"),
        };
        req_side.cpu += t.elapsed();
        match step {
            sync::Step::Send(next) => req = next,
            sync::Step::Done => break,
        }
    }
    Outcome {
        round_trips,
        requester: req_side,
        responder: res_side,
        fetched,
        wall: start.elapsed(),
        event_bytes,
    }
}

/// Raw negentropy between the two id sets (items: advisory timestamp + id), 60 KB frames.
fn raw_negentropy(
    a: &[(u64, EventId)],
    b: &[(u64, EventId)],
) -> (u64, u64, u64, usize, Duration, Duration) {
    let build = |items: &[(u64, EventId)]| {
        let mut s = NegentropyStorageVector::with_capacity(items.len());
        for (t, id) in items {
            s.insert(*t, Id::from_byte_array(id.0)).expect("insert");
        }
        s.seal().expect("seal");
        s
    };
    let t = Instant::now();
    let sa = build(a);
    let mut a_cpu = t.elapsed();
    let t = Instant::now();
    let sb = build(b);
    let mut client = Negentropy::borrowed(&sb, 60_000).expect("neg");
    let mut msg = client.initiate().expect("init");
    let mut b_cpu = t.elapsed();
    let mut server = Negentropy::borrowed(&sa, 60_000).expect("neg");
    let (mut rts, mut up, mut down) = (0u64, 0u64, 0u64);
    let mut need = Vec::new();
    loop {
        rts += 1;
        up += msg.len() as u64;
        let t = Instant::now();
        let answer = server.reconcile(&msg).expect("reconcile");
        a_cpu += t.elapsed();
        down += answer.len() as u64;
        let t = Instant::now();
        let mut have = Vec::new();
        let next = client
            .reconcile_with_ids(&answer, &mut have, &mut need)
            .expect("reconcile");
        b_cpu += t.elapsed();
        match next {
            Some(m) => msg = m,
            None => break,
        }
    }
    (rts, up, down, need.len(), a_cpu, b_cpu)
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let n = args.next().unwrap_or(1_000_000);
    let authors = args.next().unwrap_or(1000);
    eprintln!("signing {n} events from {authors} authors...");
    let events = generate_with(n, authors, 200, false);
    let group = events[0].header().group;
    let dir_a = tempfile::tempdir().expect("tmp");
    let a = open(dir_a.path());
    eprintln!("filling A...");
    fill(&a, &events);
    let items: Vec<(u64, EventId)> = events
        .iter()
        .map(|e| (e.header().timestamp, e.id()))
        .collect();

    println!(
        "# catch-up sync, A holds {n} events in {authors} logs (200-byte bodies); B syncs from A"
    );
    println!(
        "| scenario | missing | round trips (ours / negentropy) | bytes B→A (ours / neg) | bytes A→B excl. event bytes (ours / neg) | overhead B/missing event | responder CPU | requester CPU (incl. verify+store) | wall |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Events by author in order: per-author positions, to cut tails.
    let mut per_author: Vec<Vec<usize>> = vec![Vec::new(); authors];
    for (i, _) in events.iter().enumerate() {
        per_author[i % authors].push(i);
    }
    let scenarios: Vec<(&str, usize, bool)> = vec![
        ("identical", 0, false),
        ("1 random", 1, false),
        ("100 random", 100, false),
        ("10 000 random", 10_000, false),
        ("newest 1 000", 1000, true),
        ("empty joiner", n, false),
    ];
    for (name, k, newest) in scenarios {
        let mut removed = vec![false; n];
        if k == n {
            removed.iter_mut().for_each(|r| *r = true);
        } else if newest {
            for r in removed.iter_mut().rev().take(k) {
                *r = true;
            }
        } else {
            let mut cut = vec![0usize; authors];
            for _ in 0..k {
                let a = (next() % authors as u64) as usize;
                let len = per_author[a].len();
                if cut[a] < len {
                    cut[a] += 1;
                    removed[per_author[a][len - cut[a]]] = true;
                }
            }
        }
        let kept: Vec<VerifiedEvent> = events
            .iter()
            .zip(&removed)
            .filter(|(_, r)| !**r)
            .map(|(e, _)| e.clone())
            .collect();
        let missing = n - kept.len();
        let dir_b = tempfile::tempdir().expect("tmp");
        let b = open(dir_b.path());
        fill(&b, &kept);
        let b_items: Vec<(u64, EventId)> = kept
            .iter()
            .map(|e| (e.header().timestamp, e.id()))
            .collect();
        drop(kept);
        let (nrts, nup, ndown, nneed, _n_a_cpu, _n_b_cpu) = raw_negentropy(&items, &b_items);
        assert_eq!(nneed, missing);
        let o = catch_up(&a, &b, group);
        assert_eq!(o.fetched, missing, "{name}");
        assert_eq!(
            a.digest().expect("d"),
            b.digest().expect("d"),
            "{name}: sets differ after sync"
        );
        let down_overhead = o.responder.bytes_out - o.event_bytes;
        let per_missing = if missing > 0 {
            format!(
                "{:.1}",
                (o.requester.bytes_out + down_overhead) as f64 / missing as f64
            )
        } else {
            "—".into()
        };
        println!(
            "| {name} | {missing} | {} / {nrts} | {} / {nup} | {} / {ndown} | {per_missing} | {:.3} s | {:.3} s | {:.3} s |",
            o.round_trips,
            o.requester.bytes_out,
            down_overhead,
            o.responder.cpu.as_secs_f64(),
            o.requester.cpu.as_secs_f64(),
            o.wall.as_secs_f64(),
        );
        b.close().expect("close");
    }
}
