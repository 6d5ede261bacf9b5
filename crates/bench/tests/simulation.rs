//! 50 real nodes in one process over libp2p's memory transport: every event reaches every
//! node, by gossip or (for the unlucky) by catch-up sync.

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_every_event_reaches_every_node() {
    let report = dualpower_bench::sim::run(
        50,
        10,
        3,
        Duration::from_millis(100),
        Duration::from_secs(60),
        0x5eed,
    )
    .await;
    println!(
        "50 nodes, 10 events: delivered {}/{} ({} by gossip); propagation ms p50 {:.0} p90 {:.0} p99 {:.0} max {:.0}; {:.2} gossip messages per delivery, {:.2} duplicates per node per event",
        report.delivered,
        report.expected,
        report.by_gossip,
        report.latency_ms[0],
        report.latency_ms[1],
        report.latency_ms[2],
        report.latency_ms[3],
        report.messages_per_delivery(),
        report.duplicates_per_node_event()
    );
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert!(
        report.by_gossip > report.expected / 2,
        "gossip should carry most events: {report:?}"
    );
}
