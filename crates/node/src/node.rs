//! The running node: one event loop that owns the swarm and feeds everything it hears through
//! the same validation → store path as every other input.
//!
//! The loop is sequential on purpose (rust-libp2p's advice: keep things sequential until measured
//! slow): store calls are short and run via `block_in_place`, so an event is acknowledged to gossip
//! only after its transaction committed. Every channel into the loop is bounded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::Admit;
use dualpower_core::{Event, EventId, GroupId, Identity, PublicKey, VerifiedEvent};
use dualpower_crypto::{ContentKey, decrypt, encrypt};
use dualpower_net::protocol::{
    HELLO_PAD, MAX_HELLO_TAGS, SYNC_PROTOCOL, Token, decode_gossip, encode_gossip,
};
use dualpower_net::swarm::KAD_PROTOCOL;
use dualpower_net::{
    Behaviour, BehaviourEvent, GroupAccess, Handshake, IdKnowledge, JoinRefusal, Label, NetConfig,
    Nonce, Proof, RawEvent, Request, Response, Side, build_swarm_with_metrics, gossip_received,
    node_keypair, topic_score_params,
};
use dualpower_state::GroupState;
use dualpower_store::{
    AppendError, BundleError, ImportReport, IngestError, Ingested, Store, StoreError,
};
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
/// Anonymous mode: how often (ticks) given addresses whose peer is not connected are dialed
/// again.
const REDIAL_TICKS: u64 = 5;
/// Most addresses anonymous mode keeps dialing from what it was given, and most it dials in
/// one round.
const MAX_REDIALS: usize = 32;
/// What a node last wrote as its `Reach` in a group: the members then, the writing epoch, the
/// addresses.
type ReachSent = (Vec<PublicKey>, Option<EventId>, Vec<String>);
/// Capacity of the command channel.
pub const COMMAND_QUEUE: usize = 64;
/// How long the node stays subscribed to a superseded epoch's topic (and keeps its gossip key),
/// so messages already on their way arrive; nothing is published there meanwhile.
pub const TOPIC_GRACE: Duration = Duration::from_secs(5);
/// At most one warning per peer per this long about its misbehaviour; the rest are counted.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// The default log filter of a running node: warnings, except gossipsub's own per-message
/// warnings (a flood of invalid messages would flood the log; the node penalises the sender
/// and logs a rate-limited summary instead), and Kademlia's warning that its automatic
/// bootstrap found no peers, which every node without `--bootstrap` prints at start and which
/// tells a newcomer nothing they can act on.
pub const DEFAULT_LOG_FILTER: &str = "warn,libp2p_gossipsub=error,libp2p_kad::behaviour=error";

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
        reply: oneshot::Sender<Result<serde_json::Value, crate::ops::Refused>>,
    },
    /// Answer a read that needs our keys (see [`crate::query`]).
    View {
        /// The query.
        query: crate::query::Query,
        /// Time (ms).
        now: u64,
        /// The answer, or why not.
        reply: oneshot::Sender<Result<serde_json::Value, crate::ops::Refused>>,
    },
    /// Import a bundle (its bytes) into the store, as `dualpower import` does without a node.
    Import {
        /// The bundle.
        bundle: Vec<u8>,
        /// The import report as JSON ([`crate::query::import_json`]), or why the bundle was
        /// refused as a whole.
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
    /// Whether the node is in anonymous mode, and whether `group`'s rules require it: what
    /// [`Status`] says of both, without its per-group reads (a group page asks on every view).
    Anonymity {
        /// The group.
        group: GroupId,
        /// (node in anonymous mode, the group requires it).
        reply: oneshot::Sender<(bool, bool)>,
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
    /// Peers we cannot sync with, and why (not a Dual Power node; no group in common), by peer
    /// id: what `sync --peer` reports at once instead of waiting.
    pub peer_notes: BTreeMap<String, String>,
    /// Events from peers held until their missing history arrives (bounded per peer and per
    /// group, dropped after ten minutes; never in the store's quarantine).
    pub held: u64,
    /// Gossip topics subscribed to.
    pub gossip_topics: usize,
    /// Our joins in flight: each group we asked to join and are not (yet) a member of.
    pub joins: Vec<JoinStatus>,
    /// Anonymous mode: peers only through I2P (`serve --anonymous`).
    pub anonymous: bool,
}

/// Where one of our joins stands, as this node knows it: what the group's events it holds say
/// (`state`), and what a member's node told it when it turned the join away (`refused`). A
/// refusal is a peer's word, not derived state: shown as what that node says.
#[derive(Clone, Debug, Serialize)]
pub struct JoinStatus {
    /// Group id (hex).
    pub group: String,
    /// `unanswered` (no member's node has taken our invite yet: we hold none of the group's
    /// events), `waiting` (members hold our join; admission is theirs to decide), `admitted`
    /// (we are a member) or `removed` (the group removed us; a new join is not acted on).
    pub state: &'static str,
    /// The group's admission rule (`invite`, `vouches:K`, `vote`), once we hold it.
    pub admission: Option<String>,
    /// Members who vouched for (admitted) us so far.
    pub vouches: u64,
    /// Vouches the rule needs (1 except under `vouches:K`).
    pub needed: u64,
    /// The latest refusal a member's node sent us, if no node has accepted our proof since.
    /// Only from a node we know to be a member's: one named by the invite code we joined with,
    /// or one whose membership key our copy of the group's state lists.
    pub refused: Option<JoinRefused>,
    /// The latest refusal from a node we cannot tell is a member's (before we hold the group's
    /// state, anyone who knows the group's id can prove "knowing" it: a removed member, someone
    /// who saw the code). Shown as that node's unconfirmed word; it does not end a join.
    pub unconfirmed: Option<JoinRefused>,
    /// Connected peers that proved to be members of the group (whom our join can reach).
    pub member_peers: u64,
    /// Connected peers.
    pub connected: u64,
}

/// A member's node turned our join away.
#[derive(Clone, Debug, Serialize)]
pub struct JoinRefused {
    /// Why, by name ([`JoinRefusal::name`]): `unknown_invite`, `expired`, `used`, `removed`.
    pub reason: &'static str,
    /// The peer id of the node that said so.
    pub peer: String,
    /// How long ago (ms).
    pub ago_ms: u64,
}

impl JoinRefused {
    fn of((peer, why, at): &(PeerId, JoinRefusal, Instant)) -> JoinRefused {
        JoinRefused {
            reason: why.name(),
            peer: peer.to_string(),
            ago_ms: at.elapsed().as_millis() as u64,
        }
    }
}

/// Why we cannot sync with a peer that does not speak our sync protocol.
pub const NOT_DUALPOWER: &str =
    "the peer is not a Dual Power node (it does not speak the /dualpower/sync/1 protocol)";
/// Why we cannot sync with a Dual Power node that proved no group we hold.
pub const NO_SHARED_GROUP: &str = "the peer is a Dual Power node, but it shares no group with this node (none that either side could prove membership of)";

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
    /// Whether we are a member (by the events this node holds).
    pub member: bool,
    /// Events held.
    pub events: u64,
    /// Logs held: author did → length.
    pub heights: BTreeMap<String, u64>,
    /// The group's rules require anonymous mode: a node not in it syncs the group with nobody.
    pub anonymous_only: bool,
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
    pub async fn op(
        &self,
        op: crate::ops::Op,
        now: u64,
    ) -> Result<serde_json::Value, crate::ops::Refused> {
        self.call(|reply| Command::Op {
            op: Box::new(op),
            now,
            reply,
        })
        .await
        .unwrap_or_else(|| {
            Err(crate::ops::Refused {
                kind: "stopping",
                message: "the node is shutting down".into(),
            })
        })
    }

    /// Answers a read with the node's keys.
    pub async fn view(
        &self,
        query: crate::query::Query,
        now: u64,
    ) -> Result<serde_json::Value, crate::ops::Refused> {
        self.call(|reply| Command::View { query, now, reply })
            .await
            .unwrap_or_else(|| {
                Err(crate::ops::Refused {
                    kind: "stopping",
                    message: "the node is shutting down".into(),
                })
            })
    }

    /// Imports a bundle.
    pub async fn import(&self, bundle: Vec<u8>) -> Result<serde_json::Value, String> {
        self.call(|reply| Command::Import { bundle, reply })
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

    /// (this node is in anonymous mode, `group`'s rules require anonymous mode).
    pub async fn anonymity(&self, group: GroupId) -> Option<(bool, bool)> {
        self.call(|reply| Command::Anonymity { group, reply }).await
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Heights,
    Events,
    /// Our `Hello` (its group slot holds [`NO_GROUP`]).
    Hello,
    /// Our `Prove` (its group slot holds [`NO_GROUP`]).
    Prove,
    /// Our `Nudge` (see [`Node::nudge`]).
    Nudge,
}

/// The group slot of handshake requests, which are about no single group.
const NO_GROUP: GroupId = GroupId([0; 32]);

/// What a peer proved in a handshake for a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proved {
    /// The key it signed with.
    key: PublicKey,
    /// The invite, if it proved as a pending joiner.
    invite: Option<EventId>,
}

/// Our side of a handshake we started (we are the requester).
struct Outgoing {
    /// Our nonce.
    nonce: Nonce,
    /// The responder's nonce, once it answered.
    responder_nonce: Option<Nonce>,
    /// The groups we sent tags for.
    groups: Vec<GroupId>,
    /// The groups we sent proofs for, with the proofs' tags.
    proving: Vec<(GroupId, [u8; 32])>,
    /// When it started.
    at: Instant,
    /// Whether it is still under way.
    in_flight: bool,
}

/// A peer's `Hello` we answered (we are the responder), until its `Prove`. One per peer: a new
/// `Hello` replaces it, and a `Prove` consumes it, so no proof is accepted twice.
struct Challenge {
    /// The requester's nonce.
    requester_nonce: Nonce,
    /// Our nonce.
    nonce: Nonce,
    /// The groups we recognised and proved.
    groups: Vec<GroupId>,
}

/// Events of a group that cannot be linked yet (a predecessor or dep missing), held in memory per
/// sending peer instead of in the store's quarantine: bounded per peer and per group, and dropped
/// after [`HELD_TTL`].
#[derive(Default)]
struct HeldGroup {
    events: Vec<(PeerId, VerifiedEvent, Instant)>,
    ids: HashSet<EventId>,
    per_peer: HashMap<PeerId, usize>,
}

/// Most unlinkable events held from one peer for one group.
const HELD_PER_PEER: usize = 1_000;
/// Most unlinkable events held for one group, from all peers.
const HELD_PER_GROUP: usize = 10_000;
/// How long an unlinkable event is held before it is dropped (its history can still come by
/// sync, which sends events in causal order).
const HELD_TTL: Duration = Duration::from_secs(10 * 60);
/// Most peers of an invite code whose refusal of our join is believed (see `Node::inviters`).
const MAX_INVITERS: usize = 8;
/// How long a handshake may stay unanswered before another is started.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(35);
/// The least time between two handshakes with a peer started because it stopped serving a
/// group to us.
const REHELLO_MIN: Duration = Duration::from_secs(2);
/// How long after a handshake with a peer another is started unasked (new groups and new
/// connections start one at once).
const HELLO_RETRY: Duration = Duration::from_secs(30);

/// What the node keeps of a group between ticks: enough to answer auth checks and to route
/// gossip without deriving the state again.
struct GroupCache {
    /// Stored events when last derived.
    count: u64,
    /// Current members.
    members: HashSet<PublicKey>,
    /// Invites, by invite event id.
    invites: HashMap<[u8; 32], InviteView>,
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
    /// Removed members: a proof by one of their keys gets [`JoinRefusal::Removed`].
    removed: HashSet<PublicKey>,
    /// Where our own join stands by this state (see [`JoinStatus`]).
    me: MyJoin,
    /// The group requires anonymous mode (constitution): a node not in it syncs the group
    /// with nobody, proving and accepting no proof of it.
    anonymous_only: bool,
}

/// Our own standing in a group by its derived state.
#[derive(Clone, Debug, Default)]
struct MyJoin {
    /// `admitted`, `removed`, `waiting` or `unanswered` (see [`JoinStatus::state`]).
    state: &'static str,
    /// The admission rule's text, once the genesis is held.
    admission: Option<String>,
    /// Vouches so far.
    vouches: u64,
    /// Vouches needed.
    needed: u64,
}

impl MyJoin {
    /// Our standing in `st`.
    fn of(st: &GroupState, me: &PublicKey) -> MyJoin {
        let c = &st.constitution;
        let held = st.genesis.is_some();
        let needed = match c.admission {
            dualpower_core::payload::Admission::Vouches(k) => k,
            _ => 1,
        };
        let (state, vouches) = if st.is_member(me) {
            ("admitted", needed)
        } else if st.removed.contains_key(me) {
            ("removed", 0)
        } else if let Some(p) = st.pending.get(me).filter(|_| held) {
            ("waiting", p.vouches.len() as u64)
        } else {
            ("unanswered", 0)
        };
        MyJoin {
            state,
            admission: held.then(|| c.admission.to_text()),
            vouches,
            needed,
        }
    }
}

/// What a handshake needs to know of an invite.
struct InviteView {
    /// The invite key.
    key: PublicKey,
    /// Expiry (ms).
    expires: u64,
    /// Whether uses are left.
    left: bool,
    /// Who used it and is still pending or was admitted: with a used-up invite, only they may
    /// prove with it (alongside a proof by their own key), until they know they are members.
    joiners: Vec<PublicKey>,
}

/// How long after a deadline a voter's node closes a proposal whose author has not.
pub const CLOSE_GRACE_MS: u64 = 15 * 60 * 1000;

struct SyncJob {
    fetched: u64,
    rounds: u64,
    running: bool,
    /// A nudge came while this sync ran: start another when it ends (it may have passed the
    /// point where the new events would have been seen).
    again: bool,
    session: crate::sync::Session,
}

struct Node {
    swarm: Swarm<Behaviour>,
    store: Arc<Store>,
    /// Bundle imports running off the loop (see `Command::Import`), and where each reports
    /// back to the loop when done.
    importing: usize,
    imported: (
        mpsc::UnboundedSender<Imported>,
        mpsc::UnboundedReceiver<Imported>,
    ),
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
    /// Anonymous mode (peers only over I2P): addresses we were given (bootstrap, invite codes,
    /// dial commands) are dialed again while their peer is not connected, since a new I2P
    /// destination is unreachable until its tunnels are known around the network.
    anonymous: bool,
    /// Those addresses (bounded by [`MAX_REDIALS`]).
    redial: Vec<Multiaddr>,
    /// Per group, the I2P addresses its other current members last wrote (their latest
    /// `Reach`), rebuilt on each refresh of the group: what [`Self::redial`] dials besides
    /// `redial`. Rebuilt, not accumulated, so a member who writes `Reach` after `Reach` only
    /// ever has its latest addresses dialed, and cannot crowd out anyone else's.
    reach_dial: HashMap<GroupId, Vec<Multiaddr>>,
    /// Redial rounds so far (which window of addresses a round dials).
    redial_round: usize,
    /// Per group, the members and addresses of the last `Reach` this node wrote: written again
    /// when either changes (a newcomer reads only what was sealed in the epochs it holds).
    reach_sent: HashMap<GroupId, ReachSent>,
    open_groups: bool,
    network: dualpower_core::NetworkId,
    caches: HashMap<GroupId, GroupCache>,
    /// (peer, group) pairs whose peer proved in a handshake (either way round) that it may read
    /// the group, on its current connection.
    authed: HashMap<(PeerId, GroupId), Proved>,
    /// As responder: the session tokens each peer's sync requests name groups by.
    sessions: HashMap<(PeerId, Token), GroupId>,
    /// As requester: the session token of each (peer, group) whose handshake completed.
    outgoing: HashMap<(PeerId, GroupId), Token>,
    /// As requester: the handshake under way, or last made, with each peer.
    hellos: HashMap<PeerId, Outgoing>,
    /// As responder: each peer's `Hello` we answered, until its `Prove`.
    challenges: HashMap<PeerId, Challenge>,
    /// The groups each connected peer completed the mutual proof for (see [`Node::peer_proven`]).
    proven: HashMap<PeerId, HashSet<GroupId>>,
    /// Peers we cannot sync with, and why (see [`Status::peer_notes`]); bounded.
    notes: HashMap<PeerId, &'static str>,
    /// Events that cannot be linked yet, per group (the bounded quarantine of peer input).
    held: HashMap<GroupId, HeldGroup>,
    /// Gossip key of every topic we are subscribed to.
    gossip_keys: HashMap<TopicHash, [u8; 32]>,
    /// Topics of superseded epochs, left once their grace ends.
    leaving: HashMap<TopicHash, Instant>,
    /// Rate limit of misbehaviour warnings: per peer, when we last warned and what we did not
    /// say since.
    warned: HashMap<PeerId, (Instant, u64)>,
    /// Address we reached each connected peer at by dialing it (what the peer directory may
    /// hold for it).
    dialed_at: HashMap<PeerId, Multiaddr>,
    /// For each group we are joining: the latest refusal a member's node sent us (a peer's
    /// word), cleared when a node accepts our proof without one. One per group we follow.
    refusals: HashMap<GroupId, (PeerId, JoinRefusal, Instant)>,
    /// The same from nodes we cannot tell are members' (see [`JoinStatus::unconfirmed`]).
    unconfirmed: HashMap<GroupId, (PeerId, JoinRefusal, Instant)>,
    /// For each group we asked to join: the peers named by the code's addresses, the nodes
    /// whoever made the code vouched for (their refusal is believed before we hold the group's
    /// state). At most [`MAX_INVITERS`] per group, from the latest code.
    inviters: HashMap<GroupId, Vec<PeerId>>,
    /// Nudges sent and not yet answered, so a burst of writes sends one.
    nudging: HashSet<(PeerId, GroupId)>,
    /// Groups that sync stored events in since they were last derived: derived again as soon
    /// as that sync ends, not on the next tick (an admission or a key share waits on it).
    synced: HashSet<GroupId>,
}

/// Most agent rounds per group per tick.
const AGENT_ROUNDS: usize = 4;
/// Every this many ticks every group is derived again even if no event changed it: forgetting
/// old epochs and rotating prekeys are due by the clock alone (`ops::keys::view`).
const KEY_CLOCK_TICKS: u64 = 600;

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
    // Derive before the first connection: a handshake can prove only what the caches know.
    node.refresh_views();
    node.bootstrap(&cfg.bootstrap);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            ev = node.swarm.select_next_some() => node.on_swarm_event(ev),
            Some(cmd) = commands.recv() => node.on_command(cmd),
            Some((res, reply)) = node.imported.1.recv() => node.on_imported(res, reply),
            _ = tick.tick() => {
                ticks += 1;
                node.on_tick(ticks);
            }
            () = &mut shutdown => break,
        }
    }
    // An import still running holds the store: let it finish, so that the caller can close
    // the store (as when the import ran on the loop).
    while node.importing > 0 {
        let Some((res, reply)) = node.imported.1.recv().await else {
            break;
        };
        node.importing -= 1;
        let _ = reply.send(import_answer(res));
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

/// The keys of the identity (not invite) proofs for `group` among `verified`.
fn identity_keys(verified: &[(GroupId, Proof)], group: &GroupId) -> Vec<PublicKey> {
    verified
        .iter()
        .filter(|(g, p)| g == group && p.invite.is_none())
        .map(|(_, p)| p.key)
        .collect()
}

/// The peer an address names: its last `/p2p/` (a relayed address names the relay first).
fn last_peer(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter()
        .filter_map(|p| match p {
            Protocol::P2p(peer) => Some(peer),
            _ => None,
        })
        .last()
}

/// The last eight characters of `s` (a peer id as shown to people).
fn tail(s: &str) -> &str {
    &s[s.len().saturating_sub(8)..]
}

/// A finished import and whom to tell.
type Imported = (
    Result<ImportReport, BundleError>,
    oneshot::Sender<Result<serde_json::Value, String>>,
);

/// What `Handle::import` answers for an import's result.
fn import_answer(res: Result<ImportReport, BundleError>) -> Result<serde_json::Value, String> {
    res.map(|r| crate::query::import_json(&r))
        .map_err(|e| e.to_string())
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
            importing: 0,
            imported: mpsc::unbounded_channel(),
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
            anonymous: cfg.net.anonymous,
            redial: Vec::new(),
            reach_dial: HashMap::new(),
            redial_round: 0,
            reach_sent: HashMap::new(),
            open_groups: cfg.open_groups,
            network,
            caches: HashMap::new(),
            authed: HashMap::new(),
            sessions: HashMap::new(),
            outgoing: HashMap::new(),
            hellos: HashMap::new(),
            challenges: HashMap::new(),
            proven: HashMap::new(),
            notes: HashMap::new(),
            held: HashMap::new(),
            gossip_keys: HashMap::new(),
            leaving: HashMap::new(),
            warned: HashMap::new(),
            dialed_at: HashMap::new(),
            refusals: HashMap::new(),
            unconfirmed: HashMap::new(),
            inviters: HashMap::new(),
            nudging: HashSet::new(),
            synced: HashSet::new(),
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

    /// In anonymous mode, remembers `addr` (given by the user) to dial again until its peer is
    /// connected.
    fn keep_dialing(&mut self, addr: &Multiaddr) {
        if self.anonymous && !self.redial.contains(addr) {
            if self.redial.len() == MAX_REDIALS {
                self.redial.remove(0);
            }
            self.redial.push(addr.clone());
        }
    }

    /// Anonymous mode: our I2P address goes into each group we are a member of (sealed, so only
    /// members learn it), written again when it changes; the addresses other members wrote
    /// there are dialed (and dialed again while not connected). This is how members find each
    /// other with no directory: after a restart, a node dials from its own copy of the log.
    fn reach(&mut self, g: GroupId, st: &GroupState, now: u64) -> Vec<VerifiedEvent> {
        let me = self.identity.public();
        if !self.anonymous || !st.is_member(&me) {
            self.reach_dial.remove(&g);
            return Vec::new();
        }
        let known = match block(|| crate::ops::reach_addrs(&self.store, &self.identity, g, now)) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(group = %g, error = %e, "cannot read members' addresses");
                return Vec::new();
            }
        };
        let garlic = |a: &Multiaddr| matches!(a.iter().next(), Some(Protocol::Garlic64(_)));
        let mine: Vec<String> = self
            .listen
            .iter()
            .filter(|a| garlic(a))
            .take(dualpower_core::payload::MAX_REACH_ADDRS)
            .map(ToString::to_string)
            .collect();
        let mut written = Vec::new();
        // Written on start and again whenever the members or the writing epoch change: a
        // newcomer holds only the keys of epochs from its admission on, so it reads only a
        // `Reach` sealed since.
        let members: Vec<PublicKey> = st.members.keys().copied().collect();
        let sent = (members, st.writing_epoch(), mine);
        if !sent.2.is_empty() && self.reach_sent.get(&g) != Some(&sent) {
            let addrs = sent.2.clone();
            match block(|| crate::ops::write_reach(&self.store, &self.identity, g, addrs, now)) {
                Ok(evs) => {
                    written = evs;
                    self.reach_sent.insert(g, sent);
                }
                Err(e) => tracing::warn!(group = %g, error = %e, "cannot write our address"),
            }
        }
        let mut dial = Vec::new();
        for (member, addrs) in known {
            if member == me || !st.is_member(&member) {
                continue;
            }
            // At most MAX_REACH_ADDRS each (the decoder refuses more); only I2P addresses, and
            // never one of ours (a member could write our own address to make us dial it).
            for a in addrs.iter().filter_map(|a| a.parse::<Multiaddr>().ok()) {
                if garlic(&a) && !self.is_own(&a) && !dial.contains(&a) {
                    // A member wrote it into the group's signed log: dial it like an address
                    // from an invite code, without the directory's backoff.
                    self.swarm.behaviour_mut().guard.trust(&a);
                    dial.push(a);
                }
            }
        }
        self.reach_dial.insert(g, dial);
        written
    }

    /// Whether `addr` leads to this node: its peer id is ours, or its first part (the I2P
    /// destination) is one we listen on, whatever follows.
    fn is_own(&self, addr: &Multiaddr) -> bool {
        let me = *self.swarm.local_peer_id();
        last_peer(addr) == Some(me)
            || addr.iter().next().is_some_and(|p| {
                self.listen
                    .iter()
                    .any(|l| l.iter().next() == Some(p.clone()))
            })
    }

    /// Anonymous mode: dials again every address we were given, and every current member's
    /// latest I2P address, whose peer is not connected.
    fn redial(&mut self) {
        let groups = &self.groups;
        self.reach_dial.retain(|g, _| groups.contains(g));
        let mut again: Vec<Multiaddr> = Vec::new();
        for a in self.redial.iter().chain(self.reach_dial.values().flatten()) {
            let connected = last_peer(a).is_some_and(|p| self.connected.contains_key(&p));
            if !connected && !again.contains(a) {
                again.push(a.clone());
            }
        }
        // Many members offline: dial a window of them each round, in turn, so a round never
        // opens more than MAX_REDIALS lookups through the router.
        self.redial_round = self.redial_round.wrapping_add(1);
        if again.len() > MAX_REDIALS {
            let start = (self.redial_round * MAX_REDIALS) % again.len();
            again.rotate_left(start);
            again.truncate(MAX_REDIALS);
        }
        for addr in again {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "cannot dial again");
            }
        }
    }

    /// Dials the bootstrap peers (and seeds Kademlia with those whose peer id is known).
    fn bootstrap(&mut self, peers: &[Multiaddr]) {
        let mut seeded = false;
        for addr in peers {
            self.keep_dialing(addr);
            // The user gave these: they may be private (a LAN, a test on one machine).
            self.swarm.behaviour_mut().guard.trust(addr);
            if let Some(Protocol::P2p(peer)) = addr.iter().last()
                && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut()
            {
                kad.add_address(&peer, addr.clone());
                seeded = true;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        if seeded && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            let _ = kad.bootstrap();
        }
    }

    /// Once a second: new groups, changed groups, due closes, and now and then anti-entropy.
    fn on_tick(&mut self, ticks: u64) {
        if self.importing > 0 {
            return;
        }
        if let Err(e) = self.refresh_groups() {
            tracing::error!(error = %e, "cannot read groups");
        }
        if ticks.is_multiple_of(KEY_CLOCK_TICKS) {
            for c in self.caches.values_mut() {
                c.count = u64::MAX;
            }
        }
        self.refresh_views();
        self.leave_superseded();
        self.close_due();
        self.witness_due();
        self.expire_held();
        if ticks.is_multiple_of(ANTI_ENTROPY_TICKS) {
            self.anti_entropy();
        }
        if self.anonymous && ticks.is_multiple_of(REDIAL_TICKS) {
            self.redial();
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
                    if self.open_groups {
                        self.start_sync(p, g);
                    } else {
                        self.handshake(p, true);
                    }
                }
            }
        }
        Ok(())
    }

    fn start_sync(&mut self, peer: PeerId, group: GroupId) {
        let token = if self.open_groups {
            self.access.token(&group)
        } else {
            match self.outgoing.get(&(peer, group)) {
                Some(t) => *t,
                None => {
                    self.handshake(peer, false);
                    return;
                }
            }
        };
        let job = self.jobs.entry((peer, group)).or_insert(SyncJob {
            fetched: 0,
            rounds: 0,
            running: false,
            again: false,
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

    /// A peer completed the mutual proof for `group` on its current connection: it may sync the
    /// group with us, and (for the gossip layer) be admitted to the group's traffic.
    fn peer_proven(&mut self, peer: PeerId, group: GroupId) {
        let groups = self.proven.entry(peer).or_default();
        if groups.insert(group) {
            // Admits the peer to the group's gossip (see `dualpower_net::gate`).
            let groups = groups.clone();
            self.swarm
                .behaviour_mut()
                .gossipsub
                .set_peer_groups(peer, groups);
        }
        self.notes.remove(&peer);
    }

    /// A peer's proofs no longer hold: it disconnected (`group` `None`: every group), or it is
    /// no longer a member of `group`. It leaves the group's gossip at once.
    fn peer_unproven(&mut self, peer: PeerId, group: Option<GroupId>) {
        match group {
            None => {
                self.proven.remove(&peer);
                self.authed.retain(|(p, _), _| *p != peer);
                self.outgoing.retain(|(p, _), _| *p != peer);
                self.sessions.retain(|(p, _), _| *p != peer);
                self.hellos.remove(&peer);
                self.challenges.remove(&peer);
                self.nudging.retain(|(p, _)| *p != peer);
            }
            Some(g) => {
                if let Some(set) = self.proven.get_mut(&peer) {
                    set.remove(&g);
                    if set.is_empty() {
                        self.proven.remove(&peer);
                    }
                }
                self.authed.remove(&(peer, g));
                self.outgoing.remove(&(peer, g));
                self.sessions.retain(|(p, _), gg| !(*p == peer && *gg == g));
            }
        }
        let groups = self.proven.get(&peer).cloned().unwrap_or_default();
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_peer_groups(peer, groups);
    }

    /// Records a note about a peer we cannot sync with (bounded: notes of gone peers go first).
    fn note(&mut self, peer: PeerId, why: &'static str) {
        if self.notes.len() >= 1_000 {
            let connected = &self.connected;
            self.notes.retain(|p, _| connected.contains_key(p));
            if self.notes.len() >= 1_000 {
                self.notes.clear();
            }
        }
        self.notes.insert(peer, why);
    }

    /// The handshake facts with `peer`, we being the requester (`we_asked`) or the responder.
    fn facts<'a>(
        &'a self,
        peer: &'a [u8],
        me: &'a [u8],
        we_asked: bool,
        requester_nonce: &'a Nonce,
        responder_nonce: &'a Nonce,
    ) -> Handshake<'a> {
        let (requester, responder) = if we_asked { (me, peer) } else { (peer, me) };
        Handshake {
            network: &self.network,
            requester_nonce,
            responder_nonce,
            requester,
            responder,
        }
    }

    /// Our proofs for `group` in a handshake: as a member; or with an invite we hold, and then,
    /// as requester (the responder has proved its membership already), also with our identity
    /// key, because a joiner admitted while away does not know it is a member until it has
    /// synced its admission, and its invite may be used up by then. Empty if we can prove neither.
    fn prove(&self, group: &GroupId, hs: &Handshake<'_>, side: Side) -> Vec<Proof> {
        let label = match side {
            Side::Requester => Label::Prove,
            Side::Responder => Label::Answer,
        };
        let msg = hs.message(group, side);
        let identity = Proof {
            tag: hs.tag(group, label),
            key: self.identity.public(),
            invite: None,
            sig: self.identity.sign(&msg),
        };
        if self.caches.get(group).is_some_and(|c| c.member) {
            return vec![identity];
        }
        let Some((invite, key)) =
            block(|| crate::ops::invite_keys(&self.store, &self.identity, group))
                .ok()
                .and_then(|v| v.into_iter().next())
        else {
            return Vec::new();
        };
        let by_invite = Proof {
            tag: hs.tag(group, label),
            key: key.public(),
            invite: Some(invite.0),
            sig: key.sign(&msg),
        };
        // The identity first: the other side takes the first proof it accepts, and a member's
        // answers are admitted more widely than a joiner's.
        match side {
            Side::Requester => vec![identity, by_invite],
            Side::Responder => vec![by_invite],
        }
    }

    /// Whether we can prove `group` (as a member, or with an invite we hold).
    fn can_prove(&self, group: &GroupId) -> bool {
        if self.refuses_clear(group) {
            return false;
        }
        self.caches.get(group).is_some_and(|c| c.member)
            || block(|| crate::ops::invite_keys(&self.store, &self.identity, group))
                .is_ok_and(|v| !v.is_empty())
    }

    /// Whether the (signature-checked) `proof` shows a key that may read `group` by our derived
    /// state: a current member, or an unexpired invite with uses left. With no state to judge by
    /// (we hold no member of the group: a joiner before it has the genesis) any proof is taken,
    /// and dropped once the state says otherwise (see `refresh_group`); what that peer sends is
    /// still judged by the state derived with it.
    ///
    /// `companions` are the keys of the other verified identity proofs for the group in the
    /// same message: an invite with no uses left is taken only from someone who also proves
    /// to be one of the joiners who used it (so a used code in other hands opens nothing), and
    /// no invite is taken from someone who also proves an identity the group removed (its join
    /// would not be acted on: it is told why instead, see `refusal`).
    /// Whether `group` requires anonymous mode and this node is not in it: then it neither
    /// proves the group to peers nor accepts their proofs of it, so nothing of the group
    /// travels over a clear-net connection.
    fn refuses_clear(&self, group: &GroupId) -> bool {
        !self.anonymous && self.caches.get(group).is_some_and(|c| c.anonymous_only)
    }

    fn judge(&self, group: &GroupId, proof: &Proof, companions: &[PublicKey]) -> Option<Proved> {
        if self.refuses_clear(group) {
            return None;
        }
        let invite = proof.invite.map(EventId);
        let c = self.caches.get(group);
        if c.is_none_or(|c| c.members.is_empty()) {
            return Some(Proved {
                key: proof.key,
                invite,
            });
        }
        let c = c?;
        let ok = match &proof.invite {
            None => c.members.contains(&proof.key),
            Some(_) if companions.iter().any(|k| c.removed.contains(k)) => false,
            Some(i) => c.invites.get(i).is_some_and(|v| {
                v.key == proof.key
                    && now_ms() <= v.expires
                    && (v.left || v.joiners.iter().any(|j| companions.contains(j)))
            }),
        };
        ok.then_some(Proved {
            key: proof.key,
            invite,
        })
    }

    /// Starts a handshake with `peer` (see `dualpower_net::protocol`): a fresh nonce and one tag
    /// per group we can prove, padded. Not while one is under way, and unless `force`d, not
    /// within [`HELLO_RETRY`] of the last.
    fn handshake(&mut self, peer: PeerId, force: bool) {
        if self.open_groups {
            return;
        }
        if let Some(o) = self.hellos.get(&peer) {
            if o.in_flight && o.at.elapsed() < HANDSHAKE_TIMEOUT {
                return;
            }
            if !force && o.at.elapsed() < HELLO_RETRY {
                return;
            }
        }
        let mut nonce = [0u8; 32];
        rand::fill(&mut nonce);
        let mut groups: Vec<GroupId> = self.groups.iter().copied().collect();
        groups.sort_unstable();
        groups.retain(|g| self.can_prove(g));
        groups.truncate(MAX_HELLO_TAGS - HELLO_PAD);
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let hs = self.facts(&them, &me, true, &nonce, &[0; 32]);
        let mut tags: Vec<[u8; 32]> = groups.iter().map(|g| hs.tag(g, Label::Hello)).collect();
        // Padding: the number of tags does not tell how many groups we hold, and a Hello is
        // sent even with none (the answer tells `sync --peer` that we share no group).
        while tags.is_empty() || !tags.len().is_multiple_of(HELLO_PAD) {
            let mut t = [0u8; 32];
            rand::fill(&mut t);
            tags.push(t);
        }
        self.hellos.insert(
            peer,
            Outgoing {
                nonce,
                responder_nonce: None,
                groups,
                proving: Vec::new(),
                at: Instant::now(),
                in_flight: true,
            },
        );
        self.send(
            peer,
            NO_GROUP,
            Request::Hello { nonce, tags },
            Pending::Hello,
        );
    }

    /// As responder, answers a `Hello`: our fresh nonce and a proof for each of our groups the
    /// requester showed it knows. A stranger gets a nonce and nothing else.
    fn answer_hello(
        &mut self,
        peer: PeerId,
        requester_nonce: Nonce,
        tags: &[[u8; 32]],
    ) -> Response {
        let mut nonce = [0u8; 32];
        rand::fill(&mut nonce);
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let tags: HashSet<&[u8; 32]> = tags.iter().collect();
        let mut mine: Vec<GroupId> = self.groups.iter().copied().collect();
        mine.sort_unstable();
        let hs = self.facts(&them, &me, false, &requester_nonce, &nonce);
        let mut groups = Vec::new();
        let mut proofs = Vec::new();
        for g in mine {
            if !tags.contains(&hs.tag(&g, Label::Hello)) {
                continue;
            }
            let mine = self.prove(&g, &hs, Side::Responder);
            if !mine.is_empty() {
                groups.push(g);
                proofs.extend(mine);
            }
        }
        self.challenges.insert(
            peer,
            Challenge {
                requester_nonce,
                nonce,
                groups,
            },
        );
        Response::Hello { nonce, proofs }
    }

    /// As responder, checks a `Prove` against the challenge it answers (consumed: a replay finds
    /// none) and admits the requester to each group it proved.
    fn answer_prove(&mut self, peer: PeerId, proofs: Vec<Proof>) -> Response {
        let Some(ch) = self.challenges.remove(&peer) else {
            return Response::Proven {
                tags: Vec::new(),
                refused: Vec::new(),
            };
        };
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let mut accepted = Vec::new();
        let mut admitted = Vec::new();
        let mut refused: Vec<([u8; 32], JoinRefusal)> = Vec::new();
        let mut forged = 0;
        {
            let hs = self.facts(&them, &me, false, &ch.requester_nonce, &ch.nonce);
            let mut verified: Vec<(GroupId, Proof)> = Vec::new();
            for p in proofs {
                let Some(g) = ch.groups.iter().find(|g| hs.tag(g, Label::Prove) == p.tag) else {
                    forged += 1;
                    continue;
                };
                if hs.check(g, Side::Requester, &p).is_err() {
                    forged += 1;
                    continue;
                }
                verified.push((*g, p));
            }
            for (g, p) in &verified {
                if admitted.iter().any(|(ag, _, _)| ag == g) {
                    continue;
                }
                let companions = identity_keys(&verified, g);
                if let Some(proved) = self.judge(g, p, &companions) {
                    accepted.push(p.tag);
                    admitted.push((*g, proved, hs.tag(g, Label::Session)));
                }
            }
            // Tell a joiner why it is turned away, so a bad code does not look like a join
            // under way: only to the holder of the key it concerns (the signatures verified).
            let mut groups: Vec<GroupId> = verified.iter().map(|(g, _)| *g).collect();
            groups.dedup();
            for g in groups {
                let companions = identity_keys(&verified, &g);
                let mine = verified.iter().filter(|(gg, _)| *gg == g);
                let why = self.refusal(&g, mine, &companions, &admitted);
                if let (Some(why), Some((_, p))) = (why, verified.iter().find(|(gg, _)| *gg == g)) {
                    refused.push((p.tag, why));
                }
            }
        }
        for (g, proved, session) in admitted {
            self.authed.insert((peer, g), proved);
            self.sessions.insert((peer, session), g);
            self.peer_proven(peer, g);
        }
        if forged > 0 {
            self.strike(peer, "forged or misdirected handshake proof");
        }
        Response::Proven {
            tags: accepted,
            refused,
        }
    }

    /// Why the requester's verified `proofs` for `group` do not make it a member to come, if
    /// our state says so: its identity was removed (whatever its invite), or no proof was
    /// accepted and its invite is unknown to us, expired or used up by others. `None` for
    /// anything else (a member, a joiner we took, or no state to judge by).
    fn refusal<'a>(
        &self,
        group: &GroupId,
        proofs: impl Iterator<Item = &'a (GroupId, Proof)>,
        companions: &[PublicKey],
        admitted: &[(GroupId, Proved, Token)],
    ) -> Option<JoinRefusal> {
        let c = self.caches.get(group).filter(|c| !c.members.is_empty())?;
        if companions.iter().any(|k| c.removed.contains(k)) {
            return Some(JoinRefusal::Removed);
        }
        if admitted.iter().any(|(g, _, _)| g == group) {
            return None;
        }
        let now = now_ms();
        proofs
            .filter_map(|(_, p)| Some((p, p.invite?)))
            .map(|(p, i)| match c.invites.get(&i) {
                Some(v) if v.key != p.key => JoinRefusal::UnknownInvite,
                None => JoinRefusal::UnknownInvite,
                Some(v) if now > v.expires => JoinRefusal::Expired,
                Some(_) => JoinRefusal::UsedUp,
            })
            .next()
    }

    /// As requester, checks the responder's proofs and, for each group it proved, sends ours.
    fn on_hello_answer(&mut self, peer: PeerId, responder_nonce: Nonce, proofs: Vec<Proof>) {
        let Some(o) = self.hellos.get(&peer).filter(|o| o.in_flight) else {
            return;
        };
        let (nonce, groups) = (o.nonce, o.groups.clone());
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let mut proved = Vec::new();
        let mut ours = Vec::new();
        let mut forged = 0;
        {
            let hs = self.facts(&them, &me, true, &nonce, &responder_nonce);
            let mut verified: Vec<(GroupId, Proof)> = Vec::new();
            for p in &proofs {
                let Some(g) = groups.iter().find(|g| hs.tag(g, Label::Answer) == p.tag) else {
                    forged += 1;
                    continue;
                };
                if hs.check(g, Side::Responder, p).is_err() {
                    forged += 1;
                    continue;
                }
                verified.push((*g, p.clone()));
            }
            for (g, p) in &verified {
                // Our membership is shown only to a peer that proved its own.
                if proved.iter().any(|(pg, _)| pg == g) {
                    continue;
                }
                let companions = identity_keys(&verified, g);
                if let Some(pr) = self.judge(g, p, &companions) {
                    let mine = self.prove(g, &hs, Side::Requester);
                    if !mine.is_empty() {
                        proved.push((*g, pr));
                        ours.extend(mine.into_iter().map(|m| (*g, m)));
                    }
                }
            }
        }
        if forged > 0 {
            self.strike(peer, "forged or misdirected handshake proof");
        }
        for (g, pr) in &proved {
            self.authed.insert((peer, *g), *pr);
            self.peer_proven(peer, *g);
        }
        let Some(o) = self.hellos.get_mut(&peer) else {
            return;
        };
        if ours.is_empty() {
            o.in_flight = false;
            if proofs.is_empty() {
                self.note(peer, NO_SHARED_GROUP);
            }
            return;
        }
        o.responder_nonce = Some(responder_nonce);
        o.proving = ours.iter().map(|(g, p)| (*g, p.tag)).collect();
        o.proving.dedup();
        let proofs = ours.into_iter().map(|(_, p)| p).collect();
        self.send(peer, NO_GROUP, Request::Prove { proofs }, Pending::Prove);
    }

    /// Whether `peer`, which passed our handshake for `group`, is known to be a member's node:
    /// our copy of the group's state lists the key it proved with, or the invite code we joined
    /// with names it (whoever gave us the code vouched for that node).
    fn is_known_member(&self, peer: PeerId, group: &GroupId) -> bool {
        let judged = self
            .caches
            .get(group)
            .is_some_and(|c| !c.members.is_empty());
        let member = self
            .authed
            .get(&(peer, *group))
            .is_some_and(|pr| pr.invite.is_none());
        judged && member || self.inviters.get(group).is_some_and(|v| v.contains(&peer))
    }

    /// As requester, learns which of our proofs the responder accepted and starts syncing those
    /// groups with the handshake's session tokens.
    fn on_proven(&mut self, peer: PeerId, tags: &[[u8; 32]], refused: &[([u8; 32], JoinRefusal)]) {
        let Some(o) = self.hellos.get_mut(&peer).filter(|o| o.in_flight) else {
            return;
        };
        o.in_flight = false;
        let Some(responder_nonce) = o.responder_nonce else {
            return;
        };
        let (nonce, proving) = (o.nonce, std::mem::take(&mut o.proving));
        // What the peer says of our joins: kept per group we proved (a refusal naming anything
        // else is dropped), and forgotten once a node takes our proof without one.
        for (g, tag) in &proving {
            // A node that has not seen our invite yet (or judges it used or expired by what it
            // holds) does not undo another node that took it: only a removal, which is about
            // us rather than the code, is kept whatever others did.
            let taken_elsewhere = self.outgoing.keys().any(|(p, gg)| gg == g && *p != peer);
            // Before we hold the group's state anyone who knows its id passes the handshake,
            // so a refusal is believed only from a node we know is a member's; once we hold
            // the state, one from anyone else (a pending joiner) is not even shown.
            let known = self.is_known_member(peer, g);
            let can_check = self.caches.get(g).is_some_and(|c| !c.members.is_empty());
            match refused.iter().find(|(t, _)| t == tag) {
                Some((_, why)) if !known && !can_check && !taken_elsewhere => {
                    self.unconfirmed.insert(*g, (peer, *why, Instant::now()));
                }
                Some((_, why)) if known && (*why == JoinRefusal::Removed || !taken_elsewhere) => {
                    self.refusals.insert(*g, (peer, *why, Instant::now()));
                }
                Some(_) => {}
                None if tags.contains(tag) => {
                    self.refusals.remove(g);
                    self.unconfirmed.remove(g);
                }
                None => {}
            }
        }
        let (me, them) = (self.swarm.local_peer_id().to_bytes(), peer.to_bytes());
        let sessions: Vec<(GroupId, Token)> = {
            let hs = self.facts(&them, &me, true, &nonce, &responder_nonce);
            proving
                .iter()
                .filter(|(_, t)| tags.contains(t))
                .map(|(g, _)| (*g, hs.tag(g, Label::Session)))
                .collect()
        };
        for (g, token) in sessions {
            self.outgoing.insert((peer, g), token);
            if let Some(j) = self.jobs.get_mut(&(peer, g)) {
                j.running = false;
            }
            self.start_sync(peer, g);
        }
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
        // Reveal our sortition secrets, close a successor's list, draw (see `work_duties`).
        match block(|| crate::ops::work_duties(&self.store, &self.identity, g, now)) {
            Ok(w) => written.extend(w),
            Err(e) => tracing::warn!(group = %g, error = %e, "cannot do the group's work duties"),
        }
        // Anonymous mode: tell the group where we are, and dial the members who told us.
        written.extend(self.reach(g, st, now));
        // Charge demurrage; as a bridge, open links, carry payments across, mirror offers.
        match block(|| crate::ops::ledger_duties(&self.store, &self.identity, g, now)) {
            Ok(w) => written.extend(w),
            Err(e) => tracing::warn!(group = %g, error = %e, "cannot do the group's ledger duties"),
        }
        let topics = self.subscribe_epochs(g, &view);
        let cache = GroupCache {
            count: block(|| event_count(&self.store, g)),
            members: st.members.keys().copied().collect(),
            invites: st
                .invites
                .iter()
                .map(|(id, i)| {
                    let joiners = i
                        .used_by
                        .iter()
                        .filter(|k| st.pending.contains_key(*k) || st.members.contains_key(*k))
                        .copied()
                        .collect();
                    let view = InviteView {
                        key: i.key,
                        expires: i.expires,
                        left: (i.used_by.len() as u64) < i.uses,
                        joiners,
                    };
                    (id.0, view)
                })
                .collect(),
            topics,
            member: st.is_member(&self.identity.public()),
            closes: close_times(st, &self.identity.public()),
            witness: witness_times(st, &view.events, &self.identity.public()),
            removed: st.removed.keys().copied().collect(),
            me: MyJoin::of(st, &self.identity.public()),
            anonymous_only: st.constitution.anonymous,
        };
        // Peers whose proofs the new state no longer bears out lose the group at once.
        let judged = !cache.members.is_empty();
        let revoked: Vec<PeerId> = self
            .authed
            .iter()
            .filter(|((_, gg), _)| *gg == g)
            .filter(|(_, pr)| {
                let ok = match pr.invite {
                    None => cache.members.contains(&pr.key),
                    // An invite proof lasts while the invite is usable (see above).
                    Some(i) => cache
                        .invites
                        .get(&i.0)
                        .is_some_and(|v| v.key == pr.key && (v.left || !v.joiners.is_empty())),
                };
                judged && !ok
            })
            .map(|((p, _), _)| *p)
            .collect();
        for p in revoked {
            // A nudge first, while its session still names the group: its sync then finds
            // itself turned away and proves again, and so hears why (a removal).
            if let Some(token) = self.outgoing.get(&(p, g)).copied() {
                self.send(p, g, Request::Nudge { token }, Pending::Nudge);
            }
            self.peer_unproven(p, Some(g));
        }
        let became_member = cache.member && !self.caches.get(&g).is_some_and(|c| c.member);
        self.caches.insert(g, cache);
        if became_member {
            // Now we can prove the group as a member: tell connected peers.
            let peers: Vec<PeerId> = self.connected.keys().copied().collect();
            for p in peers {
                self.handshake(p, true);
            }
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
            Command::View { query, now, reply } => {
                let res = block(|| crate::query::answer(&self.store, &self.identity, query, now));
                let _ = reply.send(res.map_err(Into::into));
            }
            // Off the loop: a bundle of 100k events held the loop 6 s (gossip, sync and every
            // API call waited). The store takes writes from any thread (one writer); the loop
            // hears when it is done ([`Node::on_imported`]). Ticks during it derive nothing:
            // deriving a half-imported group again and again cost far more than once at the end.
            Command::Import { bundle, reply } => {
                let store = self.store.clone();
                let done = self.imported.0.clone();
                self.importing += 1;
                tokio::task::spawn_blocking(move || {
                    let res = store.import(&bundle[..], |_| {});
                    // Our hold on the store ends before the loop hears we are done.
                    drop(store);
                    let _ = done.send((res, reply));
                });
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
            Command::Anonymity { group, reply } => {
                let required = self.caches.get(&group).is_some_and(|c| c.anonymous_only);
                let _ = reply.send((self.anonymous, required));
            }
        }
    }

    /// An import finished: take in what it brought (new groups, joins to admit), then answer.
    fn on_imported(
        &mut self,
        res: Result<ImportReport, BundleError>,
        reply: oneshot::Sender<Result<serde_json::Value, String>>,
    ) {
        self.importing = self.importing.saturating_sub(1);
        if res.is_ok() {
            if let Err(e) = self.refresh_groups() {
                tracing::error!(error = %e, "cannot read groups");
            }
            self.refresh_views();
        }
        let _ = reply.send(import_answer(res));
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
    fn on_op(
        &mut self,
        op: crate::ops::Op,
        now: u64,
    ) -> Result<serde_json::Value, crate::ops::Refused> {
        let joining = matches!(op, crate::ops::Op::Join { .. });
        if let crate::ops::Op::Join { code } = &op
            && let Some(refused) = self.removed_join(code)
        {
            return Err(refused);
        }
        let out = block(|| crate::ops::apply(&self.store, &self.identity, op, now))?;
        if let Err(e) = self.refresh_groups() {
            tracing::error!(error = %e, "cannot read groups");
        }
        self.refresh_views();
        if joining {
            // A new code: what nodes said of the last one no longer holds, and connected peers
            // hear the new proof now rather than at the next handshake.
            if let Some(g) = out.value["group"]
                .as_str()
                .and_then(dualpower_core::GroupId::from_hex)
            {
                self.refusals.remove(&g);
                self.unconfirmed.remove(&g);
                let named = out.value["addrs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| last_peer(&a.as_str()?.parse().ok()?))
                    .take(MAX_INVITERS)
                    .collect();
                self.inviters.insert(g, named);
            }
            let peers: Vec<PeerId> = self.connected.keys().copied().collect();
            for p in peers {
                self.handshake(p, true);
            }
        }
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
            self.keep_dialing(&a);
            let _ = self.swarm.dial(a);
        }
        Ok(out.value)
    }

    /// A join with `code` in a group our state still counts us a member of, though a member's
    /// node told us we were removed (our node never got the removal: members no longer sync
    /// with us): the operation would say "already a member", which is not what happened.
    fn removed_join(&self, code: &str) -> Option<crate::ops::Refused> {
        let g = dualpower_groups::InviteCode::parse(code).ok()?.group;
        let (peer, why, _) = self.refusals.get(&g)?;
        let member = self.caches.get(&g).is_some_and(|c| c.member);
        (member && *why == JoinRefusal::Removed).then(|| crate::ops::Refused {
            kind: "denied",
            message: format!(
                "member node …{} says you were removed from this group (your node still counts \
                 you as a member: members' nodes no longer sync with it). Members' nodes do not \
                 act on a new join from a removed member; talk to the members.",
                tail(&peer.to_string())
            ),
        })
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
                if !self.open_groups
                    && groups
                        .iter()
                        .any(|g| !self.outgoing.contains_key(&(peer, *g)))
                {
                    self.handshake(peer, true);
                }
                for g in groups {
                    self.start_sync(peer, g);
                }
                Ok(())
            }
            _ => {
                self.swarm.behaviour_mut().guard.trust(&addr);
                self.keep_dialing(&addr);
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
        self.nudge(group);
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

    /// Asks every connected peer that proved `group` but is not on the topic we publish to (a
    /// joiner, which has no topic before admission; a member that does not hold our new epoch
    /// yet; anyone if we publish nowhere) to sync the group from us now. Without it, what we
    /// wrote reached them only on the next anti-entropy round, seconds later: an admission, a
    /// key share, a post right after a rekey. One nudge in flight per peer and group.
    fn nudge(&mut self, group: GroupId) {
        let topic = self
            .caches
            .get(&group)
            .and_then(|c| c.topics.first())
            .map(|(t, _)| t.hash());
        let on_topic: HashSet<PeerId> = match &topic {
            Some(t) => self
                .swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .filter(|(_, topics)| topics.contains(&t))
                .map(|(p, _)| *p)
                .collect(),
            None => HashSet::new(),
        };
        let due: Vec<(PeerId, Token)> = self
            .proven
            .iter()
            .filter(|(p, groups)| groups.contains(&group) && !on_topic.contains(p))
            .filter(|(p, _)| !self.nudging.contains(&(**p, group)))
            .filter_map(|(p, _)| Some((*p, *self.outgoing.get(&(*p, group))?)))
            .collect();
        for (peer, token) in due {
            self.nudging.insert((peer, group));
            self.send(peer, group, Request::Nudge { token }, Pending::Nudge);
        }
    }

    /// Syncs `group` with `peer` now; if a sync is running, once more when it ends.
    fn sync_again(&mut self, peer: PeerId, group: GroupId) {
        match self.jobs.get_mut(&(peer, group)) {
            Some(job) if job.running => job.again = true,
            _ => self.start_sync(peer, group),
        }
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
                    member: self.caches.get(g).is_some_and(|c| c.member),
                    anonymous_only: self.caches.get(g).is_some_and(|c| c.anonymous_only),
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
            held: self.held.values().map(|h| h.events.len() as u64).sum(),
            peer_notes: self
                .notes
                .iter()
                .map(|(p, n)| (p.to_string(), (*n).to_owned()))
                .collect(),
            gossip_topics: self.swarm.behaviour().gossipsub.topics().count(),
            joins: self.joins(),
            anonymous: self.anonymous,
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

    /// Our joins in flight (see [`JoinStatus`]): groups we hold an invite key for and are not a
    /// member of, and groups that removed us.
    fn joins(&self) -> Vec<JoinStatus> {
        let mut groups: Vec<GroupId> = self.groups.iter().copied().collect();
        groups.sort_unstable();
        groups
            .into_iter()
            .filter_map(|g| {
                let me = self
                    .caches
                    .get(&g)
                    .map(|c| c.me.clone())
                    .unwrap_or_default();
                let joining = me.state != "admitted"
                    && block(|| crate::ops::invite_keys(&self.store, &self.identity, &g))
                        .is_ok_and(|v| !v.is_empty());
                if !joining
                    && me.state != "removed"
                    && !self.refusals.contains_key(&g)
                    && !self.unconfirmed.contains_key(&g)
                {
                    return None;
                }
                let member_peers = self
                    .authed
                    .iter()
                    .filter(|((_, gg), pr)| *gg == g && pr.invite.is_none())
                    .count() as u64;
                Some(JoinStatus {
                    group: g.to_hex(),
                    state: if me.state.is_empty() {
                        "unanswered"
                    } else {
                        me.state
                    },
                    admission: me.admission,
                    vouches: me.vouches,
                    needed: me.needed.max(1),
                    refused: self.refusals.get(&g).map(JoinRefused::of),
                    unconfirmed: self.unconfirmed.get(&g).map(JoinRefused::of),
                    member_peers,
                    connected: self.connected.len() as u64,
                })
            })
            .collect()
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
                if self.anonymous {
                    // The groups were first read before we knew our own address: read them
                    // again now, to write our `Reach` and to drop our own address from what
                    // we dial.
                    for c in self.caches.values_mut() {
                        c.count = u64::MAX;
                    }
                }
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
                    if self.open_groups {
                        self.start_sync(peer_id, g);
                    }
                }
                // Private groups: prove ourselves first (also with no group: the answer tells
                // whether the peer is a Dual Power node we share a group with).
                self.handshake(peer_id, true);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.dialed_at.remove(&peer_id);
                self.peer_unproven(peer_id, None);
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
            // A connection that stops answering pings is dead (over I2P a peer that restarted
            // leaves the old stream open on our side, and its router refuses the peer's new
            // stream while that one lives): close it, so the peer can reach us again.
            BehaviourEvent::Ping(libp2p::ping::Event {
                peer,
                connection,
                result: Err(e),
            }) if self.anonymous && !matches!(e, libp2p::ping::Failure::Unsupported) => {
                tracing::debug!(%peer, error = %e, "ping failed; closing the connection");
                self.swarm.close_connection(connection);
            }
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
                if let Some((p, g, kind, _)) = self.pending.remove(&request_id).inspect(|_| {
                    self.asked.remove(&request_id);
                }) {
                    if kind == Pending::Nudge {
                        self.nudging.remove(&(p, g));
                    } else if let Some(j) = self.jobs.get_mut(&(p, g)) {
                        j.running = false;
                    }
                    if matches!(kind, Pending::Hello | Pending::Prove)
                        && let Some(o) = self.hellos.get_mut(&p)
                    {
                        o.in_flight = false;
                    }
                }
                if let request_response::OutboundFailure::UnsupportedProtocols = &error {
                    self.note(peer, NOT_DUALPOWER);
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
                // Identify lists the peer's protocols: without ours there is nothing to sync.
                if !info.protocols.contains(&SYNC_PROTOCOL) {
                    self.note(peer_id, NOT_DUALPOWER);
                }
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
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            for addr in addrs {
                kad.add_address(&peer, addr);
            }
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
        // Only authors that can be in the group are stored, and what cannot be linked yet is
        // held in the bounded quarantine rather than the store's.
        let verified = if self.open_groups {
            verified
        } else {
            let checked = block(|| {
                crate::sync::admissible(&self.store, group, Admit::Members, vec![verified])
                    .and_then(|(kept, _)| crate::sync::split_unlinked(&self.store, kept))
            });
            match checked {
                Ok((_, unlinked)) if !unlinked.is_empty() => {
                    self.status_counts.2 += self.hold(source, group, unlinked);
                    self.start_sync(source, group);
                    return MessageAcceptance::Ignore;
                }
                Ok((mut linked, _)) => match linked.pop() {
                    Some(v) => v,
                    None => {
                        self.status_counts.2 += 1;
                        return MessageAcceptance::Reject;
                    }
                },
                Err(_) => return MessageAcceptance::Ignore,
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
                let more = if self.open_groups {
                    Vec::new()
                } else {
                    self.release_held(group)
                };
                for id in std::iter::once(id).chain(released).chain(more) {
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

    /// Answers a sync request within the responder's budget: the handshake, or a request for
    /// a group the peer proved on this connection (named by the handshake's session token).
    fn answer(&mut self, peer: PeerId, req: Request) -> Response {
        let token = match &req {
            Request::Hello { nonce, tags } => {
                if self.open_groups {
                    return Response::Hello {
                        nonce: [0; 32],
                        proofs: Vec::new(),
                    };
                }
                return self.answer_hello(peer, *nonce, tags);
            }
            Request::Prove { .. } if self.open_groups => {
                return Response::Proven {
                    tags: Vec::new(),
                    refused: Vec::new(),
                };
            }
            Request::Prove { proofs } => return self.answer_prove(peer, proofs.clone()),
            Request::Nudge { token } => {
                // Only for a group the peer proved, named by its handshake's session token.
                let group = self
                    .sessions
                    .get(&(peer, *token))
                    .copied()
                    .filter(|g| self.authed.contains_key(&(peer, *g)));
                if let Some(g) = group.filter(|_| !self.open_groups) {
                    self.sync_again(peer, g);
                }
                return Response::InSync;
            }
            other => other.token().copied().unwrap_or([0; 32]),
        };
        // Without proof of membership a group is answered as if we did not hold it.
        let group = if self.open_groups {
            self.tokens.get(&token).copied()
        } else {
            self.sessions
                .get(&(peer, token))
                .copied()
                .filter(|g| self.authed.contains_key(&(peer, *g)))
        };
        let budget = if self.anonymous {
            dualpower_net::protocol::ANONYMOUS_ANSWER_BUDGET_BYTES
        } else {
            dualpower_net::protocol::ANSWER_BUDGET_BYTES
        };
        block(|| crate::sync::answer_within(&self.store, group, req, budget)).unwrap_or_else(|e| {
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
            (Pending::Hello, Response::Hello { nonce, proofs }) => {
                self.on_hello_answer(peer, nonce, proofs);
                return;
            }
            (Pending::Prove, Response::Proven { tags, refused }) => {
                self.on_proven(peer, &tags, &refused);
                return;
            }
            // Any answer ends a nudge (there is nothing in it to act on).
            (Pending::Nudge, _) => {
                self.nudging.remove(&(peer, group));
                return;
            }
            (Pending::Hello | Pending::Prove, _) => {
                if let Some(o) = self.hellos.get_mut(&peer) {
                    o.in_flight = false;
                }
                self.strike(peer, "handshake answer of the wrong kind");
                return;
            }
            (Pending::Events, Response::Events { events, .. }) => {
                let (stored, bad) = self.ingest_batch(peer, group, events, asked);
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
            // An empty `Heights` is what a node answers for a group it does not serve us (an
            // honest one answers a summary with `InSync` or `Buckets`): our proof no longer
            // holds there (removed, or its state moved on). Prove again, so that it says why.
            (Pending::Heights, Response::Heights { logs, .. })
                if logs.is_empty() && !self.open_groups =>
            {
                self.outgoing.remove(&(peer, group));
                if self
                    .hellos
                    .get(&peer)
                    .is_none_or(|o| o.at.elapsed() >= REHELLO_MIN)
                {
                    self.handshake(peer, true);
                }
                Ok(crate::sync::Step::Done)
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
                let again = self.jobs.get_mut(&(peer, group)).is_some_and(|job| {
                    job.running = false;
                    std::mem::take(&mut job.again)
                });
                // Derive what this sync brought now: an admission, a key share or a new epoch
                // waits on it (the membership agent, our topics), not on the next tick.
                if self.synced.remove(&group) {
                    self.refresh_views();
                }
                if again {
                    self.start_sync(peer, group);
                }
            }
            Err(why) => {
                if let Some(job) = self.jobs.get_mut(&(peer, group)) {
                    job.running = false;
                    job.again = false;
                }
                self.strike(peer, why);
            }
        }
    }

    /// Decodes, batch-verifies and stores events of `group` from `peer`'s sync answer: only
    /// what was asked, only from a peer that proved the group, only by authors that can be in
    /// the group (see [`crate::sync::Admit`]); what cannot be linked yet is held (bounded).
    /// Returns (stored, refused).
    fn ingest_batch(
        &mut self,
        peer: PeerId,
        group: GroupId,
        raw: Vec<RawEvent>,
        asked: Option<&Request>,
    ) -> (u64, u64) {
        let Some(asked) = asked else {
            return (0, raw.len() as u64);
        };
        let admit = if self.open_groups {
            crate::sync::Admit::Any
        } else {
            match self.authed.get(&(peer, group)) {
                Some(Proved {
                    invite: Some(i), ..
                }) => crate::sync::Admit::Joiner(*i),
                Some(_) => crate::sync::Admit::Members,
                // Proofs dropped since the request (the peer was removed): take nothing.
                None => return (0, 0),
            }
        };
        match block(|| crate::sync::store_answer_checked(&self.store, group, raw, asked, admit)) {
            Ok(f) => {
                let over = self.hold(peer, group, f.unlinked);
                let mut stored = f.stored;
                if !stored.is_empty() {
                    stored.extend(self.release_held(group));
                    self.synced.insert(group);
                }
                for id in &stored {
                    let _ = self.events_out.try_send(NodeEvent::Stored {
                        id: *id,
                        by_gossip: false,
                    });
                }
                let refused = f.invalid + f.dropped + over;
                self.status_counts.2 += refused;
                (stored.len() as u64, refused)
            }
            Err(e) => {
                tracing::error!(error = %e, "store failed during sync");
                (0, 0)
            }
        }
    }

    /// Holds events of `group` from `peer` that cannot be linked yet, within the per-peer and
    /// per-group bounds. Returns how many did not fit (they count against the peer).
    fn hold(&mut self, peer: PeerId, group: GroupId, events: Vec<VerifiedEvent>) -> u64 {
        if events.is_empty() {
            return 0;
        }
        let h = self.held.entry(group).or_default();
        let mut over = 0;
        for e in events {
            if h.ids.contains(&e.id()) {
                continue;
            }
            let mine = h.per_peer.entry(peer).or_default();
            if *mine >= HELD_PER_PEER || h.events.len() >= HELD_PER_GROUP {
                over += 1;
                continue;
            }
            *mine += 1;
            h.ids.insert(e.id());
            h.events.push((peer, e, Instant::now()));
        }
        over
    }

    /// Stores the held events of `group` that can be linked now. Returns the ids stored.
    fn release_held(&mut self, group: GroupId) -> Vec<EventId> {
        let Some(mut h) = self.held.remove(&group) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // A few passes: what one pass stores can link what another held event waits for.
        for _ in 0..8 {
            h.events.sort_by_key(|(_, e, _)| e.header().seq);
            let events: Vec<VerifiedEvent> = h.events.iter().map(|(_, e, _)| e.clone()).collect();
            let Ok((linked, _)) = block(|| crate::sync::split_unlinked(&self.store, events)) else {
                break;
            };
            if linked.is_empty() {
                break;
            }
            let ids: HashSet<EventId> = linked.iter().map(VerifiedEvent::id).collect();
            match block(|| crate::sync::store_linked(&self.store, group, linked)) {
                Ok((stored, _)) => out.extend(stored),
                Err(e) => {
                    tracing::error!(error = %e, "store failed releasing held events");
                    break;
                }
            }
            h.events.retain(|(p, e, _)| {
                let gone = ids.contains(&e.id());
                if gone && let Some(n) = h.per_peer.get_mut(p) {
                    *n = n.saturating_sub(1);
                }
                !gone
            });
            h.ids.retain(|id| !ids.contains(id));
        }
        if !h.events.is_empty() {
            self.held.insert(group, h);
        }
        out
    }

    /// Drops held events older than [`HELD_TTL`].
    fn expire_held(&mut self) {
        for h in self.held.values_mut() {
            if h.events.iter().all(|(_, _, at)| at.elapsed() < HELD_TTL) {
                continue;
            }
            h.events.retain(|(_, _, at)| at.elapsed() < HELD_TTL);
            h.ids = h.events.iter().map(|(_, e, _)| e.id()).collect();
            h.per_peer.clear();
            for (p, _, _) in &h.events {
                *h.per_peer.entry(*p).or_default() += 1;
            }
        }
        self.held.retain(|_, h| !h.events.is_empty());
    }
}
