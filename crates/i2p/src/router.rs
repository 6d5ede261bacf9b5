//! The embedded I2P router (emissary), started inside the node's process.
//!
//! It exists so anonymous mode needs no separately installed I2P router: the node starts one
//! with its data in the node's data directory, talks to it over SAMv3 on 127.0.0.1, and stops
//! it on shutdown. Two kinds of network:
//!
//! - a **devnet** (tests, `--i2p-devnet FILE`): a network id of its own, the RouterInfos of the
//!   devnet's routers to bootstrap from, loopback addresses allowed, hop-diversity checks off
//!   (every router is on 127.0.0.1), never any reseed;
//! - the **public network**: bootstrap from the routers stored in the data directory; only when
//!   there are none, and only if the caller allows it, reseed over HTTPS from the public reseed
//!   servers (which tells those servers that this IP address runs I2P).
//!
//! Each network keeps its data in its own subdirectory (`mainnet/`, `devnet-<id>/`): routers
//! learned on a devnet must never end up in the public netDb (a non-empty netDb disables
//! reseeding), and the router identity is not shared between networks.
//!
//! Listening sockets: SAMv3 TCP and UDP on 127.0.0.1 with OS-chosen ports, and NTCP2. emissary
//! 0.4 binds NTCP2 on every interface whatever address it is given (that address is only what
//! it publishes); when the configured address is loopback (the default) the router runs on
//! [`LoopbackRuntime`], which binds it on loopback instead, and on a devnet also refuses to
//! dial off the machine. (A public-network router on loopback is then reachable by no other
//! router: it only dials out, which I2P tolerates but which makes its tunnels slower to build.)
//! SSU2, I2CP, UPnP/NAT-PMP and metrics are never enabled.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use emissary_core::router::Router;
use emissary_core::runtime::Runtime;
use emissary_core::{Config, Ntcp2Config, SamConfig, TransitConfig};
use emissary_util::reseeder::Reseeder;
use emissary_util::runtime::tokio::Runtime as Rt;
use emissary_util::storage::Storage;
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::destination::create_private_dir;
use crate::devnet::info::DevnetInfo;
use crate::loopback::LoopbackRuntime;

/// Which I2P network the router joins.
#[derive(Clone, Debug)]
pub enum Network {
    /// The public I2P network.
    Public {
        /// Reseed from the public reseed servers when no routers are stored. Off means a
        /// router with an empty netDb refuses to start ([`RouterError::NoRouters`]).
        reseed: bool,
    },
    /// A local test network.
    Devnet(DevnetInfo),
}

impl Network {
    /// The subdirectory of the data directory this network's router data lives in.
    pub fn dir_name(&self) -> String {
        match self {
            Network::Public { .. } => "mainnet".into(),
            Network::Devnet(info) => format!("devnet-{}", info.net_id),
        }
    }
}

/// How to start the router.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Where router data lives (keys, netDb, profiles), in [`Network::dir_name`] below this.
    /// Created owner-only (0700) if missing.
    pub data_dir: PathBuf,
    /// Which network.
    pub network: Network,
    /// NTCP2 address (port 0: the OS picks one). Loopback: the router listens only on
    /// loopback, and on a devnet dials only loopback ([`LoopbackRuntime`]). Any other address
    /// is what the router publishes, and emissary 0.4 then listens on every interface at that
    /// port.
    pub ntcp2: SocketAddr,
    /// Publish the NTCP2 address in our RouterInfo so other routers can connect to us.
    pub publish: bool,
    /// Serve as a floodfill (netDb server). Only devnet infrastructure routers do.
    pub floodfill: bool,
    /// Carry other routers' tunnels (at most this many); `None`: none, and say so in our caps.
    pub transit_tunnels: Option<usize>,
}

impl RouterConfig {
    /// A router joining the devnet `devnet`, NTCP2 on 127.0.0.1.
    pub fn devnet(data_dir: impl Into<PathBuf>, devnet: DevnetInfo) -> Self {
        Self {
            data_dir: data_dir.into(),
            network: Network::Devnet(devnet),
            ntcp2: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            publish: true,
            floodfill: false,
            transit_tunnels: Some(1000),
        }
    }

    /// A router on the public network listening for NTCP2 on `ntcp2`; its address is
    /// published unless it is loopback or unspecified (then the router only dials out).
    pub fn public(data_dir: impl Into<PathBuf>, ntcp2: SocketAddr, reseed: bool) -> Self {
        let ip = ntcp2.ip();
        Self {
            data_dir: data_dir.into(),
            network: Network::Public { reseed },
            ntcp2,
            publish: !ip.is_loopback() && !ip.is_unspecified(),
            floodfill: false,
            transit_tunnels: Some(500),
        }
    }
}

/// Why the router did not start.
#[derive(Debug, Error)]
pub enum RouterError {
    /// The data directory could not be created or read.
    #[error("router data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A key file in the data directory is damaged (emissary would panic on it).
    #[error(
        "router key file {path} is damaged ({len} bytes, expected {expected}); move it away to get a new router identity"
    )]
    DamagedKey {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The size it must have.
        expected: u64,
    },
    /// emissary's storage could not be opened.
    #[error("router storage: {0}")]
    Storage(String),
    /// Public network, nothing stored, and reseeding not allowed.
    #[error("no I2P routers known and reseeding is off: allow reseeding once, or give routers")]
    NoRouters,
    /// Reseeding failed.
    #[error("reseeding from the public I2P reseed servers failed: {0}")]
    Reseed(String),
    /// emissary refused the configuration or could not bind its sockets.
    #[error("I2P router failed to start: {0}")]
    Start(String),
    /// The router started without a SAM listener (should not happen: SAM is always configured).
    #[error("I2P router has no SAM listener")]
    NoSam,
    /// The router's own thread or runtime could not be created.
    #[error("cannot create the I2P router's thread or runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A running embedded router. Dropping it stops the router abruptly; [`I2pRouter::shutdown`]
/// stops it cleanly.
pub struct I2pRouter {
    sam_port: u16,
    ntcp2_port: u16,
    ntcp2_ip: IpAddr,
    router_info: Vec<u8>,
    dir: PathBuf,
    /// Dropping it (or sending a grace period) stops the router.
    stop: Option<oneshot::Sender<Duration>>,
    driver: Option<Driver>,
}

/// What runs the router.
enum Driver {
    /// A task on the caller's runtime.
    Task(JoinHandle<()>),
    /// A thread with a runtime of its own; `done` fires after that runtime is dropped.
    Thread {
        done: oneshot::Receiver<()>,
        thread: std::thread::JoinHandle<()>,
    },
}

/// emissary-util's key files and their sizes (random bytes: X25519 and Ed25519 secrets, the
/// NTCP2 IV, the SSU2 intro key). `Storage::load` panics on other sizes.
const KEY_FILES: [(&str, u64); 4] = [
    ("ntcp2.keys", 48),
    ("ssu2.keys", 64),
    ("static.key", 32),
    ("signing.key", 32),
];

impl I2pRouter {
    /// Starts the router and spawns it on the current tokio runtime (all its tasks live there;
    /// call this inside the runtime that should carry the router's work).
    ///
    /// Returns once the sockets are bound; building tunnels goes on in the background (a SAM
    /// session waits for them).
    pub async fn start(cfg: RouterConfig) -> Result<Self, RouterError> {
        let dir = cfg.data_dir.join(cfg.network.dir_name());
        create_private_dir(&dir)
            .await
            .map_err(|source| RouterError::DataDir {
                path: dir.clone(),
                source,
            })?;
        // We create missing key files ourselves, before `Storage::new` would: it writes them
        // through tokio's buffered `File` without flushing, so `load` right after can find them
        // still empty (and panic), and it leaves them with the umask's permissions.
        ensure_key_files(&dir).await?;
        check_key_files(&dir).await?;
        let storage = Storage::new::<Rt>(Some(dir.clone()))
            .await
            .map_err(|e| RouterError::Storage(e.to_string()))?;
        let stored = storage.load().await;

        let (net_id, routers, local) = match &cfg.network {
            Network::Devnet(info) => (Some(info.net_id), info.routers.clone(), true),
            Network::Public { reseed } => {
                let mut routers = stored.routers;
                if routers.is_empty() {
                    if !reseed {
                        return Err(RouterError::NoRouters);
                    }
                    let found = Reseeder::reseed::<Rt>(None, false)
                        .await
                        .map_err(|e| RouterError::Reseed(e.to_string()))?;
                    tracing::info!(routers = found.len(), "reseeded from the public servers");
                    for ri in found {
                        if let Err(e) = storage
                            .store_router_info(ri.name.clone(), ri.router_info.clone())
                            .await
                        {
                            tracing::warn!(error = %e, "could not store a reseeded RouterInfo");
                        }
                        routers.push(ri.router_info);
                    }
                }
                (None, routers, false)
            }
        };

        let ip = cfg.ntcp2.ip();
        let ntcp2 = Ntcp2Config {
            port: cfg.ntcp2.port(),
            ipv4: ip.is_ipv4(),
            ipv4_host: match ip {
                IpAddr::V4(v4) => Some(v4),
                IpAddr::V6(_) => None,
            },
            ipv6: ip.is_ipv6(),
            ipv6_host: match ip {
                IpAddr::V6(v6) => Some(v6),
                IpAddr::V4(_) => None,
            },
            key: stored.ntcp2_key,
            iv: stored.ntcp2_iv,
            publish: cfg.publish,
            ml_kem: None,
            disable_pq: false,
        };
        let config = Config {
            net_id,
            floodfill: cfg.floodfill,
            allow_local: local,
            insecure_tunnels: local,
            routers,
            profiles: stored.profiles,
            static_key: Some(stored.static_key),
            signing_key: Some(stored.signing_key),
            ntcp2: Some(ntcp2),
            ssu2: None,
            samv3_config: Some(SamConfig {
                tcp_port: 0,
                udp_port: 0,
                host: Ipv4Addr::LOCALHOST.to_string(),
            }),
            i2cp_config: None,
            metrics: None,
            transit: cfg.transit_tunnels.map(|n| TransitConfig {
                max_tunnels: Some(n),
            }),
            ..Default::default()
        };
        let persist: Arc<dyn emissary_core::runtime::Storage> = Arc::new(storage.clone());
        // Loopback address: listen on loopback only; on a devnet also dial only loopback.
        let (started, router_info) = match (ip.is_loopback(), local) {
            (true, true) => start_on::<LoopbackRuntime<true>>(config, persist).await?,
            (true, false) => start_on::<LoopbackRuntime<false>>(config, persist).await?,
            (false, _) => start_on::<Rt>(config, persist).await?,
        };
        if let Err(e) = storage.store_local_router_info(router_info.clone()).await {
            tracing::warn!(error = %e, "could not store our RouterInfo");
        }
        let Started {
            sam_port,
            ntcp2_port,
            task,
            stop,
        } = started;
        tracing::info!(
            sam_port,
            ntcp2_port,
            network = %cfg.network.dir_name(),
            "I2P router started"
        );
        Ok(Self {
            sam_port,
            ntcp2_port,
            ntcp2_ip: ip,
            router_info,
            dir,
            stop: Some(stop),
            driver: Some(Driver::Task(task)),
        })
    }

    /// Starts the router on a runtime of its own, in a thread of its own (`i2p-router`).
    ///
    /// Shutting it down drops that runtime, and with it every task emissary spawned: after
    /// [`I2pRouter::shutdown`] returns, no socket of the router is left open (with
    /// [`I2pRouter::start`], emissary 0.4 leaves its SAM listener running on the caller's
    /// runtime). The router's crypto also stays off the caller's worker threads. Not for
    /// paused-clock tests: the router's runtime has a real clock of its own.
    pub async fn start_on_own_runtime(cfg: RouterConfig) -> Result<Self, RouterError> {
        let (started_tx, started_rx) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<Duration>();
        let (done_tx, done) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("i2p-router".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(source) => {
                        let _ = started_tx.send(Err(RouterError::Runtime(source)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let router = match I2pRouter::start(cfg).await {
                        Ok(router) => router,
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    };
                    let facts = (
                        router.sam_port,
                        router.ntcp2_port,
                        router.ntcp2_ip,
                        router.router_info.clone(),
                        router.dir.clone(),
                    );
                    if started_tx.send(Ok(facts)).is_err() {
                        router.shutdown(Duration::ZERO).await;
                        return;
                    }
                    // A dropped handle (no grace sent) stops the router at once.
                    let grace = stopped.await.unwrap_or(Duration::ZERO);
                    router.shutdown(grace).await;
                });
                drop(runtime);
                let _ = done_tx.send(());
            })
            .map_err(RouterError::Runtime)?;
        let (sam_port, ntcp2_port, ntcp2_ip, router_info, dir) = match started_rx.await {
            Ok(Ok(facts)) => facts,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(RouterError::Start("router thread ended".into())),
        };
        Ok(Self {
            sam_port,
            ntcp2_port,
            ntcp2_ip,
            router_info,
            dir,
            stop: Some(stop),
            driver: Some(Driver::Thread { done, thread }),
        })
    }

    /// The SAMv3 TCP port on 127.0.0.1, for [`crate::TransportConfig`].
    pub fn sam_port(&self) -> u16 {
        self.sam_port
    }

    /// Our serialized RouterInfo (what other routers bootstrap from).
    pub fn router_info(&self) -> &[u8] {
        &self.router_info
    }

    /// The NTCP2 listen address.
    pub fn ntcp2_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ntcp2_ip, self.ntcp2_port)
    }

    /// The directory this router's data lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the router is still running (it stops by itself only if it fails).
    pub fn is_running(&self) -> bool {
        match &self.driver {
            Some(Driver::Task(task)) => !task.is_finished(),
            Some(Driver::Thread { thread, .. }) => !thread.is_finished(),
            None => false,
        }
    }

    /// Stops the router: a graceful shutdown (transit tunnels are let run out) for at most
    /// `grace`, then an immediate one. Returns when the router is stopped and its NTCP2
    /// listener closed.
    ///
    /// On the caller's runtime ([`I2pRouter::start`]), emissary 0.4 leaves a few of its
    /// background tasks, notably the SAM listener, running until that runtime ends; a router
    /// from [`I2pRouter::start_on_own_runtime`] leaves nothing.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(grace);
        }
        match self.driver.take() {
            Some(Driver::Task(task)) => {
                let _ = task.await;
            }
            Some(Driver::Thread { done, thread }) => {
                let _ = done.await;
                // The thread has only its last statement left; joining cannot block for long.
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
            None => {}
        }
    }
}

impl Drop for I2pRouter {
    /// Stops the router abruptly: the task is aborted, or the thread is told to stop (by the
    /// stop channel closing) and finishes on its own.
    fn drop(&mut self) {
        if let Some(Driver::Task(task)) = self.driver.take() {
            task.abort();
        }
    }
}

/// A spawned router, whichever runtime it runs on.
struct Started {
    sam_port: u16,
    ntcp2_port: u16,
    task: JoinHandle<()>,
    stop: oneshot::Sender<Duration>,
}

/// Creates the router on runtime `R` (binding its sockets) and spawns it.
async fn start_on<R: Runtime>(
    config: Config,
    persist: Arc<dyn emissary_core::runtime::Storage>,
) -> Result<(Started, Vec<u8>), RouterError> {
    let (router, _events, router_info) = Router::<R>::new(config, None, Some(persist))
        .await
        .map_err(|e| RouterError::Start(e.to_string()))?;
    let info = *router.protocol_address_info();
    let sam_port = info.sam_tcp.ok_or(RouterError::NoSam)?.port();
    let ntcp2_port = info.ntcp2_port.unwrap_or(0);
    tracing::debug!(id = %router.router_id(), "router identity");
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(run(router, stopped));
    Ok((
        Started {
            sam_port,
            ntcp2_port,
            task,
            stop,
        },
        router_info,
    ))
}

/// Drives the router until it ends by itself or a stop is requested.
async fn run<R: Runtime>(mut router: Router<R>, stopped: oneshot::Receiver<Duration>) {
    let grace = tokio::select! {
        () = &mut router => {
            tracing::warn!("I2P router stopped by itself");
            return;
        }
        grace = stopped => grace.unwrap_or(Duration::ZERO),
    };
    router.shutdown();
    if tokio::time::timeout(grace, &mut router).await.is_err() {
        router.shutdown();
        (&mut router).await;
    }
    tracing::info!("I2P router stopped");
}

/// Creates each missing key file with random bytes, owner-only, complete before it appears
/// (written to a temporary name, synced, renamed).
async fn ensure_key_files(dir: &Path) -> Result<(), RouterError> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        for (name, len) in KEY_FILES {
            let path = dir.join(name);
            if path.exists() {
                continue;
            }
            let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(64)];
            rand::fill(&mut bytes[..]);
            write_new_key(&path, &bytes).map_err(|source| RouterError::DataDir { path, source })?;
        }
        Ok(())
    })
    .await
    .map_err(|e| RouterError::Storage(e.to_string()))?
}

fn write_new_key(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

async fn check_key_files(dir: &Path) -> Result<(), RouterError> {
    for (name, expected) in KEY_FILES {
        let path = dir.join(name);
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.len() != expected => {
                return Err(RouterError::DamagedKey {
                    path,
                    len: meta.len(),
                    expected,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(RouterError::DataDir { path, source }),
        }
    }
    Ok(())
}
