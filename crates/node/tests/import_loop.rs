//! A big bundle imported through a running node (`/v1/import`, `Handle::import`) does not stop
//! the node: status (and so gossip, sync and every other API call, which share its loop) is
//! answered while the import runs, and stopping the node waits for the import to end.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dualpower_core::{Draft, EventId, GroupId, Identity, NetworkId, Payload};
use dualpower_net::NetConfig;
use dualpower_node::{Handle, NodeConfig};
use dualpower_store::{Store, StoreConfig};
use tokio::sync::{mpsc, oneshot};

fn net() -> NetworkId {
    NetworkId::named("import-loop-test")
}

fn config() -> StoreConfig {
    StoreConfig {
        network: net(),
        ..Default::default()
    }
}

/// A bundle of `n` posts by one author in a group of its own.
fn bundle(n: u64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let id = Identity::generate();
    let group = GroupId([9; 32]);
    let mut head: Option<EventId> = None;
    let mut batch = Vec::new();
    for seq in 0..n {
        let ev = Draft {
            group,
            log: 0,
            seq,
            backlink: head,
            deps: vec![],
            timestamp: 1_700_000_000_000 + seq,
            body: Payload::Post {
                text: format!("post {seq:0>100}"),
            }
            .encode(),
            flags: 0,
        }
        .sign(&id, &net())
        .unwrap();
        head = Some(ev.id());
        batch.push(ev);
        if batch.len() == 1000 {
            store.ingest(std::mem::take(&mut batch)).unwrap();
        }
    }
    store.ingest(batch).unwrap();
    let mut out = Vec::new();
    store.export_group(group, &mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_import_leaves_the_node_answering() {
    let bytes = bundle(30_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), config()).unwrap());
    let (handle, commands) = Handle::new();
    let (events_tx, mut events_rx) = mpsc::channel(64);
    tokio::spawn(async move { while events_rx.recv().await.is_some() {} });
    let (stop, stop_rx) = oneshot::channel::<()>();
    let cfg = NodeConfig {
        open_groups: false,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: vec![],
        net: NetConfig {
            mdns: false,
            ..Default::default()
        },
    };
    let task = tokio::spawn(dualpower_node::run(
        store.clone(),
        Identity::generate(),
        cfg,
        commands,
        events_tx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    assert!(handle.status().await.is_some());

    let importer: Handle = handle.clone();
    let started = Instant::now();
    let import = tokio::spawn(async move {
        let r = importer.import(bytes).await;
        (r, started.elapsed())
    });
    // The import command is queued before any status below (one channel, in order).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut answered_during = 0;
    while !import.is_finished() {
        let t = Instant::now();
        assert!(handle.status().await.is_some());
        if !import.is_finished() {
            answered_during += 1;
        }
        assert!(t.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (report, took) = import.await.unwrap();
    let report = report.unwrap();
    assert_eq!(report["stored"], 30_000, "{report}");
    // Before the import ran off the loop, no status was answered until it ended.
    assert!(
        answered_during > 0,
        "no status answered during an import of {took:?}"
    );

    // Stopping during an import waits for it, so that the store can be closed cleanly.
    let b = bundle(20_000);
    let again = tokio::spawn({
        let h = handle.clone();
        async move { h.import(b).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert_eq!(
        Arc::strong_count(&store),
        1,
        "the store is still in use after the node stopped"
    );
    let report = again.await.unwrap().unwrap();
    assert_eq!(report["stored"], 20_000, "{report}");
}
