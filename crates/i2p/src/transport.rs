//! A libp2p [`Transport`] whose connections are I2P streams, opened through a router's SAMv3
//! interface.
//!
//! It exists so the node's whole libp2p stack (noise, yamux, request-response sync, gossipsub)
//! runs unchanged over I2P: this transport only replaces "open a TCP connection to an IP
//! address" with "open an I2P stream to a destination". Noise still authenticates the peer's
//! libp2p key on top, exactly as over TCP.
//!
//! - One persistent destination per node: its private key lives in `<key_dir>/destination.key`
//!   (0600) and is reused on restart, so the node's `/garlic64/…` address is stable.
//! - Dialing: only `/garlic64/<dest>` (optionally `/p2p/<peer>`). Every other address — TCP,
//!   QUIC, DNS, relay circuits — is refused with [`I2pTransportError::Refused`] (not
//!   `MultiaddrNotSupported`), so this transport fails closed: wrapped in an `or_transport` it
//!   stops the address instead of passing it on to a clear-net transport.
//! - Listening: `listen_on` takes the node's own `/garlic64/…` address
//!   ([`I2pTransport::listen_addr`]). Inbound streams come through SAM `STREAM FORWARD` to a
//!   TCP listener on 127.0.0.1 (see [`I2pTransport::new`] for why that is safe).
//! - Bounded: at most [`MAX_PENDING_INBOUND`] inbound streams are read at once (then the
//!   listener is not polled, so the kernel backlog and then the router hold back), at most
//!   [`MAX_DIALS`] dials are in flight, and the event queue holds only listener events.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::future::{BoxFuture, Ready};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId, Transport, noise, yamux};
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use yosemite::{DestinationKind, RouterApi, Session, SessionOptions, style};

use crate::destination::{
    AddrError, KEY_FILE, KeyFileError, PrivateDestination, PublicDestination, garlic64_destination,
    read_key_file, write_key_file,
};

/// Inbound streams whose first line (the peer's destination) is being read at once.
pub const MAX_PENDING_INBOUND: usize = 32;
/// Outbound streams being opened at once.
pub const MAX_DIALS: usize = 64;
/// Longest first line of a forwarded stream: a destination is 516–616 base64 characters.
const MAX_HEADER_LEN: u64 = 1024;
/// How long a forwarded connection may take to send its first line.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before accepting again after the local listener failed (e.g. out of descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(200);
/// How long, and how far apart, `SESSION CREATE` is retried while the router still holds the
/// previous session of the same destination. emissary 0.4 releases a destination when its
/// session's streams have closed, or 60 s after the session's control socket closed if it had
/// none open: a transport restarted on a router that keeps running waits up to that long.
const DUPLICATE_RETRY_FOR: Duration = Duration::from_secs(75);
const DUPLICATE_WAIT: Duration = Duration::from_secs(2);

/// How the transport reaches its router and keeps its destination.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// The router's SAMv3 TCP port on 127.0.0.1 ([`crate::I2pRouter::sam_port`]).
    pub sam_port: u16,
    /// Directory of the destination key file ([`KEY_FILE`]); created owner-only if missing.
    pub key_dir: PathBuf,
    /// Hops per tunnel, each direction (I2P's default is 3; 1 is enough on a devnet).
    pub tunnel_hops: usize,
    /// Tunnels kept per direction.
    pub tunnels: usize,
    /// How long creating the session may take: the router builds the destination's tunnels
    /// first (seconds on a devnet, up to minutes on a freshly started public router).
    pub session_timeout: Duration,
    /// How long opening one stream may take (LeaseSet lookup plus the streaming handshake).
    pub dial_timeout: Duration,
}

impl TransportConfig {
    /// Settings for the public network: 3 hops, 2 tunnels each way.
    pub fn new(sam_port: u16, key_dir: impl Into<PathBuf>) -> Self {
        Self {
            sam_port,
            key_dir: key_dir.into(),
            tunnel_hops: 3,
            tunnels: 2,
            session_timeout: Duration::from_secs(300),
            dial_timeout: Duration::from_secs(120),
        }
    }

    /// Settings for a devnet: 1 hop, 1 tunnel each way, shorter timeouts.
    pub fn devnet(sam_port: u16, key_dir: impl Into<PathBuf>) -> Self {
        Self {
            tunnel_hops: 1,
            tunnels: 1,
            session_timeout: Duration::from_secs(120),
            dial_timeout: Duration::from_secs(20),
            ..Self::new(sam_port, key_dir)
        }
    }
}

/// Why the I2P transport refused or failed something.
#[derive(Debug, Error)]
pub enum I2pTransportError {
    /// Not an I2P address: anonymous mode never dials or listens on anything else.
    #[error("refused {addr}: only /garlic64 addresses are used over I2P")]
    Refused {
        /// The refused address.
        addr: Multiaddr,
    },
    /// `/garlic64/` with bytes that are not a destination.
    #[error("bad I2P destination in {addr}: {reason}")]
    BadDestination {
        /// The address.
        addr: Multiaddr,
        /// What is wrong with it.
        reason: String,
    },
    /// `listen_on` with a destination that is not ours.
    #[error("cannot listen on {addr}: this node's I2P address is {own}")]
    NotOwnDestination {
        /// The requested address.
        addr: Multiaddr,
        /// Ours.
        own: Multiaddr,
    },
    /// `listen_on` while already listening (one destination, one listener).
    #[error("already listening on {own}")]
    AlreadyListening {
        /// Ours.
        own: Multiaddr,
    },
    /// A SAM command failed (the router refused it or its connection broke).
    #[error("SAM {op} failed: {source}")]
    Sam {
        /// The command.
        op: &'static str,
        /// The failure.
        #[source]
        source: yosemite::Error,
    },
    /// A SAM command did not finish in time.
    #[error("SAM {op} timed out after {after:?}")]
    Timeout {
        /// The command.
        op: &'static str,
        /// The limit.
        after: Duration,
    },
    /// [`MAX_DIALS`] dials are already in flight.
    #[error("too many I2P dials in flight (limit {limit})")]
    TooManyDials {
        /// The limit.
        limit: usize,
    },
    /// The destination key file.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The router's `DEST GENERATE` answer was not a usable key pair.
    #[error("the router generated an unusable destination: {reason}")]
    BadGeneratedKey {
        /// Why.
        reason: String,
    },
    /// The local listener that receives forwarded streams failed.
    #[error("local forward listener: {0}")]
    Listener(#[source] io::Error),
}

fn refused(addr: Multiaddr, e: AddrError) -> I2pTransportError {
    match e {
        AddrError::NotGarlic64 => I2pTransportError::Refused { addr },
        AddrError::BadDestination(d) => I2pTransportError::BadDestination {
            addr,
            reason: d.to_string(),
        },
    }
}

/// The transport. Build with [`I2pTransport::new`], then [`I2pTransport::upgraded`] (noise +
/// yamux) inside `SwarmBuilder::with_other_transport(|k| t.upgraded(k).map_err(Into::into))`,
/// or `.upgrade(…)` it yourself.
pub struct I2pTransport {
    /// The SAM session of the node's own (persistent) destination, which peers dial: owns the
    /// control socket, so dropping the transport removes the destination from the router.
    /// Held, never read: its streams arrive through `forward`.
    _session: Session<style::Stream>,
    /// The destination this node dials from (see [`Outbound`]), shared with dials in flight.
    outbound: Arc<std::sync::Mutex<Outbound>>,
    /// Kept to open a fresh outbound session when the current one goes stale.
    cfg: TransportConfig,
    local: PublicDestination,
    listen_addr: Multiaddr,
    /// Receives the streams the router forwards (127.0.0.1, ephemeral port).
    forward: TcpListener,
    /// The active listener, if `listen_on` was called.
    listener: Option<ListenerId>,
    accept_pause: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Forwarded connections whose first line is being read (at most [`MAX_PENDING_INBOUND`]).
    pending: FuturesUnordered<BoxFuture<'static, Option<(I2pStream, Multiaddr)>>>,
    /// Listener events (`NewAddress`, `ListenerClosed`, errors): at most two per `listen_on`.
    events:
        VecDeque<TransportEvent<Ready<Result<I2pStream, I2pTransportError>>, I2pTransportError>>,
    waker: Option<Waker>,
    dials: Arc<Semaphore>,
    dial_timeout: Duration,
}

impl I2pTransport {
    /// Loads (or creates, through the router's `DEST GENERATE`) the node's destination key,
    /// opens its SAM session (this waits until the router has built the destination's tunnels)
    /// and asks the router to forward inbound streams to a fresh TCP listener on 127.0.0.1.
    ///
    /// Trust note on that listener: any local process can connect to it and write a fake first
    /// line, so the `send_back_addr` of an inbound connection is a hint, not proof. That is
    /// fine only because nothing trusts it: noise authenticates the peer's libp2p key on every
    /// connection, and Dual Power's membership proof runs on top of that. Local processes can
    /// already reach the SAM port itself, so the listener adds no new power.
    pub async fn new(cfg: TransportConfig) -> Result<Self, I2pTransportError> {
        let key_path = cfg.key_dir.join(KEY_FILE);
        let key = match read_key_file(&key_path).await? {
            Some(key) => key,
            None => {
                let key = generate(cfg.sam_port, cfg.session_timeout).await?;
                write_key_file(&key_path, &key).await?;
                tracing::info!(dest = %key.public(), "created the node's I2P destination");
                key
            }
        };
        let mut session = open_session(
            &cfg,
            DestinationKind::Persistent {
                private_key: key.sam_key().to_owned(),
            },
        )
        .await?;
        let outbound = Outbound::new(open_session(&cfg, DestinationKind::Transient).await?);
        let forward = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(I2pTransportError::Listener)?;
        let port = forward
            .local_addr()
            .map_err(I2pTransportError::Listener)?
            .port();
        match tokio::time::timeout(cfg.session_timeout, session.forward(port)).await {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                return Err(I2pTransportError::Sam {
                    op: "STREAM FORWARD",
                    source,
                });
            }
            Err(_) => {
                return Err(I2pTransportError::Timeout {
                    op: "STREAM FORWARD",
                    after: cfg.session_timeout,
                });
            }
        }
        let local = key.public().clone();
        Ok(Self {
            _session: session,
            outbound: Arc::new(std::sync::Mutex::new(outbound)),
            cfg: cfg.clone(),
            listen_addr: local.to_multiaddr(),
            local,
            forward,
            listener: None,
            accept_pause: None,
            pending: FuturesUnordered::new(),
            events: VecDeque::new(),
            waker: None,
            dials: Arc::new(Semaphore::new(MAX_DIALS)),
            dial_timeout: cfg.dial_timeout,
        })
    }

    /// This node's address, `/garlic64/<public destination>`: give it to `listen_on`, and to
    /// peers (inside the group's encrypted log, never a DHT).
    pub fn listen_addr(&self) -> &Multiaddr {
        &self.listen_addr
    }

    /// This node's public destination.
    pub fn destination(&self) -> &PublicDestination {
        &self.local
    }

    /// Checks an address the way `dial` does, without dialing: `Ok` with the destination for
    /// `/garlic64/<dest>[/p2p/<peer>]`, otherwise the error `dial` would return.
    pub fn check_dial_addr(addr: &Multiaddr) -> Result<PublicDestination, I2pTransportError> {
        garlic64_destination(addr).map_err(|e| refused(addr.clone(), e))
    }

    /// This transport with noise (authenticating `key`) and yamux on top, negotiated like
    /// libp2p's TCP transport (`V1Lazy`: the dialer sends its first protocol choice together
    /// with the next message, saving a round trip, which over I2P is worth hundreds of
    /// milliseconds): what `SwarmBuilder::with_other_transport` wants.
    pub fn upgraded(
        self,
        key: &Keypair,
    ) -> Result<libp2p::core::transport::Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
        Ok(self
            .upgrade(Version::V1Lazy)
            .authenticate(noise::Config::new(key)?)
            .multiplex(yamux::Config::default())
            .boxed())
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// Most destinations remembered as reached from the current outbound session.
const MAX_REACHED: usize = 1024;
/// Least time between two renewals of the outbound session: a peer that answers and then
/// falls silent, again and again, can make us build new tunnels at most this often.
const MIN_RENEWAL_INTERVAL: Duration = Duration::from_secs(60);

/// The destination this node dials from, and what it learned about its peers.
///
/// It is a fresh (transient) destination, never the one peers dial, and it is replaced when it
/// goes stale. Our router keeps, per local destination, the lease sets it looked up and the
/// end-to-end (ratchet) sessions it opened. When a peer restarts, its router has new tunnels
/// and none of that session state, so streams from our old destination go to dead tunnels or
/// are encrypted to state the peer lost: the dial times out until those expire (minutes). So
/// when a destination that answered this session stops answering, the session is renewed:
/// the next dial comes from a new destination that looks the peer up afresh. The same holds
/// the other way round: a node dials from a new destination each run, so a peer that spoke
/// with us before we restarted is not stuck with our old state. Noise authenticates the peer
/// whichever destination carries it.
///
/// The old session is dropped, not closed: the router keeps a destination while it has open
/// streams, so the connections it carries live on.
struct Outbound {
    session: Session<style::Stream>,
    freshness: Freshness,
}

impl Outbound {
    fn new(session: Session<style::Stream>) -> Self {
        Self {
            session,
            freshness: Freshness::default(),
        }
    }
}

/// When the outbound session is stale (see [`Outbound`]); kept apart from the session so it
/// can be tested without a router.
#[derive(Debug, Default)]
struct Freshness {
    /// Bumped on each renewal; a dial reports against the generation it was made from.
    generation: u64,
    /// Destinations (as b32) reached from this generation's session.
    reached: HashSet<String>,
    /// A renewal is under way.
    renewing: bool,
    last_renewal: Option<tokio::time::Instant>,
}

impl Freshness {
    /// Records a dial to `remote` from `generation`'s session; `true` when the session is
    /// stale and should be renewed now (the caller then runs [`renew`]): the dial failed,
    /// `remote` had answered this same session before, and no renewal is under way or recent.
    fn dialed(&mut self, generation: u64, remote: String, ok: bool) -> bool {
        if generation != self.generation {
            return false;
        }
        if ok {
            if self.reached.len() >= MAX_REACHED {
                self.reached.clear();
            }
            self.reached.insert(remote);
            return false;
        }
        let recent = self
            .last_renewal
            .is_some_and(|t| t.elapsed() < MIN_RENEWAL_INTERVAL);
        if !self.reached.contains(&remote) || self.renewing || recent {
            return false;
        }
        self.renewing = true;
        true
    }

    /// A renewal ended; `replaced`: a new session took over (a new generation begins).
    fn renewed(&mut self, replaced: bool) {
        self.renewing = false;
        self.last_renewal = Some(tokio::time::Instant::now());
        if replaced {
            self.generation += 1;
            self.reached.clear();
        }
    }
}

/// Replaces the outbound session with one of a fresh destination (see [`Outbound`]).
async fn renew(outbound: Arc<std::sync::Mutex<Outbound>>, cfg: TransportConfig) {
    tracing::debug!("a peer that answered our outbound destination stopped answering; renewing it");
    let fresh = open_session(&cfg, DestinationKind::Transient).await;
    let mut out = lock(&outbound);
    out.freshness.renewed(fresh.is_ok());
    match fresh {
        Ok(session) => out.session = session,
        Err(e) => tracing::warn!(error = %e, "cannot renew the outbound I2P destination"),
    }
}

/// The lock, even if a panic elsewhere poisoned it (the state stays consistent: every
/// update under it is a few assignments).
fn lock(m: &std::sync::Mutex<Outbound>) -> std::sync::MutexGuard<'_, Outbound> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Asks the router for a new destination key pair and checks its two halves agree.
async fn generate(sam_port: u16, limit: Duration) -> Result<PrivateDestination, I2pTransportError> {
    let (public, private) =
        match tokio::time::timeout(limit, RouterApi::new(sam_port).generate_destination()).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(source)) => {
                return Err(I2pTransportError::Sam {
                    op: "DEST GENERATE",
                    source,
                });
            }
            Err(_) => {
                return Err(I2pTransportError::Timeout {
                    op: "DEST GENERATE",
                    after: limit,
                });
            }
        };
    let bad = |reason: String| I2pTransportError::BadGeneratedKey { reason };
    let key = PrivateDestination::from_base64(&private).map_err(|e| bad(e.to_string()))?;
    let answered = PublicDestination::from_base64(&public).map_err(|e| bad(e.to_string()))?;
    if &answered != key.public() {
        return Err(bad("public half differs from the private key's".into()));
    }
    Ok(key)
}

/// `SESSION CREATE` for our destination, retrying while the router still holds a previous
/// session of it (`DUPLICATE_DEST`, e.g. a restart right after a stop).
async fn open_session(
    cfg: &TransportConfig,
    destination: DestinationKind,
) -> Result<Session<style::Stream>, I2pTransportError> {
    let options = SessionOptions {
        samv3_tcp_port: cfg.sam_port,
        destination,
        inbound_len: cfg.tunnel_hops,
        outbound_len: cfg.tunnel_hops,
        inbound_quantity: cfg.tunnels,
        outbound_quantity: cfg.tunnels,
        publish: true,
        silent_forward: false,
        ..Default::default()
    };
    let give_up = tokio::time::Instant::now() + DUPLICATE_RETRY_FOR;
    loop {
        let created =
            tokio::time::timeout(cfg.session_timeout, Session::new(options.clone())).await;
        match created {
            Ok(Ok(session)) => return Ok(session),
            Ok(Err(e)) if is_duplicate(&e) && tokio::time::Instant::now() < give_up => {
                tracing::debug!("router still holds our destination; retrying");
                tokio::time::sleep(DUPLICATE_WAIT).await;
            }
            Ok(Err(source)) => {
                return Err(I2pTransportError::Sam {
                    op: "SESSION CREATE",
                    source,
                });
            }
            Err(_) => {
                return Err(I2pTransportError::Timeout {
                    op: "SESSION CREATE",
                    after: cfg.session_timeout,
                });
            }
        }
    }
}

fn is_duplicate(e: &yosemite::Error) -> bool {
    use yosemite::{Error, I2pError, ProtocolError};
    matches!(
        e,
        Error::I2p(I2pError::DuplicateDest)
            | Error::Protocol(ProtocolError::Router(I2pError::DuplicateDest))
    )
}

/// Reads the first line of a forwarded stream, the peer's public destination, and returns the
/// stream positioned after it. `None` (connection dropped) if it is missing, too long, late or
/// not a destination.
async fn read_header(tcp: TcpStream) -> Option<(I2pStream, Multiaddr)> {
    let mut reader = BufReader::new(tcp);
    let mut line = Vec::with_capacity(640);
    let mut limited = (&mut reader).take(MAX_HEADER_LEN);
    let read = limited.read_until(b'\n', &mut line);
    match tokio::time::timeout(HEADER_TIMEOUT, read).await {
        Ok(Ok(_)) if line.last() == Some(&b'\n') => {}
        other => {
            tracing::debug!(
                ?other,
                "forwarded stream without a destination line; dropped"
            );
            return None;
        }
    }
    let text = std::str::from_utf8(&line).ok()?;
    match PublicDestination::from_base64(text) {
        Ok(dest) => Some((
            I2pStream {
                inner: Inner::Accepted(reader).compat(),
            },
            dest.to_multiaddr(),
        )),
        Err(e) => {
            tracing::debug!(error = %e, "forwarded stream with a bad destination line; dropped");
            None
        }
    }
}

impl Transport for I2pTransport {
    type Output = I2pStream;
    type Error = I2pTransportError;
    type ListenerUpgrade = Ready<Result<I2pStream, I2pTransportError>>;
    type Dial = BoxFuture<'static, Result<I2pStream, I2pTransportError>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let dest = garlic64_destination(&addr)
            .map_err(|e| TransportError::Other(refused(addr.clone(), e)))?;
        if dest != self.local {
            return Err(TransportError::Other(
                I2pTransportError::NotOwnDestination {
                    addr,
                    own: self.listen_addr.clone(),
                },
            ));
        }
        if self.listener.is_some() {
            return Err(TransportError::Other(I2pTransportError::AlreadyListening {
                own: self.listen_addr.clone(),
            }));
        }
        self.listener = Some(id);
        self.events.push_back(TransportEvent::NewAddress {
            listener_id: id,
            listen_addr: self.listen_addr.clone(),
        });
        self.wake();
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        if self.listener != Some(id) {
            return false;
        }
        self.listener = None;
        // Streams already accepted but not yet handed over are dropped with the listener.
        self.pending = FuturesUnordered::new();
        self.events.push_back(TransportEvent::AddressExpired {
            listener_id: id,
            listen_addr: self.listen_addr.clone(),
        });
        self.events.push_back(TransportEvent::ListenerClosed {
            listener_id: id,
            reason: Ok(()),
        });
        self.wake();
        true
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let dest = Self::check_dial_addr(&addr).map_err(TransportError::Other)?;
        let permit = Arc::clone(&self.dials).try_acquire_owned().map_err(|_| {
            TransportError::Other(I2pTransportError::TooManyDials { limit: MAX_DIALS })
        })?;
        let remote = dest.b32();
        let (connect, generation) = {
            let mut out = lock(&self.outbound);
            (
                out.session.connect_detached(&dest.to_base64()),
                out.freshness.generation,
            )
        };
        let after = self.dial_timeout;
        let outbound = Arc::clone(&self.outbound);
        let cfg = self.cfg.clone();
        Ok(async move {
            let _permit = permit;
            let result = match tokio::time::timeout(after, connect).await {
                Ok(Ok(stream)) => Ok(I2pStream {
                    inner: Inner::Dialed(stream).compat(),
                }),
                Ok(Err(source)) => Err(I2pTransportError::Sam {
                    op: "STREAM CONNECT",
                    source,
                }),
                Err(_) => Err(I2pTransportError::Timeout {
                    op: "STREAM CONNECT",
                    after,
                }),
            };
            let stale = lock(&outbound)
                .freshness
                .dialed(generation, remote, result.is_ok());
            if stale {
                let renewal = renew(outbound, cfg);
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => drop(rt.spawn(renewal)),
                    Err(_) => renewal.await,
                }
            }
            result
        }
        .boxed())
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        let this = self.get_mut();
        if let Some(event) = this.events.pop_front() {
            return Poll::Ready(event);
        }
        let Some(listener_id) = this.listener else {
            this.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        loop {
            if let Poll::Ready(Some(done)) = this.pending.poll_next_unpin(cx) {
                match done {
                    Some((stream, send_back_addr)) => {
                        return Poll::Ready(TransportEvent::Incoming {
                            listener_id,
                            upgrade: futures::future::ready(Ok(stream)),
                            local_addr: this.listen_addr.clone(),
                            send_back_addr,
                        });
                    }
                    None => continue,
                }
            }
            if this.pending.len() >= MAX_PENDING_INBOUND {
                break;
            }
            if let Some(pause) = this.accept_pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    break;
                }
                this.accept_pause = None;
            }
            match this.forward.poll_accept(cx) {
                Poll::Ready(Ok((tcp, _from))) => {
                    this.pending.push(read_header(tcp).boxed());
                }
                Poll::Ready(Err(e)) => {
                    this.accept_pause = Some(Box::pin(tokio::time::sleep(ACCEPT_RETRY)));
                    return Poll::Ready(TransportEvent::ListenerError {
                        listener_id,
                        error: I2pTransportError::Listener(e),
                    });
                }
                Poll::Pending => break,
            }
        }
        this.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// One I2P stream, as a `futures` `AsyncRead + AsyncWrite` byte stream (what libp2p upgrades).
/// Underneath it is a TCP connection to the router on 127.0.0.1.
pub struct I2pStream {
    inner: Compat<Inner>,
}

enum Inner {
    /// Opened by us (`STREAM CONNECT`).
    Dialed(yosemite::Stream),
    /// Forwarded by the router; the buffer may hold bytes read past the destination line.
    Accepted(BufReader<TcpStream>),
}

impl tokio::io::AsyncRead for Inner {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Dialed(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Accepted(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Inner {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Inner::Dialed(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Accepted(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Dialed(s) => Pin::new(s).poll_flush(cx),
            Inner::Accepted(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Inner::Dialed(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Accepted(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl futures::AsyncRead for I2pStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl futures::AsyncWrite for I2pStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_net_addresses_are_refused_with_the_typed_error() {
        for text in [
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/192.0.2.1/udp/4001/quic-v1",
            "/dns/example.org/tcp/443",
            "/ip4/192.0.2.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit",
        ] {
            let addr: Multiaddr = text.parse().expect("valid");
            match I2pTransport::check_dial_addr(&addr) {
                Err(I2pTransportError::Refused { addr: a }) => assert_eq!(a, addr),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    /// A failed dial renews the outbound session only for a peer that answered this same
    /// session before: a peer that was never reached (offline, or a wrong address in the log)
    /// costs no new tunnels.
    #[tokio::test(start_paused = true)]
    async fn only_a_peer_that_answered_this_session_makes_it_stale() {
        let mut f = Freshness::default();
        assert!(!f.dialed(0, "never.b32.i2p".into(), false), "never reached");
        assert!(!f.dialed(0, "peer.b32.i2p".into(), true));
        assert!(
            f.dialed(0, "peer.b32.i2p".into(), false),
            "reached, then silent"
        );
        // While the renewal runs, more failures do not start another.
        assert!(!f.dialed(0, "peer.b32.i2p".into(), false));
        f.renewed(true);
        assert_eq!(f.generation, 1);
        // The new session has reached nobody yet; a dial made from the old one reports late.
        assert!(!f.dialed(1, "peer.b32.i2p".into(), false));
        assert!(!f.dialed(0, "other.b32.i2p".into(), true));
        assert!(
            f.reached.is_empty(),
            "a late report does not count for the new session"
        );
    }

    /// The attacker: a member whose node answers once and then falls silent, over and over,
    /// to make us build new tunnels. It gets one renewal per [`MIN_RENEWAL_INTERVAL`].
    #[tokio::test(start_paused = true)]
    async fn a_flapping_peer_forces_at_most_one_renewal_per_interval() {
        let mut f = Freshness::default();
        let mut renewals = 0;
        // Ten minutes of answer-then-silence every 5 s.
        for _ in 0..120 {
            let g = f.generation;
            f.dialed(g, "flapper.b32.i2p".into(), true);
            if f.dialed(g, "flapper.b32.i2p".into(), false) {
                renewals += 1;
                f.renewed(true);
            }
            tokio::time::advance(Duration::from_secs(5)).await;
        }
        assert!(
            (9..=11).contains(&renewals),
            "{renewals} renewals in 10 minutes"
        );
    }

    /// A failed renewal keeps the session, and does not allow another one at once.
    #[tokio::test(start_paused = true)]
    async fn a_failed_renewal_keeps_the_generation_and_waits() {
        let mut f = Freshness::default();
        f.dialed(0, "peer.b32.i2p".into(), true);
        assert!(f.dialed(0, "peer.b32.i2p".into(), false));
        f.renewed(false);
        assert_eq!(f.generation, 0);
        assert!(!f.dialed(0, "peer.b32.i2p".into(), false), "too soon");
        tokio::time::advance(MIN_RENEWAL_INTERVAL).await;
        assert!(f.dialed(0, "peer.b32.i2p".into(), false));
    }

    /// The memory of reached peers is bounded.
    #[test]
    fn the_reached_set_is_bounded() {
        let mut f = Freshness::default();
        for i in 0..(MAX_REACHED * 3) {
            f.dialed(0, format!("{i}.b32.i2p"), true);
        }
        assert!(f.reached.len() <= MAX_REACHED);
    }
}
