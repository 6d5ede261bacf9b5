//! A join cannot be ended by a liar, across real processes on loopback.
//!
//! Before a joiner's node holds any of the group's events it cannot tell a member's key from
//! anyone else's: whoever knows the group's id (a removed member, someone who saw the code)
//! passes the handshake. Such a peer (a libp2p client built here from the workspace's net
//! crate) tells the joiner "you were removed": `group join` must not end with "turned away"
//! (exit 1), but keep waiting and show the claim as unconfirmed; `groups` shows it so too.
//!
//! Every listener is on 127.0.0.1, mDNS is off, every wait has a deadline, and every child
//! process is killed when its guard is dropped.
#![allow(clippy::unwrap_used)]
// Not every shared helper is used here.
#![allow(dead_code, unused_imports)]

include!("common/processes.rs");

use dualpower_core::{GroupId, Identity, NetworkId};
use dualpower_net::{
    BehaviourEvent, Handshake, Inbound, JoinRefusal, Label, NetConfig, Proof, Request, Response,
    Side, build_swarm,
};
use libp2p::futures::StreamExt;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, request_response};

/// Runs a peer that knows `group`'s id but is no member against the joiner at `addr` until
/// `stop` is set: it proves "knowing" the group with a key of its own and turns the joiner's
/// proof away as removed. Sets `lied` once it has.
async fn liar(
    addr: Multiaddr,
    joiner: PeerId,
    network: NetworkId,
    group: GroupId,
    lied: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let me = key.public().to_peer_id();
    let cfg = NetConfig {
        mdns: false,
        allow_private_peers: true,
        ..Default::default()
    };
    let mut swarm = build_swarm(key, &cfg).unwrap();
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    swarm.dial(addr).unwrap();
    let signer = Identity::generate();
    let (jb, mb) = (joiner.to_bytes(), me.to_bytes());
    let n2 = [8u8; 32];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !stop.load(Ordering::SeqCst) {
        tokio::select! {
            ev = swarm.select_next_some() => if let SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. },
                    ..
                },
            )) = ev
            {
                let Inbound::Valid(req) = request else { continue };
                let answer = match req {
                    Request::Hello { nonce, tags } => {
                        let hs = Handshake {
                            network: &network,
                            requester_nonce: &nonce,
                            responder_nonce: &n2,
                            requester: &jb,
                            responder: &mb,
                        };
                        let proofs = if tags.contains(&hs.tag(&group, Label::Hello)) {
                            vec![Proof {
                                tag: hs.tag(&group, Label::Answer),
                                key: signer.public(),
                                invite: None,
                                sig: signer.sign(&hs.message(&group, Side::Responder)),
                            }]
                        } else {
                            Vec::new()
                        };
                        Response::Hello { nonce: n2, proofs }
                    }
                    Request::Prove { proofs } => {
                        lied.store(true, Ordering::SeqCst);
                        Response::Proven {
                            tags: Vec::new(),
                            refused: proofs.iter().map(|p| (p.tag, JoinRefusal::Removed)).collect(),
                        }
                    }
                    Request::Nudge { .. } => Response::InSync,
                    _ => Response::Heights { logs: Vec::new(), truncated: false },
                };
                let _ = swarm.behaviour_mut().sync.send_response(channel, answer);
            },
            _ = tick.tick() => {}
        }
    }
}

#[test]
fn a_non_member_cannot_turn_a_joiner_away() {
    let net = Net::new("join-liar");
    let a_home = net.member("a");
    let g = net.create_group(&a_home, "Strike committee");
    // A's node is not running: no member answers the joiner, only the liar.
    let code = net.invite(&a_home, &g);
    let j_home = net.member("j");
    let j = Node::start(&net, "j", &[]);
    let group = GroupId::from_hex(&g).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let lied = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let task = rt.spawn(liar(
        j.addr.parse().unwrap(),
        j.peer.parse().unwrap(),
        NetworkId::named(&net.network),
        group,
        lied.clone(),
        stop.clone(),
    ));
    wait_for("the liar to connect to J", DEADLINE, || {
        let peers = j.peers(&net)?;
        if peers.is_empty() {
            Err("no peer".into())
        } else {
            Ok(())
        }
    });
    let out = net.run(&j_home, &["group", "join", "--timeout", "4", &code]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        lied.load(Ordering::SeqCst),
        "the liar never got J's proof (the attack did not happen): {stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a non-member's word ended the join: {stderr}"
    );
    assert!(
        stderr.contains("Unconfirmed") && stderr.contains("you were removed"),
        "{stderr}"
    );
    let groups = String::from_utf8_lossy(&net.run(&j_home, &["groups"]).stdout).into_owned();
    assert!(
        !groups.contains("join refused") && groups.contains("Unconfirmed"),
        "{groups}"
    );
    stop.store(true, Ordering::SeqCst);
    let _ = rt.block_on(task);
    j.stop();
}
