//! Serving HTTP/1 connections with bounds, written once for every server
//! of the project (`api-local`, the demo's origins, the local edge, the
//! daemon's control API): [`Listener::serve`].
//!
//! - at most [`Limits::max_connections`] open at once: past it, accepting
//!   waits for one to close instead of taking file descriptors until none
//!   are left;
//! - a client has [`Limits::header_timeout`] to send a request's headers
//!   (the first request's and each kept-alive one's), so a trickled request
//!   cannot hold a connection forever; bodies get
//!   [`Limits::body_timeout`] from whoever reads them;
//! - an accept that fails (out of file descriptors, say) is retried after a
//!   pause that doubles up to a second, logged once per run of failures,
//!   instead of a loop that spins and floods the log;
//! - a request head hyper would refuse on its own, with a bare 400, 414 or
//!   431, is refused in the server's own words ([`guard`]);
//! - once told to stop, the server takes no new connection and gives those
//!   it has [`DRAIN`] to finish.
#![forbid(unsafe_code)]

pub mod guard;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cutover_base::Backoff;
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use guard::{refuse_as_json, Refusal, Refuse};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long connections have to finish once their server is told to stop.
pub const DRAIN: Duration = Duration::from_secs(10);

/// How long clients of these servers keep an idle connection: below
/// [`Limits::default`]'s header timeout, so a server never closes a
/// connection just as a client sends on it.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The bounds of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_connections: 4096, header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(10) }
    }
}

/// A listener that keeps to its [`Limits`].
pub struct Listener {
    inner: TcpListener,
    open: Arc<Semaphore>,
    limits: Limits,
    refuse: Refuse,
}

/// One accepted connection.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Kept for as long as the connection is served: the slot is free
    /// again when it is dropped.
    slot: Slot,
}

/// A connection's place among [`Limits::max_connections`].
struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Listener {
    /// A listener that refuses unreadable requests as JSON
    /// ([`refuse_as_json`]) unless told otherwise ([`Listener::refusing`]).
    pub fn new(inner: TcpListener, limits: Limits) -> Listener {
        let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        Listener { inner, open, limits, refuse: refuse_as_json() }
    }

    /// Words the refusals of requests that never reach the service.
    pub fn refusing(
        mut self,
        refuse: impl Fn(&Refusal) -> http::Response<bytes::Bytes> + Send + Sync + 'static,
    ) -> Listener {
        self.refuse = Arc::new(refuse);
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The next connection, once a slot is free; accept errors are waited
    /// out (see the module's doc), never returned.
    async fn accept(&self) -> Connection {
        // The semaphore is never closed: an error cannot come, and would
        // mean no slot ever again.
        let Ok(slot) = self.open.clone().acquire_owned().await else { return std::future::pending().await };
        let mut failures = 0u32;
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    if failures > 0 {
                        tracing::info!(failures, "accepting again");
                    }
                    let _ = stream.set_nodelay(true);
                    return Connection { stream, peer, slot: Slot(slot) };
                }
                Err(e) => {
                    if failures == 0 {
                        tracing::warn!(error = %e, "accept failed; retrying with a backoff");
                    }
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(ACCEPT_BACKOFF.after(failures)).await;
                }
            }
        }
    }

    /// Serves each connection with the service `make` gives for its peer,
    /// until `stopped` completes; then lets the connections finish (for up
    /// to [`DRAIN`]).
    pub async fn serve<S, B>(self, make: impl FnMut(SocketAddr) -> S, stopped: impl Future<Output = ()>)
    where
        S: Service<http::Request<Incoming>, Response = http::Response<B>, Future: Send, Error: Into<BoxError>>
            + Send
            + 'static,
        B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
    {
        self.serve_with(|stream, _| std::future::ready(Some(stream)), make, stopped).await
    }

    /// [`Listener::serve`], with a `handshake` (TLS, say) between accepting
    /// a connection and serving HTTP on it: a connection whose handshake
    /// gives nothing is dropped.
    pub async fn serve_with<F, I, S, B>(
        self,
        handshake: impl Fn(TcpStream, SocketAddr) -> F,
        mut make: impl FnMut(SocketAddr) -> S,
        stopped: impl Future<Output = ()>,
    ) where
        F: Future<Output = Option<I>> + Send + 'static,
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: Service<http::Request<Incoming>, Response = http::Response<B>, Future: Send, Error: Into<BoxError>>
            + Send
            + 'static,
        B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static,
    {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut stopped = std::pin::pin!(stopped);
        loop {
            let connection = tokio::select! {
                connection = self.accept() => connection,
                () = &mut stopped => break,
            };
            let (peer, slot) = (connection.peer, connection.slot);
            let shaken = handshake(connection.stream, peer);
            let service = make(peer);
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(self.limits.header_timeout);
            let refuse = self.refuse.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let Some(stream) = shaken.await else { return };
                let turns = Arc::new(guard::Turns::default());
                let io = TokioIo::new(guard::Guarded::new(stream, refuse, turns.clone()));
                if let Err(e) = watcher.watch(builder.serve_connection(io, turns.count(service))).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        tracing::info!("stopping: finishing the requests in flight");
        if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still in flight after {} s; stopping anyway", DRAIN.as_secs());
        }
    }
}

/// The pause after accept errors in a row: 10 ms, doubling, at most a
/// second.
pub const ACCEPT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_pause_doubles_to_a_second() {
        let pauses: Vec<u64> = (1..=9).map(|n| ACCEPT_BACKOFF.after(n).as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(ACCEPT_BACKOFF.after(u32::MAX), Duration::from_secs(1));
    }

    /// Past the limit, a connection waits until one closes.
    #[tokio::test]
    async fn past_the_limit_accepting_waits_for_a_slot() {
        let limits = Limits { max_connections: 1, ..Limits::default() };
        let listener = Listener::new(TcpListener::bind("127.0.0.1:0").await.unwrap(), limits);
        let address = listener.local_addr().unwrap();
        let _a = TcpStream::connect(address).await.unwrap();
        let first = listener.accept().await;
        let mut b = TcpStream::connect(address).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(second.is_err(), "a second connection was taken past the limit");
        drop(first);
        let mut second = listener.accept().await;
        second.stream.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        b.read_exact(&mut byte).await.unwrap();
        assert_eq!(&byte, b"x", "the waiting connection is the one served next");
    }
}
