//! One client connection, from `accept` to close: its TLS handshake, how
//! long it may take to say anything, which of the worker's connection
//! permits it holds, and how a drain ends it.
//!
//! A connection that has not yet sent a request costs the worker a
//! descriptor and proves nothing, so it is *pending*: pending connections
//! have permits of their own, and each must send its first request within
//! the handshake time-out or be closed. Only then does it take one of the
//! permits for established connections, which clients doing work hold. So
//! connections that never speak can neither starve the clients that do nor
//! hold up a shutdown.

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// The permits of a worker's connections.
pub(crate) struct Permits {
    /// Connections accepted that have not sent a request yet.
    pub pending: Arc<Semaphore>,
    /// Connections that have.
    pub established: Arc<Semaphore>,
}

impl Permits {
    /// `max` pending and `max` established connections.
    pub fn new(max: usize) -> Permits {
        Permits {
            pending: Arc::new(Semaphore::new(max)),
            established: Arc::new(Semaphore::new(max)),
        }
    }
}

/// What a connection's requests share: whether one has arrived, and the
/// permits it holds.
struct Standing {
    spoke: AtomicBool,
    pending: Mutex<Option<OwnedSemaphorePermit>>,
    established: Mutex<Option<OwnedSemaphorePermit>>,
}

/// How the worker serves its connections.
pub(crate) struct Server {
    pub http: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    pub graceful: GracefulShutdown,
    pub state: Arc<crate::State>,
    pub established: Arc<Semaphore>,
    pub handshake: Duration,
    pub stopping: watch::Receiver<bool>,
}

/// Serves one accepted connection until it ends, is closed for saying
/// nothing within the handshake time-out, or is closed by a drain before it
/// said anything. `pending` is the permit taken to accept it. With `tls`,
/// the TLS handshake comes first, and must also end within the time-out.
pub(crate) fn serve(
    server: &Server,
    stream: TcpStream,
    peer: SocketAddr,
    pending: OwnedSemaphorePermit,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let connection = Connection {
        http: server.http.clone(),
        watcher: server.graceful.watcher(),
        state: server.state.clone(),
        established: server.established.clone(),
        handshake: server.handshake,
        stopping: server.stopping.clone(),
        standing: Arc::new(Standing {
            spoke: AtomicBool::new(false),
            pending: Mutex::new(Some(pending)),
            established: Mutex::new(None),
        }),
    };
    async move {
        let Some(tls) = tls else {
            return connection.run(stream, peer).await;
        };
        match ferry_protocol::tls::accept(tls, stream, connection.handshake).await {
            Ok(stream) => connection.run(stream, peer).await,
            Err(error) => tracing::debug!(%peer, %error, "closed"),
        }
    }
}

/// What serving one connection needs of the server.
struct Connection {
    http: hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    state: Arc<crate::State>,
    established: Arc<Semaphore>,
    handshake: Duration,
    stopping: watch::Receiver<bool>,
    standing: Arc<Standing>,
}

impl Connection {
    async fn run<S>(self, stream: S, peer: SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            http,
            watcher,
            state,
            established,
            handshake,
            mut stopping,
            standing,
        } = self;
        let service = {
            let standing = standing.clone();
            hyper::service::service_fn(move |request: http::Request<Incoming>| {
                let state = state.clone();
                let standing = standing.clone();
                let established = established.clone();
                async move {
                    if !standing.spoke.swap(true, Ordering::AcqRel) {
                        // The first request: from pending to established,
                        // waiting for a permit if every one is held.
                        if let Ok(permit) = established.acquire_owned().await {
                            *standing.established.lock() = Some(permit);
                        }
                        standing.pending.lock().take();
                    }
                    crate::handler::handle(state, request).await
                }
            })
        };
        let connection = watcher.watch(http.serve_connection(TokioIo::new(stream), service));
        let deadline = tokio::time::sleep(handshake);
        tokio::pin!(connection, deadline);
        let mut waiting_for_first_request = true;
        let mut drained = false;
        let silent = |standing: &Standing| !standing.spoke.load(Ordering::Acquire);
        loop {
            tokio::select! {
                ended = &mut connection => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                    break;
                }
                () = &mut deadline, if waiting_for_first_request => {
                    if silent(&standing) {
                        tracing::debug!(%peer, ?handshake, "closed: no request within the handshake time-out");
                        break;
                    }
                    waiting_for_first_request = false;
                }
                changed = stopping.changed(), if !drained => {
                    drained = true;
                    // A drain lets requests in flight finish (the graceful
                    // watch sees to that); a connection that never asked
                    // for anything has nothing to finish.
                    if changed.is_err() || silent(&standing) {
                        break;
                    }
                }
            }
        }
        // Dropping the connection closes it; dropping `standing`'s last
        // reference gives back its permit.
    }
}
