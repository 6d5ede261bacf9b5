//! Commands that involve the running node: `serve`, `sync`, and the client that lets every other
//! command reach a node that holds the store.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use dualpower_node::api::{self, ApiInfo};
use dualpower_node::{Handle, NodeConfig, NodeEvent, Status};
use dualpower_store::{Store, StoreConfig};
use indicatif::{ProgressBar, ProgressStyle};
use libp2p::Multiaddr;
use serde_json::{Value, json};

use crate::Ctx;

/// Options of `serve` (and of the temporary node `sync` starts).
pub struct ServeArgs {
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    pub mdns: bool,
    pub relay_server: bool,
    pub allow_private_peers: bool,
    /// Where the web app listens (`None`: no web app).
    pub web: Option<std::net::SocketAddr>,
    /// The web app may listen on a non-loopback address.
    pub web_public: bool,
    /// Anonymous mode (`--anonymous`): peers only through the embedded I2P router.
    pub anonymous: Option<Anonymous>,
}

/// How anonymous mode reaches the I2P network.
pub struct Anonymous {
    /// A local test network's description (`--i2p-devnet`); none: the public I2P network.
    pub devnet: Option<std::path::PathBuf>,
    /// May fetch router addresses from the public reseed servers (`--i2p-reseed`).
    pub reseed: bool,
}

/// The embedded I2P router and the transport over it, started before the node.
struct I2p {
    router: dualpower_i2p::I2pRouter,
    transport: dualpower_i2p::I2pTransport,
}

/// Starts the router (data under `home/i2p`) and opens the node's I2P destination: this waits
/// until the router has built its first tunnels.
async fn start_i2p(home: &Path, a: &Anonymous, json: bool) -> Result<I2p> {
    use dualpower_i2p::{DevnetInfo, I2pRouter, I2pTransport, RouterConfig, TransportConfig};
    let dir = home.join("i2p");
    let (cfg, devnet) = match &a.devnet {
        Some(file) => {
            let info = DevnetInfo::read(file)
                .with_context(|| format!("reading the I2P devnet file {}", file.display()))?;
            (RouterConfig::devnet(&dir, info), true)
        }
        None => (
            RouterConfig::public(&dir, "0.0.0.0:0".parse()?, a.reseed),
            false,
        ),
    };
    if !json {
        crate::out::line_or_drop("starting the embedded I2P router (anonymous mode)…");
    }
    let router = match I2pRouter::start_on_own_runtime(cfg).await {
        Ok(r) => r,
        Err(dualpower_i2p::RouterError::NoRouters) => anyhow::bail!(
            "the embedded I2P router knows no other I2P routers yet. Start once with \
             `dualpower serve --anonymous --i2p-reseed`: it fetches router addresses over HTTPS \
             from the public I2P reseed servers (they see this computer's IP address asking, \
             nothing else), then keeps them in {}",
            dir.display()
        ),
        Err(e) => return Err(e).context("starting the embedded I2P router"),
    };
    let tcfg = if devnet {
        TransportConfig::devnet(router.sam_port(), router.dir())
    } else {
        TransportConfig::new(router.sam_port(), router.dir())
    };
    let transport = I2pTransport::new(tcfg)
        .await
        .context("opening this node's I2P destination")?;
    if !json {
        crate::out::line_or_drop(format!(
            "I2P destination {} (peers reach this node only through I2P)",
            transport.destination().b32()
        ));
    }
    Ok(I2p { router, transport })
}

/// A running node's API.
pub struct Remote {
    info: ApiInfo,
}

/// What `api.json` leads to.
pub enum Found {
    /// No `api.json`: no node runs (or it stopped cleanly).
    None,
    /// Our node, proven by its answer to a fresh challenge.
    Node(Remote),
    /// `api.json` exists but what listens there (if anything) is not our node: left by a crash.
    /// Nothing but a random challenge was sent to it. The text says what happened.
    Stale(String),
}

impl Remote {
    /// The node running on `home`, if any. A stale `api.json` is reported on stderr and
    /// otherwise treated as no node.
    pub fn find(home: &Path) -> Option<Remote> {
        match Remote::probe(home) {
            Found::Node(r) => Some(r),
            Found::None => None,
            Found::Stale(why) => {
                crate::out::err_line(format!("notice: {}", stale_message(home, &why)));
                None
            }
        }
    }

    /// Whether `api.json` in `home` leads to our node. Before the token or any content goes
    /// anywhere, the listener must answer a fresh random challenge with the proof only the
    /// holder of the token can make (see [`api::hello_proof`]); the token is never sent to a
    /// listener that has not.
    pub fn probe(home: &Path) -> Found {
        let Some(info) = api::info(home) else {
            return Found::None;
        };
        let Some(port) = loopback_port(&info.url) else {
            return Found::Stale(format!("it names {}, not a local address", info.url));
        };
        let mut challenge = [0u8; 32];
        rand::fill(&mut challenge);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let answer = agent
            .post(format!("{}/v1/hello", info.url))
            .send_json(api::Hello {
                challenge: hex::encode(challenge),
            })
            .map_err(|e| format!("nothing answers at {} ({e})", info.url))
            .and_then(|mut res| {
                if !res.status().is_success() {
                    return Err(format!(
                        "what listens at {} is not a Dual Power node (it answered {})",
                        info.url,
                        res.status()
                    ));
                }
                res.body_mut().read_json::<api::HelloProof>().map_err(|_| {
                    format!(
                        "what listens at {} is not a Dual Power node (unreadable answer)",
                        info.url
                    )
                })
            });
        let proof = match answer {
            Ok(p) => p,
            Err(why) => return Found::Stale(why),
        };
        let expected = api::hello_proof(&info.token, port, &challenge);
        let mut got = [0u8; 32];
        let ok = hex::decode_to_slice(&proof.proof, &mut got).is_ok()
            && got
                .iter()
                .zip(&expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if ok {
            Found::Node(Remote { info })
        } else {
            Found::Stale(format!(
                "what listens at {} cannot prove it is this data directory's node",
                info.url
            ))
        }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            // The token goes to the proven listener only, never to where it redirects.
            .max_redirects(0)
            .build()
            .into()
    }

    fn answer(mut res: ureq::http::Response<ureq::Body>) -> Result<Value> {
        let status = res.status();
        let body: Value = res
            .body_mut()
            .read_json()
            .map_err(|e| anyhow!("the node answered something unreadable: {e}"))?;
        if !status.is_success() {
            bail!(
                "{}",
                body["error"]
                    .as_str()
                    .unwrap_or("the node refused the request")
            );
        }
        Ok(body)
    }

    /// Where the node's web app listens, if it serves one.
    pub fn web(&self) -> Option<String> {
        self.info.web.clone()
    }

    /// GET a path.
    pub fn get(&self, path: &str) -> Result<Value> {
        let res = Self::agent()
            .get(format!("{}{path}", self.info.url))
            .header("authorization", format!("Bearer {}", self.info.token))
            .call()
            .map_err(|e| anyhow!("cannot reach the running node: {e}"))?;
        Self::answer(res)
    }

    /// POST raw bytes (a bundle) to a path; waits as long as an import of that size may take.
    pub fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Value> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(3600)))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let res = agent
            .post(format!("{}{path}", self.info.url))
            .header("authorization", format!("Bearer {}", self.info.token))
            .content_type("application/octet-stream")
            .send(&body[..])
            .map_err(|e| anyhow!("cannot reach the running node: {e}"))?;
        Self::answer(res)
    }

    /// POST JSON to a path.
    pub fn post(&self, path: &str, body: Value) -> Result<Value> {
        let res = Self::agent()
            .post(format!("{}{path}", self.info.url))
            .header("authorization", format!("Bearer {}", self.info.token))
            .send_json(body)
            .map_err(|e| anyhow!("cannot reach the running node: {e}"))?;
        Self::answer(res)
    }
}

/// The port of `http://127.0.0.1:PORT` (or `localhost`); none for anything else, since the
/// node's API only ever listens on loopback.
fn loopback_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("http://")?;
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    if host != "127.0.0.1" && host != "localhost" && host != "[::1]" {
        return None;
    }
    port.parse().ok()
}

/// What to tell the person about a stale `api.json`.
pub fn stale_message(home: &Path, why: &str) -> String {
    format!(
        "the node is not running: {} is stale, probably left by a crash ({why}); only a random \
         challenge was sent there. Remove it, or start `dualpower serve`",
        home.join(api::API_FILE).display()
    )
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(dualpower_node::node::DEFAULT_LOG_FILTER)
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes are noise in a log file or a service manager's journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `dualpower serve`: runs the node until SIGINT or SIGTERM.
pub fn serve(ctx: &Ctx, args: ServeArgs) -> Result<i32> {
    // Before asking for the passphrase: it would be for nothing.
    if Remote::find(&ctx.home).is_some() {
        bail!(
            "a node already runs for {}: stop it first (Ctrl-C in its terminal), or just use it",
            ctx.home.display()
        );
    }
    init_logging();
    // With the web app, a node with no passphrase at hand starts locked: the browser unlocks it
    // (or creates the identity, through the login link printed below).
    let in_browser = args.web.is_some() && std::env::var_os("DUALPOWER_PASSPHRASE").is_none();
    let identity = if in_browser {
        None
    } else {
        Some(ctx.identity()?)
    };
    // An existing identity may also be unlocked here, in the foreground of a terminal, whichever
    // comes first. A new one is made in the browser (whoever runs this command may not be the
    // person who will use it) unless `dualpower init` made it first.
    let prompt_here = in_browser
        && dualpower_store::keystore::path(&ctx.home).exists()
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
        && !crate::background_job();
    let store = Arc::new(ctx.store()?);
    let rt = runtime()?;
    let json = ctx.json;
    let home = ctx.home.clone();
    let node_store = store.clone();
    // The web app holds the store weakly: its connections may outlive the node, and the store
    // must be closed (the WAL checkpointed) by us at shutdown.
    let web_store = Arc::downgrade(&store);
    rt.block_on(async move {
        let (handle, commands) = Handle::new();
        let token = api::new_token();
        let (unlock_tx, unlock_rx) = tokio::sync::oneshot::channel();
        let web = match args.web {
            Some(addr) => Some(
                start_web(
                    addr,
                    dualpower_web::WebOptions {
                        home: home.clone(),
                        store: web_store,
                        handle: handle.clone(),
                        token: token.clone(),
                        unlocked: identity.as_ref().map(|i| i.public()),
                        unlock: identity.is_none().then_some(unlock_tx),
                        public: args.web_public,
                    },
                    json,
                )
                .await?,
            ),
            None => None,
        };
        let identity = match identity {
            Some(id) => id,
            None => {
                let typed = async {
                    if prompt_here {
                        terminal_unlock(home.clone()).await
                    } else {
                        std::future::pending().await
                    }
                };
                tokio::select! {
                    id = unlock_rx => id.map_err(|_| anyhow!("the web app stopped before the node was unlocked"))?,
                    id = typed => {
                        if let Some(w) = &web {
                            w.app.unlocked(id.public());
                        }
                        id
                    }
                    _ = shutdown_signal() => {
                        if let Some(w) = web { w.task.abort(); }
                        return Ok(());
                    }
                }
            }
        };
        let (events_tx, events_rx) = tokio::sync::mpsc::channel(64);
        let (listener, router, api_path) =
            api::bind(&home, handle.clone(), token, web.as_ref().map(|w| w.url.clone()))
                .await
                .context("starting the local API")?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let api_task = tokio::spawn(async move {
            let _ = api::serve(listener, router).await;
        });
        let printer = tokio::spawn(print_events(events_rx, web.as_ref().map(|w| w.app.clone()), json));
        if json {
            crate::out::line_or_drop(json!({ "api": api_url }));
        } else {
            crate::out::line_or_drop(format!(
                "local API on {api_url} (token in {})",
                api_path.display()
            ));
        }
        if let Some(w) = &web {
            // Fill the node's read cache while the member is still opening the browser.
            let app = w.app.clone();
            tokio::spawn(async move { app.warm().await });
        }
        let i2p = match &args.anonymous {
            Some(a) => Some(start_i2p(&home, a, json).await?),
            None => None,
        };
        let (listen, transport, router) = match i2p {
            Some(I2p { router, transport }) => {
                let own = transport.listen_addr().clone();
                let make: dualpower_net::MakeTransport = Box::new(move |key| {
                    transport
                        .upgraded(key)
                        .map_err(|e| dualpower_net::NetError::Setup(e.to_string()))
                });
                (
                    vec![own],
                    Some(dualpower_net::OwnTransport::new(make)),
                    Some(router),
                )
            }
            None => (args.listen, None, None),
        };
        let cfg = NodeConfig {
            open_groups: false,
            listen,
            bootstrap: args.bootstrap,
            net: dualpower_net::NetConfig {
                mdns: args.mdns && transport.is_none(),
                relay_server: args.relay_server,
                allow_private_peers: args.allow_private_peers,
                anonymous: transport.is_some(),
                transport,
                ..Default::default()
            },
        };
        let result = dualpower_node::run(
            node_store,
            identity,
            cfg,
            commands,
            events_tx,
            shutdown_signal(),
        )
        .await;
        api_task.abort();
        printer.abort();
        if let Some(w) = web {
            w.task.abort();
        }
        if let Some(r) = router {
            r.shutdown(std::time::Duration::from_secs(2)).await;
        }
        let _ = std::fs::remove_file(&api_path);
        result.map_err(anyhow::Error::from)
    })?;
    // Every acknowledged write is committed; close the store so the WAL is checkpointed.
    close_store(store)?;
    drop(rt);
    if !ctx.json {
        crate::out::err_line("stopped; everything acknowledged is on disk");
    }
    Ok(0)
}

/// The web app, serving.
struct WebServer {
    app: dualpower_web::App,
    /// `http://127.0.0.1:PORT`.
    url: String,
    task: tokio::task::JoinHandle<()>,
}

/// Binds and serves the web app on `addr`, and says where it is and how to get in: a login
/// link, or (locked) that the passphrase unlocks it, or (no identity yet) that the link creates
/// one.
async fn start_web(
    addr: std::net::SocketAddr,
    options: dualpower_web::WebOptions,
    json: bool,
) -> Result<WebServer> {
    let locked = options.unlocked.is_none();
    let fresh = !dualpower_store::keystore::path(&options.home).exists();
    let app = dualpower_web::App::new(options);
    let bound = app.bind(addr).await?;
    if !bound.addr.ip().is_loopback() {
        crate::out::err_line(format!(
            "warning: the web app listens on {}, reachable from other machines; anyone who \
             reaches it can try passphrases, and traffic is not encrypted",
            bound.addr
        ));
    }
    let url = bound.url.clone();
    let link = app.login_link();
    if json {
        crate::out::line_or_drop(json!({ "web": url, "login": link }));
    } else if locked && fresh {
        crate::out::line_or_drop(format!(
            "web app on {url}\nOpen this link to create your identity (it works once):\n  {link}"
        ));
    } else if locked {
        crate::out::line_or_drop(format!(
            "web app on {url}\nThe node is locked: open {url} and enter your passphrase to \
             unlock it."
        ));
    } else {
        crate::out::line_or_drop(format!(
            "web app on {url}\nLog in with this link (it works once; `dualpower web` prints \
             another):\n  {link}"
        ));
    }
    let task = tokio::spawn(async move {
        let _ = bound.serve().await;
    });
    Ok(WebServer { app, url, task })
}

/// Prints what the node tells (addresses, connections) and tells open pages when something
/// changed.
async fn print_events(
    mut events: tokio::sync::mpsc::Receiver<NodeEvent>,
    app: Option<dualpower_web::App>,
    json: bool,
) {
    while let Some(ev) = events.recv().await {
        match ev {
            NodeEvent::Listening(addr) => {
                if json {
                    crate::out::line_or_drop(json!({ "listening": addr.to_string() }));
                } else {
                    crate::out::line_or_drop(format!("listening on {addr}"));
                }
            }
            NodeEvent::Stored { .. } => {
                if let Some(app) = &app {
                    app.changed();
                }
            }
            NodeEvent::Connected(peer) => {
                if let Some(app) = &app {
                    app.changed();
                }
                if json {
                    crate::out::line_or_drop(json!({ "connected": peer.to_string() }));
                } else {
                    crate::out::line_or_drop(format!("connected to {peer}"));
                }
            }
        }
    }
}

/// Asks for the passphrase in the terminal until one unlocks the identity in `home` (on a thread
/// of its own: the browser may unlock first, and the prompt then simply goes unanswered).
async fn terminal_unlock(home: std::path::PathBuf) -> dualpower_core::Identity {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        loop {
            let Ok(pass) = rpassword::prompt_password("Passphrase (or unlock in the browser): ")
            else {
                return;
            };
            let pass = zeroize::Zeroizing::new(pass);
            match dualpower_store::keystore::unlock(&home, &pass) {
                Ok(id) => {
                    let _ = tx.send(id);
                    return;
                }
                Err(e) => crate::out::err_line(format!("{e}; try again.")),
            }
        }
    });
    match rx.await {
        Ok(id) => id,
        // The terminal went away: only the browser can unlock now.
        Err(_) => std::future::pending().await,
    }
}

/// Closes the store once nothing else holds it: a web request still reading may hold it a
/// moment after the node stopped.
fn close_store(mut store: Arc<Store>) -> Result<()> {
    for _ in 0..100 {
        match Arc::try_unwrap(store) {
            Ok(s) => return Ok(s.close()?),
            Err(s) => {
                store = s;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    bail!("the store is still in use at shutdown")
}

fn sync_totals(status: &Value, peer: Option<&str>) -> (u64, u64, bool) {
    let mut fetched = 0;
    let mut remaining = 0;
    let mut running = false;
    for s in status["syncs"].as_array().into_iter().flatten() {
        if peer.is_some_and(|p| s["peer"].as_str() != Some(p)) {
            continue;
        }
        fetched += s["fetched"].as_u64().unwrap_or(0);
        remaining += s["remaining"].as_u64().unwrap_or(0);
        running |= s["state"] == "running";
    }
    (fetched, remaining, running)
}

fn sync_rounds(status: &Value, peer: Option<&str>) -> u64 {
    status["syncs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| peer.is_none_or(|p| s["peer"].as_str() == Some(p)))
        .map(|s| s["rounds"].as_u64().unwrap_or(0))
        .sum()
}

/// The peer an address leads to: the last `/p2p/` (a relayed address names the relay first).
fn peer_of(addr: &Multiaddr) -> Option<String> {
    addr.iter()
        .filter_map(|p| match p {
            libp2p::multiaddr::Protocol::P2p(id) => Some(id.to_string()),
            _ => None,
        })
        .last()
}

/// How long a connected peer may go without starting any group sync before `sync` concludes
/// that it shares no group with us.
const NOTHING_SHARED: Duration = Duration::from_secs(10);

/// Follows progress until the syncs with `peer` are done or `deadline` passes.
fn watch_progress(
    pb: ProgressBar,
    peer: Option<&str>,
    base_rounds: u64,
    deadline: Duration,
    mut status: impl FnMut() -> Result<Value>,
) -> Result<Value> {
    pb.set_style(
        ProgressStyle::with_template("syncing [{bar:40}] {pos}/{len} events ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut seen_any = false;
    let mut quiet_since = Instant::now();
    let mut connected_since: Option<Instant> = None;
    loop {
        let mut s = status()?;
        let connected = peer.is_some_and(|p| {
            s["peers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["peer"].as_str() == Some(p))
        });
        connected_since = if connected {
            connected_since.or(Some(Instant::now()))
        } else {
            None
        };
        let (fetched, remaining, running) = sync_totals(&s, peer);
        // A sync counts as started once it made a round trip after we asked (the node keeps
        // counters for its whole life).
        seen_any |= running || sync_rounds(&s, peer) > base_rounds;
        pb.set_length(fetched + remaining);
        pb.set_position(fetched);
        // The node learnt at once that it cannot sync with this peer: say why, without waiting.
        if let Some(why) = peer.and_then(|p| s["peer_notes"][p].as_str()) {
            pb.finish_and_clear();
            bail!("cannot sync with {}: {why}", peer.unwrap_or_default());
        }
        if running || !seen_any {
            quiet_since = Instant::now();
        }
        if seen_any && !running && quiet_since.elapsed() > Duration::from_millis(600) {
            pb.finish_and_clear();
            return Ok(s);
        }
        // Connected, yet no group sync starts: the peer holds no group it may sync with us
        // (peers sync a group only with its members). Waiting out the deadline would only
        // suggest the peer is unreachable.
        if !seen_any && connected_since.is_some_and(|t| t.elapsed() > NOTHING_SHARED) {
            pb.finish_and_clear();
            s["nothing_shared"] = json!(true);
            return Ok(s);
        }
        if start.elapsed() > deadline {
            pb.finish_and_clear();
            bail!(
                "sync did not finish within {} s: {}",
                deadline.as_secs(),
                if connected {
                    "the peer is connected but the sync did not complete; try again, or run \
                     `dualpower status` to see the sync's state"
                } else {
                    "the peer could not be reached; check its address (with /p2p/PEER_ID) and \
                     that its node runs"
                }
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `dualpower sync --peer ADDR`: catches up every group with one peer, with a progress bar.
/// Uses the running node if there is one, otherwise a temporary node.
pub fn sync(ctx: &Ctx, peer: Multiaddr, timeout: Duration) -> Result<i32> {
    let peer_id = peer_of(&peer);
    let report = |s: &Value, fetched: u64| -> Result<i32> {
        ctx.emit(
            json!({ "peer": peer.to_string(), "fetched": fetched, "syncs": s["syncs"] }),
            || {
                if s["nothing_shared"] == true {
                    format!(
                        "connected to {peer}, but it syncs no group with you: peers sync a group \
                         only with its members (`dualpower groups` shows yours)"
                    )
                } else {
                    format!("synced with {peer}: {fetched} new event(s)")
                }
            },
        );
        Ok(0)
    };
    if let Some(remote) = Remote::find(&ctx.home) {
        let before = remote.get("/v1/status")?;
        let (base, _, _) = sync_totals(&before, peer_id.as_deref());
        let base_rounds = sync_rounds(&before, peer_id.as_deref());
        remote.post("/v1/dial", json!({ "addr": peer.to_string() }))?;
        let pb = crate::bar(ctx, 0, "syncing");
        let s = watch_progress(pb, peer_id.as_deref(), base_rounds, timeout, || {
            remote.get("/v1/status")
        })?;
        let (fetched, _, _) = sync_totals(&s, peer_id.as_deref());
        return report(&s, fetched.saturating_sub(base));
    }
    init_logging();
    let identity = ctx.identity()?;
    let store = Arc::new(ctx.store()?);
    let rt = runtime()?;
    let status = rt.block_on(async {
        let (handle, commands) = Handle::new();
        let (events_tx, _events_rx) = tokio::sync::mpsc::channel(64);
        let cfg = NodeConfig {
            open_groups: false,
            listen: Vec::new(),
            bootstrap: vec![peer.clone()],
            net: dualpower_net::NetConfig {
                mdns: false,
                ..Default::default()
            },
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let node = tokio::spawn(dualpower_node::run(
            store.clone(),
            identity,
            cfg,
            commands,
            events_tx,
            async {
                let _ = stop_rx.await;
            },
        ));
        let h = handle.clone();
        let pid = peer_id.clone();
        let pb = crate::bar(ctx, 0, "syncing");
        let watched = tokio::task::spawn_blocking({
            let rt = tokio::runtime::Handle::current();
            move || -> Result<Value> {
                watch_progress(pb, pid.as_deref(), 0, timeout, || {
                    let s: Status = rt
                        .block_on(h.status())
                        .ok_or_else(|| anyhow!("the node stopped"))?;
                    Ok(serde_json::to_value(s)?)
                })
            }
        })
        .await
        .map_err(|e| anyhow!("{e}"))?;
        let _ = stop_tx.send(());
        node.await.map_err(|e| anyhow!("{e}"))??;
        watched
    })?;
    match Arc::try_unwrap(store) {
        Ok(store) => store.close()?,
        Err(_) => bail!("the store is still in use at shutdown"),
    }
    let (fetched, _, _) = sync_totals(&status, peer_id.as_deref());
    report(&status, fetched)
}

/// Opens the store for reading, also while a node holds it.
pub fn reader(home: &Path, config: StoreConfig) -> Result<Store> {
    match Store::open(home, config.clone()) {
        Err(dualpower_store::StoreError::Locked { .. }) => Ok(Store::open_read_only(home, config)?),
        other => Ok(other?),
    }
}

/// `dualpower web`: a fresh one-time login link from the running node's web app.
pub fn web_link(ctx: &Ctx) -> Result<i32> {
    let Some(remote) = Remote::find(&ctx.home) else {
        bail!(
            "no node is running for {}: start it with `dualpower serve`, which prints the web \
             app's address and a login link",
            ctx.home.display()
        );
    };
    let Some(web) = remote.info.web.clone() else {
        bail!("the running node serves no web app (it was started with --no-web)");
    };
    let mut res = Remote::agent()
        .post(format!("{web}/api/v1/login-link"))
        .header("Authorization", format!("Bearer {}", remote.info.token))
        .send_empty()
        .map_err(|e| anyhow!("the web app at {web} does not answer: {e}"))?;
    let status = res.status();
    let body: Value = res
        .body_mut()
        .read_json()
        .map_err(|e| anyhow!("the web app answered something unreadable: {e}"))?;
    if !status.is_success() {
        bail!(
            "{}",
            body["error"]
                .as_str()
                .unwrap_or("the web app refused the request")
        );
    }
    let link = body["link"].as_str().unwrap_or_default().to_owned();
    ctx.emit(json!({ "web": web, "login": link }), || {
        format!("Open this link in your browser (it works once):\n  {link}")
    });
    Ok(0)
}
