//! Store ingest benchmark: pre-signed events into SQLite through the single writer.
//!
//! `cargo run --release -p dualpower-bench --bin ingest [-- EVENTS]`
//!
//! Reports events/s (wall), events per CPU-second, and bytes on disk per event, for ingest of
//! already-verified events (the store's own cost) and for the whole path from raw bytes
//! (decode + batch verify + store).

use dualpower_bench::{generate, measure, network};
use dualpower_core::{Event, verify_batch};
use dualpower_store::{Ingested, Store, StoreConfig};

const CALL: usize = 1000;

fn config() -> StoreConfig {
    StoreConfig {
        network: network(),
        ..StoreConfig::default()
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    eprintln!("signing {n} events (100 authors, 200-byte bodies)...");
    let events = generate(n, 100, 200);
    let raw_bytes: usize = events
        .iter()
        .map(|e| e.envelope().len() + e.body().map_or(0, <[u8]>::len))
        .sum();
    println!(
        "# store ingest, {n} events from 100 authors, {:.0} B/event raw (envelope + body), {CALL} events per ingest call, synchronous=FULL",
        raw_bytes as f64 / n as f64
    );

    // 1. Verified events into the store.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), config()).expect("open");
    let m = measure(|| {
        let mut stored = 0;
        for chunk in events.chunks(CALL) {
            for r in store.ingest(chunk.to_vec()).expect("ingest") {
                if let Ok(Ingested::Stored { released, .. }) = r {
                    stored += 1 + released.len();
                }
            }
        }
        stored
    });
    assert_eq!(m.value, n);
    let path = store.path().to_path_buf();
    store.close().expect("close");
    let disk = std::fs::metadata(&path).expect("db").len();
    println!(
        "store only      : {:>8.0} events/s wall, {:>8.0} events/CPU-s ({:.2} s wall, {:.2} s CPU); {:.0} B/event on disk",
        n as f64 / m.wall,
        n as f64 / m.cpu,
        m.wall,
        m.cpu,
        disk as f64 / n as f64
    );

    // 2. Raw bytes through decode + batch verify (2 threads) + store, pipelined: one thread
    //    verifies the next chunk while the writer commits the previous one.
    let raw: Vec<(Vec<u8>, Option<Vec<u8>>)> = events
        .iter()
        .map(|e| (e.envelope().to_vec(), e.body().map(<[u8]>::to_vec)))
        .collect();
    drop(events);
    let dir2 = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir2.path(), config()).expect("open");
    let net = network();
    let m = measure(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        std::thread::scope(|s| {
            let net = &net;
            let raw = &raw;
            s.spawn(move || {
                for chunk in raw.chunks(CALL) {
                    let decoded: Vec<Event> = chunk
                        .iter()
                        .map(|(e, b)| Event::decode(e.clone(), b.clone()).expect("valid"))
                        .collect();
                    let verified: Vec<_> = verify_batch(decoded, net)
                        .into_iter()
                        .map(|r| r.expect("valid"))
                        .collect();
                    if tx.send(verified).is_err() {
                        break;
                    }
                }
            });
            let mut stored = 0;
            for verified in rx {
                for r in store.ingest(verified).expect("ingest") {
                    if let Ok(Ingested::Stored { released, .. }) = r {
                        stored += 1 + released.len();
                    }
                }
            }
            stored
        })
    });
    assert_eq!(m.value, n);
    println!(
        "decode+verify+store: {:>8.0} events/s wall, {:>8.0} events/CPU-s ({:.2} s wall, {:.2} s CPU)",
        n as f64 / m.wall,
        n as f64 / m.cpu,
        m.wall,
        m.cpu
    );
    store.close().expect("close");
}
