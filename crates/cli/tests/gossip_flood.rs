//! A flood of gossip messages the gossip library itself rejects (here: signed messages, which
//! our anonymous gossip refuses before the node sees them) costs the sender its score, so the
//! node soon ignores it, and the node's log, under its default filter, stays a few lines long.
//!
//! The node serves open groups (gossip open to any peer), so the attacker needs no membership
//! proof; with members-only groups it could not gossip at all before proving membership.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dualpower_core::{Genesis, Identity, NetworkId, Payload};
use dualpower_net::{GroupAccess, IdKnowledge, NetConfig};
use dualpower_node::node::DEFAULT_LOG_FILTER;
use dualpower_node::{Handle, NodeConfig, NodeEvent};
use dualpower_store::{Store, StoreConfig};
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{SwarmBuilder, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);
/// Messages in the flood.
const FLOOD: usize = 500;
/// Most log lines the flood may cause.
const MAX_LINES: usize = 3;

/// Where the node's log goes in this test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_rejected_gossip_costs_the_sender_and_logs_little() {
    let log = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER))
        .with_writer(log.clone())
        .with_ansi(false)
        .init();

    // The victim: a node holding one group.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(
            dir.path(),
            StoreConfig {
                network: NetworkId::named("flood"),
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let identity = Identity::generate();
    let author = identity.public();
    let (handle, commands) = Handle::new();
    let (events_tx, mut events_rx) = mpsc::channel(64);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let cfg = NodeConfig {
        open_groups: true,
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: vec![],
        net: NetConfig {
            mdns: false,
            ..Default::default()
        },
    };
    let task = tokio::spawn(dualpower_node::run(
        store.clone(),
        identity,
        cfg,
        commands,
        events_tx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let addr = timeout(WAIT, async {
        loop {
            if let Some(NodeEvent::Listening(a)) = events_rx.recv().await {
                return a;
            }
        }
    })
    .await
    .unwrap();
    let Some(Protocol::P2p(victim)) = addr.iter().last() else {
        panic!("{addr}");
    };
    let genesis = Genesis {
        name: "flooded".into(),
        nonce: [3; 16],
        constitution: Default::default(),
    };
    let group = genesis.group_id(&author);
    handle
        .append(group, Payload::GroupGenesis(genesis).encode(), 1)
        .await
        .unwrap();
    let topic = IdentTopic::new(IdKnowledge.topic(&group));

    // The attacker: plain gossipsub that signs its messages.
    let mut atk = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| {
            gossipsub::Behaviour::<
                gossipsub::IdentityTransform,
                gossipsub::AllowAllSubscriptionFilter,
            >::new(
                gossipsub::MessageAuthenticity::Signed(k.clone()),
                gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(700))
                    .connection_handler_queue_len(10_000)
                    .build()
                    .unwrap(),
            )
            .unwrap()
        })
        .unwrap()
        .build();
    let me = *atk.local_peer_id();
    atk.behaviour_mut().subscribe(&topic).unwrap();
    atk.dial(addr.clone()).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut subscribed = false;
    while !subscribed {
        assert!(Instant::now() < deadline, "the victim never subscribed");
        if let Ok(SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. })) =
            timeout(Duration::from_millis(100), atk.select_next_some()).await
        {
            subscribed = peer_id == victim;
        }
    }
    let lines_before = count_lines(&log);

    let mut sent = 0;
    for i in 0..FLOOD {
        if atk
            .behaviour_mut()
            .publish(topic.clone(), format!("flood {i}").into_bytes())
            .is_ok()
        {
            sent += 1;
        }
        // Keep the connection moving.
        let _ = timeout(Duration::from_millis(2), atk.select_next_some()).await;
    }
    assert!(sent > 0, "the attacker could not send");
    // Let everything arrive.
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        let _ = timeout(Duration::from_millis(50), atk.select_next_some()).await;
    }

    let status = handle.status().await.unwrap();
    let peer = status.peers.iter().find(|p| p.peer == me.to_string());
    let score = peer.and_then(|p| p.score);
    assert!(
        peer.is_none() || score.is_some_and(|s| s <= -80.0),
        "the flooder keeps its standing: {peer:?}"
    );
    let lines = count_lines(&log) - lines_before;
    assert!(
        lines <= MAX_LINES,
        "{lines} log lines for {sent} rejected messages:\n{}",
        String::from_utf8_lossy(&log.0.lock().unwrap())
    );
    assert_eq!(status.from_gossip, 0);

    let _ = stop.send(());
    timeout(WAIT, task).await.unwrap().unwrap().unwrap();
}

fn count_lines(log: &Captured) -> usize {
    log.0
        .lock()
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}
