//! TLS between a cluster's processes: Ballista's gRPC, Arrow Flight (results
//! and shuffle data) and ferry's code endpoints, all with one set of files.
//!
//! Ballista leaves TLS to whoever embeds it: its clients take a hook that
//! may change each gRPC endpoint before connecting, and an executor takes a
//! Flight server of the embedder's making. ferry fills both: the hook adds
//! a rustls configuration trusting the cluster's CA, and the servers (the
//! scheduler's one port, each executor's Flight port) accept TLS with the
//! process's certificate, read again when its files change.

use crate::Error;
use ballista_core::extension::EndpointOverrideFn;
use ferry_protocol::tls::{ClientTls, ServerTls, ServerTlsConfig};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The TLS files of one process of a cluster: its certificate, and the CA
/// that signed every process's certificate (PEM files).
///
/// Each process serves with its certificate and checks its peers' against
/// the CA. With `mutual`, servers also require a certificate from the CA of
/// every client, and clients present theirs: then only holders of the
/// cluster's certificates can reach Ballista's gRPC, which has no token.
///
/// ```
/// use ferry_ballista::ClusterTls;
///
/// let tls = ClusterTls {
///     cert: "executor.pem".into(),
///     key: "executor.key".into(),
///     ca: "cluster-ca.pem".into(),
///     mutual: true,
/// };
/// # let _ = tls;
/// ```
#[derive(Clone, Debug)]
pub struct ClusterTls {
    /// This process's certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The CA that signed the cluster's certificates.
    pub ca: PathBuf,
    /// Whether clients must show a certificate from `ca` too.
    pub mutual: bool,
}

impl ClusterTls {
    /// How this process serves.
    pub(crate) fn server(&self) -> ServerTls {
        ServerTls {
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_ca: self.mutual.then(|| self.ca.clone()),
        }
    }

    /// How this process connects to the others.
    pub(crate) fn client(&self) -> ClientTls {
        ClientTls {
            ca: self.ca.clone(),
            identity: self.mutual.then(|| (self.cert.clone(), self.key.clone())),
        }
    }
}

/// Ballista's endpoint hook, adding TLS trusting `tls.ca` (and showing
/// `tls.identity`) to every gRPC endpoint it connects to.
pub(crate) fn endpoint_override(tls: &ClientTls) -> Result<EndpointOverrideFn, Error> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| ferry_host::Error::Io {
            action: "cannot read TLS file",
            path: path.clone(),
            source,
        })
    };
    // rustls reads the files first, so that a bad one is an error now,
    // naming it, rather than a refused connection later.
    tls.config()?;
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(Arc::new(move |endpoint: Endpoint| {
        // An executor names its scheduler `http://` whatever the hook does,
        // and tonic speaks TLS only to `https://`: such an endpoint is made
        // again with the secure scheme.
        let endpoint = match endpoint.uri().scheme_str() {
            Some("https") => endpoint,
            _ => secure(&endpoint)?,
        };
        Ok(endpoint.tls_config(config.clone())?)
    }))
}

/// `endpoint` with `https://`, and the settings Ballista gives its own.
fn secure(endpoint: &Endpoint) -> Result<Endpoint, tonic::transport::Error> {
    let uri = endpoint.uri();
    let authority = uri.authority().map_or("", |a| a.as_str());
    Ok(Endpoint::from_shared(format!("https://{authority}"))?
        .connect_timeout(Duration::from_secs(20))
        .tcp_nodelay(true)
        .tcp_keepalive(Some(Duration::from_secs(3600)))
        .http2_keep_alive_interval(Duration::from_secs(300))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true))
}

/// How long a connection has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` over TLS until `shutdown` resolves, then
/// lets requests in flight finish. A client that fails its handshake is
/// dropped; the server goes on.
pub(crate) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    tls: Arc<ServerTlsConfig>,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/2 for gRPC and ferry's clients, HTTP/1.1 for health checks: the
    // certificate's ALPN offers both.
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1().timer(hyper_util::rt::TokioTimer::new());
    http.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, typically: pause rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Certificates renewed on disk apply from the next connection on.
        let config = tls.get();
        let service = TowerToHyperService::new(router.clone());
        let (http, watcher) = (http.clone(), graceful.watcher());
        tokio::spawn(async move {
            let stream = match ferry_protocol::tls::accept(config, stream, HANDSHAKE).await {
                Ok(stream) => stream,
                Err(error) => return tracing::debug!(%peer, %error, "closed"),
            };
            let connection = http.serve_connection(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
    graceful.shutdown().await;
}
