//! Gossip propagation benchmark: N real nodes over libp2p's memory transport in one process.
//!
//! `cargo run --release -p dualpower-bench --bin gossip [-- NODES EVENTS]`

use std::time::Duration;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let nodes = args.next().unwrap_or(100);
    let events = args.next().unwrap_or(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let m = dualpower_bench::measure(|| {
        rt.block_on(dualpower_bench::sim::run(
            nodes,
            events,
            3,
            Duration::from_millis(200),
            Duration::from_secs(120),
            42,
        ))
    });
    let r = m.value;
    println!(
        "# gossip simulation: {nodes} nodes (3 dials each), {events} events, memory transport"
    );
    println!(
        "delivered {}/{} ({} by gossip, {} by sync)",
        r.delivered,
        r.expected,
        r.by_gossip,
        r.delivered - r.by_gossip
    );
    println!(
        "propagation ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
        r.latency_ms[0], r.latency_ms[1], r.latency_ms[2], r.latency_ms[3]
    );
    println!(
        "gossip messages per delivered event {:.2}; duplicates per node per event {:.2}",
        r.messages_per_delivery(),
        r.duplicates_per_node_event()
    );
    println!("whole run: {:.1} s wall, {:.1} s CPU", m.wall, m.cpu);
}
