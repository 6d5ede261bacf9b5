//! The running node: one event loop that owns the swarm and feeds everything it hears through
//! the same validation → store path as every other input.
//!
//! The loop is sequential on purpose (rust-libp2p's advice: keep things sequential until measured
//! slow): store calls are short and run via `block_in_place`, so an event is acknowledged to gossip
//! only after its transaction committed. Every channel into the loop is bounded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dualpower_core::{Event, EventId, GroupId, Identity, PublicKey, VerifiedEvent};
use dualpower_crypto::{ContentKey, decrypt, encrypt};
use dualpower_net::protocol::SYNC_PROTOCOL;
use dualpower_net::protocol::{Token, decode_gossip, encode_gossip};
use dualpower_net::swarm::KAD_PROTOCOL;
use dualpower_net::{
    Behaviour, BehaviourEvent, GroupAccess, IdKnowledge, NetConfig, RawEvent, Request, Response,
    build_swarm_with_metrics, gossip_received, node_keypair, topic_score_params,
};
use dualpower_state::GroupState;
use dualpower_store::{AppendError, IngestError, Ingested, Store, StoreError};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, TopicHash};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns};
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Misbehaviour strikes after which a peer is blocked.
const MAX_STRIKES: u32 = 5;
/// Every this many seconds, each connected peer is asked for a summary of each group (one
/// cheap round trip when in sync), so events fetched by sync, which are not re-gossiped, still
/// spread after a partition heals, however the peers happen to be connected.
const ANTI_ENTROPY_TICKS: u64 = 10;
/// Capacity of the command channel.
pub const COMMAND_QUEUE: usize = 64;
/// How long the node stays subscribed to a superseded epoch's topic (and keeps its gossip key),
/// so messages already on their way arrive; nothing is published there meanwhile.
pub const TOPIC_GRACE: Duration = Duration::from_secs(5);
/// At most one warning per peer per this long about its misbehaviour; the rest are counted.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// The default log filter of a running node: warnings, except gossipsub's own per-message
/// warnings (a flood of invalid messages would flood the log; the node penalises the sender
/// and logs a rate-limited summary instead).
pub const DEFAULT_LOG_FILTER: &str = "warn,libp2p_gossipsub=error";

/// Why the node stopped or could not start.
#[derive(Debug, Error)]
pub enum NodeError {
    /// The network could not be set up.
    #[error(transparent)]
    Net(#[from] dualpower_net::NetError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An address could not be listened on.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// How the node runs.
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to at start (and to seed Kademlia with).
    pub bootstrap: Vec<Multiaddr>,
    /// Network options.
    pub net: NetConfig,
    /// Serve every group to anyone who knows its id, without the membership check. Only for
    /// benchmarks and wire-protocol tests of the sync engine; never for real groups.
    pub open_groups: bool,
}

/// A request to the running node (from the local API).
#[derive(Debug)]
pub enum Command {
    /// Append an event with this body to our log in `group`, then gossip it.
    Append {
        /// Group.
        group: GroupId,
        /// Body bytes (an encoded payload).
        body: Vec<u8>,
        /// Timestamp (ms).
        timestamp: u64,
        /// The stored event, or why not.
        reply: oneshot::Sender<Result<VerifiedEvent, String>>,
    },
    /// Carry out a group operation (see [`crate::ops`]) and gossip what it wrote.
    Op {
        /// The operation (boxed: some variants are large).
        op: Box<crate::ops::Op>,
        /// Time (ms).
        now: u64,
        /// What it did, or why not.
        reply: oneshot::Sender<Result<serde_json::Value, String>>,
    },
    /// Keep `group` in sync (join by id).
    Follow {
        /// Group.
        group: GroupId,
        /// Whether it was new.
        reply: oneshot::Sender<Result<bool, String>>,
    },
    /// Connect to a peer and sync every group with it.
    Dial {
        /// Its address (with `/p2p/PEER` if known).
        addr: Multiaddr,
        /// Accepted or why not.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A snapshot of the node's state.
    Status {
        /// The snapshot.
        reply: oneshot::Sender<Status>,
    },
}

/// What the node reports about itself.
#[derive(Clone, Debug, Serialize, Default)]
pub struct Status {
    /// Our libp2p peer id.
    pub peer_id: String,
    /// Addresses we listen on.
    pub listen: Vec<String>,
    /// Connected peers.
    pub peers: Vec<PeerStatus>,
    /// Groups kept in sync.
    pub groups: Vec<GroupStatus>,
    /// Sync sessions (running and finished).
    pub syncs: Vec<SyncStatus>,
    /// Events stored from gossip.
    pub from_gossip: u64,
    /// Events stored from sync.
    pub from_sync: u64,
    /// Events rejected from peers.
    pub rejected: u64,
    /// Peers blocked for misbehaving.
    pub blocked: Vec<String>,
    /// Events this node published to gossip.
    pub published: u64,
    /// Gossip messages received, counting duplicates.
    pub gossip_received: u64,
    /// Gossip messages received once each (after duplicate filtering).
    pub gossip_unique: u64,
    /// Latency of recent sync event rounds (request sent → events committed), ms: p50, p99.
    pub sync_round_ms: [f64; 2],
    /// Gossip topics subscribed to.
    pub gossip_topics: usize,
}

/// One connected peer.
#[derive(Clone, Debug, Serialize)]
pub struct PeerStatus {
    /// Peer id.
    pub peer: String,
    /// Address of the connection.
    pub addr: String,
    /// Strikes for misbehaviour.
    pub strikes: u32,
    /// Its gossip score, if gossipsub knows it (only peers admitted to gossip).
    pub score: Option<f64>,
    /// Whether it is admitted to gossip (proved membership of a group we share).
    pub gossip: bool,
}

/// One group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupStatus {
    /// Group id (hex).
    pub group: String,
    /// Events held.
    pub events: u64,
    /// Logs held: author did → length.
    pub heights: BTreeMap<String, u64>,
}

/// One sync session with one peer for one group.
#[derive(Clone, Debug, Serialize)]
pub struct SyncStatus {
    /// Peer.
    pub peer: String,
    /// Group (hex).
    pub group: String,
    /// `running` or `done`.
    pub state: &'static str,
    /// Events fetched so far.
    pub fetched: u64,
    /// Events the peer has that we did not, at the last heights round.
    pub remaining: u64,
    /// Round trips so far.
    pub rounds: u64,
}

/// Something the node tells its caller as it happens.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// Listening on an address (already suffixed with `/p2p/<our peer id>`).
    Listening(Multiaddr),
    /// Connected to a peer.
    Connected(PeerId),
    /// Stored an event received from a peer (`by_gossip` false: by sync).
    Stored {
        /// The event.
        id: EventId,
        /// Whether it came by gossip.
        by_gossip: bool,
    },
}

/// Sends commands to a running node.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
}

impl Handle {
    /// A handle and the receiver to pass to [`run`].
    pub fn new() -> (Handle, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        (Handle { tx }, rx)
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.ok()?;
        rx.await.ok()
    }

    /// Appends and gossips an event.
    pub async fn append(
        &self,
        group: GroupId,
        body: Vec<u8>,
        timestamp: u64,
    ) -> Result<VerifiedEvent, String> {
        self.call(|reply| Command::Append {
            group,
            body,
            timestamp,
            reply,
        })
        .await
        .unwrap_or_else(|| Err("the node is shutting down".into()))
    }

    /// Carries out a group operation.
    pub async fn op(&self, op: crate::ops::Op, now: u64) -> Result<serde_json::Value, String> {
        self.call(|reply| Command::Op {
            op: Box::new(op),
            now,
            reply,
        })
        .await
        .unwrap_or_else(|| Err("the node is shutting down".into()))
    }

    /// Follows a group.
    pub async fn follow(&self, group: GroupId) -> Result<bool, String> {
        self.call(|reply| Command::Follow { group, reply })
            .await
            .unwrap_or_else(|| Err("the node is shutting down".into()))
    }

    /// Dials a peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), String> {
        self.call(|reply| Command::Dial { addr, reply })
            .await
            .unwrap_or_else(|| Err("the node is shutting down".into()))
    }

    /// The node's status.
    pub async fn status(&self) -> Option<Status> {
        self.call(|reply| Command::Status { reply }).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Heights,
    Events,
    Auth,
}

/// What the node keeps of a group between ticks: enough to answer auth checks and to route
/// gossip without deriving the state again.
struct GroupCache {
    /// Stored events when last derived.
    count: u64,
    /// Current members.
    members: HashSet<PublicKey>,
    /// Invites: key, expiry, whether uses are left.
    invites: HashMap<[u8; 32], (PublicKey, u64, bool)>,
    /// Gossip topics of the unsuperseded epochs we hold, with their gossip keys; the first is
    /// the writing epoch's (where we publish), if we hold it.
    topics: Vec<(IdentTopic, [u8; 32])>,
    /// Whether we are a member.
    member: bool,
    /// Proposals open for voting with a deadline: (proposal, when this node closes it). The
    /// author's node closes at the deadline; other voters' nodes after a grace period, as a
    /// fallback when the author is away (concurrent fallback closes are flagged, see
    /// docs/decisions.md).
    closes: Vec<(EventId, u64)>,
    /// Deadlines of proposals open for voting that nothing we wrote witnesses yet (see
    /// [`crate::ops::decisions::witness_deadlines`]): once our clock passes one, we write a
    /// witness so other voters' fallback closes can cite evidence the deadline passed.
    witness: Vec<u64>,
}

/// How long after a deadline a voter's node closes a proposal whose author has not.
pub const CLOSE_GRACE_MS: u64 = 15 * 60 * 1000;

struct SyncJob {
    fetched: u64,
    rounds: u64,
    running: bool,
    session: crate::sync::Session,
}

struct Node {
    swarm: Swarm<Behaviour>,
    store: Arc<Store>,
    identity: Identity,
    access: IdKnowledge,
    tokens: HashMap<Token, GroupId>,
    topics: HashMap<TopicHash, GroupId>,
    groups: HashSet<GroupId>,
    pending: HashMap<OutboundRequestId, (PeerId, GroupId, Pending, Instant)>,
    /// Latency of recent event rounds (request sent → events stored), ms; bounded.
    round_ms: std::collections::VecDeque<f64>,
    /// What each outstanding events request asked for: answers may contain nothing else.
    asked: HashMap<OutboundRequestId, Request>,
    jobs: HashMap<(PeerId, GroupId), SyncJob>,
    connected: HashMap<PeerId, Multiaddr>,
    strikes: HashMap<PeerId, u32>,
    blocked: Vec<PeerId>,
    listen: Vec<Multiaddr>,
    status_counts: (u64, u64, u64),
    published: u64,
    metrics: prometheus_client::registry::Registry,
    events_out: mpsc::Sender<NodeEvent>,
    relay_server: bool,
    open_groups: bool,
    network: dualpower_core::NetworkId,
    caches: HashMap<GroupId, GroupCache>,
    /// (peer, group) pairs that proved they may read the group on their current connection.
    authed: HashMap<(PeerId, GroupId), PublicKey>,
    /// (peer, group) pairs where we proved it, and where the peer said no (with when).
    auth_ok: HashSet<(PeerId, GroupId)>,
    auth_denied: HashMap<(PeerId, GroupId), Instant>,
    /// Gossip key of every topic we are subscribed to.
    gossip_keys: HashMap<TopicHash, [u8; 32]>,
    /// Groups each connected peer proved membership of (admission to their gossip).
    proven: HashMap<PeerId, HashSet<GroupId>>,
    /// Topics of superseded epochs, left once their grace ends.
    leaving: HashMap<TopicHash, Instant>,
    /// Rate limit of misbehaviour warnings: per peer, when we last warned and what we did not
    /// say since.
    warned: HashMap<PeerId, (Instant, u64)>,
    /// Address we reached each connected peer at by dialing it (what the peer directory may
    /// hold for it).
    dialed_at: HashMap<PeerId, Multiaddr>,
}

/// How long to wait before proving membership to a peer again after a refusal.
const AUTH_RETRY: Duration = Duration::from_secs(5);
/// Most agent rounds per group per tick.
const AGENT_ROUNDS: usize = 4;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs a node until `shutdown` resolves. On shutdown the swarm stops first; the store is
/// closed by its owner afterwards, so every acknowledged write is committed.
pub async fn run(
    store: Arc<Store>,
    identity: Identity,
    cfg: NodeConfig,
    mut commands: mpsc::Receiver<Command>,
    events_out: mpsc::Sender<NodeEvent>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let key = node_keypair(&identity);
    let (mut swarm, metrics) = build_swarm_with_metrics(key, &cfg.net)?;
    for addr in &cfg.listen {
        // A circuit listen address names a relay the user chose: it may be dialed even if
        // private.
        swarm.behaviour_mut().guard.trust(addr);
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
    }
    // Open groups (benchmarks, wire tests) gossip with anyone; members-only groups only with
    // peers that proved membership.
    swarm.behaviour_mut().gossipsub.set_open(cfg.open_groups);
    let mut node = Node::new(swarm, store, identity, &cfg, metrics, events_out);
    node.refresh_groups()?;
    node.bootstrap(&cfg.bootstrap);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            ev = node.swarm.select_next_some() => node.on_swarm_event(ev),
            Some(cmd) = commands.recv() => node.on_command(cmd),
            _ = tick.tick() => {
                ticks += 1;
                node.on_tick(ticks);
            }
            () = &mut shutdown => break,
        }
    }
    Ok(())
}

/// When this node should close each proposal open for voting with a deadline.
fn close_times(st: &GroupState, me: &PublicKey) -> Vec<(EventId, u64)> {
    st.proposals
        .values()
        .filter(|p| p.status == dualpower_state::Status::Voting && p.proposal.deadline > 0)
        .filter_map(|p| {
            if p.author == *me {
                Some((p.id, p.proposal.deadline))
            } else if crate::decisions::in_electorate(st, p, me) {
                Some((p.id, p.proposal.deadline.saturating_add(CLOSE_GRACE_MS)))
            } else {
                None
            }
        })
        .collect()
}

/// Deadlines of proposals open for voting that no event of ours witnesses (none if we are not a
/// member).
fn witness_times(st: &GroupState, events: &[VerifiedEvent], me: &PublicKey) -> Vec<u64> {
    if !st.is_member(me) {
        return Vec::new();
    }
    let ours = crate::ops::decisions::latest_write(events, me);
    st.proposals
        .values()
        .filter(|p| p.status == dualpower_state::Status::Voting)
        .map(|p| p.proposal.deadline)
        .filter(|d| *d > 0 && *d > ours)
        .collect()
}

/// How many events of `group` the store holds (what tells the node the group changed).
fn event_count(store: &Store, group: GroupId) -> u64 {
    store
        .logs(Some(group))
        .map(|l| l.iter().map(|x| x.len).sum())
        .unwrap_or(0)
}

fn block<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

impl Node {
    /// A node around a built swarm, holding nothing yet.
    fn new(
        swarm: Swarm<Behaviour>,
        store: Arc<Store>,
        identity: Identity,
        cfg: &NodeConfig,
        metrics: prometheus_client::registry::Registry,
        events_out: mpsc::Sender<NodeEvent>,
    ) -> Node {
        let network = *store.network();
        Node {
            swarm,
            store,
            identity,
            access: IdKnowledge,
            tokens: HashMap::new(),
            topics: HashMap::new(),
            groups: HashSet::new(),
            pending: HashMap::new(),
            round_ms: std::collections::VecDeque::new(),
            asked: HashMap::new(),
            jobs: HashMap::new(),
            connected: HashMap::new(),
            strikes: HashMap::new(),
            blocked: Vec::new(),
            listen: Vec::new(),
            status_counts: (0, 0, 0),
            published: 0,
            metrics,
            events_out,
            relay_server: cfg.net.relay_server,
            open_groups: cfg.open_groups,
            network,
            caches: HashMap::new(),
            authed: HashMap::new(),
            auth_ok: HashSet::new(),
            auth_denied: HashMap::new(),
            gossip_keys: HashMap::new(),
            proven: HashMap::new(),
            leaving: HashMap::new(),
            warned: HashMap::new(),
            dialed_at: HashMap::new(),
        }
    }

    /// Records that `peer` proved membership of `group` on its current connection: it is
    /// admitted to the group's gossip (see [`dualpower_net::gate`]).
    fn peer_proven(&mut self, peer: PeerId, group: GroupId) {
        let groups = self.proven.entry(peer).or_default();
        if groups.insert(group) {
            let groups = groups.clone();
            self.swarm
                .behaviour_mut()
                .gossipsub
                .set_peer_groups(peer, groups);
        }
    }

    /// Withdraws `peer`'s admission to `group`'s gossip (it left, or is no longer a member).
    fn peer_unproven(&mut self, peer: PeerId, group: GroupId) {
        let Some(groups) = self.proven.get_mut(&peer) else {
            return;
        };
        if groups.remove(&group) {
            let groups = groups.clone();
            if groups.is_empty() {
                self.proven.remove(&peer);
            }
            self.swarm
                .behaviour_mut()
                .gossipsub
                .set_peer_groups(peer, groups);
        }
    }

    /// Logs a peer's misbehaviour at most once per [`WARN_EVERY`], saying how many cases were
    /// not logged since.
    fn warn_peer(&mut self, peer: PeerId, why: &str, strikes: u32) {
        if self.warned.len() > 10_000 {
            self.warned.retain(|_, (t, _)| t.elapsed() < WARN_EVERY);
        }
        match self.warned.get_mut(&peer) {
            Some((t, quiet)) if t.elapsed() < WARN_EVERY => *quiet += 1,
            Some((t, quiet)) => {
                tracing::warn!(%peer, strikes, why, unlogged = *quiet, "peer misbehaved");
                *t = Instant::now();
                *quiet = 0;
            }
            None => {
                tracing::warn!(%peer, strikes, why, "peer misbehaved");
                self.warned.insert(peer, (Instant::now(), 0));
            }
        }
    }

    /// Dials the bootstrap peers (and seeds Kademlia with those whose peer id is known).
    fn bootstrap(&mut self, peers: &[Multiaddr]) {
        let mut seeded = false;
        for addr in peers {
            // The user gave these: they may be private (a LAN, a test on one machine).
            self.swarm.behaviour_mut().guard.trust(addr);
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                seeded = true;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        if seeded {
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
    }

    /// Once a second: new groups, changed groups, due closes, and now and then anti-entropy.
    fn on_tick(&mut self, ticks: u64) {
        if let Err(e) = self.refresh_groups() {
            tracing::error!(error = %e, "cannot read groups");
        }
        self.refresh_views();
        self.leave_superseded();
        self.close_due();
        self.witness_due();
        if ticks.is_multiple_of(ANTI_ENTROPY_TICKS) {
            self.anti_entropy();
        }
    }

    /// Subscribes to every group we keep in sync; starts syncing new ones with connected peers.
    fn refresh_groups(&mut self) -> Result<(), StoreError> {
        let groups = block(|| self.store.synced_groups())?;
        for g in groups {
            if self.groups.insert(g) {
                self.tokens.insert(self.access.token(&g), g);
                if self.open_groups {
                    let topic = IdentTopic::new(self.access.topic(&g));
                    self.topics.insert(topic.hash(), g);
                    self.join_topic(&topic, g);
                }
                let peers: Vec<PeerId> = self.connected.keys().copied().collect();
                for p in peers {
                    self.start_sync(p, g);
                }
            }
        }
        Ok(())
    }

    fn start_sync(&mut self, peer: PeerId, group: GroupId) {
        if !self.open_groups && !self.auth_ok.contains(&(peer, group)) {
            self.authenticate(peer, group);
            return;
        }
        let token = self.access.token(&group);
        let job = self.jobs.entry((peer, group)).or_insert(SyncJob {
            fetched: 0,
            rounds: 0,
            running: false,
            session: crate::sync::Session::new(token),
        });
        if job.running {
            return;
        }
        job.running = true;
        job.session = crate::sync::Session::new(token);
        let logs = block(|| self.store.logs(Some(group))).unwrap_or_default();
        let req = match self.jobs.get_mut(&(peer, group)) {
            Some(job) => job.session.start(&logs),
            None => return,
        };
        self.send(peer, group, req, Pending::Heights);
    }

    /// Proves to `peer` that we may read `group` (as a member, or with an invite we hold).
    fn authenticate(&mut self, peer: PeerId, group: GroupId) {
        if self
            .auth_denied
            .get(&(peer, group))
            .is_some_and(|t| t.elapsed() < AUTH_RETRY)
        {
            return;
        }
        let me = *self.swarm.local_peer_id();
        let msg =
            dualpower_net::auth_message(&self.network, &group, &me.to_bytes(), &peer.to_bytes());
        let member = self.caches.get(&group).is_some_and(|c| c.member);
        let (key, invite, sig) = if member {
            (self.identity.public(), None, self.identity.sign(&msg))
        } else {
            match block(|| crate::ops::invite_keys(&self.store, &self.identity, &group))
                .ok()
                .and_then(|v| v.into_iter().next())
            {
                Some((inv, k)) => (k.public(), Some(inv.0), k.sign(&msg)),
                None => return,
            }
        };
        // Counts as in flight: no second proof until it is answered or times out.
        self.auth_denied.insert((peer, group), Instant::now());
        let token = self.access.token(&group);
        self.send(
            peer,
            group,
            Request::Auth {
                token,
                key,
                invite,
                sig,
            },
            Pending::Auth,
        );
    }

    /// Checks a peer's proof that it may read `group`.
    fn check_auth(
        &mut self,
        peer: PeerId,
        group: GroupId,
        key: &PublicKey,
        invite: Option<&[u8; 32]>,
        sig: &[u8; 64],
    ) -> bool {
        let me = *self.swarm.local_peer_id();
        let msg =
            dualpower_net::auth_message(&self.network, &group, &peer.to_bytes(), &me.to_bytes());
        if !dualpower_core::sig::verify_single(&key.0, &msg, sig) {
            self.strike(peer, "forged sync proof");
            return false;
        }
        let Some(c) = self.caches.get(&group) else {
            return false;
        };
        let ok = match invite {
            None => c.members.contains(key),
            Some(i) => c
                .invites
                .get(i)
                .is_some_and(|(k, expires, left)| k == key && *left && now_ms() <= *expires),
        };
        if ok {
            self.authed.insert((peer, group), *key);
            self.peer_proven(peer, group);
        }
        ok
    }

    /// Re-derives every group whose events changed: runs the membership agent (and gossips
    /// what it wrote), refreshes what auth checks and gossip need, and drops proofs of peers
    /// that are no longer members.
    fn refresh_views(&mut self) {
        if self.open_groups {
            return;
        }
        let groups: Vec<GroupId> = self.groups.iter().copied().collect();
        for g in groups {
            let before = block(|| event_count(&self.store, g));
            if self.caches.get(&g).is_some_and(|c| c.count == before) {
                continue;
            }
            self.refresh_group(g);
        }
    }

    /// Re-derives one group: the agent's rounds, attestations, then the cache and its topics.
    fn refresh_group(&mut self, g: GroupId) {
        let now = now_ms();
        let mut written = self.agent_rounds(g, now);
        let view = match block(|| crate::ops::view(&self.store, &self.identity, g, now)) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(group = %g, error = %e, "cannot derive group");
                return;
            }
        };
        let st = &view.state;
        // Co-sign the certificates of proposals that closed (on the state just derived).
        match block(|| crate::ops::attest_closed(&self.store, &self.identity, g, st, now)) {
            Ok(w) => written.extend(w),
            Err(e) => tracing::warn!(group = %g, error = %e, "cannot attest tallies"),
        }
        let topics = self.subscribe_epochs(g, &view);
        let cache = GroupCache {
            count: block(|| event_count(&self.store, g)),
            members: st.members.keys().copied().collect(),
            invites: st
                .invites
                .iter()
                .map(|(id, i)| (id.0, (i.key, i.expires, (i.used_by.len() as u64) < i.uses)))
                .collect(),
            topics,
            member: st.is_member(&self.identity.public()),
            closes: close_times(st, &self.identity.public()),
            witness: witness_times(st, &view.events, &self.identity.public()),
        };
        let members = &cache.members;
        let mut dropped = Vec::new();
        self.authed.retain(|(p, gg), k| {
            let keep =
                *gg != g || members.contains(k) || cache.invites.values().any(|(ik, _, _)| ik == k);
            if !keep {
                dropped.push(*p);
            }
            keep
        });
        self.caches.insert(g, cache);
        // A peer that is no longer a member (removed) leaves the group's gossip at once.
        for p in dropped {
            self.peer_unproven(p, g);
        }
        for ev in &written {
            self.publish(ev);
        }
    }

    /// Runs the membership agent for `g` until it has nothing more to do (bounded): one
    /// round's writes can enable the next (a prekey before seals, an admission before the
    /// welcome). Returns what it wrote.
    fn agent_rounds(&mut self, g: GroupId, now: u64) -> Vec<VerifiedEvent> {
        let mut written = Vec::new();
        for _ in 0..AGENT_ROUNDS {
            let w = block(|| crate::ops::run_agent(&self.store, &self.identity, g, now))
                .unwrap_or_else(|e| {
                    tracing::warn!(group = %g, error = %e, "membership agent failed");
                    Vec::new()
                });
            if w.is_empty() {
                break;
            }
            written.extend(w);
        }
        written
    }

    /// Subscribes to the gossip topic of every unsuperseded epoch of `g` we hold. Returns the
    /// topics with their keys, the writing epoch's first; none if we do not hold the writing
    /// epoch (then we do not publish at all).
    fn subscribe_epochs(
        &mut self,
        g: GroupId,
        view: &crate::ops::View,
    ) -> Vec<(IdentTopic, [u8; 32])> {
        let st = &view.state;
        let writing = st.writing_epoch();
        let mut held: Vec<&EventId> = view
            .keyring
            .epochs
            .keys()
            .filter(|e| st.epochs.get(*e).is_some_and(|x| !x.superseded))
            .collect();
        held.sort_by_key(|e| Some(**e) != writing);
        let mut topics = Vec::new();
        for e in held {
            if let Some(secret) = view.keyring.epochs.get(e) {
                let t = dualpower_crypto::derive(secret, "dualpower gossip topic v1");
                let topic = IdentTopic::new(format!("dualpower/e/{}", hex::encode(&t[..16])));
                let key = dualpower_crypto::derive(secret, "dualpower gossip key v1");
                if self.gossip_keys.insert(topic.hash(), key).is_none() {
                    self.join_topic(&topic, g);
                }
                self.topics.insert(topic.hash(), g);
                self.leaving.remove(&topic.hash());
                topics.push((topic, key));
            }
        }
        // Topics of epochs now superseded: nothing more is published there; we keep hearing
        // them for a short grace (messages on their way), then leave them and drop their keys.
        let current: HashSet<TopicHash> = topics.iter().map(|(t, _)| t.hash()).collect();
        let due = Instant::now() + TOPIC_GRACE;
        for (t, gg) in &self.topics {
            if *gg == g && !current.contains(t) {
                self.leaving.entry(t.clone()).or_insert(due);
            }
        }
        if writing.is_none_or(|w| !view.keyring.epochs.contains_key(&w)) {
            topics.clear();
        }
        topics
    }

    /// Subscribes to `topic` of group `g`, telling the gossip gate whose it is first (so only
    /// peers that proved `g` may join it) and scoring invalid messages on it.
    fn join_topic(&mut self, topic: &IdentTopic, g: GroupId) {
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        gossip.set_topic(topic.hash(), g);
        if let Err(e) = gossip.set_topic_params(topic.clone(), topic_score_params()) {
            tracing::warn!(error = %e, "cannot score topic");
        }
        if let Err(e) = gossip.subscribe(topic) {
            tracing::warn!(error = ?e, "cannot subscribe");
        }
    }

    /// Leaves the topics of superseded epochs whose grace has ended, dropping their keys.
    fn leave_superseded(&mut self) {
        let now = Instant::now();
        let due: Vec<TopicHash> = self
            .leaving
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for t in due {
            self.leaving.remove(&t);
            self.topics.remove(&t);
            self.gossip_keys.remove(&t);
            let topic = IdentTopic::new(t.as_str());
            let gossip = &mut self.swarm.behaviour_mut().gossipsub;
            gossip.unsubscribe(&topic);
            gossip.forget_topic(&t);
            tracing::debug!(topic = %t, "left a superseded epoch's topic");
        }
    }

    /// Closes proposals whose time has come (see [`GroupCache::closes`]) and gossips the close.
    fn close_due(&mut self) {
        let now = now_ms();
        let due: Vec<(GroupId, EventId)> = self
            .caches
            .iter()
            .flat_map(|(g, c)| {
                c.closes
                    .iter()
                    .filter(|(_, at)| *at <= now)
                    .map(move |(p, _)| (*g, *p))
            })
            .collect();
        for (g, p) in due {
            if let Some(c) = self.caches.get_mut(&g) {
                c.closes.retain(|(q, _)| *q != p);
            }
            let op = crate::ops::Op::Close {
                group: g.to_hex(),
                proposal: p.to_hex(),
            };
            match block(|| crate::ops::apply(&self.store, &self.identity, op, now)) {
                Ok(out) => {
                    tracing::info!(group = %g, proposal = %p, "closed a proposal at its deadline");
                    for ev in &out.events {
                        self.publish(ev);
                    }
                }
                Err(e) => tracing::info!(group = %g, proposal = %p, error = %e, "not closing"),
            }
        }
    }

    /// Writes a deadline witness in every group where our clock has passed a deadline nothing of
    /// ours witnesses yet (see [`GroupCache::witness`]), and gossips it. Each deadline is
    /// handled once per derivation of the group; the operation itself checks again.
    fn witness_due(&mut self) {
        let now = now_ms();
        let mut due = Vec::new();
        for (g, c) in self.caches.iter_mut() {
            let before = c.witness.len();
            c.witness.retain(|d| *d > now);
            if c.witness.len() < before {
                due.push(*g);
            }
        }
        for g in due {
            match block(|| {
                crate::ops::decisions::witness_deadlines(&self.store, &self.identity, g, now)
            }) {
                Ok(Some(ev)) => {
                    tracing::info!(group = %g, "witnessed a passed deadline");
                    self.publish(&ev);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(group = %g, error = %e, "cannot witness a deadline"),
            }
        }
    }

    fn anti_entropy(&mut self) {
        let peers: Vec<PeerId> = self.connected.keys().copied().collect();
        let groups: Vec<GroupId> = self.groups.iter().copied().collect();
        for p in peers {
            for g in &groups {
                self.start_sync(p, *g);
            }
        }
    }

    fn send(&mut self, peer: PeerId, group: GroupId, req: Request, kind: Pending) {
        let fetches = matches!(req, Request::Events { .. } | Request::Fetch { .. });
        let asked = fetches.then(|| req.clone());
        let id = self
            .swarm
            .behaviour_mut()
            .sync
            .send_request(&peer, req.into());
        self.pending.insert(id, (peer, group, kind, Instant::now()));
        if let Some(r) = asked {
            self.asked.insert(id, r);
        }
        if let Some(job) = self.jobs.get_mut(&(peer, group)) {
            job.rounds += 1;
        }
    }

    fn strike(&mut self, peer: PeerId, why: &str) {
        let s = self.strikes.entry(peer).or_default();
        *s += 1;
        let s = *s;
        self.warn_peer(peer, why, s);
        if s >= MAX_STRIKES && !self.blocked.contains(&peer) {
            tracing::warn!(%peer, "blocking peer");
            self.blocked.push(peer);
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Append {
                group,
                body,
                timestamp,
                reply,
            } => {
                let _ = reply.send(self.on_append(group, body, timestamp));
            }
            Command::Op { op, now, reply } => {
                let _ = reply.send(self.on_op(*op, now));
            }
            Command::Follow { group, reply } => {
                let res = block(|| self.store.follow(group)).map_err(|e| e.to_string());
                if res.is_ok()
                    && let Err(e) = self.refresh_groups()
                {
                    tracing::error!(error = %e, "cannot read groups");
                }
                let _ = reply.send(res);
            }
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.on_dial(addr));
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
        }
    }

    /// Appends an event with `body` to our log in `group` and gossips it.
    fn on_append(
        &mut self,
        group: GroupId,
        body: Vec<u8>,
        timestamp: u64,
    ) -> Result<VerifiedEvent, String> {
        let res = block(|| {
            self.store
                .append(&self.identity, group, 0, body, 0, timestamp)
        });
        match res {
            Ok(ev) => {
                self.publish(&ev);
                if let Err(e) = self.refresh_groups() {
                    tracing::error!(error = %e, "cannot read groups");
                }
                Ok(ev)
            }
            Err(AppendError::Forked) => Err("your log in this group is forked".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Carries out a group operation, gossips what it wrote and dials the addresses it names
    /// (those of an invite code being joined).
    fn on_op(&mut self, op: crate::ops::Op, now: u64) -> Result<serde_json::Value, String> {
        let out = block(|| crate::ops::apply(&self.store, &self.identity, op, now))
            .map_err(|e| e.to_string())?;
        if let Err(e) = self.refresh_groups() {
            tracing::error!(error = %e, "cannot read groups");
        }
        self.refresh_views();
        for ev in &out.events {
            self.publish(ev);
        }
        let addrs: Vec<Multiaddr> = out.value["addrs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect();
        for a in addrs {
            // An invite code the user holds: its addresses are the user's to dial.
            self.swarm.behaviour_mut().guard.trust(&a);
            let _ = self.swarm.dial(a);
        }
        Ok(out.value)
    }

    /// Dials `addr`, or catches up at once with its peer if already connected.
    fn on_dial(&mut self, addr: Multiaddr) -> Result<(), String> {
        // The last /p2p/ is the peer; a relayed address names the relay first.
        let known = addr
            .iter()
            .filter_map(|p| match p {
                Protocol::P2p(peer) => Some(peer),
                _ => None,
            })
            .last();
        match known {
            // Already connected: a dial adds nothing, so catch up with it now.
            Some(peer) if self.connected.contains_key(&peer) => {
                let groups: Vec<GroupId> = self.groups.iter().copied().collect();
                for g in groups {
                    self.start_sync(peer, g);
                }
                Ok(())
            }
            _ => {
                self.swarm.behaviour_mut().guard.trust(&addr);
                self.swarm.dial(addr).map_err(|e| e.to_string())
            }
        }
    }

    fn publish(&mut self, ev: &VerifiedEvent) {
        let group = ev.header().group;
        let msg = encode_gossip(ev.envelope(), ev.body());
        if self.open_groups {
            self.publish_on(IdentTopic::new(self.access.topic(&group)), msg);
            return;
        }
        // Members only: topics and gossip keys come from epochs, and everything goes to the
        // writing epoch's topic alone. Never to a superseded epoch's: a removed member may still
        // hear that one. Members who lack the new epoch get its key share by sync.
        let Some((topic, key)) = self
            .caches
            .get(&group)
            .and_then(|c| c.topics.first())
            .cloned()
        else {
            return;
        };
        let sealed = encrypt(
            &ContentKey::from_bytes(key),
            topic.hash().as_str().as_bytes(),
            &msg,
        );
        self.publish_on(topic, sealed);
    }

    fn publish_on(&mut self, topic: IdentTopic, msg: Vec<u8>) {
        match self.swarm.behaviour_mut().gossipsub.publish(topic, msg) {
            Ok(_) => self.published += 1,
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::warn!(error = %e, "gossip publish failed; peers will sync instead"),
        }
    }

    fn status(&self) -> Status {
        let gossip = gossip_received(&self.metrics);
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let logs = block(|| self.store.logs(Some(*g))).unwrap_or_default();
                GroupStatus {
                    group: g.to_hex(),
                    events: logs.iter().map(|l| l.len).sum(),
                    heights: logs
                        .iter()
                        .map(|l| (format!("{}/{}", l.author.to_did(), l.log), l.len))
                        .collect(),
                }
            })
            .collect();
        let mut syncs: Vec<SyncStatus> = self
            .jobs
            .iter()
            .map(|((p, g), j)| SyncStatus {
                peer: p.to_string(),
                group: g.to_hex(),
                state: if j.running { "running" } else { "done" },
                fetched: j.fetched,
                remaining: j.session.remaining,
                rounds: j.rounds,
            })
            .collect();
        syncs.sort_by(|a, b| (&a.peer, &a.group).cmp(&(&b.peer, &b.group)));
        let mut peers: Vec<PeerStatus> = self
            .connected
            .iter()
            .map(|(p, a)| PeerStatus {
                peer: p.to_string(),
                addr: a.to_string(),
                strikes: self.strikes.get(p).copied().unwrap_or(0),
                score: self.swarm.behaviour().gossipsub.peer_score(p),
                gossip: self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .gossip_peers()
                    .any(|g| g == p),
            })
            .collect();
        peers.sort_by(|a, b| a.peer.cmp(&b.peer));
        Status {
            peer_id: self.swarm.local_peer_id().to_string(),
            listen: self.listen.iter().map(ToString::to_string).collect(),
            peers,
            groups,
            syncs,
            from_gossip: self.status_counts.0,
            from_sync: self.status_counts.1,
            rejected: self.status_counts.2,
            blocked: self.blocked.iter().map(ToString::to_string).collect(),
            published: self.published,
            gossip_received: gossip.0,
            gossip_unique: gossip.1,
            gossip_topics: self.swarm.behaviour().gossipsub.topics().count(),
            sync_round_ms: {
                let mut v: Vec<f64> = self.round_ms.iter().copied().collect();
                v.sort_by(f64::total_cmp);
                let at = |p: f64| {
                    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize)
                        .copied()
                        .unwrap_or(0.0)
                };
                [at(0.5), at(0.99)]
            },
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                // A relay only serves once it has a confirmed external address. Whoever runs
                // `--relay-server` declares the node reachable, so its listen addresses count.
                if self.relay_server && !address.iter().any(|p| p == Protocol::P2pCircuit) {
                    self.swarm.add_external_address(address.clone());
                }
                let me = *self.swarm.local_peer_id();
                let full = if address.iter().last() == Some(Protocol::P2p(me)) {
                    address
                } else {
                    address.with(Protocol::P2p(me))
                };
                self.listen.push(full.clone());
                let _ = self.events_out.try_send(NodeEvent::Listening(full));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                self.connected
                    .insert(peer_id, endpoint.get_remote_address().clone());
                if endpoint.is_dialer() {
                    self.dialed_at
                        .insert(peer_id, endpoint.get_remote_address().clone());
                }
                let _ = self.events_out.try_send(NodeEvent::Connected(peer_id));
                let groups: Vec<GroupId> = self.groups.iter().copied().collect();
                for g in groups {
                    // A reconnect after a partition starts a fresh catch-up.
                    if let Some(j) = self.jobs.get_mut(&(peer_id, g)) {
                        j.running = false;
                    }
                    self.start_sync(peer_id, g);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.dialed_at.remove(&peer_id);
                if self.proven.remove(&peer_id).is_some() {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .set_peer_groups(peer_id, HashSet::new());
                }
                self.authed.retain(|(p, _), _| *p != peer_id);
                self.auth_ok.retain(|(p, _)| *p != peer_id);
                self.auth_denied.retain(|(p, _), _| *p != peer_id);
                // Bound the per-peer bookkeeping: forget finished syncs of gone peers once many
                // accumulated (fresh peer ids cost nothing to make).
                if self.jobs.len() > 10_000 {
                    let connected = &self.connected;
                    self.jobs
                        .retain(|(p, _), j| j.running || connected.contains_key(p));
                }
                if self.strikes.len() > 10_000 {
                    let connected = &self.connected;
                    self.strikes.retain(|p, _| connected.contains_key(p));
                }
                for ((p, _), j) in self.jobs.iter_mut() {
                    if *p == peer_id {
                        j.running = false;
                    }
                }
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let acceptance = self.on_gossip(propagation_source, &message.topic, &message.data);
                if acceptance == MessageAcceptance::Reject {
                    self.strike(propagation_source, "invalid gossip message");
                }
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                self.on_sync_message(peer, message);
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                if let Some((p, g, _, _)) = self.pending.remove(&request_id).inspect(|_| {
                    self.asked.remove(&request_id);
                }) && let Some(j) = self.jobs.get_mut(&(p, g))
                {
                    j.running = false;
                }
                if let request_response::OutboundFailure::Io(e) = &error
                    && e.kind() == std::io::ErrorKind::InvalidData
                {
                    self.strike(peer, "malformed sync response");
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(list)) => {
                for (peer, addr) in list {
                    // Found on our own LAN: trusted, even if private.
                    self.swarm.behaviour_mut().guard.trust(&addr);
                    if !self.connected.contains_key(&peer) {
                        let _ = self.swarm.dial(addr.with(Protocol::P2p(peer)));
                    }
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                self.on_identify(peer_id, &info);
            }
            _ => {}
        }
    }

    /// What identify told us about a peer: it enters the peer directory only if it speaks our
    /// DHT and sync protocols, with the public addresses it announces (private ones only if
    /// allowed) and the address we reached it at if we dialed it (that one came from the user,
    /// mDNS, or a directory answer the guard let us dial).
    fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        let speaks = |p: &libp2p::StreamProtocol| info.protocols.iter().any(|q| q == p);
        if !speaks(&KAD_PROTOCOL) || !speaks(&SYNC_PROTOCOL) {
            tracing::debug!(%peer, "not a Dual Power peer; not in the directory");
            return;
        }
        let mut addrs: Vec<Multiaddr> = info
            .listen_addrs
            .iter()
            .filter(|a| self.swarm.behaviour().guard.may_learn(a))
            .take(8)
            .cloned()
            .collect();
        if let Some(a) = self.dialed_at.get(&peer)
            && !addrs.contains(a)
        {
            addrs.push(a.clone());
        }
        for addr in addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr);
        }
    }

    /// A sync request (answered within our budget) or the answer to one of ours.
    fn on_sync_message(
        &mut self,
        peer: PeerId,
        message: request_response::Message<dualpower_net::Inbound, Response>,
    ) {
        match message {
            request_response::Message::Request {
                request: dualpower_net::Inbound::Malformed(why),
                ..
            } => {
                // Dropping the channel closes the stream unanswered.
                tracing::debug!(%peer, %why, "malformed sync request");
                self.strike(peer, "malformed sync request");
            }
            request_response::Message::Request {
                request: dualpower_net::Inbound::Valid(request),
                channel,
                ..
            } => {
                let response = self.answer(peer, request);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            request_response::Message::Response {
                request_id,
                response,
            } => {
                if let Some((p, g, kind, sent)) = self.pending.remove(&request_id) {
                    let asked = self.asked.remove(&request_id);
                    self.on_response(p, g, kind, response, asked.as_ref());
                    if kind == Pending::Events {
                        if self.round_ms.len() >= 4096 {
                            self.round_ms.pop_front();
                        }
                        self.round_ms
                            .push_back(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
        }
    }

    fn on_gossip(&mut self, source: PeerId, topic: &TopicHash, data: &[u8]) -> MessageAcceptance {
        let Some(&group) = self.topics.get(topic) else {
            return MessageAcceptance::Ignore;
        };
        let plain;
        let data = match self.gossip_keys.get(topic) {
            Some(key) => match decrypt(
                &ContentKey::from_bytes(*key),
                topic.as_str().as_bytes(),
                data,
            ) {
                Ok(p) => {
                    plain = p;
                    &plain[..]
                }
                Err(_) => {
                    self.status_counts.2 += 1;
                    return MessageAcceptance::Reject;
                }
            },
            None => data,
        };
        let Ok((env, body)) = decode_gossip(data) else {
            self.status_counts.2 += 1;
            return MessageAcceptance::Reject;
        };
        let verified = match Event::decode(env, body).and_then(|e| e.verify(self.store.network())) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(%source, error = %e, "rejected gossip");
                self.status_counts.2 += 1;
                return MessageAcceptance::Reject;
            }
        };
        let outcome = block(|| self.store.ingest_into(group, vec![verified]));
        match outcome.map(|mut v| v.pop()) {
            // A further version of a log position is stored like any event (forks are data),
            // and forwarded so every member learns of the fork.
            Ok(Some(Ok(
                Ingested::Stored { id, released } | Ingested::ForkDetected { id, released, .. },
            ))) => {
                self.status_counts.0 += 1 + released.len() as u64;
                for id in std::iter::once(id).chain(released) {
                    let _ = self.events_out.try_send(NodeEvent::Stored {
                        id,
                        by_gossip: true,
                    });
                }
                MessageAcceptance::Accept
            }
            Ok(Some(Ok(Ingested::Duplicate { .. }))) => MessageAcceptance::Ignore,

            Ok(Some(Ok(Ingested::Quarantined { .. }))) => {
                // We are missing history: fetch it from whoever sent this (unless a sync with
                // them is already under way; its next summary round will see the gap).
                self.start_sync(source, group);
                // Kept, but not forwarded: an event that cannot be linked yet must not let a
                // peer flood the network's quarantines through us.
                MessageAcceptance::Ignore
            }
            Ok(Some(Err(IngestError::WrongGroup { .. }))) => {
                self.status_counts.2 += 1;
                MessageAcceptance::Reject
            }
            Ok(Some(Err(_))) => MessageAcceptance::Ignore,
            Ok(None) | Err(_) => MessageAcceptance::Ignore,
        }
    }

    /// Answers a sync request within the responder's budget.
    fn answer(&mut self, peer: PeerId, req: Request) -> Response {
        let token = *req.token();
        let mut group = self.tokens.get(&token).copied();
        if let Request::Auth {
            key, invite, sig, ..
        } = &req
        {
            let ok = group.is_some_and(|g| self.check_auth(peer, g, key, invite.as_ref(), sig));
            return Response::Auth { ok };
        }
        // Without proof of membership a group is answered as if we did not hold it.
        if !self.open_groups && group.is_some_and(|g| !self.authed.contains_key(&(peer, g))) {
            group = None;
        }
        block(|| crate::sync::answer(&self.store, group, req)).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot answer a sync request");
            Response::Events {
                events: Vec::new(),
                more: false,
            }
        })
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        group: GroupId,
        kind: Pending,
        res: Response,
        asked: Option<&Request>,
    ) {
        let step = match (kind, res) {
            (Pending::Auth, Response::Auth { ok }) => {
                if ok {
                    self.auth_denied.remove(&(peer, group));
                    self.auth_ok.insert((peer, group));
                    self.start_sync(peer, group);
                }
                return;
            }
            (Pending::Events, Response::Events { events, .. }) => {
                let (stored, bad) = self.ingest_batch(group, events, asked);
                self.status_counts.1 += stored;
                if bad > 0 {
                    self.strike(peer, "invalid or unrequested events in a sync answer");
                }
                let local = block(|| self.store.logs(Some(group))).unwrap_or_default();
                match self.jobs.get_mut(&(peer, group)) {
                    Some(job) => {
                        job.fetched += stored;
                        Ok(job.session.after_events(&local, stored as usize))
                    }
                    None => Ok(crate::sync::Step::Done),
                }
            }
            (
                Pending::Heights,
                res @ (Response::InSync
                | Response::Buckets { .. }
                | Response::Heights { .. }
                | Response::Tips { .. }),
            ) => {
                let local = block(|| self.store.logs(Some(group))).unwrap_or_default();
                let store = &self.store;
                let known =
                    |id: &dualpower_core::EventId| block(|| store.contains(id)).unwrap_or(false);
                match self.jobs.get_mut(&(peer, group)) {
                    Some(job) => job.session.on_answer(&local, res, &known),
                    None => Ok(crate::sync::Step::Done),
                }
            }
            _ => Err("sync answer of the wrong kind"),
        };
        match step {
            Ok(crate::sync::Step::Send(req)) => {
                let kind = if matches!(req, Request::Events { .. } | Request::Fetch { .. }) {
                    Pending::Events
                } else {
                    Pending::Heights
                };
                self.send(peer, group, req, kind);
            }
            Ok(crate::sync::Step::Done) => {
                if let Some(job) = self.jobs.get_mut(&(peer, group)) {
                    job.running = false;
                }
            }
            Err(why) => {
                if let Some(job) = self.jobs.get_mut(&(peer, group)) {
                    job.running = false;
                }
                self.strike(peer, why);
            }
        }
    }

    /// Decodes, batch-verifies and stores events of `group`. Returns (stored, invalid).
    fn ingest_batch(
        &mut self,
        group: GroupId,
        raw: Vec<RawEvent>,
        asked: Option<&Request>,
    ) -> (u64, u64) {
        let Some(asked) = asked else {
            return (0, raw.len() as u64);
        };
        match block(|| crate::sync::store_answer(&self.store, group, raw, asked)) {
            Ok(f) => {
                for id in &f.stored {
                    let _ = self.events_out.try_send(NodeEvent::Stored {
                        id: *id,
                        by_gossip: false,
                    });
                }
                self.status_counts.2 += f.invalid;
                (f.stored.len() as u64, f.invalid)
            }
            Err(e) => {
                tracing::error!(error = %e, "store failed during sync");
                (0, 0)
            }
        }
    }
}
