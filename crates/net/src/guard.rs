//! Which addresses the node dials, and how often.
//!
//! Peers tell us addresses (Kademlia answers, identify): a hostile one can name any host, on the
//! internet or on the member's own LAN, and make our node connect there. [`DialGuard`] refuses
//! every outgoing dial to a loopback, private or link-local address unless the address was
//! given by the user (`--bootstrap`, `--peer`, an invite code, a dial command) or found by mDNS
//! on our own LAN ([`DialGuard::trust`]), or the node runs with private peers allowed
//! ([`crate::NetConfig::allow_private_peers`]). It also bounds dialing: at most
//! [`MAX_PENDING_DIALS`] dials in flight, and a peer whose dial failed is not dialed again
//! before a backoff that doubles with each failure (explicit dials are exempt from both).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::FromSwarm;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm, dummy,
};

/// Most dials (not explicitly asked for) in flight at once.
pub const MAX_PENDING_DIALS: usize = 16;
/// Wait after a peer's first failed dial; doubles per failure up to [`MAX_DIAL_BACKOFF`].
const FIRST_DIAL_BACKOFF: Duration = Duration::from_secs(10);
/// Longest wait between dials of a peer that keeps failing.
const MAX_DIAL_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// Most addresses remembered as trusted, and most peers with a failure record.
const MAX_REMEMBERED: usize = 4096;

/// Why a dial was refused.
#[derive(Debug, thiserror::Error)]
pub enum DialRefused {
    /// The address is loopback, private or link-local and nobody we trust gave it to us.
    #[error("not dialing {0}: a private address learned from a peer")]
    Private(Multiaddr),
    /// Too many dials in flight.
    #[error("too many dials in flight")]
    Busy,
    /// The peer failed recently; wait for its backoff.
    #[error("peer {0} failed recently; backing off")]
    Backoff(PeerId),
}

/// Whether `addr` points at this machine, a private network or a link (what a peer must not
/// make us dial). The first IP component decides; `/dns*/localhost` counts as loopback.
pub fn is_private(addr: &Multiaddr) -> bool {
    for p in addr.iter() {
        match p {
            Protocol::Ip4(ip) => return private_v4(ip),
            Protocol::Ip6(ip) => return private_v6(ip),
            Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) | Protocol::Dnsaddr(h) => {
                let h = h.to_ascii_lowercase();
                return h == "localhost" || h.ends_with(".localhost") || h.ends_with(".local");
            }
            _ => {}
        }
    }
    false
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // 100.64.0.0/10: carrier-grade NAT, a provider's private network.
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // 0.0.0.0/8: "this network".
        || o[0] == 0
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
}

/// Per peer: failures in a row and when it may be dialed again.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    until: Instant,
}

/// The dial policy (see the module documentation).
#[derive(Debug, Default)]
pub struct DialGuard {
    allow_private: bool,
    trusted: HashSet<Multiaddr>,
    pending: HashSet<ConnectionId>,
    failures: HashMap<PeerId, Failures>,
}

impl DialGuard {
    /// A guard; `allow_private` lets private addresses learned from peers be dialed (tests and
    /// closed LANs).
    pub fn new(allow_private: bool) -> Self {
        DialGuard {
            allow_private,
            ..Default::default()
        }
    }

    /// Trusts `addr` (given by the user, or found by mDNS on our LAN): it may be dialed even if
    /// private, and dials to it are not bounded. Its `/p2p/` suffix is ignored; for a circuit
    /// address, the relay's address is trusted too (the relay client dials it).
    pub fn trust(&mut self, addr: &Multiaddr) {
        if self.trusted.len() >= MAX_REMEMBERED {
            self.trusted.clear();
        }
        if addr.iter().any(|p| p == Protocol::P2pCircuit) {
            let relay: Multiaddr = addr
                .iter()
                .take_while(|p| *p != Protocol::P2pCircuit)
                .collect();
            self.trusted.insert(strip_peer(&relay));
        }
        self.trusted.insert(strip_peer(addr));
    }

    /// Whether `addr` was trusted with [`DialGuard::trust`].
    pub fn is_trusted(&self, addr: &Multiaddr) -> bool {
        self.trusted.contains(&strip_peer(addr))
    }

    /// Whether an address a peer told us about may go into the peer directory or be dialed.
    pub fn may_learn(&self, addr: &Multiaddr) -> bool {
        self.allow_private || !is_private(addr) || self.is_trusted(addr)
    }

    fn check(&self, peer: Option<PeerId>, addrs: &[Multiaddr]) -> Result<(), DialRefused> {
        if addrs.iter().any(|a| self.is_trusted(a)) {
            return Ok(());
        }
        if let Some(bad) = addrs.iter().find(|a| !self.may_learn(a)) {
            return Err(DialRefused::Private(bad.clone()));
        }
        if self.pending.len() >= MAX_PENDING_DIALS {
            return Err(DialRefused::Busy);
        }
        if let Some(p) = peer
            && self
                .failures
                .get(&p)
                .is_some_and(|f| Instant::now() < f.until)
        {
            return Err(DialRefused::Backoff(p));
        }
        Ok(())
    }
}

/// `addr` without its trailing `/p2p/PEER`.
fn strip_peer(addr: &Multiaddr) -> Multiaddr {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a
}

impl NetworkBehaviour for DialGuard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Err(why) = self.check(peer, addresses) {
            tracing::debug!(%why, "dial refused");
            return Err(ConnectionDenied::new(why));
        }
        self.pending.insert(connection_id);
        Ok(Vec::new())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                self.pending.remove(&e.connection_id);
                self.failures.remove(&e.peer_id);
            }
            FromSwarm::DialFailure(e) => {
                // Only dials we let through count (a refused one was never pending).
                if !self.pending.remove(&e.connection_id) {
                    return;
                }
                if let Some(p) = e.peer_id {
                    if self.failures.len() >= MAX_REMEMBERED {
                        let now = Instant::now();
                        self.failures.retain(|_, f| f.until > now);
                    }
                    let f = self.failures.entry(p).or_insert(Failures {
                        count: 0,
                        until: Instant::now(),
                    });
                    f.count = f.count.saturating_add(1);
                    let backoff = FIRST_DIAL_BACKOFF
                        .saturating_mul(1u32 << f.count.saturating_sub(1).min(16))
                        .min(MAX_DIAL_BACKOFF);
                    f.until = Instant::now() + backoff;
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for a in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/192.168.1.5/udp/1/quic-v1",
            "/ip4/172.16.0.1/tcp/1",
            "/ip4/169.254.1.1/tcp/1",
            "/ip4/100.64.0.1/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/dns4/localhost/tcp/1",
        ] {
            assert!(is_private(&a.parse().unwrap()), "{a}");
        }
        for a in [
            "/ip4/8.8.8.8/tcp/1",
            "/ip6/2001:db8::1/tcp/1",
            "/dns4/example.org/tcp/1",
        ] {
            assert!(!is_private(&a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn only_trusted_private_addresses_are_dialed() {
        let mut g = DialGuard::new(false);
        let a: Multiaddr = "/ip4/192.168.1.5/tcp/4001".parse().unwrap();
        assert!(matches!(
            g.check(None, std::slice::from_ref(&a)),
            Err(DialRefused::Private(_))
        ));
        g.trust(&a.clone().with(Protocol::P2p(PeerId::random())));
        assert!(g.check(None, &[a]).is_ok());
        assert!(
            DialGuard::new(true)
                .check(None, &["/ip4/10.0.0.1/tcp/1".parse().unwrap()])
                .is_ok()
        );
    }
}
