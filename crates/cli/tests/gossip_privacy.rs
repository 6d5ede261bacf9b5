//! Gossip and discovery as an outsider sees them, across real `dualpower serve` processes on
//! loopback and stranger libp2p peers built here (with the same swarm as a node, gossip open to
//! anyone, so they subscribe to whatever they are told of):
//!
//! - a stranger connected to a member's node is told none of its topics and receives no message
//!   while members post (and members still reach each other by gossip);
//! - identify from the node lists no loopback or private address;
//! - a stranger announcing made-up private addresses is neither dialed there nor handed out by
//!   the node's peer directory;
//! - after a removal and rekey, the removed member's node receives no further gossip, and what it
//!   publishes reaches no member.
//!
//! Every wait has a deadline; every child process is killed when its guard is dropped.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use std::sync::atomic::AtomicBool;

use dualpower_net::{BehaviourEvent, NetConfig, build_swarm};
use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, identify, kad};

/// What a stranger saw.
#[derive(Debug, Default)]
struct Seen {
    /// (peer, topic) of every subscription a peer told us of.
    subscribed: Vec<(PeerId, String)>,
    /// Gossip messages received.
    messages: usize,
    /// Listen addresses each identify from a peer announced.
    identify: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Peers that connected to our extra listener (the address only we announced).
    inbound_on_extra: Vec<PeerId>,
    /// Every peer and address a directory query returned.
    closest: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Peers connected now.
    connected: BTreeSet<PeerId>,
}

/// A libp2p peer that is no member of anything, run on its own thread.
struct Stranger {
    peer: PeerId,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stranger {
    /// Starts a stranger that dials `target`, announces `announce` (and, if `extra`, a second
    /// loopback listener only it knows of) as its addresses, and, if `query`, asks the
    /// directory of the peer it dialed for the closest peers to random keys every second.
    fn start(target: &str, announce: &[&str], extra: bool, query: bool) -> Stranger {
        let target: Multiaddr = target.parse().unwrap();
        let Some(libp2p::multiaddr::Protocol::P2p(target_peer)) = target.iter().last() else {
            panic!("no peer id in {target}");
        };
        let announce: Vec<Multiaddr> = announce.iter().map(|a| a.parse().unwrap()).collect();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let key = Keypair::generate_ed25519();
        let peer = key.public().to_peer_id();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut swarm = build_swarm(
                    key,
                    &NetConfig {
                        mdns: false,
                        allow_private_peers: true,
                        ..Default::default()
                    },
                )
                .unwrap();
                // Gossip with anyone, as a third-party implementation would.
                swarm.behaviour_mut().gossipsub.set_open(true);
                let mut extra_listener = None;
                if extra {
                    extra_listener =
                        Some(swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap());
                }
                for a in &announce {
                    swarm.add_external_address(a.clone());
                }
                swarm
                    .behaviour_mut()
                    .kad
                    .as_mut()
                    .unwrap()
                    .add_address(&target_peer, target.clone());
                swarm.dial(target.clone()).unwrap();
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                while !stop2.load(Ordering::SeqCst) {
                    tokio::select! {
                        _ = tick.tick() => {
                            if query && let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                                kad.get_closest_peers(PeerId::random());
                            }
                        }
                        ev = swarm.select_next_some() => {
                            let mut s = seen2.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            match ev {
                                SwarmEvent::NewListenAddr { listener_id, address }
                                    if Some(listener_id) == extra_listener =>
                                {
                                    // Announce the real extra listener too.
                                    drop(s);
                                    swarm.add_external_address(address);
                                }
                                SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                                    s.connected.insert(peer_id);
                                    if let libp2p::core::ConnectedPoint::Listener { local_addr, .. } = &endpoint
                                        && local_addr.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::Tcp(_)))
                                        && extra_listener.is_some()
                                        && !announce.contains(local_addr)
                                    {
                                        s.inbound_on_extra.push(peer_id);
                                    }
                                }
                                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                                    s.connected.remove(&peer_id);
                                }
                                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                                    gossipsub::Event::Subscribed { peer_id, topic, .. },
                                )) => {
                                    s.subscribed.push((peer_id, topic.to_string()));
                                    drop(s);
                                    // Join whatever we are told of, as an eavesdropper would.
                                    let _ = swarm
                                        .behaviour_mut()
                                        .gossipsub
                                        .subscribe(&IdentTopic::new(topic.into_string()));
                                }
                                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                                    gossipsub::Event::Message { .. },
                                )) => s.messages += 1,
                                SwarmEvent::Behaviour(BehaviourEvent::Identify(
                                    identify::Event::Received { peer_id, info, .. },
                                )) => s.identify.push((peer_id, info.listen_addrs)),
                                SwarmEvent::Behaviour(BehaviourEvent::Kad(
                                    kad::Event::OutboundQueryProgressed {
                                        result: kad::QueryResult::GetClosestPeers(r),
                                        ..
                                    },
                                )) => {
                                    let peers = match r {
                                        Ok(ok) => ok.peers,
                                        Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                                    };
                                    for p in peers {
                                        s.closest.push((p.peer_id, p.addrs));
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                }
            });
        });
        Stranger {
            peer,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    fn wait(&self, what: &str, mut f: impl FnMut(&Seen) -> bool) {
        wait_for(what, DEADLINE, || {
            let s = self.seen.lock().unwrap();
            if f(&s) { Ok(()) } else { Err(format!("{s:?}")) }
        });
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn node_status(net: &Net, home: &Path) -> Value {
    net.ok_json(home, &["status"])["node"].clone()
}

fn counter(net: &Net, home: &Path, field: &str) -> u64 {
    node_status(net, home)[field].as_u64().unwrap_or(0)
}

fn is_loopback_or_private(a: &Multiaddr) -> bool {
    dualpower_net::guard::is_private(a)
}

/// A stranger connected to a member's node, told of nothing, receives nothing while members
/// post; identify from the node names no loopback or private address; a stranger's made-up
/// private addresses are neither dialed nor handed out by the node's directory.
#[test]
fn a_stranger_gets_no_topics_no_messages_and_no_addresses() {
    let net = Net::new("gossip-stranger");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Night shift");
    let a = Node::start(&net, "a", &[]);
    let b_home = net.member("b");
    let b = Node::start(&net, "b", &[&a.addr]);
    let b_id = net.invite_and_join(&a_home, &b_home, &g);
    net.wait_member(&a_home, &g, &b_id);

    let made_up = "/ip4/10.77.0.1/tcp/4001";
    let s1 = Stranger::start(&a.addr, &[made_up], true, false);
    let a_peer: PeerId = a.peer.parse().unwrap();
    s1.wait("the stranger to connect and identify A", |s| {
        s.connected.contains(&a_peer) && s.identify.iter().any(|(p, _)| *p == a_peer)
    });

    // Members talk, until each reads the other by gossip.
    net.post(&a_home, &g, "A: meeting at six");
    net.wait_post(&b_home, &g, "A: meeting at six", ADMIT);
    net.post(&b_home, &g, "B: bring the list");
    net.wait_post(&a_home, &g, "B: bring the list", DEADLINE);
    wait_for("B to receive gossip from A", DEADLINE, || {
        net.post(&a_home, &g, "A: still there?");
        thread::sleep(Duration::from_millis(500));
        let n = counter(&net, &b_home, "from_gossip");
        if n > 0 {
            Ok(())
        } else {
            Err(format!("from_gossip {n}"))
        }
    });

    // A second stranger asks A's directory for peers, over and over.
    let s2 = Stranger::start(&a.addr, &[], false, true);
    s2.wait("the second stranger's directory answers", |s| {
        s.connected.contains(&a_peer) && !s.closest.is_empty()
    });
    net.post(&a_home, &g, "A: last call");
    net.post(&b_home, &g, "B: on my way");
    thread::sleep(Duration::from_secs(4));

    s1.seen(|s| {
        assert!(
            s.subscribed.is_empty(),
            "the stranger was told topics: {:?}",
            s.subscribed
        );
        assert_eq!(s.messages, 0, "the stranger received gossip");
        for (p, addrs) in &s.identify {
            if *p == a_peer {
                assert!(
                    !addrs.iter().any(is_loopback_or_private),
                    "identify from A names loopback or private addresses: {addrs:?}"
                );
            }
        }
        assert!(
            !s.inbound_on_extra.contains(&a_peer),
            "A dialed the address the stranger made up"
        );
        assert!(s.connected.contains(&a_peer), "the stranger was dropped");
    });
    s2.seen(|s| {
        let leaked: Vec<_> = s
            .closest
            .iter()
            .filter(|(p, addrs)| {
                *p == s1.peer || addrs.iter().any(|a| a.to_string().contains("10.77.0.1"))
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "A's directory hands out the stranger: {leaked:?}"
        );
    });
    drop(s1);
    drop(s2);
    for n in [b, a] {
        n.stop();
    }
}

/// After a removal and rekey the removed member's node hears nothing more, and what it
/// publishes reaches no member.
#[test]
fn a_removed_member_hears_no_more_gossip() {
    let net = Net::new("gossip-removed");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Depot");
    let a = Node::start(&net, "a", &[]);
    let b_home = net.member("b");
    let c_home = net.member("c");
    let b = Node::start(&net, "b", &[&a.addr]);
    let c = Node::start(&net, "c", &[&a.addr]);
    let b_id = net.invite_and_join(&a_home, &b_home, &g);
    let c_id = net.invite_and_join(&a_home, &c_home, &g);
    net.wait_member(&a_home, &g, &b_id);
    net.wait_member(&a_home, &g, &c_id);
    net.post(&a_home, &g, "before: hello all");
    for h in [&b_home, &c_home] {
        net.wait_post(h, &g, "before: hello all", ADMIT);
    }
    // C hears the group by gossip before the removal.
    wait_for("C to receive gossip", DEADLINE, || {
        net.post(&a_home, &g, "before: anyone?");
        thread::sleep(Duration::from_millis(500));
        let n = counter(&net, &c_home, "gossip_received");
        if n > 0 {
            Ok(())
        } else {
            Err(format!("gossip_received {n}"))
        }
    });

    let removed = net.ok_json(&a_home, &["group", "remove", &g, &c_id, "--reason", "test"]);
    assert_eq!(removed["removed"], c_id.as_str(), "{removed}");
    let epoch = net.ok_json(&a_home, &["group", "members", &g])["epoch"].clone();
    wait_for(
        "B to learn of the removal and the new key",
        DEADLINE,
        || {
            let m = net.ok_json(&b_home, &["group", "members", &g]);
            if m["epoch"] == epoch {
                Ok(())
            } else {
                Err(format!("{m}"))
            }
        },
    );
    // The superseded topic's grace ends (TOPIC_GRACE, checked every second).
    thread::sleep(Duration::from_secs(8));

    let c_heard = counter(&net, &c_home, "gossip_received");
    let (a_heard, b_heard) = (
        counter(&net, &a_home, "gossip_received"),
        counter(&net, &b_home, "gossip_received"),
    );
    // Members write content and membership events (an invite is a control event, which the
    // old code also sent to every older topic).
    net.post(&a_home, &g, "after: new plan");
    net.invite(&a_home, &g);
    net.post(&b_home, &g, "after: agreed");
    net.wait_post(&b_home, &g, "after: new plan", DEADLINE);
    net.wait_post(&a_home, &g, "after: agreed", DEADLINE);
    // Gossip between A and B still works.
    wait_for("A and B to gossip after the removal", DEADLINE, || {
        let (na, nb) = (
            counter(&net, &a_home, "gossip_received"),
            counter(&net, &b_home, "gossip_received"),
        );
        if na > a_heard && nb > b_heard {
            Ok(())
        } else {
            net.post(&a_home, &g, "after: ping");
            net.post(&b_home, &g, "after: pong");
            Err(format!("A {a_heard}→{na}, B {b_heard}→{nb}"))
        }
    });
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        counter(&net, &c_home, "gossip_received"),
        c_heard,
        "the removed member's node still hears the group's gossip"
    );

    // What C's node publishes now reaches nobody.
    let (a_heard, b_heard) = (
        counter(&net, &a_home, "gossip_received"),
        counter(&net, &b_home, "gossip_received"),
    );
    for i in 0..3 {
        let _ = net.try_json(&c_home, &["post", &g, &format!("C after removal {i}")]);
        let _ = net.try_json(&c_home, &["group", "invite", &g]);
    }
    thread::sleep(Duration::from_secs(3));
    assert_eq!(
        counter(&net, &a_home, "gossip_received"),
        a_heard,
        "A heard C"
    );
    assert_eq!(
        counter(&net, &b_home, "gossip_received"),
        b_heard,
        "B heard C"
    );
    for n in [c, b, a] {
        n.stop();
    }
}
