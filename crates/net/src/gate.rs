//! Gossip only with peers that proved membership.
//!
//! gossipsub tells every peer it learns of which topics we are subscribed to, accepts every
//! subscription and grafts whoever asks: left alone, any stranger that connects learns our
//! topics, joins the mesh and receives every (encrypted) message, which tells it who is in the
//! same group, when and how much they write. [`GatedGossip`] wraps gossipsub so that it never
//! learns of a connection to a peer the node has not admitted: such connections get a dummy
//! handler (they do not even speak the gossip protocol), so gossipsub sends them nothing.
//!
//! Admission is per peer and per group. Once the node admits a peer for some group
//! ([`GatedGossip::set_peer_groups`]), the gate opens one more connection to it, which gets the
//! real gossipsub handler. On that connection a subscription to a topic of a group the peer has
//! not proved is filtered out ([`MemberFilter`]), and a peer that still ends up subscribed or
//! grafted into such a topic's mesh loses its gossip connections. A peer whose admission grows
//! gets a fresh gossip connection (gossipsub exchanges subscriptions only on a first
//! connection), and one that loses every group loses them all.
//!
//! What an admitted peer can still learn: the (random-looking, epoch-derived) names of the
//! topics of our other groups, which gossipsub announces to every peer it knows.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dualpower_core::GroupId;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint, Multiaddr};
use libp2p::gossipsub::{self, TopicHash, TopicSubscriptionFilter};
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished, FromSwarm};
use libp2p::swarm::derive_prelude::Either;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};

/// The gossipsub behaviour the gate wraps.
pub type Gossip = gossipsub::Behaviour<gossipsub::IdentityTransform, MemberFilter>;

/// First wait before opening another gossip connection to an admitted peer after one failed
/// (doubles up to [`MAX_REDIAL`]).
const FIRST_REDIAL: Duration = Duration::from_secs(1);
/// Longest wait between attempts at a gossip connection.
const MAX_REDIAL: Duration = Duration::from_secs(60);
/// How often the gate checks which admitted peers lack a gossip connection.
const RECONCILE: Duration = Duration::from_millis(500);

/// Who may hear which topic, shared by the gate and the subscription filter inside gossipsub.
#[derive(Debug, Default)]
struct Access {
    /// Every gossip topic of ours, with its group.
    topics: HashMap<TopicHash, GroupId>,
    /// The groups each admitted peer proved.
    peers: HashMap<PeerId, HashSet<GroupId>>,
    /// Gossip open to every peer (open-groups mode: benchmarks and wire tests).
    open: bool,
    /// The peer whose gossip is being handled right now (set by the gate around each call
    /// into gossipsub with a peer's RPC, so the filter knows whose subscriptions it sees).
    current: Option<PeerId>,
}

impl Access {
    /// Whether `peer` may hear `topic`. Topics we do not know are harmless (we never publish
    /// there), so a subscription to one may arrive before we learn the topic ourselves.
    fn allows(&self, peer: &PeerId, topic: &TopicHash) -> bool {
        if self.open {
            return true;
        }
        match self.topics.get(topic) {
            None => true,
            Some(g) => self.peers.get(peer).is_some_and(|gs| gs.contains(g)),
        }
    }

    fn admitted(&self, peer: &PeerId) -> bool {
        self.open || self.peers.get(peer).is_some_and(|g| !g.is_empty())
    }
}

fn lock(a: &Mutex<Access>) -> std::sync::MutexGuard<'_, Access> {
    a.lock().unwrap_or_else(PoisonError::into_inner)
}

/// gossipsub's subscription filter: drops a peer's subscription to a topic of a group it has
/// not proved. Our own subscriptions are always allowed.
#[derive(Debug, Clone)]
pub struct MemberFilter(Arc<Mutex<Access>>);

impl TopicSubscriptionFilter for MemberFilter {
    fn can_subscribe(&mut self, topic_hash: &TopicHash) -> bool {
        let a = lock(&self.0);
        match a.current {
            None => true,
            Some(p) => a.allows(&p, topic_hash),
        }
    }
}

/// Per admitted peer: when the gate may next try to open a gossip connection, and how long it
/// waits after that.
#[derive(Debug, Clone, Copy)]
struct Redial {
    next: Instant,
    backoff: Duration,
}

/// gossipsub behind a membership gate (see the module documentation).
pub struct GatedGossip {
    inner: Gossip,
    access: Arc<Mutex<Access>>,
    /// Connections that carry gossip (gossipsub knows exactly these).
    real: HashMap<PeerId, HashSet<ConnectionId>>,
    /// Every open connection, per peer.
    open: HashMap<PeerId, HashSet<ConnectionId>>,
    /// Addresses we reached each peer at (to open a gossip connection to it).
    dialed: HashMap<PeerId, Vec<Multiaddr>>,
    redial: HashMap<PeerId, Redial>,
    closing: HashSet<ConnectionId>,
    out: VecDeque<ToSwarm<gossipsub::Event, THandlerInEvent<Self>>>,
    tick: Option<tokio::time::Interval>,
}

impl GatedGossip {
    /// Builds gossipsub with the membership filter, recording its metrics in `metrics`, and
    /// wraps it.
    pub fn new(
        privacy: gossipsub::MessageAuthenticity,
        config: gossipsub::Config,
        metrics: &mut prometheus_client::registry::Registry,
    ) -> Result<Self, &'static str> {
        let access = Arc::new(Mutex::new(Access::default()));
        let inner =
            Gossip::new_with_subscription_filter(privacy, config, MemberFilter(access.clone()))?
                .with_metrics(metrics, Default::default());
        Ok(GatedGossip {
            inner,
            access,
            real: HashMap::new(),
            open: HashMap::new(),
            dialed: HashMap::new(),
            redial: HashMap::new(),
            closing: HashSet::new(),
            out: VecDeque::new(),
            tick: None,
        })
    }

    /// The wrapped gossipsub (to subscribe, publish, report validation results).
    pub fn gossip(&mut self) -> &mut Gossip {
        &mut self.inner
    }

    /// The wrapped gossipsub, read-only.
    pub fn gossip_ref(&self) -> &Gossip {
        &self.inner
    }

    /// Opens gossip to every peer (open-groups mode: benchmarks and wire tests only).
    pub fn set_open(&mut self, open: bool) {
        lock(&self.access).open = open;
    }

    /// Records that `topic` is one of `group`'s (call before subscribing to it).
    pub fn set_topic(&mut self, topic: TopicHash, group: GroupId) {
        lock(&self.access).topics.insert(topic, group);
        self.enforce_all();
    }

    /// Forgets a topic we left.
    pub fn forget_topic(&mut self, topic: &TopicHash) {
        lock(&self.access).topics.remove(topic);
    }

    /// Sets the groups `peer` proved. A peer admitted for the first time gets a gossip
    /// connection; one admitted for more groups a fresh one (so its subscriptions are
    /// exchanged again); one admitted for none loses its gossip connections.
    pub fn set_peer_groups(&mut self, peer: PeerId, groups: HashSet<GroupId>) {
        let grew = {
            let mut a = lock(&self.access);
            let before = a.peers.get(&peer).cloned().unwrap_or_default();
            let grew = groups.iter().any(|g| !before.contains(g));
            if groups.is_empty() {
                a.peers.remove(&peer);
            } else {
                a.peers.insert(peer, groups.clone());
            }
            grew
        };
        if groups.is_empty() {
            self.redial.remove(&peer);
            self.close_gossip(peer);
            return;
        }
        if grew {
            self.close_gossip(peer);
            // Try at once.
            self.redial.insert(
                peer,
                Redial {
                    next: Instant::now(),
                    backoff: FIRST_REDIAL,
                },
            );
        }
        self.enforce(peer);
    }

    /// Whether `peer` is admitted to gossip.
    pub fn admitted(&self, peer: &PeerId) -> bool {
        lock(&self.access).admitted(peer)
    }

    /// Peers with at least one gossip connection.
    pub fn gossip_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.real
            .iter()
            .filter(|(_, c)| !c.is_empty())
            .map(|(p, _)| p)
    }

    fn close_gossip(&mut self, peer: PeerId) {
        let Some(conns) = self.real.get(&peer) else {
            return;
        };
        for c in conns {
            if self.closing.insert(*c) {
                self.out.push_back(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::One(*c),
                });
            }
        }
    }

    /// Closes `peer`'s gossip connections if gossipsub counts it in a topic it may not hear.
    fn enforce(&mut self, peer: PeerId) {
        if self.real.get(&peer).is_none_or(|c| c.is_empty()) {
            return;
        }
        let bad = {
            let a = lock(&self.access);
            let subscribed = self
                .inner
                .all_peers()
                .filter(|(p, _)| **p == peer)
                .any(|(_, topics)| topics.iter().any(|t| !a.allows(&peer, t)));
            subscribed
                || self
                    .inner
                    .topics()
                    .any(|t| !a.allows(&peer, t) && self.inner.mesh_peers(t).any(|p| *p == peer))
        };
        if bad {
            tracing::debug!(%peer, "gossip peer in a topic it did not prove; closing");
            self.close_gossip(peer);
        }
    }

    fn enforce_all(&mut self) {
        let peers: Vec<PeerId> = self.real.keys().copied().collect();
        for p in peers {
            self.enforce(p);
        }
    }

    /// Opens a gossip connection to every admitted, connected peer without one, each within
    /// its backoff.
    fn reconcile(&mut self) {
        let now = Instant::now();
        let admitted: Vec<PeerId> = {
            let a = lock(&self.access);
            self.open
                .iter()
                .filter(|(p, c)| !c.is_empty() && a.admitted(p))
                .map(|(p, _)| *p)
                .collect()
        };
        for peer in admitted {
            if self.real.get(&peer).is_some_and(|c| !c.is_empty()) {
                continue;
            }
            let r = self.redial.entry(peer).or_insert(Redial {
                next: now,
                backoff: FIRST_REDIAL,
            });
            if r.next > now {
                continue;
            }
            r.next = now + r.backoff;
            r.backoff = (r.backoff * 2).min(MAX_REDIAL);
            // Only at addresses we reached it at ourselves: a peer that dialed us is not
            // dialed back (it opens the gossip connection once it admits us), and no address
            // another peer told us about is tried.
            let Some(addrs) = self.dialed.get(&peer).filter(|a| !a.is_empty()).cloned() else {
                continue;
            };
            self.out.push_back(ToSwarm::Dial {
                opts: DialOpts::peer_id(peer)
                    .condition(PeerCondition::Always)
                    .addresses(addrs)
                    .build(),
            });
        }
    }

    fn gated(&self, peer: &PeerId) -> bool {
        !lock(&self.access).admitted(peer)
    }
}

/// Everything gossipsub offers (subscribe, publish, scores) stays reachable through the gate.
impl std::ops::Deref for GatedGossip {
    type Target = Gossip;
    fn deref(&self) -> &Gossip {
        &self.inner
    }
}

impl std::ops::DerefMut for GatedGossip {
    fn deref_mut(&mut self) -> &mut Gossip {
        &mut self.inner
    }
}

impl NetworkBehaviour for GatedGossip {
    type ConnectionHandler = Either<THandler<Gossip>, dummy::ConnectionHandler>;
    type ToSwarm = gossipsub::Event;

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.gated(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let h = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )?;
        self.real.entry(peer).or_default().insert(connection_id);
        Ok(Either::Left(h))
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.gated(&peer) {
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        let h = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )?;
        self.real.entry(peer).or_default().insert(connection_id);
        Ok(Either::Left(h))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.open
                    .entry(e.peer_id)
                    .or_default()
                    .insert(e.connection_id);
                if let ConnectedPoint::Dialer { address, .. } = e.endpoint {
                    let known = self.dialed.entry(e.peer_id).or_default();
                    if !known.contains(address) {
                        known.push(address.clone());
                        if known.len() > 4 {
                            known.remove(0);
                        }
                    }
                }
                let Some(real) = self.real.get(&e.peer_id) else {
                    return;
                };
                if !real.contains(&e.connection_id) {
                    return;
                }
                let others = real.len() - 1;
                self.inner.on_swarm_event(FromSwarm::ConnectionEstablished(
                    ConnectionEstablished {
                        other_established: others,
                        ..e
                    },
                ));
            }
            FromSwarm::ConnectionClosed(e) => {
                self.closing.remove(&e.connection_id);
                if let Some(o) = self.open.get_mut(&e.peer_id) {
                    o.remove(&e.connection_id);
                    if o.is_empty() {
                        self.open.remove(&e.peer_id);
                        self.dialed.remove(&e.peer_id);
                    }
                }
                let Some(real) = self.real.get_mut(&e.peer_id) else {
                    return;
                };
                if !real.remove(&e.connection_id) {
                    return;
                }
                let remaining = real.len();
                if remaining == 0 {
                    self.real.remove(&e.peer_id);
                }
                self.inner
                    .on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
                        remaining_established: remaining,
                        ..e
                    }));
            }
            FromSwarm::AddressChange(e) => {
                if self
                    .real
                    .get(&e.peer_id)
                    .is_some_and(|r| r.contains(&e.connection_id))
                {
                    self.inner.on_swarm_event(event);
                }
            }
            other => self.inner.on_swarm_event(other),
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            Either::Left(e) => {
                lock(&self.access).current = Some(peer);
                self.inner
                    .on_connection_handler_event(peer, connection_id, e);
                lock(&self.access).current = None;
                self.enforce(peer);
            }
            Either::Right(never) => match never {},
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some(ev) = self.out.pop_front() {
            return Poll::Ready(ev);
        }
        let tick = self
            .tick
            .get_or_insert_with(|| tokio::time::interval(RECONCILE));
        if tick.poll_tick(cx).is_ready() {
            self.reconcile();
            if let Some(ev) = self.out.pop_front() {
                return Poll::Ready(ev);
            }
        }
        loop {
            match self.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(ToSwarm::GenerateEvent(gossipsub::Event::GossipsubNotSupported {
                    peer_id,
                })) => {
                    // The peer has not admitted us (yet): drop this connection so gossipsub
                    // forgets it; `reconcile` tries again after a backoff. (Open gossip keeps
                    // it: there every connection has gossip, and a peer without is no member.)
                    if !lock(&self.access).open {
                        self.close_gossip(peer_id);
                    }
                    if let Some(ev) = self.out.pop_front() {
                        return Poll::Ready(ev);
                    }
                }
                Poll::Ready(ev) => return Poll::Ready(ev.map_in(Either::Left)),
            }
        }
    }
}
