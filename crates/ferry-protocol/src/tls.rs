//! TLS for ferry's endpoints, with rustls and ring's cryptography: a
//! server's certificate and key (reloaded when their files change), the CA a
//! client trusts, and mutual TLS on request. Files are PEM. The protocol
//! inside is HTTP/2 either way, agreed by ALPN.
//!
//! ```no_run
//! use ferry_protocol::tls::{ClientTls, ServerTls};
//!
//! let server = ServerTls {
//!     cert: "worker.pem".into(),
//!     key: "worker.key".into(),
//!     client_ca: None,
//! }
//! .load()?;
//! let client = ClientTls { ca: "ca.pem".into(), identity: None }.config()?;
//! # let _ = (server, client);
//! # Ok::<(), ferry_protocol::tls::TlsError>(())
//! ```

use crate::watched::Watched;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read, or holds nothing of the kind wanted.
    #[error("cannot read {what} from {path}: {reason}")]
    Read {
        /// What was wanted, e.g. `certificates`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The pieces do not make a configuration (a key that is not the
    /// certificate's, say).
    #[error("the TLS files do not fit together: {0}")]
    Config(String),
}

/// ring's cryptography, which the signatures of `signature.rs` use too.
/// rustls now marks it deprecated because it lacks post-quantum key
/// exchange; aws-lc-rs has it, at the price of a large C build in every
/// cold CI run. The choice is this one function.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(error: impl std::fmt::Display) -> TlsError {
    TlsError::Config(error.to_string())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |reason: String| TlsError::Read {
        what: "certificates",
        path: path.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certificates.is_empty() {
        return Err(read("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Read {
        what: "a private key",
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots.add(certificate).map_err(config_error)?;
    }
    Ok(roots)
}

/// A server's TLS files.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// Its certificate chain, leaf first.
    pub cert: PathBuf,
    /// The certificate's private key.
    pub key: PathBuf,
    /// With mutual TLS: the CA whose certificates clients must present.
    pub client_ca: Option<PathBuf>,
}

/// A server's TLS configuration, made again when its files change.
pub type ServerTlsConfig = Watched<ServerConfig, TlsError>;

impl ServerTls {
    /// Reads the files now, and again on the first connection after any of
    /// them changes.
    pub fn load(&self) -> Result<ServerTlsConfig, TlsError> {
        let mut paths = vec![self.cert.clone(), self.key.clone()];
        paths.extend(self.client_ca.clone());
        Watched::new(paths, |paths| {
            server_config(&paths[0], &paths[1], paths.get(2))
        })
    }
}

fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&PathBuf>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?;
    let builder = match client_ca {
        Some(ca) => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                .build()
                .map_err(config_error)?,
        ),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificates(cert)?, private_key(key)?)
        .map_err(config_error)?;
    // HTTP/1.1 for callers of deployed functions that do not speak HTTP/2.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// What a client trusts, and what it shows for mutual TLS.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// The CA that signed the servers' certificates.
    pub ca: PathBuf,
    /// For mutual TLS: the client's certificate chain and its key.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// The client configuration.
    pub fn config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_root_certificates(roots(&self.ca)?);
        let mut config = match &self.identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(certificates(cert)?, private_key(key)?)
                .map_err(config_error)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Accepts a TLS connection on `stream` if its handshake ends within
/// `within`; otherwise says why, in one line.
///
/// A client the handshake refuses (with TLS 1.3, for lacking a certificate:
/// it learns only after it has sent its first request) is sent an alert
/// saying why. Closing a socket with the client's bytes unread would reset
/// the connection, and a reset throws the alert away before the client
/// reads it, so what the client sends is read, for a moment, before the
/// close.
pub async fn accept(
    config: Arc<ServerConfig>,
    stream: TcpStream,
    within: Duration,
) -> Result<TlsStream<TcpStream>, String> {
    let handshake = tokio_rustls::TlsAcceptor::from(config)
        .accept(stream)
        .into_fallible();
    match tokio::time::timeout(within, handshake).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err((error, mut stream))) => {
            let _ = stream.shutdown().await;
            let mut sink = [0u8; 4096];
            let drain = async { while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {} };
            let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
            Err(format!("TLS handshake failed: {error}"))
        }
        Err(_) => Err(format!("no TLS handshake within {within:?}")),
    }
}
