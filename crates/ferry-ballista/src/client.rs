//! A client session whose queries run on the cluster.

use crate::{Error, FerryCodec};
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;
use ferry_protocol::signature::ModuleSignature;
use ferry_protocol::tls::ClientTls;
use ferry_sql::WasmFunctions;
use std::sync::Arc;

/// What a client shows the cluster.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// The token the scheduler's code endpoints expect.
    pub token: String,
    /// Signatures of the client's modules (`ferry sign`), sent in the plan
    /// with the functions of each, for executors that run only signed code.
    pub signatures: Vec<ModuleSignature>,
    /// For a cluster that speaks TLS: the CA that signed its certificates,
    /// and the client's own certificate if the cluster asks for one.
    pub tls: Option<ClientTls>,
}

impl Credentials {
    /// A token and no signatures.
    pub fn token(token: impl Into<String>) -> Credentials {
        Credentials {
            token: token.into(),
            signatures: Vec::new(),
            tls: None,
        }
    }
}

/// A session whose queries run on the Ballista cluster at `scheduler`
/// (`df://host:port`), with ferry functions made by `functions`: register
/// them on it, or `CREATE FUNCTION`, as on a local session. Each function's
/// code is uploaded to the scheduler the first time a plan uses it, with
/// the credentials' token; the executors fetch it from there.
///
/// Tables must be files every executor can read (Parquet, CSV, ...), or
/// objects in a store (`s3://`) that the executors open with their own
/// credentials: tables in the client's memory do not travel.
///
/// ```no_run
/// use ferry_ballista::Credentials;
/// use ferry_host::{BlobStore, Module, Runtime, RuntimeConfig};
/// use ferry_sql::WasmFunctions;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let store = BlobStore::open_default()?;
/// let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(store))?);
/// let credentials = Credentials::token("s3cret");
/// let ctx = ferry_ballista::connect("df://127.0.0.1:50050", &functions, Default::default(), &credentials)?;
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_udfs.wasm")?;
/// functions.register_module(&ctx, &module)?;
/// ctx.sql("SELECT gcd(12, 18)").await?.show().await?;
/// # Ok(()) }
/// ```
pub fn connect(
    scheduler: &str,
    functions: &WasmFunctions,
    config: SessionConfig,
    credentials: &Credentials,
) -> Result<SessionContext, Error> {
    let (host, port) = crate::error::scheduler_address(scheduler)?;
    let codec = Arc::new(
        FerryCodec::client(
            functions.clone(),
            &format!("{host}:{port}"),
            &credentials.token,
            credentials.tls.as_ref(),
        )?
        .with_signatures(credentials.signatures.iter().cloned()),
    );
    let mut config = config
        .with_ballista_logical_extension_codec(codec.clone())
        .with_ballista_physical_extension_codec(codec);
    let mut scheme = "http";
    if let Some(tls) = &credentials.tls {
        config = config
            .with_ballista_use_tls(true)
            .with_ballista_override_create_grpc_client_endpoint(crate::tls::endpoint_override(
                tls,
            )?);
        scheme = "https";
    }
    // The upgrade replaces the session's function lists with Ballista's;
    // ferry functions are registered afterwards, and CREATE FUNCTION's
    // factory is kept.
    let state = functions
        .session_with(config)
        .state()
        .upgrade_for_ballista(format!("{scheme}://{host}:{port}"))?;
    Ok(SessionContext::new_with_state(state))
}
