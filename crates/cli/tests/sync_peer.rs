//! `sync --peer` with a peer we cannot sync with says so at once: a libp2p peer that does not
//! speak our sync protocol (only ping and identify), and a Dual Power node that shares no group
//! with us. Before, both waited out the whole timeout and then asked whether the peer was
//! reachable. Everything listens on 127.0.0.1; child processes are killed when dropped.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use libp2p::futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, ping};

/// A libp2p peer that speaks only ping and identify.
#[derive(libp2p::swarm::NetworkBehaviour)]
struct Plain {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
}

/// Runs a plain libp2p peer on 127.0.0.1 until `stop` is dropped; sends its address.
fn plain_peer(addr_tx: std::sync::mpsc::Sender<String>, stop: std::sync::mpsc::Receiver<()>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut swarm = libp2p::SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                libp2p::tcp::Config::default(),
                libp2p::noise::Config::new,
                libp2p::yamux::Config::default,
            )
            .unwrap()
            .with_behaviour(|k| Plain {
                ping: ping::Behaviour::default(),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/plain/1".into(),
                    k.public(),
                )),
            })
            .unwrap()
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .unwrap();
        let me = *swarm.local_peer_id();
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => {
                    if let SwarmEvent::NewListenAddr { address, .. } = ev {
                        let _ = addr_tx.send(format!("{address}/p2p/{me}"));
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if matches!(stop.try_recv(), Err(std::sync::mpsc::TryRecvError::Disconnected)) {
                        return;
                    }
                }
            }
        }
    });
}

/// Runs `sync --peer ADDR` at `home`; (exit ok, stderr, how long it took).
fn sync_with(net: &Net, home: &Path, addr: &str) -> (bool, String, Duration) {
    let t = Instant::now();
    let out = net.run(home, &["sync", "--peer", addr, "--timeout", "60"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

#[test]
fn sync_says_at_once_when_the_peer_is_no_dual_power_node_or_shares_no_group() {
    let net = Net::new("nonpeer");
    let m_home = net.member("m");
    net.create_group(&m_home, "Our group");

    // A libp2p peer with only ping and identify.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let plain = std::thread::spawn(move || plain_peer(addr_tx, stop_rx));
    let plain_addr = addr_rx.recv_timeout(DEADLINE).unwrap();
    let (ok, err, took) = sync_with(&net, &m_home, &plain_addr);
    assert!(!ok, "sync with a non-Dual-Power peer succeeded");
    assert!(err.contains("not a Dual Power node"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
    drop(stop_tx);
    plain.join().unwrap();

    // A Dual Power node with a group of its own only.
    let o_home = net.member("o");
    net.create_group(&o_home, "Their group");
    let o = Node::start(&net, "o", &[]);
    let (ok, err, took) = sync_with(&net, &m_home, &o.addr);
    assert!(!ok, "sync with a node sharing no group succeeded");
    assert!(err.contains("shares no group"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}: {err}");
}
