//! Attacks on how members find each other in anonymous mode (issue 16).
//!
//! With no directory, a node in anonymous mode dials the I2P addresses the group's members
//! wrote into its log (`Payload::Reach`), again and again while they are not connected. Any
//! member can write what it likes there, so a hostile member could try to make the node:
//!
//! - dial the clear net (a TCP, DNS or QUIC address: it would reveal the node's IP address to
//!   whoever listens there, which is the very thing anonymous mode hides);
//! - forget an honest member, by flooding the log with addresses until the honest one falls out
//!   of what the node keeps dialing;
//! - dial itself (its own address, written by someone else), or keep dialing for it after it
//!   was removed from the group.
//!
//! Each test runs a real node over a recording transport (the in-memory transport, wrapped to
//! record every address the node dials and to stand in for I2P's listener) and checks what it
//! dialed. The intended behaviour: the addresses dialed are exactly the current ones (each
//! current member's latest `Reach`, I2P addresses only, never the node's own).

mod common;
use common::{Member, admit, create, exchange, member};

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use dualpower_core::{GroupId, Identity, VerifiedEvent};
use dualpower_net::{NetConfig, OwnTransport, node_keypair, upgrade_raw};
use dualpower_node::ops::{self, ConstitutionArgs, Op};
use dualpower_node::{Handle, NodeConfig, NodeError, NodeEvent};
use dualpower_store::Store;
use libp2p::core::transport::{DialOpts, ListenerId, MemoryTransport, TransportError};
use libp2p::core::transport::{Transport, TransportEvent};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Bound of every wait for dial rounds: the node dials every 5 s (node.rs `REDIAL_TICKS`
/// one-second ticks), so this is nine rounds, room for a slow machine.
const ROUNDS_WAIT: Duration = Duration::from_secs(45);
/// Bound of a whole test.
const TEST_LIMIT: Duration = Duration::from_secs(150);
/// Long enough for the node to see newly stored events: its next one-second tick re-derives
/// the group (and rebuilds the addresses it dials) once the group's event count changed.
const REFRESH: Duration = Duration::from_millis(2_500);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

/// A syntactically valid `/garlic64/…` address, distinct for each `tag`: a public destination
/// built the way dualpower-i2p's destination tests build one (384 bytes of keys and padding,
/// the signing key the Ed25519 base point, then a key certificate for Ed25519 signing and X25519
/// encryption), with `tag` in the first bytes of the encryption key.
fn garlic(tag: u32) -> Multiaddr {
    let mut bytes = vec![0u8; 384];
    bytes[..4].copy_from_slice(&tag.to_be_bytes());
    bytes[4] = 0xd9;
    let mut base_point = [0x66u8; 32];
    base_point[0] = 0x58;
    bytes[352..384].copy_from_slice(&base_point);
    bytes.extend_from_slice(&[5, 0, 4, 0, 7, 0, 4]);
    Multiaddr::empty().with(Protocol::Garlic64(bytes.into()))
}

fn is_garlic(a: &Multiaddr) -> bool {
    matches!(a.iter().next(), Some(Protocol::Garlic64(_)))
}

/// `a` without a trailing `/p2p/…`: the destination dialed, whoever is expected there.
fn dest(a: &Multiaddr) -> Multiaddr {
    let mut a = a.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

fn strings(addrs: &[Multiaddr]) -> Vec<String> {
    addrs.iter().map(ToString::to_string).collect()
}

/// Short text of an address for failure messages (garlic addresses are ~520 characters).
fn short(a: &Multiaddr) -> String {
    let s = a.to_string();
    if s.len() > 40 {
        format!("{}…{}", &s[..24], &s[s.len() - 12..])
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The recording transport
// ---------------------------------------------------------------------------------------------

/// Every address the node's transport was asked to dial, in order.
#[derive(Clone, Default)]
struct Dials(Arc<Mutex<Vec<Multiaddr>>>);

impl Dials {
    fn all(&self) -> Vec<Multiaddr> {
        self.0
            .lock()
            .expect("the dial record is not poisoned")
            .clone()
    }

    fn len(&self) -> usize {
        self.0
            .lock()
            .expect("the dial record is not poisoned")
            .len()
    }

    /// Dials from the `from`-th on.
    fn since(&self, from: usize) -> Vec<Multiaddr> {
        self.all().split_off(from)
    }

    /// How many dials since the `from`-th went to `addr`'s destination.
    fn count_since(&self, from: usize, addr: &Multiaddr) -> usize {
        let d = dest(addr);
        self.since(from).iter().filter(|a| dest(a) == d).count()
    }

    /// What was dialed, shortened, for failure messages.
    fn show(&self, from: usize) -> Vec<String> {
        self.since(from).iter().map(short).collect()
    }

    /// Waits (at most [`ROUNDS_WAIT`]) until `addr`'s destination was dialed `n` times since
    /// the `from`-th dial.
    async fn wait_for(&self, from: usize, addr: &Multiaddr, n: usize, what: &str) {
        let deadline = Instant::now() + ROUNDS_WAIT;
        while self.count_since(from, addr) < n {
            assert!(
                Instant::now() < deadline,
                "{what}: {} dialed {} time(s), not {n}, in {ROUNDS_WAIT:?}; dialed: {:?}",
                short(addr),
                self.count_since(from, addr),
                self.show(from)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The in-memory transport, recording every address it is asked to dial before it tries
/// (an I2P address then fails at once: the memory transport does not speak it). Listening on
/// a `/garlic64/` address stands in for the I2P transport: it reports that very address at
/// once and never accepts anything.
struct Recording {
    inner: MemoryTransport,
    dials: Dials,
    garlic_listeners: VecDeque<
        TransportEvent<
            <MemoryTransport as Transport>::ListenerUpgrade,
            <MemoryTransport as Transport>::Error,
        >,
    >,
    waker: Option<Waker>,
}

impl Transport for Recording {
    type Output = <MemoryTransport as Transport>::Output;
    type Error = <MemoryTransport as Transport>::Error;
    type ListenerUpgrade = <MemoryTransport as Transport>::ListenerUpgrade;
    type Dial = <MemoryTransport as Transport>::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        if !is_garlic(&addr) {
            return self.inner.listen_on(id, addr);
        }
        self.garlic_listeners.push_back(TransportEvent::NewAddress {
            listener_id: id,
            listen_addr: addr,
        });
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        self.dials
            .0
            .lock()
            .expect("the dial record is not poisoned")
            .push(addr.clone());
        self.inner.dial(addr, opts)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        if let Some(ev) = self.garlic_listeners.pop_front() {
            return Poll::Ready(ev);
        }
        self.waker = Some(cx.waker().clone());
        Pin::new(&mut self.inner).poll(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// The group and the node
// ---------------------------------------------------------------------------------------------

/// A group of the node's owner C (its creator), an honest member H and a hostile member M, as
/// separate stores that all hold the whole log. A test hands C's store and key to the node by
/// moving them out (`t.c.store`, `t.c.id`); C's temporary directory lives as long as `t`.
struct Trio {
    c: Member,
    h: Member,
    m: Member,
    g: GroupId,
    /// Ten minutes ago, less the setup: when the tests' own writes are dated.
    now: u64,
}

impl Trio {
    fn new() -> Trio {
        let (c, h, m) = (member(), member(), member());
        let now = now_ms() - 600_000;
        let g = create(&c, ConstitutionArgs::default(), now);
        admit(&c, &h, &[&c, &h, &m], g, now + 1_000);
        admit(&c, &m, &[&c, &h, &m], g, now + 2_000);
        for x in [&c, &h, &m] {
            ops::run_agent(&x.store, &x.id, g, now + 3_000).expect("the agent runs");
        }
        exchange(&[&c, &h, &m], g);
        let st = common::state(&c, g);
        for x in [&c, &h, &m] {
            assert!(
                st.is_member(&x.id.public()),
                "setup: not all three are members"
            );
        }
        Trio {
            c,
            h,
            m,
            g,
            now: now + 10_000,
        }
    }

    fn all(&self) -> [&Member; 3] {
        [&self.c, &self.h, &self.m]
    }
}

/// `who` writes a `Reach` holding `addrs` into `g`; returns the events written.
fn write_reach(who: &Member, g: GroupId, addrs: &[Multiaddr], now: u64) -> Vec<VerifiedEvent> {
    ops::write_reach(&who.store, &who.id, g, strings(addrs), now).expect("the Reach is written")
}

/// The addresses `reader` reads as `author`'s latest `Reach` in `g`.
fn latest_reach(store: &Store, reader: &Identity, g: GroupId, author: &Member) -> Vec<String> {
    ops::reach_addrs(store, reader, g, now_ms())
        .expect("the Reach events are readable")
        .remove(&author.id.public())
        .unwrap_or_default()
}

/// `got` (read from a log) is `want`; a failure shows both shortened.
fn assert_reads(got: Vec<String>, want: &[Multiaddr], what: &str) {
    if got != strings(want) {
        let got: Vec<String> = got
            .iter()
            .map(|s| s.parse().map_or_else(|_| s.clone(), |a| short(&a)))
            .collect();
        let want: Vec<String> = want.iter().map(short).collect();
        panic!("{what}: read {got:?}, expected {want:?}");
    }
}

/// C's node, running in anonymous mode over the recording transport.
struct Node {
    dials: Dials,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), NodeError>>,
    _handle: Handle,
}

/// Starts a node on `store` as `identity`, listening on `listen` (garlic addresses only, which
/// the recording transport pretends to listen on); waits until it listens on each.
async fn start(store: Arc<Store>, identity: Identity, listen: Vec<Multiaddr>) -> Node {
    let dials = Dials::default();
    let recording = Recording {
        inner: MemoryTransport::default(),
        dials: dials.clone(),
        garlic_listeners: VecDeque::new(),
        waker: None,
    };
    let cfg = NodeConfig {
        open_groups: false,
        listen: listen.clone(),
        bootstrap: vec![],
        net: NetConfig {
            anonymous: true,
            mdns: false,
            transport: Some(OwnTransport::new(Box::new(move |key| {
                upgrade_raw(recording, key)
            }))),
            ..Default::default()
        },
    };
    let (handle, commands) = Handle::new();
    let (events_tx, mut events_rx) = mpsc::channel(64);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(dualpower_node::run(
        store,
        identity,
        cfg,
        commands,
        events_tx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut waiting: Vec<Multiaddr> = listen;
    timeout(Duration::from_secs(15), async {
        while !waiting.is_empty() {
            match events_rx.recv().await {
                Some(NodeEvent::Listening(a)) => waiting.retain(|w| *w != dest(&a)),
                Some(_) => {}
                None => panic!("the node stopped before listening"),
            }
        }
    })
    .await
    .expect("the node listens in time");
    tokio::spawn(async move { while events_rx.recv().await.is_some() {} });
    Node {
        dials,
        stop: Some(stop),
        task,
        _handle: handle,
    }
}

impl Node {
    /// Stops the node and checks that it ran without error.
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("the node stops in time")
            .expect("the node task did not panic")
            .expect("the node ran without error");
    }
}

/// Runs a test body with an overall bound.
async fn bounded(body: impl Future<Output = ()>) {
    timeout(TEST_LIMIT, body)
        .await
        .expect("the test finished in time");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// M writes clear-net addresses (TCP to a honeypot the test holds, DNS, QUIC) into its `Reach`,
/// next to an I2P one. The node dials the I2P address round after round and nothing else: a
/// clear-net dial would reveal the node's IP address to M.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_reach_never_makes_the_node_dial_the_clear_net() {
    bounded(async {
        let t = Trio::new();
        let honeypot = std::net::TcpListener::bind("127.0.0.1:0").expect("a TCP honeypot");
        honeypot
            .set_nonblocking(true)
            .expect("the honeypot does not block");
        let tcp = honeypot.local_addr().expect("its address").port();
        let udp_pot = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP honeypot");
        udp_pot
            .set_nonblocking(true)
            .expect("the honeypot does not block");
        let udp = udp_pot.local_addr().expect("its address").port();
        let clear: Vec<Multiaddr> = [
            format!("/ip4/127.0.0.1/tcp/{tcp}"),
            format!("/dns4/localhost/tcp/{tcp}"),
            format!("/ip4/127.0.0.1/udp/{udp}/quic-v1"),
            format!("/ip6/::1/tcp/{tcp}"),
        ]
        .iter()
        .map(|s| s.parse().expect("a multiaddr"))
        .collect();
        let m_garlic = garlic(0x4d);
        // An older Reach with clear addresses only, then the latest: three clear, one I2P.
        write_reach(&t.m, t.g, &clear, t.now);
        let latest = [
            clear[0].clone(),
            clear[1].clone(),
            clear[2].clone(),
            m_garlic.clone(),
        ];
        write_reach(&t.m, t.g, &latest, t.now + 1);
        exchange(&t.all(), t.g);
        assert_reads(
            latest_reach(&t.c.store, &t.c.id, t.g, &t.m),
            &latest,
            "setup: C reads M's latest Reach",
        );

        let store = Arc::new(t.c.store);
        let node = start(store, t.c.id, vec![]).await;
        // Three rounds in which M's I2P address was dialed.
        node.dials
            .wait_for(0, &m_garlic, 3, "M's I2P address, round after round")
            .await;
        let dialed = node.dials.all();
        let clear_dials: Vec<String> = dialed
            .iter()
            .filter(|a| !is_garlic(a))
            .map(ToString::to_string)
            .collect();
        assert!(
            clear_dials.is_empty(),
            "the node dialed clear-net addresses a member wrote: {clear_dials:?}"
        );
        match honeypot.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, from)) => panic!("the TCP honeypot was connected to from {from}"),
            Err(e) => panic!("the TCP honeypot failed: {e}"),
        }
        let mut buf = [0u8; 2048];
        match udp_pot.recv_from(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((n, from)) => panic!("the UDP honeypot got {n} bytes from {from}"),
            Err(e) => panic!("the UDP honeypot failed: {e}"),
        }
        node.shutdown().await;
    })
    .await;
}

/// M floods the log with `Reach` events, four fresh I2P addresses each (60 events, 240
/// addresses): half already in the log when the node starts, half arriving while it runs, a few
/// per second, so that the node sees many successive "latest" ones. H wrote one `Reach`. Once
/// the flood has been seen, the node dials only H and M's latest four, and keeps dialing H: no
/// number of addresses written by one member pushes another member out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reach_flood_cannot_crowd_out_an_honest_member() {
    bounded(async {
        let t = Trio::new();
        let h_garlic = garlic(0x48);
        write_reach(&t.h, t.g, std::slice::from_ref(&h_garlic), t.now);
        let fresh =
            |i: u32| -> Vec<Multiaddr> { (0..4).map(|k| garlic(0x1000 + i * 4 + k)).collect() };
        const BEFORE: u32 = 30;
        const LIVE: u32 = 30;
        const PER_BATCH: u32 = 3;
        for i in 0..BEFORE {
            write_reach(&t.m, t.g, &fresh(i), t.now + 1 + u64::from(i));
        }
        exchange(&t.all(), t.g);
        // The rest of the flood, written now but handed to the node's store only while it runs.
        let mut live: Vec<Vec<VerifiedEvent>> = Vec::new();
        for i in BEFORE..BEFORE + LIVE {
            live.push(write_reach(&t.m, t.g, &fresh(i), t.now + 1 + u64::from(i)));
        }
        let last = fresh(BEFORE + LIVE - 1);
        assert_reads(
            latest_reach(&t.m.store, &t.m.id, t.g, &t.m),
            &last,
            "setup: M's latest Reach",
        );

        let store = Arc::new(t.c.store);
        let node = start(store.clone(), t.c.id, vec![]).await;
        for batch in live.chunks(PER_BATCH as usize) {
            store
                .ingest(batch.iter().flatten().cloned().collect())
                .expect("C's store takes M's events");
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        // The node has seen the whole flood once it re-derived the group.
        tokio::time::sleep(REFRESH).await;
        let mark = node.dials.len();
        node.dials
            .wait_for(mark, &h_garlic, 3, "H's address, after the flood")
            .await;
        let allowed: Vec<Multiaddr> = std::iter::once(h_garlic.clone())
            .chain(last.iter().cloned())
            .collect();
        let stray: Vec<String> = node
            .dials
            .since(mark)
            .iter()
            .filter(|a| !allowed.contains(&dest(a)))
            .map(short)
            .collect();
        assert!(
            stray.is_empty(),
            "after the flood the node dialed {} address(es) that are not a member's latest: \
             {stray:?}",
            stray.len()
        );
        for a in &last {
            assert!(
                node.dials.count_since(mark, a) >= 2,
                "M's latest address {} was not dialed each round: {:?}",
                short(a),
                node.dials.show(mark)
            );
        }
        // M's Reach events that were already superseded when the node started: never dialed.
        let superseded: Vec<Multiaddr> = (0..BEFORE - 1).flat_map(fresh).collect();
        let dialed_old: Vec<String> = node
            .dials
            .all()
            .iter()
            .filter(|a| superseded.contains(&dest(a)))
            .map(short)
            .collect();
        assert!(
            dialed_old.is_empty(),
            "the node dialed addresses of M's Reach events that were superseded before it \
             started: {dialed_old:?}"
        );
        node.shutdown().await;
    })
    .await;
}

/// M writes C's own address (as C listens on it, and with C's peer id, as C announces it) into
/// its `Reach`: C never dials it. Then C removes M: M's addresses are no longer dialed, while H's
/// still are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_make_the_node_dial_itself_or_dial_for_a_removed_member() {
    bounded(async {
        let t = Trio::new();
        let c_garlic = garlic(0x43);
        let c_peer: PeerId = node_keypair(&t.c.id).public().to_peer_id();
        let c_full = c_garlic.clone().with(Protocol::P2p(c_peer));
        let (h_garlic, m_garlic) = (garlic(0x48), garlic(0x4d));
        write_reach(&t.h, t.g, std::slice::from_ref(&h_garlic), t.now);
        let m_reach = [m_garlic.clone(), c_garlic.clone(), c_full.clone()];
        write_reach(&t.m, t.g, &m_reach, t.now + 1);
        exchange(&t.all(), t.g);
        assert_reads(
            latest_reach(&t.c.store, &t.c.id, t.g, &t.m),
            &m_reach,
            "setup: C reads its own address in M's Reach",
        );

        let c_id = Identity::from_seed(&t.c.id.seed());
        let m_did = t.m.did();
        let store = Arc::new(t.c.store);
        let node = start(store.clone(), t.c.id, vec![c_garlic.clone()]).await;
        // While M is a member, its address is dialed (so the check after its removal means
        // something), and H's too.
        node.dials
            .wait_for(0, &m_garlic, 2, "M's address while M is a member")
            .await;
        assert!(
            node.dials.count_since(0, &h_garlic) >= 2,
            "H's address was not dialed each round: {:?}",
            node.dials.show(0)
        );

        // C removes M (through its own store, as its local API would).
        ops::apply(
            &store,
            &c_id,
            Op::Remove {
                group: t.g.to_hex(),
                member: m_did,
                reason: "wrote our own address into its Reach".into(),
            },
            now_ms(),
        )
        .expect("C removes M");
        tokio::time::sleep(REFRESH).await;
        let mark = node.dials.len();
        node.dials
            .wait_for(mark, &h_garlic, 2, "H's address, after M's removal")
            .await;
        let own = |from: usize| -> Vec<String> {
            node.dials
                .since(from)
                .iter()
                .filter(|a| dest(a) == c_garlic)
                .map(|a| a.to_string()[a.to_string().len().saturating_sub(60)..].to_owned())
                .collect()
        };
        let (own_all, own_after) = (own(0), own(mark));
        assert!(
            own_all.is_empty(),
            "the node dialed its own address because a member wrote it: {} time(s) in all, {} \
             after M's removal (the last rounds): {own_all:?}",
            own_all.len(),
            own_after.len()
        );
        assert_eq!(
            node.dials.count_since(mark, &m_garlic),
            0,
            "the node still dials a removed member's address: {:?}",
            node.dials.show(mark)
        );
        node.shutdown().await;
    })
    .await;
}
