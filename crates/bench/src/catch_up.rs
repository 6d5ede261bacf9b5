//! Network catch-up, the measurement `netsync` and `i2psync` share: node A holds a set of
//! events, node B holds none and bootstraps to A, and the clock runs until B has stored them
//! all (or a deadline passes).
//!
//! It exists so the same catch-up can run over different transports (libp2p on loopback TCP,
//! I2P) and the figures stay comparable: only the two nodes' [`NetConfig`]s, A's listen
//! addresses and the address B dials differ. Both are real `dualpower_node::run` nodes in the
//! caller's process and runtime, each with its own store in a temporary directory.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dualpower_core::{GroupId, Identity, VerifiedEvent};
use dualpower_net::NetConfig;
use dualpower_node::{Handle, NodeConfig, NodeError, NodeEvent};
use dualpower_store::{Store, StoreConfig, StoreError};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tempfile::TempDir;

use crate::{cpu_seconds, network};

/// Seed of node A's identity (the node that holds the events).
const SEED_A: [u8; 32] = [1; 32];
/// Seed of node B's identity (the node that catches up).
const SEED_B: [u8; 32] = [2; 32];
/// Events ingested into A's store per transaction.
const INGEST_CHUNK: usize = 5000;
/// Capacity of B's event channel: the node drops events it cannot queue, and each stored event
/// is one, so this bounds the event count a run can measure.
const B_EVENTS: usize = 1 << 17;
/// Stored events less than this apart belong to the same arrival (one sync round commits its
/// events together; rounds on loopback TCP are tens of milliseconds apart).
const ARRIVAL_GAP: Duration = Duration::from_millis(20);
/// How long the nodes may take to answer a status request, and to stop, after the
/// measurement.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Node A's libp2p peer id (known before A starts, so an address for B can be made up front).
pub fn peer_a() -> PeerId {
    dualpower_net::node_keypair(&Identity::from_seed(&SEED_A))
        .public()
        .to_peer_id()
}

/// Two stores in temporary directories, both following the events' group: A holds the events,
/// B none. One pair serves one catch-up (afterwards B holds the events too).
pub struct Stores {
    /// The store holding the events.
    pub a: Arc<Store>,
    /// The empty store.
    pub b: Arc<Store>,
    /// How many events A holds.
    pub events: usize,
    /// The group they are in.
    pub group: GroupId,
    /// Removed (with the stores' files) when dropped.
    _dirs: (TempDir, TempDir),
}

impl Stores {
    /// Opens the two stores and ingests `events` (all in one group, as
    /// [`crate::generate`] makes them) into A.
    pub fn new(events: &[VerifiedEvent]) -> Result<Self, CatchUpError> {
        let group = events
            .first()
            .map(|e| e.header().group)
            .ok_or(CatchUpError::NoEvents)?;
        let dirs = (
            tempfile::tempdir().map_err(CatchUpError::TempDir)?,
            tempfile::tempdir().map_err(CatchUpError::TempDir)?,
        );
        let a = open(dirs.0.path())?;
        for chunk in events.chunks(INGEST_CHUNK) {
            a.ingest(chunk.to_vec())?;
        }
        a.follow(group)?;
        let b = open(dirs.1.path())?;
        b.follow(group)?;
        Ok(Self {
            a,
            b,
            events: events.len(),
            group,
            _dirs: dirs,
        })
    }
}

fn open(dir: &std::path::Path) -> Result<Arc<Store>, StoreError> {
    Ok(Arc::new(Store::open(
        dir,
        StoreConfig {
            network: network(),
            ..StoreConfig::default()
        },
    )?))
}

/// How B learns where to dial A.
#[derive(Clone, Debug)]
pub enum Dial {
    /// The first address A reports listening on (which carries `/p2p/<A>`): for transports
    /// that pick the address when listening, such as TCP port 0.
    FirstListenAddr,
    /// This address of A, known before A starts (an I2P `/garlic64/…` address);
    /// `/p2p/<A>` is appended unless it ends with a peer id already.
    Addr(Multiaddr),
}

/// How the two nodes connect, and how long the catch-up may take.
#[derive(Debug)]
pub struct CatchUpConfig {
    /// Node A's network options.
    pub net_a: NetConfig,
    /// Node B's network options.
    pub net_b: NetConfig,
    /// What A listens on.
    pub listen_a: Vec<Multiaddr>,
    /// What B listens on (often nothing: B only dials).
    pub listen_b: Vec<Multiaddr>,
    /// How B learns A's address.
    pub dial: Dial,
    /// How long A may take to report its listen address.
    pub listen_limit: Duration,
    /// How long B may take, from its start, to store every event; when it passes, the result
    /// is partial ([`CatchUp::complete`] is false).
    pub limit: Duration,
}

/// What one catch-up measured. Times are from B's start (its `run` being spawned).
#[derive(Clone, Debug)]
pub struct CatchUp {
    /// Events A held.
    pub expected: usize,
    /// Events B stored before the end (all of them, unless the limit passed).
    pub stored: usize,
    /// When B was connected to A (its first connection to anyone).
    pub connected: Option<Duration>,
    /// When B stored its first event: time to first sync.
    pub first_event: Option<Duration>,
    /// When B stored its last event (the end of the measurement when complete).
    pub last_event: Option<Duration>,
    /// Wall time of the measurement: until the last event, or until the limit passed.
    pub wall: f64,
    /// CPU seconds of the whole process over the same span (both nodes, and anything else the
    /// process runs, such as I2P routers).
    pub cpu: f64,
    /// Sync round trips B made.
    pub rounds: u64,
    /// Sync round latency (request sent → events committed) on B, p50 and p99, milliseconds.
    pub round_ms: [f64; 2],
    /// When events arrived on B: each entry is (time of the first event, events) of a run of
    /// stored events less than [`ARRIVAL_GAP`] apart, roughly one sync round's commit.
    pub arrivals: Vec<(Duration, usize)>,
    /// The address B dialed.
    pub dialed: Multiaddr,
    /// When B's node was spawned (what the durations above count from).
    pub b_started: Instant,
}

impl CatchUp {
    /// Whether B stored every event before the limit.
    pub fn complete(&self) -> bool {
        self.stored >= self.expected
    }

    /// Events per second of wall time, from B's start.
    pub fn events_per_sec(&self) -> f64 {
        self.stored as f64 / self.wall
    }

    /// Events per CPU-second of the whole process, from B's start.
    pub fn events_per_cpu_sec(&self) -> f64 {
        self.stored as f64 / self.cpu
    }

    /// Events per second after the first arrival (the first sync round's commit): the events
    /// that came later over the time since, until the last event (complete) or the end of the
    /// measurement (partial). `None` when nothing arrived, or everything in one arrival.
    pub fn steady_events_per_sec(&self) -> Option<f64> {
        let &(first_at, first_count) = self.arrivals.first()?;
        let end = if self.complete() {
            if self.arrivals.len() < 2 {
                return None;
            }
            self.last_event?
        } else {
            Duration::from_secs_f64(self.wall)
        };
        let span = end.checked_sub(first_at)?.as_secs_f64();
        (span > 0.0).then(|| self.stored.saturating_sub(first_count) as f64 / span)
    }
}

/// Why a catch-up could not be measured at all.
#[derive(Debug)]
pub enum CatchUpError {
    /// No events to catch up.
    NoEvents,
    /// A temporary directory could not be created.
    TempDir(std::io::Error),
    /// A store failed.
    Store(StoreError),
    /// Node A stopped (or never listened) before reporting its listen address.
    NotListening(Option<NodeError>),
    /// A did not report its listen address within [`CatchUpConfig::listen_limit`].
    ListenTimeout(Duration),
    /// B's node stopped, or did not answer, before reporting its status.
    NoStatus,
}

impl fmt::Display for CatchUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEvents => f.write_str("no events to catch up"),
            Self::TempDir(e) => write!(f, "temporary directory: {e}"),
            Self::Store(e) => write!(f, "store: {e}"),
            Self::NotListening(Some(e)) => write!(f, "node A stopped before listening: {e}"),
            Self::NotListening(None) => f.write_str("node A stopped before listening"),
            Self::ListenTimeout(t) => write!(f, "node A reported no listen address within {t:?}"),
            Self::NoStatus => f.write_str("node B did not report its status"),
        }
    }
}

impl std::error::Error for CatchUpError {}

impl From<StoreError> for CatchUpError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Runs node A on `stores.a` and node B on `stores.b` in the current tokio runtime, waits for
/// A to listen, starts B (bootstrapping to A as `cfg.dial` says) and measures until B has
/// stored every event of A or `cfg.limit` has passed since B's start. Both nodes are stopped
/// before it returns. Nodes run with `open_groups` (no membership check: this measures sync,
/// not admission).
pub async fn run(stores: &Stores, cfg: CatchUpConfig) -> Result<CatchUp, CatchUpError> {
    let n = stores.events;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (ha, ca) = Handle::new();
    let (ta, mut ra) = tokio::sync::mpsc::channel(64);
    let node_a = tokio::spawn(dualpower_node::run(
        stores.a.clone(),
        Identity::from_seed(&SEED_A),
        NodeConfig {
            open_groups: true,
            listen: cfg.listen_a,
            bootstrap: vec![],
            net: cfg.net_a,
        },
        ca,
        ta,
        stopped(stop_rx.clone()),
    ));
    let listening = tokio::time::timeout(cfg.listen_limit, async {
        loop {
            match ra.recv().await {
                Some(NodeEvent::Listening(addr)) => return Some(addr),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await;
    let listen_addr = match listening {
        Ok(Some(addr)) => addr,
        Ok(None) => {
            let why = match tokio::time::timeout(STOP_LIMIT, node_a).await {
                Ok(Ok(Err(e))) => Some(e),
                _ => None,
            };
            return Err(CatchUpError::NotListening(why));
        }
        Err(_) => {
            let _ = stop_tx.send(true);
            let _ = tokio::time::timeout(STOP_LIMIT, node_a).await;
            return Err(CatchUpError::ListenTimeout(cfg.listen_limit));
        }
    };
    // A's later events (connections) are not read; `ra` stays open, and A drops what does not
    // fit, as it does for any slow reader.
    let dialed = match cfg.dial {
        Dial::FirstListenAddr => listen_addr,
        Dial::Addr(addr) if matches!(addr.iter().last(), Some(Protocol::P2p(_))) => addr,
        Dial::Addr(addr) => addr.with(Protocol::P2p(peer_a())),
    };

    let (hb, cb) = Handle::new();
    let (tb, mut rb) = tokio::sync::mpsc::channel(B_EVENTS);
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    let node_b = tokio::spawn(dualpower_node::run(
        stores.b.clone(),
        Identity::from_seed(&SEED_B),
        NodeConfig {
            open_groups: true,
            listen: cfg.listen_b,
            bootstrap: vec![dialed.clone()],
            net: cfg.net_b,
        },
        cb,
        tb,
        stopped(stop_rx.clone()),
    ));
    let mut stored = 0usize;
    let (mut connected, mut first_event, mut last_event) = (None, None, None::<Duration>);
    let mut arrivals: Vec<(Duration, usize)> = Vec::new();
    let deadline = t0 + cfg.limit;
    while stored < n {
        match tokio::time::timeout_at(deadline.into(), rb.recv()).await {
            Ok(Some(NodeEvent::Stored { .. })) => {
                stored += 1;
                let at = t0.elapsed();
                first_event.get_or_insert(at);
                match (last_event, arrivals.last_mut()) {
                    (Some(last), Some((_, count))) if at - last < ARRIVAL_GAP => *count += 1,
                    _ => arrivals.push((at, 1)),
                }
                last_event = Some(at);
            }
            Ok(Some(NodeEvent::Connected(_))) => {
                connected.get_or_insert(t0.elapsed());
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - c0;
    let status = tokio::time::timeout(STOP_LIMIT, hb.status())
        .await
        .ok()
        .flatten();
    let _ = tokio::time::timeout(STOP_LIMIT, ha.status()).await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(STOP_LIMIT, node_a).await;
    let _ = tokio::time::timeout(STOP_LIMIT, node_b).await;
    let st = status.ok_or(CatchUpError::NoStatus)?;
    Ok(CatchUp {
        expected: n,
        stored,
        connected,
        first_event,
        last_event,
        wall,
        cpu,
        rounds: st.syncs.iter().map(|s| s.rounds).sum(),
        round_ms: st.sync_round_ms,
        arrivals,
        dialed,
        b_started: t0,
    })
}
