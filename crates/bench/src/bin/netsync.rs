//! Ingest over the network: a node catches up 100 000 pre-signed events from another node over
//! TCP on 127.0.0.1 (both real `dualpower_node::run` nodes in one process, each with its own
//! store), through the whole path: libp2p (Noise, Yamux), sync protocol, strict decoding, batch
//! verification, link rules, SQLite commit.
//!
//! `cargo run --release -p dualpower-bench --bin netsync [-- EVENTS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use dualpower_bench::{cpu_seconds, generate, network};
use dualpower_core::Identity;
use dualpower_node::{Handle, NodeConfig, NodeEvent};
use dualpower_store::{Store, StoreConfig};

fn store(dir: &std::path::Path) -> Arc<Store> {
    Arc::new(
        Store::open(
            dir,
            StoreConfig {
                network: network(),
                ..StoreConfig::default()
            },
        )
        .expect("store"),
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    eprintln!("signing {n} events (100 authors, 200-byte bodies)...");
    let events = generate(n, 100, 200);
    let group = events[0].header().group;
    let (da, db) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let a = store(da.path());
    for chunk in events.chunks(5000) {
        a.ingest(chunk.to_vec()).expect("ingest");
    }
    a.follow(group).expect("follow");
    let b = store(db.path());
    b.follow(group).expect("follow");
    drop(events);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let net = dualpower_net::NetConfig {
            mdns: false,
            ..Default::default()
        };
        let (ha, ca) = Handle::new();
        let (ta, mut ra) = tokio::sync::mpsc::channel(64);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut s1 = stop_rx.clone();
        let node_a = tokio::spawn(dualpower_node::run(
            a.clone(),
            Identity::from_seed(&[1; 32]),
            NodeConfig {
                open_groups: true,
                listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
                bootstrap: vec![],
                net: net.clone(),
            },
            ca,
            ta,
            async move {
                let _ = s1.wait_for(|s| *s).await;
            },
        ));
        let addr = loop {
            if let Some(NodeEvent::Listening(addr)) = ra.recv().await {
                break addr;
            }
        };
        let (hb, cb) = Handle::new();
        let (tb, mut rb) = tokio::sync::mpsc::channel(1 << 17);
        let mut s2 = stop_rx.clone();
        let c0 = cpu_seconds();
        let t0 = Instant::now();
        let node_b = tokio::spawn(dualpower_node::run(
            b.clone(),
            Identity::from_seed(&[2; 32]),
            NodeConfig {
                open_groups: true,
                listen: vec![],
                bootstrap: vec![addr],
                net,
            },
            cb,
            tb,
            async move {
                let _ = s2.wait_for(|s| *s).await;
            },
        ));
        let mut stored = 0usize;
        let deadline = Instant::now() + Duration::from_secs(120);
        while stored < n {
            match tokio::time::timeout_at(deadline.into(), rb.recv()).await {
                Ok(Some(NodeEvent::Stored { .. })) => stored += 1,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        let st = hb.status().await.expect("status");
        let _ = ha.status().await;
        println!("# network catch-up: {n} events from one node to an empty one over TCP 127.0.0.1 (both nodes in one process, 2 cores)");
        println!(
            "stored {stored}/{n}: {:.0} events/s wall, {:.0} events per CPU-second (both nodes' CPU: {:.2} s), {:.2} s wall",
            stored as f64 / wall,
            stored as f64 / cpu,
            cpu,
            wall
        );
        println!(
            "round trips {}; sync round latency (request sent → events committed) p50 {:.1} ms, p99 {:.1} ms",
            st.syncs.iter().map(|s| s.rounds).sum::<u64>(),
            st.sync_round_ms[0],
            st.sync_round_ms[1]
        );
        let _ = stop_tx.send(true);
        let _ = node_a.await;
        let _ = node_b.await;
    });
}
