//! An emissary runtime that keeps a router on loopback.
//!
//! It exists because emissary 0.4 binds its NTCP2 listener to `0.0.0.0` (or `[::]`) whatever
//! address the configuration names: that address is only what the router publishes. For a
//! router meant to talk only to routers on this machine (a devnet) that would still open a port
//! on every interface. emissary takes its sockets from the `Runtime` it is instantiated with, so
//! this runtime is emissary-util's tokio runtime with up to two changes:
//!
//! - always: a TCP listener asked for on the unspecified address is bound on loopback instead
//!   (`127.0.0.1`, or `::1` for IPv6);
//! - when `CONFINED` (a devnet): a TCP connection to an address that is not loopback is refused
//!   (emissary sees a failed dial), so a stray RouterInfo cannot make the router reach off the
//!   machine. Unconfined, it is a public-network router that accepts no inbound connections
//!   from other machines but dials out as usual.
//!
//! UDP is left as is: SSU2 is never enabled, and the SAM UDP socket is bound to the SAM host,
//! 127.0.0.1. The devnet socket test checks all of it.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use emissary_core::runtime::{AsyncRead, AsyncWrite, MetricType, Runtime, TcpListener, TcpStream};
use emissary_util::runtime::tokio::Runtime as Rt;

type RtStream = <Rt as Runtime>::TcpStream;
type RtListener = <Rt as Runtime>::TcpListener;

/// emissary-util's tokio runtime with TCP listeners on loopback and, if `CONFINED`, TCP dials
/// only to loopback (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopbackRuntime<const CONFINED: bool>;

/// The same address on loopback if it is unspecified (`0.0.0.0`, `::`).
fn on_loopback(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), address.port())
        }
        _ => address,
    }
}

/// A TCP connection of a loopback router.
pub struct LoopbackStream<const CONFINED: bool>(RtStream);

impl<const CONFINED: bool> AsyncRead for LoopbackStream<CONFINED> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<emissary_core::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<const CONFINED: bool> AsyncWrite for LoopbackStream<CONFINED> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<emissary_core::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<emissary_core::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<emissary_core::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}

impl<const CONFINED: bool> TcpStream for LoopbackStream<CONFINED> {
    async fn connect(address: SocketAddr) -> Option<Self> {
        if CONFINED && !address.ip().is_loopback() {
            tracing::warn!(%address, "loopback I2P router refused to dial off the machine");
            return None;
        }
        <RtStream as TcpStream>::connect(address).await.map(Self)
    }
}

/// A TCP listener of a loopback router.
pub struct LoopbackListener<const CONFINED: bool>(RtListener);

impl<const CONFINED: bool> TcpListener<LoopbackStream<CONFINED>> for LoopbackListener<CONFINED> {
    async fn bind(address: SocketAddr) -> Option<Self> {
        <RtListener as TcpListener<RtStream>>::bind(on_loopback(address))
            .await
            .map(Self)
    }

    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(LoopbackStream<CONFINED>, SocketAddr)>> {
        self.0
            .poll_accept(cx)
            .map(|accepted| accepted.map(|(s, from)| (LoopbackStream(s), from)))
    }

    fn local_address(&self) -> Option<SocketAddr> {
        self.0.local_address()
    }
}

impl<const CONFINED: bool> Runtime for LoopbackRuntime<CONFINED> {
    type TcpStream = LoopbackStream<CONFINED>;
    type UdpSocket = <Rt as Runtime>::UdpSocket;
    type TcpListener = LoopbackListener<CONFINED>;
    type JoinSet<T: Send + 'static> = <Rt as Runtime>::JoinSet<T>;
    type MetricsHandle = <Rt as Runtime>::MetricsHandle;
    type Instant = <Rt as Runtime>::Instant;
    type Timer = <Rt as Runtime>::Timer;

    fn spawn<F>(future: F)
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        Rt::spawn(future)
    }

    fn time_since_epoch() -> Duration {
        Rt::time_since_epoch()
    }

    fn now() -> Self::Instant {
        Rt::now()
    }

    fn rng() -> impl rand::CryptoRng + rand::RngExt {
        Rt::rng()
    }

    fn join_set<T: Send + 'static>() -> Self::JoinSet<T> {
        Rt::join_set()
    }

    fn register_metrics(metrics: Vec<MetricType>, port: Option<u16>) -> Self::MetricsHandle {
        Rt::register_metrics(metrics, port)
    }

    fn timer(duration: Duration) -> Self::Timer {
        Rt::timer(duration)
    }

    fn delay(duration: Duration) -> impl Future<Output = ()> + Send {
        Rt::delay(duration)
    }

    fn gzip_compress(bytes: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        Rt::gzip_compress(bytes)
    }

    fn gzip_decompress(bytes: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        Rt::gzip_decompress(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_becomes_loopback_and_nothing_else_changes() {
        let v4: SocketAddr = "0.0.0.0:7".parse().expect("addr");
        let v6: SocketAddr = "[::]:7".parse().expect("addr");
        let lan: SocketAddr = "192.0.2.1:7".parse().expect("addr");
        assert_eq!(on_loopback(v4), "127.0.0.1:7".parse().expect("addr"));
        assert_eq!(on_loopback(v6), "[::1]:7".parse().expect("addr"));
        assert_eq!(on_loopback(lan), lan);
    }

    #[tokio::test]
    async fn listeners_bind_loopback_and_dials_stay_on_the_machine() {
        let any: SocketAddr = "0.0.0.0:0".parse().expect("addr");
        let listener = <LoopbackListener<true> as TcpListener<LoopbackStream<true>>>::bind(any)
            .await
            .expect("bind");
        let local = listener.local_address().expect("local");
        assert!(local.ip().is_loopback(), "{local}");
        let off_machine: SocketAddr = "192.0.2.1:9".parse().expect("addr");
        assert!(LoopbackStream::<true>::connect(off_machine).await.is_none());
        assert!(LoopbackStream::<true>::connect(local).await.is_some());
        // Unconfined, the same listener rewrite applies, and loopback dials work too.
        assert!(LoopbackStream::<false>::connect(local).await.is_some());
    }
}
