//! I2P for Dual Power's anonymous mode: an embedded I2P router and a libp2p transport whose
//! connections are I2P streams.
//!
//! # What it does
//!
//! Anonymous mode (issue 16) means a node talks to peers only through I2P, so no peer and no
//! network observer learns which IP address belongs to which member. This crate provides the
//! two pieces, and the node puts them together:
//!
//! - [`I2pRouter`] starts an embedded router (emissary) with its data in the node's data
//!   directory, on the public network ([`Network::Public`], reseeding only when allowed and
//!   nothing is stored) or on a local test network ([`Network::Devnet`], see [`Devnet`] and
//!   [`DevnetInfo`] for `--i2p-devnet FILE`). [`I2pRouter::start_on_own_runtime`] (what a
//!   node should use) gives it a thread and runtime of its own, so stopping it closes every
//!   socket it opened; [`I2pRouter::start`] shares the caller's runtime (paused-clock tests).
//! - [`I2pTransport`] is a libp2p `Transport` over that router's streams. The node keeps its
//!   libp2p stack — noise, yamux, request-response sync, gossipsub — and only swaps the
//!   transport: one protocol, two transports. A node's address is `/garlic64/<destination>`
//!   ([`I2pTransport::listen_addr`]), stable across restarts because the destination key is
//!   kept in `<key_dir>/destination.key` (0600). Any other address is refused
//!   ([`I2pTransportError::Refused`]), so nothing is dialed over the clear net.
//!
//! ```no_run
//! # async fn run(dir: &std::path::Path, devnet: dualpower_i2p::DevnetInfo)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use dualpower_i2p::{I2pRouter, I2pTransport, RouterConfig, TransportConfig};
//! // Router data in <dir>/i2p/devnet-<id>/; the destination key next to it.
//! let router =
//!     I2pRouter::start_on_own_runtime(RouterConfig::devnet(dir.join("i2p"), devnet)).await?;
//! let transport =
//!     I2pTransport::new(TransportConfig::devnet(router.sam_port(), router.dir())).await?;
//! let me = transport.listen_addr().clone();
//! let key = libp2p::identity::Keypair::generate_ed25519();
//! let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
//!     .with_tokio()
//!     .with_other_transport(|k| transport.upgraded(k).map_err(Into::into))?
//!     .with_behaviour(|_| libp2p::ping::Behaviour::default())?
//!     .build();
//! swarm.listen_on(me)?;
//! // … and on shutdown: drop the swarm, then `router.shutdown(grace).await`.
//! # Ok(()) }
//! ```
//!
//! # Why SAM
//!
//! emissary 0.4 has no in-process stream API: its SAM, I2CP, streaming and tunnel modules are
//! private, and the `Router` exposes only addresses, its id and shutdown. Its client interfaces
//! are the SAMv3 and I2CP servers on loopback, and SAMv3 (through the yosemite client) is the
//! documented way to embed it. The extra hop is a loopback TCP connection per stream, and the
//! same transport works unchanged against an external router (i2pd, Java I2P): give it another
//! SAM port.
//!
//! # Trust and sockets
//!
//! Inbound streams reach the transport through SAM `STREAM FORWARD`: the router connects to a
//! TCP listener on 127.0.0.1 and first writes the peer's destination. Any local process can
//! connect to that port too and write any destination, so the address an inbound connection
//! claims is never trusted: noise authenticates the peer's libp2p key on every connection, and
//! Dual Power's membership proof runs on top. (Local processes can reach the SAM port itself
//! anyway.)
//!
//! Everything the transport opens is on 127.0.0.1. The router's SAM sockets are on 127.0.0.1;
//! its NTCP2 listener is where I2P traffic enters. emissary 0.4 binds that on every interface
//! whatever address it is given, so a router configured on a loopback address (the default,
//! and every devnet) runs on [`LoopbackRuntime`], which binds it on loopback (and, on a devnet,
//! refuses to dial off the machine): a devnet node has no socket outside 127.0.0.1 (checked by
//! a test).
//!
//! # Cost
//!
//! Before the first stream the router must know some routers and build tunnels: exploratory
//! ones, then the destination's own (each a round of public-key work by every hop), and the
//! destination's LeaseSet must reach the floodfills before peers can find it (until then a
//! dial fails with `CANT_REACH_PEER`; the caller retries). Measured on an in-process devnet
//! (4 routers plus one per node, 1-hop tunnels, 2 cores, real clock): session up after about
//! 8 s, first libp2p connection about 17 s after the routers started, a ping round trip about
//! 45 ms. On the public network expect tens of seconds to minutes from a cold start (plus a
//! reseed the first time) and hundreds of milliseconds per round trip with 3-hop tunnels,
//! and less bandwidth than a direct connection. Tunnels are rebuilt every ten minutes in the
//! background. A transport restarted on a running router may wait up to 60 s for the router
//! to release the previous session of the same destination.

pub mod destination;
pub mod devnet;
pub mod loopback;
pub mod router;
pub mod transport;

pub use destination::{AddrError, DestinationError, KeyFileError, PublicDestination};
pub use devnet::{Devnet, DevnetError, DevnetFileError, DevnetInfo};
pub use loopback::LoopbackRuntime;
pub use router::{I2pRouter, Network, RouterConfig, RouterError};
pub use transport::{I2pStream, I2pTransport, I2pTransportError, TransportConfig};
