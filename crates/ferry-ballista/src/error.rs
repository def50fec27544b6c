//! What can go wrong setting up a cluster's processes.

use std::net::SocketAddr;

/// Why a scheduler, executor or client could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading, storing or fetching code failed in ferry.
    #[error(transparent)]
    Ferry(#[from] ferry_host::Error),
    /// The functions could not be set up.
    #[error(transparent)]
    Sql(#[from] ferry_sql::Error),
    /// The worker endpoints the scheduler serves could not be set up.
    #[error(transparent)]
    Worker(#[from] ferry_worker::WorkerError),
    /// A client could not reach the scheduler's code endpoints, or they
    /// refused it.
    #[error(
        "cannot use the scheduler at {address}: {source}{}",
        if *.hint { " (if the cluster speaks TLS, give its CA: --tls-ca)" } else { "" }
    )]
    Scheduler {
        /// The scheduler, as `host:port`.
        address: String,
        /// Whether the client spoke cleartext and the connection failed,
        /// as it does against a TLS server.
        hint: bool,
        /// What failed.
        source: ferry_host::Error,
    },
    /// Cleartext was asked for off loopback without `insecure`.
    #[error(
        "refusing to serve cleartext on {0}, which is not a loopback address: give TLS files \
         (--tls-cert, --tls-key, --tls-ca) or say --insecure"
    )]
    Cleartext(String),
    /// The TLS files could not be read or do not fit together.
    #[error(transparent)]
    Tls(#[from] ferry_protocol::tls::TlsError),
    /// Ballista refused or failed.
    #[error("ballista: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// DataFusion refused.
    #[error(transparent)]
    DataFusion(#[from] datafusion::common::DataFusionError),
    /// A scheduler address that is not `host:port` or `df://host:port`.
    #[error("`{address}` is not a scheduler address (df://host:port or host:port): {reason}")]
    Address {
        /// What was given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("the scheduler stopped serving: {0}")]
    Serve(std::io::Error),
    /// An executor that runs only signed code was sent a function whose
    /// module no key it trusts has signed.
    #[error(
        "function `{function}`: module {module} is not signed by a key this executor trusts; \
         sign it with `ferry sign` and send the signature with the query (MODULE.sig beside \
         --functions, or --signatures)"
    )]
    Untrusted {
        /// The function's SQL name.
        function: String,
        /// The module's hash.
        module: ferry_host::ContentHash,
    },
    /// Functions that travel between processes need a store to keep their
    /// code in.
    #[error("the functions have no store: make their runtime with `RuntimeConfig::with_store`")]
    NoStore,
}

/// A scheduler address, `df://host:port`, `http://host:port` or
/// `host:port`, as its host and port.
pub(crate) fn scheduler_address(address: &str) -> Result<(String, u16), Error> {
    let bad = |reason: &str| Error::Address {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let authority = address
        .trim_start_matches("df://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("it has no port"))?;
    let port = port.parse().map_err(|_| bad("the port is not a number"))?;
    if host.is_empty() {
        return Err(bad("it has no host"));
    }
    Ok((host.to_owned(), port))
}
