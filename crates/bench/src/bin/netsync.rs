//! Ingest over the network: a node catches up 100 000 pre-signed events from another node over
//! TCP on 127.0.0.1 (both real `dualpower_node::run` nodes in one process, each with its own
//! store), through the whole path: libp2p (Noise, Yamux), sync protocol, strict decoding, batch
//! verification, link rules, SQLite commit. The measurement itself is
//! [`dualpower_bench::catch_up`], shared with `i2psync`.
//!
//! `cargo run --release -p dualpower-bench --bin netsync [-- EVENTS]`

use std::time::Duration;

use dualpower_bench::catch_up::{self, CatchUpConfig, Dial, Stores};
use dualpower_bench::generate;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    eprintln!("signing {n} events (100 authors, 200-byte bodies)...");
    let events = generate(n, 100, 200);
    let stores = Stores::new(&events).expect("stores");
    drop(events);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let r = rt
        .block_on(catch_up::run(
            &stores,
            CatchUpConfig {
                net_a: dualpower_net::NetConfig {
                    mdns: false,
                    ..Default::default()
                },
                net_b: dualpower_net::NetConfig {
                    mdns: false,
                    ..Default::default()
                },
                listen_a: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
                listen_b: vec![],
                dial: Dial::FirstListenAddr,
                listen_limit: Duration::from_secs(120),
                limit: Duration::from_secs(120),
            },
        ))
        .expect("catch-up");
    println!(
        "# network catch-up: {n} events from one node to an empty one over TCP 127.0.0.1 (both nodes in one process, 2 cores)"
    );
    println!(
        "stored {}/{n}: {:.0} events/s wall, {:.0} events per CPU-second (both nodes' CPU: {:.2} s), {:.2} s wall",
        r.stored,
        r.events_per_sec(),
        r.events_per_cpu_sec(),
        r.cpu,
        r.wall
    );
    println!(
        "round trips {}; sync round latency (request sent → events committed) p50 {:.1} ms, p99 {:.1} ms",
        r.rounds, r.round_ms[0], r.round_ms[1]
    );
}
