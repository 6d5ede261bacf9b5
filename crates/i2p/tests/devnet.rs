//! Slow tests: libp2p over an in-process I2P devnet (4 routers, plus one client router per
//! node). All of them are in this one test binary, `devnet`, so CI can run or skip them as a
//! group (`cargo test -p dualpower-i2p --test devnet`).
//!
//! They run on tokio's paused clock: emissary's timers (tunnel builds, retries) are virtual and
//! cost no wall time, while sockets are real (loopback). libp2p's own timers (futures-timer)
//! stay on the real clock; they only matter for idle and request timeouts here. Every wait is
//! bounded by a (virtual) timeout, and a real-time watchdog bounds each test's wall time.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use dualpower_i2p::{
    Devnet, DevnetInfo, I2pRouter, I2pTransport, I2pTransportError, RouterConfig, TransportConfig,
};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::core::Endpoint;
use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, StreamProtocol, Swarm, SwarmBuilder, Transport, ping};
use tempfile::TempDir;

/// Devnet routers (the first two floodfill).
const DEVNET_ROUTERS: usize = 4;
/// Virtual-time limit for anything that waits on the network.
const NET_LIMIT: Duration = Duration::from_secs(180);
/// Dial attempts before test (a) gives up, and the (virtual) pause between them.
const MAX_DIALS: usize = 12;
const REDIAL_AFTER: Duration = Duration::from_secs(5);
/// Real-time limit per test.
const WALL_LIMIT: Duration = Duration::from_secs(150);

/// Aborts the process if a test runs longer than [`WALL_LIMIT`] of real time (virtual-time
/// timeouts cannot catch a busy loop on the paused clock).
fn watchdog(name: &'static str) -> std::sync::mpsc::Sender<()> {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(WALL_LIMIT) {
            eprintln!("{name}: over {WALL_LIMIT:?} of wall time; aborting");
            std::process::abort();
        }
    });
    done
}

/// Wall and virtual time since a start.
struct Clock {
    wall: Instant,
    virt: tokio::time::Instant,
}

impl Clock {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            virt: tokio::time::Instant::now(),
        }
    }
    fn lap(&self, what: &str) {
        eprintln!(
            "[timing] {what}: wall {:.2?}, virtual {:.2?}",
            self.wall.elapsed(),
            self.virt.elapsed()
        );
    }
}

/// A devnet and client routers, with their data in a temporary directory.
struct Net {
    devnet: Devnet,
    clients: Vec<I2pRouter>,
    /// Removed (with every router's data) when the net is dropped.
    _dir: TempDir,
}

impl Net {
    async fn start(clients: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let devnet = Devnet::start(&dir.path().join("devnet"), DEVNET_ROUTERS)
            .await
            .expect("devnet starts");
        // The devnet file round-trips, as a separate `serve --i2p-devnet FILE` would read it.
        let file = dir.path().join("devnet.txt");
        devnet.info().write(&file).expect("write devnet file");
        let info = DevnetInfo::read(&file).expect("read devnet file");
        assert_eq!(&info, devnet.info());
        let mut routers = Vec::new();
        for i in 0..clients {
            let cfg = RouterConfig::devnet(dir.path().join(format!("node-{i}")), info.clone());
            routers.push(I2pRouter::start(cfg).await.expect("client router starts"));
        }
        Self {
            devnet,
            clients: routers,
            _dir: dir,
        }
    }

    fn transport_config(&self, i: usize) -> TransportConfig {
        TransportConfig::devnet(self.clients[i].sam_port(), self.key_dir(i))
    }

    /// The destination key lives next to the router's data, per network (as the node does).
    fn key_dir(&self, i: usize) -> std::path::PathBuf {
        self.clients[i].dir().to_path_buf()
    }

    async fn shutdown(self) {
        for r in self.clients {
            r.shutdown(Duration::ZERO).await;
        }
        self.devnet.shutdown().await;
    }
}

async fn transport(cfg: TransportConfig) -> I2pTransport {
    tokio::time::timeout(NET_LIMIT, I2pTransport::new(cfg))
        .await
        .expect("session within the limit")
        .expect("transport")
}

// ---- a tiny echo protocol: u32 length, then bytes ----

const ECHO: StreamProtocol = StreamProtocol::new("/dualpower-i2p-test/echo/1");
const MAX_ECHO: usize = 64 * 1024;

#[derive(Clone, Default)]
struct EchoCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_ECHO {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: Vec<u8>) -> io::Result<()> {
    let len = u32::try_from(data.len()).map_err(io::Error::other)?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&data).await?;
    io.close().await
}

impl request_response::Codec for EchoCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_frame(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        write_frame(io, res).await
    }
}

#[derive(NetworkBehaviour)]
struct Node {
    ping: ping::Behaviour,
    echo: request_response::Behaviour<EchoCodec>,
}

fn swarm(transport: I2pTransport) -> Swarm<Node> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_other_transport(|k| transport.upgraded(k).map_err(Into::into))
        .expect("noise")
        .with_behaviour(|_| Node {
            ping: ping::Behaviour::new(ping::Config::new()),
            echo: request_response::Behaviour::new(
                [(ECHO, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(NET_LIMIT),
            ),
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Answers every echo request until the task is aborted.
async fn serve_echo(mut swarm: Swarm<Node>) {
    loop {
        if let SwarmEvent::Behaviour(NodeEvent::Echo(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = swarm.select_next_some().await
        {
            let mut answer = b"echo: ".to_vec();
            answer.extend_from_slice(&request);
            let _ = swarm.behaviour_mut().echo.send_response(channel, answer);
        }
    }
}

async fn wait_listening(swarm: &mut Swarm<Node>) -> Multiaddr {
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => return address,
            SwarmEvent::ListenerError { error, .. } => panic!("listener error: {error}"),
            _ => {}
        }
    }
}

// ---- sockets of this process, from /proc ----

#[derive(Debug)]
struct Sock {
    table: &'static str,
    local: SocketAddr,
    remote: SocketAddr,
}

/// Inodes of this process's sockets (`/proc/self/fd/* -> socket:[inode]`).
fn socket_inodes() -> HashSet<u64> {
    let mut out = HashSet::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("fd dir")
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let t = target.to_string_lossy();
            if let Some(n) = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                out.insert(n);
            }
        }
    }
    out
}

fn parse_addr(hex: &str, v6: bool) -> Option<SocketAddr> {
    let (ip, port) = hex.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address as a native-endian integer.
    let words: Vec<[u8; 4]> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).map(u32::to_ne_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = if v6 {
        let bytes: [u8; 16] = words.concat().try_into().ok()?;
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        IpAddr::V4(Ipv4Addr::from(*words.first()?))
    };
    Some(SocketAddr::new(ip, port))
}

/// Every socket of this process. Panics on one found in no table (an unexpected family).
fn open_sockets() -> Vec<Sock> {
    let mine = socket_inodes();
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    for (table, v6) in [
        ("tcp", false),
        ("tcp6", true),
        ("udp", false),
        ("udp6", true),
        ("raw", false),
        ("raw6", true),
    ] {
        let text = std::fs::read_to_string(format!("/proc/self/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let Some(inode) = f.get(9).and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            if !mine.contains(&inode) {
                continue;
            }
            let (Some(local), Some(remote)) = (
                f.get(1).and_then(|a| parse_addr(a, v6)),
                f.get(2).and_then(|a| parse_addr(a, v6)),
            ) else {
                panic!("unparsable /proc/self/net/{table} line: {line}");
            };
            seen.insert(inode);
            found.push(Sock {
                table,
                local,
                remote,
            });
        }
    }
    // Sockets of other families (Unix, netlink) carry no IP address; anything else is a
    // socket this check cannot see, so it fails rather than pass blindly.
    for (table, col) in [("unix", 6), ("netlink", 9), ("packet", 8)] {
        let text = std::fs::read_to_string(format!("/proc/self/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            if let Some(inode) = line
                .split_whitespace()
                .nth(col)
                .and_then(|s| s.parse::<u64>().ok())
            {
                assert!(
                    table != "packet" || !mine.contains(&inode),
                    "packet socket open"
                );
                if mine.contains(&inode) {
                    seen.insert(inode);
                }
            }
        }
    }
    let unknown: Vec<_> = mine.difference(&seen).collect();
    assert!(unknown.is_empty(), "sockets in no known table: {unknown:?}");
    found
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

fn assert_all_loopback(socks: &[Sock]) {
    for s in socks {
        assert!(
            is_loopback(s.local.ip()),
            "non-loopback local address: {s:?}"
        );
        assert!(
            is_loopback(s.remote.ip()) || (s.remote.ip().is_unspecified() && s.remote.port() == 0),
            "non-loopback peer address: {s:?}"
        );
    }
}

/// Whether a boxed swarm-level error is our [`I2pTransportError::Refused`]. libp2p wraps
/// transport errors in `io::Error` and `Either` layers whose `source()` skips the wrapped
/// error, so the chain cannot be walked to it; its `Debug` form still names the variant.
fn is_refusal(e: &io::Error) -> bool {
    format!("{e:?}").contains("Refused { addr: ")
}

/// Two nodes, each with its own client router, connect over I2P via the listener's
/// `/garlic64` address and exchange a request and response (and pings). Then every socket of
/// the process (six routers, both nodes) is checked to be on loopback: test (d).
async fn two_nodes_exchange(check_sockets: bool) {
    let clock = Clock::start();
    let net = Net::start(2).await;
    clock.lap("devnet + 2 client routers started");

    let (ta, tb) = tokio::join!(
        transport(net.transport_config(0)),
        transport(net.transport_config(1))
    );
    clock.lap("both SAM sessions up (tunnels built)");
    let a_addr = ta.listen_addr().clone();
    assert!(a_addr.to_string().starts_with("/garlic64/"));

    let mut a = swarm(ta);
    let mut b = swarm(tb);
    let a_peer = *a.local_peer_id();
    a.listen_on(a_addr.clone())
        .expect("listen on our destination");
    assert_eq!(wait_listening(&mut a).await, a_addr);
    let server = tokio::spawn(serve_echo(a));

    let target = a_addr.clone().with(Protocol::P2p(a_peer));
    b.dial(target.clone()).expect("dial starts");
    let mut dials = 0;
    let mut request_sent = false;
    let mut answer = None;
    let mut pinged = None;
    let exchange = async {
        while answer.is_none() || pinged.is_none() {
            match b.select_next_some().await {
                SwarmEvent::ConnectionEstablished {
                    peer_id, endpoint, ..
                } => {
                    assert_eq!(peer_id, a_peer, "noise authenticated the listener");
                    assert_eq!(
                        endpoint.get_remote_address(),
                        &a_addr.clone().with(Protocol::P2p(a_peer))
                    );
                    clock.lap("first stream: libp2p connection established over I2P");
                    if !request_sent {
                        b.behaviour_mut()
                            .echo
                            .send_request(&peer_id, b"hello over i2p".to_vec());
                        request_sent = true;
                    }
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    // A LeaseSet needs a moment to reach the floodfills after the session is
                    // up; until then the dialer's router answers CANT_REACH_PEER.
                    dials += 1;
                    assert!(
                        dials < MAX_DIALS,
                        "dial failed {dials} times, last: {error}"
                    );
                    eprintln!("[dial] attempt {dials} failed: {error}");
                    tokio::time::sleep(REDIAL_AFTER).await;
                    b.dial(target.clone()).expect("redial starts");
                }
                SwarmEvent::Behaviour(NodeEvent::Echo(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                })) => {
                    clock.lap("echo response received");
                    answer = Some(response);
                }
                SwarmEvent::Behaviour(NodeEvent::Echo(
                    request_response::Event::OutboundFailure { error, .. },
                )) => panic!("echo failed: {error}"),
                SwarmEvent::Behaviour(NodeEvent::Ping(ping::Event {
                    result: Ok(rtt), ..
                })) => {
                    pinged = Some(rtt);
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(NET_LIMIT, exchange)
        .await
        .expect("exchange within the limit");
    assert_eq!(answer.as_deref(), Some(&b"echo: hello over i2p"[..]));
    eprintln!(
        "[timing] ping round trip over I2P: {:?}",
        pinged.unwrap_or_default()
    );

    if check_sockets {
        let socks = open_sockets();
        let mut per_table: HashMap<&str, usize> = HashMap::new();
        for s in &socks {
            *per_table.entry(s.table).or_default() += 1;
        }
        eprintln!("[sockets] {} open: {per_table:?}", socks.len());
        assert!(
            socks.iter().filter(|s| s.table.starts_with("tcp")).count() >= DEVNET_ROUTERS + 2,
            "the routers' listeners are visible: {socks:?}"
        );
        assert_all_loopback(&socks);
    }

    server.abort();
    drop(b);
    net.shutdown().await;
    clock.lap("routers stopped, temporary directories removed");
}

/// (a) Two libp2p swarms (noise + yamux, ping, request-response) talk over I2P.
#[tokio::test(start_paused = true)]
async fn a_two_swarms_exchange_request_and_response() {
    let done = watchdog("a_two_swarms_exchange_request_and_response");
    two_nodes_exchange(false).await;
    let _ = done.send(());
}

/// (d) With six routers and two nodes running and connected, every socket of the process is
/// on loopback: nothing listens on or talks to another address.
#[tokio::test(start_paused = true)]
async fn d_all_sockets_are_loopback() {
    let done = watchdog("d_all_sockets_are_loopback");
    two_nodes_exchange(true).await;
    let _ = done.send(());
}

/// (b) The destination is kept in the key directory (0600) and reused: a restarted transport
/// has the same `/garlic64` address.
#[tokio::test(start_paused = true)]
async fn b_destination_persists_across_restart() {
    let done = watchdog("b_destination_persists_across_restart");
    let clock = Clock::start();
    let net = Net::start(1).await;
    let first = transport(net.transport_config(0)).await;
    clock.lap("first session");
    let addr = first.listen_addr().clone();
    let key_file = net.key_dir(0).join(dualpower_i2p::destination::KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "key file is owner-only");
    }
    // The file holds the private key, never equal to (but starting with) the public address.
    let stored = std::fs::read_to_string(&key_file).expect("key file");
    let public_b64 = first.destination().to_base64();
    assert_ne!(stored.trim(), public_b64);
    assert!(stored.starts_with(public_b64.trim_end_matches('=').get(..500).unwrap_or("")));
    drop(first);

    let second = transport(net.transport_config(0)).await;
    clock.lap("second session, same key");
    assert_eq!(
        second.listen_addr(),
        &addr,
        "same /garlic64 address after restart"
    );
    drop(second);
    net.shutdown().await;
    let _ = done.send(());
}

/// (c) Clear-net addresses are refused with the typed error: by the transport itself, and
/// through a swarm built on it, where no TCP connection is even attempted.
#[tokio::test(start_paused = true)]
async fn c_clear_net_dial_is_refused() {
    let done = watchdog("c_clear_net_dial_is_refused");
    let net = Net::start(1).await;
    let mut t = transport(net.transport_config(0)).await;

    // A local TCP listener the dial would reach if anything dialed it.
    let honeypot = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let port = honeypot.local_addr().expect("addr").port();
    let tcp: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr");
    let opts = DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::Reuse,
    };

    // The transport, before any boxing: the exact variant, for every clear-net address kind.
    for addr in [
        tcp.clone(),
        format!("/ip4/127.0.0.1/udp/{port}/quic-v1")
            .parse()
            .expect("addr"),
        "/dns4/localhost/tcp/80".parse().expect("addr"),
        "/ip6/::1/tcp/80".parse().expect("addr"),
    ] {
        match Transport::dial(&mut t, addr.clone(), opts) {
            Err(TransportError::Other(I2pTransportError::Refused { addr: refused })) => {
                assert_eq!(refused, addr)
            }
            Err(other) => panic!("{addr}: wrong error {other:?}"),
            Ok(_) => panic!("{addr}: dial started"),
        }
    }
    let any: Multiaddr = "/ip4/0.0.0.0/tcp/0".parse().expect("addr");
    assert!(matches!(
        Transport::listen_on(&mut t, ListenerId::next(), any.clone()),
        Err(TransportError::Other(I2pTransportError::Refused { .. }))
    ));

    // Through a swarm: libp2p boxes the error (io::Error around `Either`s); the refusal is
    // still ours, and nothing reached the TCP listener.
    let mut s = swarm(t);
    match s.listen_on(any) {
        Err(TransportError::Other(e)) => assert!(is_refusal(&e), "{e:?}"),
        other => panic!("listen on tcp: {other:?}"),
    }
    s.dial(tcp.clone())
        .expect("the swarm accepts the dial request");
    let error = tokio::time::timeout(NET_LIMIT, async {
        loop {
            if let SwarmEvent::OutgoingConnectionError { error, .. } = s.select_next_some().await {
                return error;
            }
        }
    })
    .await
    .expect("dial error reported");
    match &error {
        DialError::Transport(attempts) => {
            assert_eq!(attempts.len(), 1);
            let (addr, TransportError::Other(e)) = &attempts[0] else {
                panic!("not refused by the transport: {error:?}");
            };
            assert_eq!(addr, &tcp);
            assert!(is_refusal(e), "{e:?}");
        }
        other => panic!("unexpected dial error: {other:?}"),
    }
    let probe = tokio::time::timeout(Duration::from_millis(200), honeypot.accept()).await;
    assert!(probe.is_err(), "a TCP connection was attempted: {probe:?}");

    drop(s);
    net.shutdown().await;
    let _ = done.send(());
}

/// Whether this process has a TCP socket listening on `port`.
fn listening(port: u16) -> bool {
    let mine = socket_inodes();
    ["tcp", "tcp6"].iter().any(|table| {
        let text = std::fs::read_to_string(format!("/proc/self/net/{table}")).unwrap_or_default();
        text.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let listen = f.get(3) == Some(&"0A");
            let ours = f
                .get(9)
                .and_then(|i| i.parse::<u64>().ok())
                .is_some_and(|i| mine.contains(&i));
            let on_port = f
                .get(1)
                .and_then(|a| parse_addr(a, *table == "tcp6"))
                .is_some_and(|a| a.port() == port);
            listen && ours && on_port
        })
    })
}

/// (e) A router's keys are owner-only; stopping it closes its NTCP2 listener, and a router on
/// a runtime of its own leaves no listener at all.
#[tokio::test(start_paused = true)]
async fn e_router_shutdown_closes_its_listeners() {
    let done = watchdog("e_router_shutdown_closes_its_listeners");
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = Devnet::start(&dir.path().join("devnet"), 1)
        .await
        .expect("devnet");
    let info = devnet.info().clone();
    let shared = I2pRouter::start(RouterConfig::devnet(
        dir.path().join("shared"),
        info.clone(),
    ))
    .await
    .expect("router on this runtime");
    let own = I2pRouter::start_on_own_runtime(RouterConfig::devnet(dir.path().join("own"), info))
        .await
        .expect("router on its own runtime");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
        };
        assert_eq!(mode(shared.dir()), 0o700, "router directory is owner-only");
        for key in ["static.key", "signing.key", "ntcp2.keys", "ssu2.keys"] {
            assert_eq!(mode(&shared.dir().join(key)), 0o600, "{key} is owner-only");
        }
    }
    let ports = |r: &I2pRouter| (r.sam_port(), r.ntcp2_addr().port());
    let ((shared_sam, shared_ntcp2), (own_sam, own_ntcp2)) = (ports(&shared), ports(&own));
    for port in [shared_sam, shared_ntcp2, own_sam, own_ntcp2] {
        assert!(listening(port), "port {port} listens while running");
    }
    assert!(shared.is_running() && own.is_running());

    shared.shutdown(Duration::ZERO).await;
    own.shutdown(Duration::from_secs(1)).await;
    assert!(!listening(shared_ntcp2), "NTCP2 closed");
    assert!(!listening(own_ntcp2), "NTCP2 closed (own runtime)");
    assert!(!listening(own_sam), "SAM closed (own runtime)");
    // A characterisation of emissary 0.4: its SAM server task outlives the router on a shared
    // runtime. If this starts failing, emissary stops it now and `start_on_own_runtime` is no
    // longer needed for a clean stop.
    assert!(listening(shared_sam), "emissary 0.4 keeps the SAM listener");

    devnet.shutdown().await;
    let _ = done.send(());
}
