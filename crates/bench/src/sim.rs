//! An in-process network simulation: many real nodes (the same `dualpower_node::run` as
//! `dualpower serve`, each with its own SQLite store) connected over libp2p's in-memory
//! transport. Used by the simulation test and the gossip benchmark.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dualpower_core::{EventId, Genesis, Identity, Payload};
use dualpower_node::{Handle, NodeConfig, NodeEvent};
use dualpower_store::{Store, StoreConfig};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use tokio::sync::mpsc;

use crate::network;

/// What a simulation measured.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// Nodes.
    pub nodes: usize,
    /// Events published.
    pub events: usize,
    /// (event, node) deliveries expected: events × (nodes − 1).
    pub expected: usize,
    /// Deliveries observed before the deadline.
    pub delivered: usize,
    /// Of those, by gossip (the rest by sync).
    pub by_gossip: usize,
    /// Propagation delay percentiles in ms: p50, p90, p99, max.
    pub latency_ms: [f64; 4],
    /// Gossip messages received by all nodes, duplicates included.
    pub gossip_received: u64,
    /// Gossip messages received once (after duplicate filtering).
    pub gossip_unique: u64,
}

impl SimReport {
    /// Gossip messages received per delivered event (1.0 would mean no duplicates).
    pub fn messages_per_delivery(&self) -> f64 {
        self.gossip_received as f64 / self.delivered.max(1) as f64
    }
    /// Duplicate gossip messages per node per event.
    pub fn duplicates_per_node_event(&self) -> f64 {
        self.gossip_received.saturating_sub(self.gossip_unique) as f64
            / (self.nodes * self.events).max(1) as f64
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct SimNode {
    handle: Handle,
    store: Arc<Store>,
    _dir: tempfile::TempDir,
}

/// Runs `nodes` nodes, each connecting to `degree` random earlier ones, publishes `events`
/// posts from random nodes `gap` apart, and waits up to `deadline` for every node to have every
/// event. Must run inside a multi-thread tokio runtime.
pub async fn run(
    nodes: usize,
    events: usize,
    degree: usize,
    gap: Duration,
    deadline: Duration,
    seed: u64,
) -> SimReport {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let base = 10_000 + (next() % 1_000_000_000);
    let ids: Vec<Identity> = (0..nodes)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 7).to_le_bytes());
            Identity::from_seed(&seed)
        })
        .collect();
    let genesis = Genesis {
        name: "simulation".into(),
        nonce: [3; 16],
        constitution: Default::default(),
    };
    let group = genesis.group_id(&ids[0].public());
    let (tx, mut rx) = mpsc::channel::<(usize, NodeEvent)>(1 << 16);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut sim = Vec::with_capacity(nodes);
    let mut addrs: Vec<Multiaddr> = Vec::with_capacity(nodes);
    let mut tasks = Vec::new();
    for (i, identity) in ids.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(
            Store::open(
                dir.path(),
                StoreConfig {
                    network: network(),
                    ..StoreConfig::default()
                },
            )
            .expect("store"),
        );
        store.follow(group).expect("follow");
        let peer = dualpower_net::node_keypair(identity).public().to_peer_id();
        let addr: Multiaddr = format!("/memory/{}", base + i as u64)
            .parse()
            .expect("addr");
        let bootstrap = (0..degree.min(i))
            .map(|_| addrs[(next() % i as u64) as usize].clone())
            .collect();
        addrs.push(addr.clone().with(Protocol::P2p(peer)));
        let (handle, commands) = Handle::new();
        let (ev_tx, mut ev_rx) = mpsc::channel(1 << 12);
        let fwd = tx.clone();
        tokio::spawn(async move {
            while let Some(e) = ev_rx.recv().await {
                if fwd.send((i, e)).await.is_err() {
                    break;
                }
            }
        });
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(dualpower_node::run(
            store.clone(),
            identity.clone(),
            NodeConfig {
                open_groups: true,
                listen: vec![addr],
                bootstrap,
                net: dualpower_net::NetConfig {
                    mdns: false,
                    memory_only: true,
                    ..Default::default()
                },
            },
            commands,
            ev_tx,
            async move {
                let _ = stop.wait_for(|s| *s).await;
            },
        )));
        sim.push(SimNode {
            handle,
            store,
            _dir: dir,
        });
    }
    // The genesis first, then let the meshes form.
    sim[0]
        .handle
        .append(group, Payload::GroupGenesis(genesis).encode(), 1)
        .await
        .expect("genesis");
    tokio::time::sleep(Duration::from_secs(3)).await;
    while rx.try_recv().is_ok() {}

    let mut published: HashMap<EventId, (usize, Instant)> = HashMap::new();
    let mut arrivals: HashMap<(EventId, usize), (Instant, bool)> = HashMap::new();
    for n in 0..events {
        let from = (next() % nodes as u64) as usize;
        let body = Payload::Post {
            text: format!("event {n} from node {from}"),
        }
        .encode();
        let t = Instant::now();
        let ev = sim[from]
            .handle
            .append(group, body, 2 + n as u64)
            .await
            .expect("append");
        published.insert(ev.id(), (from, t));
        let until = Instant::now() + gap;
        while let Ok(Some((node, e))) = tokio::time::timeout_at(until.into(), rx.recv()).await {
            if let NodeEvent::Stored { id, by_gossip } = e {
                arrivals
                    .entry((id, node))
                    .or_insert((Instant::now(), by_gossip));
            }
        }
    }
    let expected = events * (nodes - 1);
    let end = Instant::now() + deadline;
    let count = |arrivals: &HashMap<(EventId, usize), (Instant, bool)>| {
        arrivals
            .keys()
            .filter(|(id, node)| published.get(id).is_some_and(|(from, _)| from != node))
            .count()
    };
    while count(&arrivals) < expected {
        match tokio::time::timeout_at(end.into(), rx.recv()).await {
            Ok(Some((node, NodeEvent::Stored { id, by_gossip }))) => {
                arrivals
                    .entry((id, node))
                    .or_insert((Instant::now(), by_gossip));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let mut lat: Vec<f64> = Vec::new();
    let mut by_gossip = 0;
    for ((id, node), (at, gossip)) in &arrivals {
        if let Some((from, t)) = published.get(id)
            && from != node
        {
            lat.push(at.duration_since(*t).as_secs_f64() * 1000.0);
            by_gossip += usize::from(*gossip);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let (mut received, mut unique) = (0, 0);
    for n in &sim {
        if let Some(s) = n.handle.status().await {
            received += s.gossip_received;
            unique += s.gossip_unique;
        }
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    for n in &sim {
        let _ = n.store.counts();
    }
    SimReport {
        nodes,
        events,
        expected,
        delivered: lat.len(),
        by_gossip,
        latency_ms: [
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
        ],
        gossip_received: received,
        gossip_unique: unique,
    }
}
