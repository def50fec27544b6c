//! A Ballista scheduler that also serves the code its executors fetch.

use crate::ClusterTls;
use crate::tls::endpoint_override;
use crate::{Error, FerryCodec, NativeFunctions};
use arrow_flight::flight_service_server::FlightServiceServer;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::flight_proxy_service::BallistaFlightProxyService;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::scheduler_process::create_scheduler;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use ferry_host::{Runtime, RuntimeConfig};
use ferry_protocol::tls::ServerTlsConfig;
use ferry_sql::WasmFunctions;
use ferry_worker::{WorkerConfig, WorkerService};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How a scheduler is set up.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The address executors and clients connect to, for Ballista's gRPC
    /// and ferry's code alike.
    pub listen: SocketAddr,
    /// The host name executors and clients are told to reach the scheduler
    /// at; the listening address's IP if `None`.
    pub advertise: Option<String>,
    /// ferry's side: the token, the store clients upload code to, its size
    /// bound and the largest upload (its `listen`, `tls` and `insecure` are
    /// not used: this config's are).
    pub worker: WorkerConfig,
    /// TLS for everything on the port, and for the scheduler's own
    /// connections to executors (results it passes on to clients).
    pub tls: Option<ClusterTls>,
    /// Serve cleartext on an address other than loopback.
    pub insecure: bool,
    /// How long an executor may be silent before its tasks are given to
    /// others.
    pub executor_timeout: Duration,
    /// Functions compiled into every process of the cluster.
    pub native: NativeFunctions,
}

impl SchedulerConfig {
    /// Defaults: 127.0.0.1:50050, Ballista's executor timeout.
    pub fn new(worker: WorkerConfig) -> SchedulerConfig {
        let ballista = ballista_scheduler::config::SchedulerConfig::default();
        SchedulerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 50050)),
            advertise: None,
            worker,
            tls: None,
            insecure: false,
            executor_timeout: Duration::from_secs(ballista.executor_timeout_seconds),
            native: NativeFunctions::default(),
        }
    }
}

/// A bound scheduler: Ballista's scheduler with ferry's codec, and on the
/// same port the worker protocol's endpoints (`docs/protocol.md`), where
/// clients upload code and executors fetch it, by hash, with the token;
/// all over TLS if the config has [`ClusterTls`].
///
/// ```no_run
/// use ferry_ballista::{Scheduler, SchedulerConfig};
/// use ferry_host::BlobStore;
/// use ferry_worker::WorkerConfig;
///
/// # async fn demo() -> Result<(), ferry_ballista::Error> {
/// let worker = WorkerConfig::new("s3cret".into(), BlobStore::open("/tmp/ferry-scheduler")?);
/// let scheduler = Scheduler::bind(SchedulerConfig::new(worker)).await?;
/// println!("scheduler on {}", scheduler.local_addr());
/// scheduler.serve(async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// # Ok(()) }
/// ```
pub struct Scheduler {
    listener: TcpListener,
    router: axum::Router,
    tls: Option<Arc<ServerTlsConfig>>,
}

impl Scheduler {
    /// Binds the listener and starts Ballista's scheduler (its event loop
    /// runs on the current async runtime from now on).
    pub async fn bind(config: SchedulerConfig) -> Result<Scheduler, Error> {
        if config.tls.is_none() && !config.insecure && !config.listen.ip().is_loopback() {
            return Err(Error::Cleartext(config.listen.ip().to_string()));
        }
        let tls = config
            .tls
            .as_ref()
            .map(|tls| Ok::<_, Error>((tls.server().load()?, endpoint_override(&tls.client())?)))
            .transpose()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let store = config.worker.store.clone();
        let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(store))?)
            .with_sandbox(config.worker.sandbox.clone());
        let codec = Arc::new(FerryCodec::scheduler(functions)?);
        let timeout = config.executor_timeout.as_secs().max(2);
        let native = config.native.clone();
        let registry = Arc::new(ferry_sql::stores::StoreRegistry::default());
        let ballista = ballista_scheduler::config::SchedulerConfig {
            bind_host: addr.ip().to_string(),
            bind_port: addr.port(),
            external_host: config
                .advertise
                .clone()
                .unwrap_or_else(|| addr.ip().to_string()),
            // Executors ask for work: only they connect to the scheduler.
            scheduling_policy: TaskSchedulingPolicy::PullStaged,
            // Clients fetch results through the scheduler, so they need
            // its address alone.
            enable_embedded_flight_proxy: true,
            executor_timeout_seconds: timeout,
            expire_dead_executor_interval_seconds: (timeout / 3).clamp(1, 15),
            no_executors_grace_period_seconds: timeout,
            override_logical_codec: Some(codec.clone()),
            override_physical_codec: Some(codec),
            override_session_builder: Some(Arc::new(move |session| {
                crate::stores::with_stores(native.session_state(session)?, &registry)
            })),
            use_tls: tls.is_some(),
            override_create_grpc_client_endpoint: tls.as_ref().map(|(_, client)| client.clone()),
            ..Default::default()
        };
        let (max_decoding, max_encoding) = (
            ballista.grpc_server_max_decoding_message_size as usize,
            ballista.grpc_server_max_encoding_message_size as usize,
        );
        let cluster = BallistaCluster::new_from_config(&ballista).await?;
        let server =
            create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(ballista))
                .await?;

        let mut routes = tonic::service::RoutesBuilder::default();
        routes.add_service(
            SchedulerGrpcServer::new(server)
                .max_decoding_message_size(max_decoding)
                .max_encoding_message_size(max_encoding),
        );
        routes.add_service(
            FlightServiceServer::new(BallistaFlightProxyService::new(
                max_decoding,
                max_encoding,
                tls.is_some(),
                tls.as_ref()
                    .map(|(_, client)| Arc::new(BallistaConfigGrpcEndpoint::new(client.clone()))),
            ))
            .max_decoding_message_size(max_decoding)
            .max_encoding_message_size(max_encoding),
        );
        // Whatever is not Ballista's gRPC is ferry's code endpoints, and
        // only those: the scheduler runs no guest, so the worker's run,
        // function and actor endpoints stay shut here.
        let code = WorkerService::new(config.worker)?;
        let router =
            routes
                .routes()
                .into_axum_router()
                .fallback(move |request: axum::extract::Request| {
                    let code = code.clone();
                    async move {
                        let path = request.uri().path();
                        let code_path = path == ferry_protocol::MISSING
                            || path == ferry_protocol::HEALTH
                            || path.starts_with(ferry_protocol::BLOBS);
                        if code_path {
                            code.handle(request).await
                        } else {
                            let message = format!("{path} is not served by a scheduler");
                            axum::http::Response::builder()
                                .status(axum::http::StatusCode::NOT_FOUND)
                                .body(ferry_protocol::Body::new(message.into_bytes()))
                                .expect("a valid response")
                        }
                    }
                });
        Ok(Scheduler {
            listener,
            router,
            tls: tls.map(|(server, _)| Arc::new(server)),
        })
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests
    /// finish.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        match self.tls {
            Some(tls) => {
                crate::tls::serve(self.listener, self.router, tls, shutdown).await;
                Ok(())
            }
            None => axum::serve(self.listener, self.router)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(Error::Serve),
        }
    }
}
