//! Anonymous mode's cost in sync (issue 16): time to first sync and events/s when a node
//! catches up over an I2P devnet, next to the same catch-up over libp2p on loopback TCP, with
//! the same events.
//!
//! The events are signed once; each run gets fresh stores holding them (node A) and an empty
//! one (node B), and measures [`dualpower_bench::catch_up`]: B bootstraps to A and fetches
//! every event through the whole path (transport, Noise, Yamux, sync protocol, verification,
//! SQLite). Everything runs in this process on 127.0.0.1 with a real clock:
//!
//! - (a) TCP: A listens on `127.0.0.1:0`, B dials the address A reports (as `netsync` does);
//! - (b) I2P: a devnet of four routers (standing in for the I2P network, on a runtime of its
//!   own), and for each node an embedded router on its own thread, a SAM session for its
//!   destination, and the node in anonymous mode over that transport, wired as
//!   `dualpower serve --anonymous` wires it. B dials A's `/garlic64` address, known before A
//!   starts. Router and tunnel start-up happens before B's node runs, so it is reported both
//!   apart ("router start → first event") and not ("node start → first event").
//!
//! After (b), a reference: 1 MiB each way over one raw I2P stream between the same two routers
//! (fresh destinations, no libp2p), which tells the I2P stream's own rate apart from what our
//! stack on top of it adds.
//!
//! CPU is the whole process's (both nodes, and in (b) all six routers). Every wait has a
//! deadline; a run that passes it is reported as partial.
//!
//! `cargo run --release -p dualpower-bench --bin i2psync [-- EVENTS]` (default 10 000)

use std::path::Path;
use std::time::{Duration, Instant};

use dualpower_bench::catch_up::{self, CatchUp, CatchUpConfig, Dial, Stores};
use dualpower_bench::generate;
use dualpower_i2p::{Devnet, I2pRouter, I2pTransport, RouterConfig, TransportConfig};
use dualpower_net::{NetConfig, NetError, OwnTransport};

/// Events caught up when no count is given: a few seconds of transfer over the devnet.
const DEFAULT_EVENTS: usize = 10_000;
/// Routers of the devnet (the first two floodfill), as in the anonymous-mode tests.
const DEVNET_ROUTERS: usize = 4;
/// How long each phase may take: the devnet's start, the node routers' start and sessions,
/// and the catch-up from B's start.
const LIMIT: Duration = Duration::from_secs(300);
/// Bytes sent over one raw I2P stream (no libp2p) after the catch-up, as a reference for what
/// the I2P stream itself carries.
const PROBE_BYTES: usize = 1 << 20;
/// How long the raw-stream reference may take, dials included.
const PROBE_LIMIT: Duration = Duration::from_secs(120);
/// How long routers may take to stop.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// I2P start-up before B's node runs, measured from the start of the node routers (after the
/// devnet is up).
struct I2pSetup {
    /// The devnet's routers bound and running (not counted in "router start": the devnet
    /// stands for the I2P network, which is already there).
    devnet: Duration,
    /// Both node routers started (sockets bound; tunnels still building).
    routers: Duration,
    /// Both nodes' SAM sessions open: their tunnels are built and their destinations exist.
    sessions: Option<Duration>,
    /// B's node spawned, counted from router start.
    node_b_start: Option<Duration>,
    /// The raw-stream reference, or why it failed.
    probe: Option<Result<Probe, String>>,
}

/// The outcome of one run: its result, or what stopped it.
type Outcome = Result<CatchUp, String>;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    eprintln!("signing {n} events (100 authors, 200-byte bodies)...");
    let events = generate(n, 100, 200);
    // What sync carries per event: its envelope and body (plus a few bytes of framing).
    let event_bytes = events
        .iter()
        .map(|e| e.envelope().len() + e.body().map_or(0, <[u8]>::len))
        .sum::<usize>() as f64
        / n.max(1) as f64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("node runtime");

    println!(
        "# catch-up of {n} events ({event_bytes:.0} bytes each as synced) from one node to an empty one: libp2p over TCP 127.0.0.1 vs an I2P devnet (everything in one process, 2 cores)"
    );
    eprintln!("(a) TCP 127.0.0.1...");
    let tcp = {
        let stores = Stores::new(&events).expect("stores for the TCP run");
        rt.block_on(catch_up::run(&stores, tcp_config()))
            .map_err(|e| e.to_string())
    };
    println!();
    println!("## (a) libp2p over TCP 127.0.0.1");
    report(&tcp, None, event_bytes);

    eprintln!("(b) I2P devnet ({DEVNET_ROUTERS} routers + one per node); tunnels take a while...");
    let (i2p, setup) = {
        let stores = Stores::new(&events).expect("stores for the I2P run");
        let dir = tempfile::tempdir().expect("tmp");
        run_i2p(&rt, &stores, dir.path())
    };
    println!();
    println!("## (b) libp2p over an I2P devnet ({DEVNET_ROUTERS} routers, 1-hop tunnels)");
    report(&i2p, Some(&setup), event_bytes);

    println!();
    table(n, &tcp, &i2p, &setup, event_bytes);
    rt.shutdown_timeout(STOP_LIMIT);
}

/// Run (a): both nodes on the clear net, A on an OS-chosen port of 127.0.0.1.
fn tcp_config() -> CatchUpConfig {
    let net = || NetConfig {
        mdns: false,
        ..Default::default()
    };
    CatchUpConfig {
        net_a: net(),
        net_b: net(),
        listen_a: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        listen_b: vec![],
        dial: Dial::FirstListenAddr,
        listen_limit: LIMIT,
        limit: LIMIT,
    }
}

/// A node's network options in anonymous mode over `transport`, as `serve --anonymous` sets
/// them.
fn anonymous(transport: I2pTransport) -> NetConfig {
    let make: dualpower_net::MakeTransport = Box::new(move |key| {
        transport
            .upgraded(key)
            .map_err(|e| NetError::Setup(e.to_string()))
    });
    NetConfig {
        mdns: false,
        anonymous: true,
        transport: Some(OwnTransport::new(make)),
        ..Default::default()
    }
}

/// Starts the devnet (on a runtime of its own) and the two node routers, opens both
/// destinations, runs the catch-up over them, and stops everything.
fn run_i2p(rt: &tokio::runtime::Runtime, stores: &Stores, dir: &Path) -> (Outcome, I2pSetup) {
    let mut setup = I2pSetup {
        devnet: Duration::ZERO,
        routers: Duration::ZERO,
        sessions: None,
        node_b_start: None,
        probe: None,
    };
    let devnet_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("devnet")
        .enable_all()
        .build()
        .expect("devnet runtime");
    let t = Instant::now();
    // `timeout` needs the runtime's timer when it is created: inside the `async` block.
    let devnet = match devnet_rt.block_on(async {
        tokio::time::timeout(LIMIT, Devnet::start(&dir.join("devnet"), DEVNET_ROUTERS)).await
    }) {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return (Err(format!("devnet did not start: {e}")), setup),
        Err(_) => return (Err(format!("devnet did not start within {LIMIT:?}")), setup),
    };
    setup.devnet = t.elapsed();
    eprintln!("  devnet up after {:.2} s", setup.devnet.as_secs_f64());
    let info = devnet.info().clone();

    let outcome = rt.block_on(async {
        let t0 = Instant::now();
        let start = |name: &str| {
            I2pRouter::start_on_own_runtime(RouterConfig::devnet(dir.join(name), info.clone()))
        };
        let (ra, rb) = match tokio::time::timeout(LIMIT, async {
            tokio::try_join!(start("node-a"), start("node-b"))
        })
        .await
        {
            Ok(Ok(routers)) => routers,
            Ok(Err(e)) => return Err(format!("a node router did not start: {e}")),
            Err(_) => return Err(format!("node routers did not start within {LIMIT:?}")),
        };
        setup.routers = t0.elapsed();
        eprintln!(
            "  node routers up after {:.2} s",
            setup.routers.as_secs_f64()
        );
        let sessions = tokio::time::timeout(LIMIT, async {
            tokio::try_join!(
                I2pTransport::new(TransportConfig::devnet(ra.sam_port(), ra.dir())),
                I2pTransport::new(TransportConfig::devnet(rb.sam_port(), rb.dir())),
            )
        })
        .await;
        let result = match sessions {
            Ok(Ok((ta, tb))) => {
                setup.sessions = Some(t0.elapsed());
                eprintln!(
                    "  both destinations' sessions up (tunnels built) after {:.2} s",
                    t0.elapsed().as_secs_f64()
                );
                let a_addr = ta.listen_addr().clone();
                let b_addr = tb.listen_addr().clone();
                let cfg = CatchUpConfig {
                    net_a: anonymous(ta),
                    net_b: anonymous(tb),
                    listen_a: vec![a_addr.clone()],
                    listen_b: vec![b_addr],
                    dial: Dial::Addr(a_addr),
                    listen_limit: LIMIT,
                    limit: LIMIT,
                };
                let r = catch_up::run(stores, cfg).await.map_err(|e| e.to_string());
                if let Ok(r) = &r {
                    setup.node_b_start = Some(r.b_started.duration_since(t0));
                }
                r
            }
            Ok(Err(e)) => Err(format!("an I2P session did not open: {e}")),
            Err(_) => Err(format!("the I2P sessions did not open within {LIMIT:?}")),
        };
        if result.is_ok() {
            eprintln!("  reference: {PROBE_BYTES} bytes over one raw I2P stream (no libp2p)...");
            setup.probe = Some(raw_stream(&ra, &rb, dir).await);
        }
        for r in [ra, rb] {
            if tokio::time::timeout(STOP_LIMIT, r.shutdown(Duration::ZERO))
                .await
                .is_err()
            {
                eprintln!("  a node router did not stop within {STOP_LIMIT:?}");
            }
        }
        result
    });
    if devnet_rt
        .block_on(async { tokio::time::timeout(STOP_LIMIT, devnet.shutdown()).await })
        .is_err()
    {
        eprintln!("  the devnet did not stop within {STOP_LIMIT:?}");
    }
    devnet_rt.shutdown_timeout(STOP_LIMIT);
    (outcome, setup)
}

/// What the raw-stream reference measured in each direction: bytes and time from the first
/// to the last read.
struct Probe {
    /// Dialer → listener (B's router to A's, the way requests go).
    up: (usize, Duration),
    /// Listener → dialer (A's router to B's, the way sync answers go).
    down: (usize, Duration),
}

/// Reads `n` bytes; returns the bytes after the first read and the time from the first read to
/// the last (so the stream's opening and the peer's start are not counted).
async fn read_n(
    stream: &mut dualpower_i2p::I2pStream,
    n: usize,
) -> Result<(usize, Duration), String> {
    use libp2p::futures::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    let mut first: Option<(Instant, usize)> = None;
    while got < n {
        match stream.read(&mut buf).await {
            Ok(0) => return Err(format!("stream closed after {got} of {n} bytes")),
            Ok(k) => {
                got += k;
                first.get_or_insert((Instant::now(), k));
            }
            Err(e) => return Err(format!("read after {got} bytes: {e}")),
        }
    }
    let (t, k) = first.unwrap_or((Instant::now(), 0));
    Ok((got - k, t.elapsed()))
}

/// Writes `n` bytes and flushes.
async fn write_n(stream: &mut dualpower_i2p::I2pStream, n: usize) -> Result<(), String> {
    use libp2p::futures::AsyncWriteExt;
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        stream
            .write_all(&chunk[..k])
            .await
            .map_err(|e| format!("write: {e}"))?;
        left -= k;
    }
    stream.flush().await.map_err(|e| format!("flush: {e}"))
}

/// Sends [`PROBE_BYTES`] each way over one I2P stream between fresh destinations on the two
/// node routers, below libp2p (no noise, no yamux, no sync): what the I2P stream itself
/// carries. First the dialer sends, then the listener answers; all within [`PROBE_LIMIT`].
async fn raw_stream(ra: &I2pRouter, rb: &I2pRouter, dir: &Path) -> Result<Probe, String> {
    match tokio::time::timeout(PROBE_LIMIT, raw_stream_unbounded(ra, rb, dir)).await {
        Ok(r) => r,
        Err(_) => Err(format!("probe did not finish within {PROBE_LIMIT:?}")),
    }
}

/// [`raw_stream`] without its deadline.
async fn raw_stream_unbounded(ra: &I2pRouter, rb: &I2pRouter, dir: &Path) -> Result<Probe, String> {
    use libp2p::Transport;
    use libp2p::core::Endpoint;
    use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportEvent};

    let open = |r: &I2pRouter, name: &str| {
        I2pTransport::new(TransportConfig::devnet(r.sam_port(), dir.join(name)))
    };
    let (mut ta, mut tb) = tokio::try_join!(open(ra, "probe-a"), open(rb, "probe-b"))
        .map_err(|e| format!("probe sessions: {e}"))?;
    let addr = ta.listen_addr().clone();
    ta.listen_on(ListenerId::next(), addr.clone())
        .map_err(|e| format!("probe listen: {e}"))?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::spawn(async move {
        let mut stream = loop {
            let ev = std::future::poll_fn(|cx| std::pin::Pin::new(&mut ta).poll(cx)).await;
            if let TransportEvent::Incoming { upgrade, .. } = ev {
                break upgrade.await.map_err(|e| format!("probe accept: {e}"))?;
            }
        };
        let up = read_n(&mut stream, PROBE_BYTES).await?;
        write_n(&mut stream, PROBE_BYTES).await?;
        // Keep the stream (and the destination) until the dialer has read everything.
        let _ = done_rx.await;
        drop(ta);
        Ok::<_, String>(up)
    });
    // Dropped (aborting the listener) if the deadline passes first.
    let mut listener = AbortOnDrop(listener);
    let opts = DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::Reuse,
    };
    // Until the listener's LeaseSet has reached the floodfills the dial fails
    // (CANT_REACH_PEER); try again like the node does (the caller's deadline ends this).
    let mut stream = loop {
        let dial = tb
            .dial(addr.clone(), opts)
            .map_err(|e| format!("probe dial: {e}"))?;
        match dial.await {
            Ok(s) => break s,
            Err(e) => {
                eprintln!("  probe dial failed ({e}); again in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    write_n(&mut stream, PROBE_BYTES).await?;
    let down = read_n(&mut stream, PROBE_BYTES).await?;
    let _ = done_tx.send(());
    let up = (&mut listener.0)
        .await
        .map_err(|e| format!("probe listener: {e}"))??;
    Ok(Probe { up, down })
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// KiB/s of a measured transfer.
fn kib_s((bytes, t): (usize, Duration)) -> f64 {
    bytes as f64 / 1024.0 / t.as_secs_f64()
}

/// A time in seconds, or a dash.
fn secs(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.2} s", d.as_secs_f64()))
}

/// Adds an offset to a time, both optional.
fn plus(offset: Option<Duration>, d: Option<Duration>) -> Option<Duration> {
    Some(offset? + d?)
}

/// Prints one run's figures.
fn report(outcome: &Outcome, setup: Option<&I2pSetup>, event_bytes: f64) {
    if let Some(s) = setup {
        println!(
            "I2P start-up before B's node ran: devnet of {DEVNET_ROUTERS} routers {:.2} s (stands for the I2P network; not counted below); \
             from router start: node routers {:.2} s, destinations' sessions with tunnels built {}, B's node started {}",
            s.devnet.as_secs_f64(),
            s.routers.as_secs_f64(),
            secs(s.sessions),
            secs(s.node_b_start),
        );
    }
    if let Some(p) = setup.and_then(|s| s.probe.as_ref()) {
        match p {
            Ok(p) => println!(
                "reference, one raw I2P stream between the same routers (no noise, yamux or sync), {PROBE_BYTES} bytes each way: dialer → listener {:.1} KiB/s, listener → dialer (the direction of sync answers) {:.1} KiB/s",
                kib_s(p.up),
                kib_s(p.down)
            ),
            Err(e) => println!("reference raw I2P stream: FAILED: {e}"),
        }
    }
    let r = match outcome {
        Ok(r) => r,
        Err(e) => {
            println!("FAILED: {e}");
            return;
        }
    };
    println!("B dialed {}", short(&r.dialed.to_string()));
    if !r.complete() {
        println!(
            "PARTIAL: the deadline passed {:.0} s after B's start with {}/{} events stored on B",
            r.wall, r.stored, r.expected
        );
    }
    println!(
        "node start → connected {}, → first event (time to first sync) {}, → all events {}",
        secs(r.connected),
        secs(r.first_event),
        if r.complete() {
            secs(r.last_event)
        } else {
            "not reached".into()
        },
    );
    if let Some(s) = setup {
        println!(
            "router start → first event {}, → all events {}",
            secs(plus(s.node_b_start, r.first_event)),
            if r.complete() {
                secs(plus(s.node_b_start, r.last_event))
            } else {
                "not reached".into()
            },
        );
    }
    println!(
        "stored {}/{}: {:.0} events/s wall from node start ({}), {:.0} events per CPU-second (whole process: {:.2} s CPU), {:.2} s wall",
        r.stored,
        r.expected,
        r.events_per_sec(),
        r.steady_events_per_sec().map_or("—".into(), |v| format!(
            "{v:.0} events/s, {:.1} KiB/s of events, after the first round's",
            v * event_bytes / 1024.0
        )),
        r.events_per_cpu_sec(),
        r.cpu,
        r.wall,
    );
    println!(
        "round trips {}; sync round latency (request sent → events committed) p50 {:.1} ms, p99 {:.1} ms",
        r.rounds, r.round_ms[0], r.round_ms[1]
    );
    let arrivals: Vec<String> = r
        .arrivals
        .iter()
        .map(|(at, count)| format!("{count} at {:.2} s", at.as_secs_f64()))
        .collect();
    println!(
        "arrivals on B (events stored together, from node start): {}",
        arrivals.join(", ")
    );
}

/// `/garlic64/<516+ characters>/p2p/…` shortened for reading.
fn short(addr: &str) -> String {
    match addr.strip_prefix("/garlic64/") {
        Some(rest) if rest.len() > 24 => {
            let p2p = rest.find("/p2p/").map_or("", |i| &rest[i..]);
            format!("/garlic64/{}…{p2p}", &rest[..16])
        }
        _ => addr.to_owned(),
    }
}

/// The summary table (markdown).
fn table(n: usize, tcp: &Outcome, i2p: &Outcome, setup: &I2pSetup, event_bytes: f64) {
    println!("## summary: {n} events, same data");
    println!();
    println!(
        "| transport | stored | node start → first event | router start → first event | node start → all events | events/s wall | events/s after 1st round | KiB/s after 1st round | events/CPU-s | round p50 | round p99 | rounds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, outcome, s) in [
        ("libp2p TCP 127.0.0.1", tcp, None),
        ("libp2p over I2P devnet", i2p, Some(setup)),
    ] {
        let Ok(r) = outcome else {
            println!("| {name} | failed | — | — | — | — | — | — | — | — | — | — |");
            continue;
        };
        let router = match s {
            Some(s) => secs(plus(s.node_b_start, r.first_event)),
            None => "n/a".into(),
        };
        let all = if r.complete() {
            secs(r.last_event)
        } else {
            format!("partial ({:.0} s deadline)", r.wall)
        };
        println!(
            "| {name} | {}/{} | {} | {router} | {all} | {:.0} | {} | {} | {:.0} | {:.1} ms | {:.1} ms | {} |",
            r.stored,
            r.expected,
            secs(r.first_event),
            r.events_per_sec(),
            r.steady_events_per_sec()
                .map_or("—".into(), |v| format!("{v:.0}")),
            r.steady_events_per_sec()
                .map_or("—".into(), |v| format!("{:.1}", v * event_bytes / 1024.0)),
            r.events_per_cpu_sec(),
            r.round_ms[0],
            r.round_ms[1],
            r.rounds,
        );
    }
    if let Some(Ok(p)) = &setup.probe {
        println!();
        println!(
            "reference: one raw I2P stream between the same two routers (no libp2p): dialer → listener {:.1} KiB/s, listener → dialer {:.1} KiB/s",
            kib_s(p.up),
            kib_s(p.down)
        );
    }
}
