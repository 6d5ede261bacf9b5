//! The libp2p swarm: transports, the combined behaviour, and the node key.
//!
//! Transports: TCP and QUIC (Noise + Yamux over TCP), DNS, and a relay client so peers behind NAT
//! can be reached through a relay and then upgraded to a direct connection by DCUtR. Discovery:
//! mDNS on the LAN (optional), Kademlia with bootstrap peers on the WAN, identify to learn
//! addresses, AutoNAT to learn whether we are reachable. Data: gossipsub for live events,
//! request-response for catch-up sync. An allow/block list lets the node shut out peers that
//! misbehave.

use std::time::Duration;

use dualpower_core::Identity;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, autonat, dcutr, gossipsub, identify, identity::Keypair,
    kad, mdns, noise, ping, relay, request_response, tcp, yamux,
};
use thiserror::Error;

use prometheus_client::registry::Registry;

use crate::gate::GatedGossip;
use crate::guard::DialGuard;
use crate::protocol::{MAX_GOSSIP_BYTES, SYNC_PROTOCOL};

/// Kademlia protocol name: a separate DHT from IPFS's.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/dualpower/kad/1");
/// Identify protocol version string.
pub const IDENTIFY_VERSION: &str = "/dualpower/1";

/// Why the swarm could not be built or started.
#[derive(Debug, Error)]
pub enum NetError {
    /// A transport or behaviour failed to initialise.
    #[error("network setup failed: {0}")]
    Setup(String),
    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
}

fn setup(e: impl std::fmt::Display) -> NetError {
    NetError::Setup(e.to_string())
}

/// Options of the network layer.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Serve as a relay for peers behind NAT.
    pub relay_server: bool,
    /// Use only the in-memory transport (simulations and tests).
    pub memory_only: bool,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
    /// Let loopback, private and link-local addresses learned from peers be dialed and enter
    /// the peer directory (tests on one machine, closed LANs). Off by default: only addresses
    /// the user gave (and mDNS found) may be private.
    pub allow_private_peers: bool,
    /// Anonymous mode: the swarm runs over the transport given to
    /// [`build_swarm_over`] (I2P) only, and nothing that announces or looks up addresses runs:
    /// no mDNS, identify, Kademlia, AutoNAT or hole punching.
    pub anonymous: bool,
    /// The transport anonymous mode runs over (taken by the first swarm built with it).
    pub transport: Option<OwnTransport>,
}

/// What builds a transport once the node's key is known (the key authenticates it).
pub type MakeTransport = Box<dyn FnOnce(&Keypair) -> Result<Boxed, NetError> + Send>;

/// A transport for [`NetConfig::transport`]: built once, by the first swarm that takes it.
#[derive(Clone)]
pub struct OwnTransport(std::sync::Arc<std::sync::Mutex<Option<MakeTransport>>>);

impl OwnTransport {
    /// Wraps `make`.
    pub fn new(make: MakeTransport) -> Self {
        OwnTransport(std::sync::Arc::new(std::sync::Mutex::new(Some(make))))
    }

    fn take(&self) -> Option<MakeTransport> {
        self.0.lock().ok()?.take()
    }
}

impl std::fmt::Debug for OwnTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnTransport")
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            mdns: true,
            relay_server: false,
            memory_only: false,
            idle_timeout: Duration::from_secs(120),
            allow_private_peers: false,
            anonymous: false,
            transport: None,
        }
    }
}

pub use combined::{Behaviour, BehaviourEvent};

#[allow(missing_docs)] // the derive generates an undocumented event enum
mod combined {
    use libp2p::swarm::NetworkBehaviour;
    use libp2p::swarm::behaviour::toggle::Toggle;
    use libp2p::{
        allow_block_list, autonat, dcutr, identify, kad, mdns, ping, relay, request_response,
    };

    use crate::gate::GatedGossip;
    use crate::guard::DialGuard;
    use crate::protocol::SyncCodec;

    /// All protocols a Dual Power node speaks.
    #[derive(NetworkBehaviour)]
    pub struct Behaviour {
        /// Peers shut out for misbehaving.
        pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
        /// Which addresses we dial, and how often.
        pub guard: DialGuard,
        /// Liveness.
        pub ping: ping::Behaviour,
        /// Exchange of addresses and protocols (off in anonymous mode).
        pub identify: Toggle<identify::Behaviour>,
        /// LAN discovery.
        pub mdns: Toggle<mdns::tokio::Behaviour>,
        /// WAN discovery (off in anonymous mode).
        pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
        /// Live events, only with peers that proved membership.
        pub gossipsub: GatedGossip,
        /// Catch-up sync.
        pub sync: request_response::Behaviour<SyncCodec>,
        /// Reaching and being reached through relays.
        pub relay_client: relay::client::Behaviour,
        /// Relaying for others (community peers).
        pub relay_server: Toggle<relay::Behaviour>,
        /// Hole punching after a relayed connection (off in anonymous mode).
        pub dcutr: Toggle<dcutr::Behaviour>,
        /// Learning whether we are publicly reachable (off in anonymous mode).
        pub autonat: Toggle<autonat::Behaviour>,
    }
}

/// The libp2p key of a member's node, derived from the member's secret key.
///
/// Derived rather than reused, so the network-level peer id does not reveal the member's public
/// key to every peer and observer; deterministic, so the node keeps its peer id across restarts.
pub fn node_keypair(identity: &Identity) -> Keypair {
    let seed = identity.seed();
    let mut derived = blake3::derive_key("dualpower libp2p node key v1", &seed[..]);
    Keypair::ed25519_from_bytes(&mut derived).expect("32 bytes is a valid ed25519 secret")
}

fn gossip_config() -> Result<gossipsub::Config, NetError> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(Duration::from_millis(700))
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP_BYTES)
        // Content-addressed ids: the same event arriving twice is one message.
        .message_id_fn(|m| gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec()))
        .build()
        .map_err(setup)
}

/// Score penalty weight of one invalid message in a topic (squared per count): five invalid
/// messages (-100) put a peer below the graylist threshold (-80), after which gossipsub ignores
/// it; four (-64) do not, so the node's own strikes (five block a peer) still see each one.
pub const INVALID_MESSAGE_WEIGHT: f64 = -4.0;

/// Peer scoring: only invalid messages (ours to reject, or the library's) cost; nothing
/// penalises a quiet honest peer.
fn score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        // Many peers behind one address (a LAN, a test machine) is normal for us.
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    }
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds::default()
}

/// Scoring of one of our topics: each invalid message costs [`INVALID_MESSAGE_WEIGHT`] times
/// the count squared, decaying slowly; no delivery quotas (groups are quiet most of the time).
pub fn topic_score_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: INVALID_MESSAGE_WEIGHT,
        invalid_message_deliveries_decay: 0.99,
        ..Default::default()
    }
}

impl Behaviour {
    fn new(
        key: &Keypair,
        relay_client: relay::client::Behaviour,
        cfg: &NetConfig,
        metrics: &mut Registry,
    ) -> Result<Self, NetError> {
        let peer = key.public().to_peer_id();
        let mut gossipsub = GatedGossip::new(
            gossipsub::MessageAuthenticity::Anonymous,
            gossip_config()?,
            metrics,
        )
        .map_err(setup)?;
        gossipsub
            .gossip()
            .with_peer_score(score_params(), score_thresholds())
            .map_err(setup)?;
        let clear = !cfg.anonymous;
        let mdns = if cfg.mdns && !cfg.memory_only && clear {
            Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer).map_err(setup)?)
        } else {
            None
        };
        // Peers enter the directory only when the node adds them, after identify showed they
        // speak our protocols (kad would otherwise add every peer that answers on it).
        let mut kad_cfg = kad::Config::new(KAD_PROTOCOL);
        kad_cfg.set_kbucket_inserts(kad::BucketInserts::Manual);
        let mut kad =
            kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), kad_cfg);
        kad.set_mode(Some(kad::Mode::Server));
        Ok(Behaviour {
            blocked: Default::default(),
            guard: DialGuard::new(cfg.allow_private_peers),
            ping: ping::Behaviour::default(),
            identify: clear
                .then(|| {
                    identify::Behaviour::new(
                        // Announce only external (confirmed or declared) addresses, never the
                        // interfaces we listen on; keep no cache of others' addresses to dial
                        // them by.
                        identify::Config::new(IDENTIFY_VERSION.into(), key.public())
                            .with_hide_listen_addrs(true)
                            .with_cache_size(0),
                    )
                })
                .into(),
            mdns: mdns.into(),
            kad: clear.then_some(kad).into(),
            gossipsub,
            sync: request_response::Behaviour::new(
                [(SYNC_PROTOCOL, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(if cfg.anonymous {
                        ANONYMOUS_REQUEST_TIMEOUT
                    } else {
                        Duration::from_secs(30)
                    })
                    .with_max_concurrent_streams(16),
            ),
            relay_client,
            relay_server: cfg
                .relay_server
                .then(|| relay::Behaviour::new(peer, relay::Config::default()))
                .into(),
            dcutr: clear.then(|| dcutr::Behaviour::new(peer)).into(),
            autonat: clear
                .then(|| autonat::Behaviour::new(peer, autonat::Config::default()))
                .into(),
        })
    }
}

/// Builds the swarm for `key`.
pub fn build_swarm(key: Keypair, cfg: &NetConfig) -> Result<Swarm<Behaviour>, NetError> {
    build_swarm_with_metrics(key, cfg).map(|(s, _)| s)
}

/// Builds the swarm for `key`, and the registry its gossip metrics are recorded in.
pub fn build_swarm_with_metrics(
    key: Keypair,
    cfg: &NetConfig,
) -> Result<(Swarm<Behaviour>, Registry), NetError> {
    if cfg.anonymous {
        let make = cfg
            .transport
            .as_ref()
            .and_then(OwnTransport::take)
            .ok_or_else(|| {
                NetError::Setup("anonymous mode needs its transport (and it is used once)".into())
            })?;
        return build_swarm_over(key, cfg, make);
    }
    let mut registry = Registry::default();
    let metrics = &mut registry;
    let idle = cfg.idle_timeout;
    if cfg.memory_only {
        use libp2p::Transport;
        use libp2p::core::transport::MemoryTransport;
        use libp2p::core::upgrade::Version;
        return Ok((
            SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_other_transport(|k| {
                    Ok(MemoryTransport::default()
                        .upgrade(Version::V1)
                        .authenticate(noise::Config::new(k)?)
                        .multiplex(yamux::Config::default())
                        .boxed())
                })
                .map_err(setup)?
                .with_relay_client(noise::Config::new, yamux::Config::default)
                .map_err(setup)?
                .with_behaviour(|k, relay| {
                    Behaviour::new(k, relay, cfg, metrics).map_err(Box::from)
                })
                .map_err(setup)?
                .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build(),
            registry,
        ));
    }
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(setup)?
        .with_quic()
        .with_dns()
        .map_err(setup)?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(setup)?
        .with_behaviour(|k, relay| Behaviour::new(k, relay, cfg, metrics).map_err(Box::from))
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok((swarm, registry))
}

/// A transport that already authenticates and multiplexes (as [`build_swarm_over`] takes).
pub type Boxed =
    libp2p::core::transport::Boxed<(libp2p::PeerId, libp2p::core::muxing::StreamMuxerBox)>;

/// How long a sync request may wait for its answer in anonymous mode: an answer crosses
/// tunnels at tens of KiB/s, and a timed-out request is asked again from the start.
pub const ANONYMOUS_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// How long opening a connection over a transport of our own may take, upgrade included.
/// libp2p's default (10 s) is shorter than a first I2P dial (a lease set lookup, then the
/// streaming handshake, through tunnels: tens of seconds on the public network), and it cut
/// the transport's own, longer dial timeout short, so the transport never learned which dials
/// failed. The transport bounds its own dials; this only bounds the whole.
pub const OWN_TRANSPORT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(180);

/// Builds the swarm for `key` over `transport` only (anonymous mode: an I2P transport, see
/// `dualpower-i2p`), with `cfg.anonymous` set so nothing announces or looks up addresses.
/// `upgrade` gets the node's key to authenticate (noise) and multiplex (yamux) the transport's
/// raw streams, as the TCP transport does.
pub fn build_swarm_over(
    key: Keypair,
    cfg: &NetConfig,
    upgrade: impl FnOnce(&Keypair) -> Result<Boxed, NetError>,
) -> Result<(Swarm<Behaviour>, Registry), NetError> {
    let mut cfg = cfg.clone();
    cfg.anonymous = true;
    cfg.mdns = false;
    cfg.relay_server = false;
    let mut registry = Registry::default();
    let metrics = &mut registry;
    let idle = cfg.idle_timeout;
    let transport = upgrade(&key)?;
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|_| transport)
        .map_err(setup)?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(setup)?
        .with_behaviour(|k, relay| Behaviour::new(k, relay, &cfg, metrics).map_err(Box::from))
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .with_connection_timeout(OWN_TRANSPORT_CONNECTION_TIMEOUT)
        .build();
    Ok((swarm, registry))
}

/// Upgrades raw streams of `transport` with noise (authenticated by `key`) and yamux, into what
/// [`build_swarm_over`] takes.
pub fn upgrade_raw<T>(transport: T, key: &Keypair) -> Result<Boxed, NetError>
where
    T: libp2p::Transport + Send + Unpin + 'static,
    T::Output: futures::AsyncRead + futures::AsyncWrite + Unpin + Send + 'static,
    T::Error: Send + Sync + 'static,
    T::Dial: Send + 'static,
    T::ListenerUpgrade: Send + 'static,
{
    use libp2p::core::upgrade::Version;
    Ok(transport
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(key).map_err(setup)?)
        .multiplex(yamux::Config::default())
        .boxed())
}

/// Gossip messages received so far, before and after duplicate filtering: (all, unique).
pub fn gossip_received(metrics: &Registry) -> (u64, u64) {
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, metrics).is_err() {
        return (0, 0);
    }
    let sum = |name: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    };
    (
        sum("topic_msg_recv_counts_unfiltered_total"),
        sum("topic_msg_recv_counts_total"),
    )
}
