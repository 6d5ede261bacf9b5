//! Verification pipeline benchmark: decode + signature verification + link check, no IO.
//!
//! `cargo run --release -p dualpower-bench --bin verify [-- EVENTS]`

use std::collections::HashMap;

use dualpower_bench::{generate, measure, network};
use dualpower_core::{Event, EventId, GroupId, PublicKey, VerifiedEvent, verify_batch};

const BATCH: usize = 256;

type Raw = (Vec<u8>, Option<Vec<u8>>);

fn decode_all(raw: &[Raw]) -> Vec<Event> {
    raw.iter()
        .map(|(e, b)| Event::decode(e.clone(), b.clone()).expect("valid"))
        .collect()
}

fn verify_chunks(raw: &[Raw]) -> Vec<VerifiedEvent> {
    let net = network();
    let mut out = Vec::with_capacity(raw.len());
    for chunk in raw.chunks(BATCH) {
        let decoded = decode_all(chunk);
        for v in verify_batch(decoded, &net) {
            out.push(v.expect("valid signature"));
        }
    }
    out
}

/// In-memory link check: contiguous seq per log and backlink = previous id.
fn link_check(events: &[VerifiedEvent]) -> usize {
    let mut logs: HashMap<(PublicKey, GroupId, u64), (u64, EventId)> = HashMap::new();
    let mut ok = 0;
    for ev in events {
        let h = ev.header();
        let key = (h.author, h.group, h.log);
        let valid = match (logs.get(&key), h.backlink) {
            (None, None) => h.seq == 0,
            (Some((next, head)), Some(b)) => h.seq == *next && b == *head,
            _ => false,
        };
        if valid {
            logs.insert(key, (h.seq + 1, ev.id()));
            ok += 1;
        }
    }
    ok
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    eprintln!("signing {n} events (100 authors, 200-byte bodies)...");
    let events = generate(n, 100, 200);
    let raw: Vec<Raw> = events
        .iter()
        .map(|e| (e.envelope().to_vec(), e.body().map(<[u8]>::to_vec)))
        .collect();
    let net = network();
    let per = |secs: f64| secs * 1e6 / n as f64;

    println!("# verification pipeline, {n} events, batch {BATCH}");
    println!("stage breakdown (1 core):");
    let d = measure(|| decode_all(&raw));
    println!(
        "  decode (strict CBOR + body hash + id)  {:7.2} µs/event",
        per(d.wall)
    );
    let decoded = d.value;
    let s = measure(|| {
        decoded
            .iter()
            .cloned()
            .map(|e| e.verify(&net).is_ok())
            .filter(|ok| *ok)
            .count()
    });
    assert_eq!(s.value, n);
    println!(
        "  verify, single                         {:7.2} µs/event",
        per(s.wall)
    );
    let b = measure(|| {
        decoded
            .chunks(BATCH)
            .map(|c| {
                verify_batch(c.to_vec(), &net)
                    .iter()
                    .filter(|r| r.is_ok())
                    .count()
            })
            .sum::<usize>()
    });
    assert_eq!(b.value, n);
    println!(
        "  verify, batch                          {:7.2} µs/event",
        per(b.wall)
    );
    let verified: Vec<VerifiedEvent> = events.clone();
    let l = measure(|| link_check(&verified));
    assert_eq!(l.value, n);
    println!(
        "  link check (in memory)                 {:7.2} µs/event",
        per(l.wall)
    );

    println!("whole pipeline (decode + batch verify + link check):");
    let one = measure(|| {
        let v = verify_chunks(&raw);
        link_check(&v)
    });
    assert_eq!(one.value, n);
    println!(
        "  1 core : {:>9.0} events/s wall, {:>9.0} events/CPU-s ({:.2} s wall, {:.2} s CPU)",
        n as f64 / one.wall,
        n as f64 / one.cpu,
        one.wall,
        one.cpu
    );
    let two = measure(|| {
        let (a, b) = raw.split_at(raw.len() / 2);
        let (va, vb) = std::thread::scope(|s| {
            let ha = s.spawn(|| verify_chunks(a));
            let hb = s.spawn(|| verify_chunks(b));
            (ha.join().expect("thread"), hb.join().expect("thread"))
        });
        let mut all = va;
        all.extend(vb);
        link_check(&all)
    });
    assert_eq!(two.value, n);
    println!(
        "  2 cores: {:>9.0} events/s wall, {:>9.0} events/CPU-s ({:.2} s wall, {:.2} s CPU)",
        n as f64 / two.wall,
        n as f64 / two.cpu,
        two.wall,
        two.cpu
    );
}
