//! A Ballista executor that runs ferry functions it receives in plans.

use crate::ClusterTls;
use crate::tls::endpoint_override;
use crate::{Error, FerryCodec, NativeFunctions};
use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::error::BallistaError;
use ballista_core::extension::{EndpointOverrideFn, SessionConfigExt};
use ballista_executor::ArrowFlightServerProvider;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::flight_service::BallistaFlightService;
use ballista_executor::shutdown::Shutdown;
use datafusion::prelude::SessionConfig;
use ferry_host::{BlobStore, Runtime, RuntimeConfig, Sandbox};
use ferry_protocol::signature::TrustedKeys;
use ferry_sql::WasmFunctions;
use ferry_stores::Allowed;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How an executor is set up.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// The scheduler, as `host:port`: where the executor asks for work and
    /// fetches the code it lacks.
    pub scheduler: String,
    /// The token the scheduler's code endpoints expect.
    pub token: String,
    /// The address to serve Arrow Flight on (results and shuffle data for
    /// other executors), as host and port.
    pub bind_host: String,
    /// The Flight port.
    pub flight_port: u16,
    /// The host name others reach this executor at; `bind_host` if `None`.
    pub advertise: Option<String>,
    /// Tasks run at once.
    pub slots: usize,
    /// Where fetched code and its compiled form are kept.
    pub store: BlobStore,
    /// Where shuffle files go.
    pub work_dir: PathBuf,
    /// What guests may do, and their limits.
    pub sandbox: Sandbox,
    /// TLS for the Flight port and for connections to the scheduler and to
    /// other executors.
    pub tls: Option<ClusterTls>,
    /// Serve cleartext on an address other than loopback.
    pub insecure: bool,
    /// With keys, only functions whose module one of them signed run; the
    /// signatures come in the plan (`ferry sign`, [`Credentials`](crate::Credentials)).
    pub trust: Option<TrustedKeys>,
    /// Functions compiled into every process of the cluster.
    pub native: NativeFunctions,
    /// The objects (`s3://bucket/prefix/`, `file:///dir/`) functions may
    /// name as blobs, read by this executor with its own credentials; none
    /// by default. A function naming any other is refused.
    pub objects: Vec<String>,
}

/// The most bytes read of one object a function names, as a worker's
/// default.
const MAX_OBJECT: u64 = 1 << 30;

/// Runs an executor until SIGINT or SIGTERM (Ballista handles both), or
/// until it cannot reach the scheduler.
///
/// ```no_run
/// use ferry_ballista::{ExecutorConfig, NativeFunctions, run_executor};
/// use ferry_host::{BlobStore, Sandbox};
///
/// # async fn demo() -> Result<(), ferry_ballista::Error> {
/// run_executor(ExecutorConfig {
///     scheduler: "127.0.0.1:50050".into(),
///     token: "s3cret".into(),
///     bind_host: "127.0.0.1".into(),
///     flight_port: 50051,
///     advertise: None,
///     slots: 2,
///     store: BlobStore::open("/tmp/ferry-executor")?,
///     work_dir: "/tmp/ferry-executor/work".into(),
///     sandbox: Sandbox::default(),
///     tls: None,
///     insecure: false,
///     trust: None,
///     native: NativeFunctions::default(),
///     objects: vec!["s3://lookups/".into()],
/// })
/// .await
/// # }
/// ```
pub async fn run_executor(config: ExecutorConfig) -> Result<(), Error> {
    let (scheduler_host, scheduler_port) = crate::error::scheduler_address(&config.scheduler)?;
    let loopback = config.bind_host == "localhost"
        || (config.bind_host.parse::<std::net::IpAddr>()).is_ok_and(|ip| ip.is_loopback());
    if config.tls.is_none() && !config.insecure && !loopback {
        return Err(Error::Cleartext(config.bind_host));
    }
    let client_tls = config.tls.as_ref().map(ClusterTls::client);
    let endpoint = client_tls.as_ref().map(endpoint_override).transpose()?;
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(config.store))?)
        .with_sandbox(config.sandbox)
        .with_objects(Arc::new(Allowed::new(
            &config.objects,
            MAX_OBJECT,
            "ferry executor --objects",
        )));
    let mut codec = FerryCodec::executor(
        functions,
        &format!("{scheduler_host}:{scheduler_port}"),
        &config.token,
        client_tls.as_ref(),
    )?;
    if let Some(keys) = config.trust {
        codec = codec.with_trust(keys);
    }
    let codec = Arc::new(codec);
    std::fs::create_dir_all(&config.work_dir).map_err(|source| ferry_host::Error::Io {
        action: "cannot make the work directory",
        path: config.work_dir.clone(),
        source,
    })?;
    let ballista = ExecutorProcessConfig {
        external_host: Some(config.advertise.unwrap_or_else(|| config.bind_host.clone())),
        bind_host: config.bind_host,
        port: config.flight_port,
        scheduler_host,
        scheduler_port,
        // The scheduler may still be starting.
        scheduler_connect_timeout_seconds: 30,
        vcores: config.slots.max(1),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(config.work_dir.to_string_lossy().into_owned()),
        override_runtime_producer: Some(crate::stores::runtime_producer(config.work_dir.clone())),
        override_logical_codec: Some(codec.clone()),
        override_physical_codec: Some(codec),
        override_function_registry: Some(Arc::new(config.native.registry()?)),
        ..Default::default()
    };
    let ballista = match (&config.tls, endpoint) {
        (Some(tls), Some(endpoint)) => secured(ballista, tls, endpoint)?,
        _ => ballista,
    };
    Ok(start_executor_process(Arc::new(ballista)).await?)
}

/// `ballista` with TLS: its Flight server serves it, and its connections (to
/// the scheduler; to other executors, for shuffle data) speak it.
fn secured(
    ballista: ExecutorProcessConfig,
    tls: &ClusterTls,
    endpoint: EndpointOverrideFn,
) -> Result<ExecutorProcessConfig, Error> {
    let server = Arc::new(tls.server().load()?);
    let (max_decoding, max_encoding) = (
        ballista.grpc_max_decoding_message_size as usize,
        ballista.grpc_max_encoding_message_size as usize,
    );
    let flight: Arc<ArrowFlightServerProvider> =
        Arc::new(move |work_dir, address, mut shutdown: Shutdown, _| {
            let server = server.clone();
            tokio::spawn(async move {
                let listener = TcpListener::bind(address)
                    .await
                    .map_err(BallistaError::IoError)?;
                let mut routes = tonic::service::RoutesBuilder::default();
                routes.add_service(
                    FlightServiceServer::new(BallistaFlightService::new(work_dir))
                        .max_decoding_message_size(max_decoding)
                        .max_encoding_message_size(max_encoding),
                );
                let router = routes.routes().into_axum_router();
                crate::tls::serve(
                    listener,
                    router,
                    server,
                    async move { shutdown.recv().await },
                )
                .await;
                Ok(())
            })
        });
    let tasks_endpoint = endpoint.clone();
    Ok(ExecutorProcessConfig {
        override_arrow_flight_service: Some(flight),
        override_create_grpc_client_endpoint: Some(endpoint),
        // Each task's session: shuffle reads from other executors go over
        // TLS too.
        override_config_producer: Some(Arc::new(move || {
            SessionConfig::new_with_ballista()
                .with_ballista_use_tls(true)
                .with_ballista_override_create_grpc_client_endpoint(tasks_endpoint.clone())
        })),
        ..ballista
    })
}
