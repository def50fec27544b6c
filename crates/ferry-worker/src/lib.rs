//! The ferry worker: a long-running server that receives closures and inputs
//! over the protocol of `docs/protocol.md`, runs them on a [`LocalExecutor`]
//! inside the sandbox, and sends back results, guest failures and captured
//! output.
//!
//! - Every request must carry a token the worker accepts; without one the
//!   answer is 401 and nothing is stored or run. Tokens have scopes (see
//!   [`Tokens`]); one without the scope an endpoint needs gets 403.
//! - With [`WorkerConfig::trust`] set, only modules signed by a trusted key
//!   run: others are refused (403) before they are compiled.
//! - A fixed number of execution slots: further requests wait in a queue
//!   (backpressure), they do not fail.
//! - Modules and blobs live in a content-addressed [`BlobStore`] on disk, with
//!   precompiled code beside them, so a restarted worker needs neither
//!   uploads nor compiles for code it has seen. The store has a size bound;
//!   the least recently written or used entries go first.
//! - TLS (rustls) when given a certificate, mutual TLS when given a client
//!   CA; cleartext only on loopback unless [`WorkerConfig::insecure`].
//! - Shutdown is graceful: no new connections, in-flight requests finish.
//!
//! ```no_run
//! use ferry_host::BlobStore;
//! use ferry_worker::{Worker, WorkerConfig};
//!
//! # async fn demo() -> Result<(), ferry_worker::WorkerError> {
//! let config = WorkerConfig::new("s3cret".into(), BlobStore::open("/tmp/ferry-worker")?);
//! let worker = Worker::bind(config).await?;
//! println!("listening on {}", worker.local_addr());
//! worker.serve(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod actors;
mod cache;
mod call_order;
mod connection;
mod endpoints;
mod handler;
mod objects;
mod shared_blobs;
mod tokens;

use cache::DiskCache;
use connection::{Permits, Server};
pub use ferry_protocol::TOKEN_ENV;
pub use handler::RequestBody;
use shared_blobs::SharedBlobs;
pub use tokens::{Scope, Scopes, TokenError, Tokens};

use ferry_host::runtime::Compiler;
use ferry_host::{
    Blob, BlobStore, Closure, ContentHash, Error, LocalExecutor, Lru, Module, Resolve, Runtime,
    RuntimeConfig, Sandbox,
};
use ferry_protocol::endpoint::{Deployed, Invoke};
use ferry_protocol::tls::{ServerTls, ServerTlsConfig, TlsError};
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;

/// How a worker is set up.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Where to listen; loopback unless told otherwise.
    pub listen: SocketAddr,
    /// The tokens requests may present, and what each allows.
    pub tokens: Tokens,
    /// Keys whose signatures make a module runnable; `None` runs any.
    pub trust: Option<ferry_protocol::signature::TrustedKeys>,
    /// The disk cache of modules, blobs and precompiled code.
    pub store: BlobStore,
    /// Calls run at once; further requests wait.
    pub slots: usize,
    /// The disk cache's size bound, in bytes.
    pub cache_limit: u64,
    /// The largest `run` request body accepted, in bytes.
    pub max_request: usize,
    /// HTTP function requests in the executor at once, running or
    /// waiting for a slot; more wait outside it. Their callers need no
    /// worker token, so they get a share of their own: however many come,
    /// the worker's own clients find at most this many ahead of them.
    /// [`FUNCTIONS_PER_SLOT`] per slot by default.
    pub function_slots: usize,
    /// The largest HTTP function request body accepted, in bytes; such
    /// bodies draw on a receiving budget of their own.
    pub max_function_body: usize,
    /// The largest blob accepted, in bytes; also the most read of one
    /// object.
    pub max_blob: u64,
    /// The objects (`s3://bucket/prefix/`, `file:///dir/`) the worker reads
    /// for closures and writes results to, with its own credentials; none
    /// by default. A closure or a request naming any other is refused.
    pub objects: Vec<String>,
    /// What guests may do. The worker adds its own actors as
    /// [`Grants::actors`](ferry_host::Grants::actors) unless this grants
    /// others.
    pub sandbox: Sandbox,
    /// Connections served at once; more wait to be accepted. Connections
    /// that have not sent a request yet have as many permits again of
    /// their own, so they cannot crowd out clients doing work.
    pub max_connections: usize,
    /// How long a new connection may take to send its first request before
    /// it is closed.
    pub handshake_timeout: std::time::Duration,
    /// How long a request body may send nothing before it is cut off.
    pub body_timeout: std::time::Duration,
    /// The largest module compiled, in bytes (see
    /// [`RuntimeConfig::max_module`]).
    pub max_module: u64,
    /// Where modules are compiled (see [`Compiler`]).
    pub compiler: Compiler,
    /// Whether an unseen module's first calls run on baseline code while
    /// optimized code is compiled in the background (see
    /// [`RuntimeConfig::baseline_first`]).
    pub baseline_first: bool,
    /// TLS on the listener: the certificate, its key, and for mutual TLS
    /// the CA clients' certificates must come from.
    pub tls: Option<ServerTls>,
    /// Serve cleartext on an address other than loopback. Without TLS or
    /// this, such a worker refuses to start: its tokens and closures would
    /// cross the network readable by anyone on the path.
    pub insecure: bool,
}

impl WorkerConfig {
    /// Defaults: `token` with every scope, any module runs,
    /// 127.0.0.1:7878, one slot per core and four HTTP function requests
    /// per slot,
    /// a 2 GiB cache, 8 MiB requests, 1 MiB function requests, 1 GiB blobs, the default sandbox, 1024 connections, 10 s
    /// to a first request, 30 s of silence inside a request body, 64 MiB
    /// modules compiled in this process (`ferry worker` compiles in a
    /// bounded child).
    pub fn new(token: String, store: BlobStore) -> WorkerConfig {
        WorkerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            tokens: Tokens::one(token),
            trust: None,
            store,
            slots: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cache_limit: 2 << 30,
            max_request: 8 << 20,
            function_slots: FUNCTIONS_PER_SLOT
                * std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_function_body: 1 << 20,
            max_blob: 1 << 30,
            objects: Vec::new(),
            sandbox: Sandbox::default(),
            max_connections: 1024,
            handshake_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_module: RuntimeConfig::default().max_module,
            compiler: Compiler::InProcess,
            baseline_first: true,
            tls: None,
            insecure: false,
        }
    }
}

/// Why a worker could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The worker refuses to run without a token.
    #[error(
        "a worker needs a non-empty token; set ${} or pass --token-file",
        ferry_protocol::TOKEN_ENV
    )]
    NoToken,
    /// Cleartext was asked for off loopback without `insecure`.
    #[error(
        "refusing to serve cleartext on {0}, which is not a loopback address: give a certificate (--tls-cert, --tls-key) or say --insecure"
    )]
    Cleartext(SocketAddr),
    /// The TLS files are not usable.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Setting up the runtime or the store failed.
    #[error(transparent)]
    Ferry(#[from] Error),
    /// A function could not be deployed.
    #[error("{0}")]
    Deploy(String),
    /// The async runtime could not start.
    #[error("cannot start the worker's threads: {0}")]
    Threads(std::io::Error),
}

/// A bound worker, ready to serve.
pub struct Worker {
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<ServerTlsConfig>,
}

/// What every request handler shares.
pub(crate) struct State {
    config: WorkerConfig,
    executor: LocalExecutor,
    /// Modules read from the store, so a request does not re-read and re-hash
    /// a module from disk.
    modules: Mutex<Lru<ContentHash, Module>>,
    /// The store's bound, and what a job in flight keeps from eviction.
    cache: Arc<DiskCache>,
    /// The bounds of the protocol's request bodies.
    bodies: handler::Bodies,
    /// The bounds of HTTP functions' request bodies, apart.
    function_bodies: handler::Bodies,
    /// HTTP function requests let into the executor.
    invoking: tokio::sync::Semaphore,
    /// HTTP function requests read and waiting for `invoking`, each holding
    /// its body: [`WAITING_PER_FUNCTION_SLOT`] per function slot, the rest
    /// refused as busy.
    function_waiters: tokio::sync::Semaphore,
    /// Blobs held by jobs in flight and downloads, one copy each.
    blobs: SharedBlobs,
    /// Modules whose signature by a trusted key has been checked.
    signed: Mutex<std::collections::HashSet<ContentHash>>,
    /// Functions deployed as HTTP endpoints.
    endpoints: endpoints::Endpoints,
    /// Live actors.
    actors: Arc<actors::Actors>,
    /// The runtime of the executor, for actors' instances.
    runtime: Runtime,
    /// Reads the objects closures refer to.
    objects: Arc<objects::StoredObjects>,
    /// Run requests and tasks served, for `GET /v1/info`.
    served: Served,
}

/// Run requests and the tasks they carried, since the worker started.
#[derive(Default)]
struct Served {
    requests: AtomicU64,
    tasks: AtomicU64,
}

impl Served {
    /// Counts one request carrying `tasks` tasks.
    fn count(&self, tasks: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.tasks.fetch_add(tasks, Ordering::Relaxed);
    }
}

/// HTTP function requests let into the queue per slot by default: with
/// one, a slot would sit idle between a request ending and the next one's
/// admission (a third of the throughput, measured).
pub const FUNCTIONS_PER_SLOT: usize = 4;

/// HTTP function requests that may wait for each of the functions' places
/// in the queue; more are refused as busy (503), so that waiting bodies
/// stay bounded.
const WAITING_PER_FUNCTION_SLOT: usize = 16;

/// How many run requests of the largest size may be received at once;
/// more bytes than that in flight are refused as busy (503, retried).
pub(crate) const RECEIVING_REQUESTS: usize = 32;

impl State {
    /// Whether eviction must spare `hash` besides what is pinned: modules
    /// held in memory.
    fn in_memory(&self, hash: &ContentHash) -> bool {
        self.modules.lock().contains(hash)
    }
}

/// Bytes of modules kept in memory; past this, the least recently used are
/// dropped (they stay on disk).
const MODULES_IN_MEMORY: u64 = 256 << 20;

/// A worker's endpoints without a listener of their own, to be served
/// beside other services on one port: `ferry scheduler` serves them next to
/// Ballista's, so that executors fetch code from the address they already
/// know. `config.listen` is not used.
///
/// ```no_run
/// use ferry_host::BlobStore;
/// use ferry_worker::{WorkerConfig, WorkerService};
///
/// # fn demo() -> Result<(), ferry_worker::WorkerError> {
/// let config = WorkerConfig::new("s3cret".into(), BlobStore::open("/tmp/ferry-worker")?);
/// let service = WorkerService::new(config)?;
/// // In a router's fallback: `service.handle(request).await`.
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WorkerService {
    state: Arc<State>,
}

impl WorkerService {
    /// Sets up the runtime over the store; refuses an empty token.
    pub fn new(mut config: WorkerConfig) -> Result<WorkerService, WorkerError> {
        if config.tokens.is_empty() {
            return Err(WorkerError::NoToken);
        }
        // Tasks, functions and actors reach the worker's actors by handle.
        let actors = Arc::new(actors::Actors::new(config.slots));
        let max_input = config.max_request;
        config
            .sandbox
            .grants
            .actors
            .get_or_insert_with(|| actors::reach(&actors, max_input));
        let runtime = Runtime::new(RuntimeConfig {
            max_module: config.max_module,
            compiler: config.compiler.clone(),
            baseline_first: config.baseline_first,
            ..RuntimeConfig::with_store(config.store.clone())
        })?;
        let orphans = config.store.remove_orphans();
        if orphans > 0 {
            tracing::info!(orphans, "removed temporary files left by a crash");
        }
        let cache = Arc::new(DiskCache::new(config.store.clone(), config.cache_limit));
        let objects = Arc::new(objects::StoredObjects::new(
            config.store.clone(),
            cache.clone(),
            &config.objects,
            config.max_blob,
        ));
        let executor = LocalExecutor::builder()
            .threads(config.slots)
            .runtime(runtime.clone())
            .sandbox(config.sandbox.clone())
            .objects(objects.clone())
            .build()?;
        Ok(WorkerService {
            state: Arc::new(State {
                executor,
                modules: Mutex::new(Lru::new(MODULES_IN_MEMORY)),
                cache,
                bodies: handler::Bodies::new(config.max_request),
                function_bodies: handler::Bodies::new(config.max_function_body),
                invoking: tokio::sync::Semaphore::new(config.function_slots.max(1)),
                function_waiters: tokio::sync::Semaphore::new(
                    config
                        .function_slots
                        .max(1)
                        .saturating_mul(WAITING_PER_FUNCTION_SLOT)
                        .min(tokio::sync::Semaphore::MAX_PERMITS),
                ),
                blobs: SharedBlobs::default(),
                signed: Mutex::default(),
                endpoints: Default::default(),
                actors,
                runtime,
                objects,
                served: Served::default(),
                config,
            }),
        })
    }

    /// Answers one request of the protocol; every answer, refusals
    /// included, is a response.
    pub async fn handle(
        &self,
        request: http::Request<impl RequestBody>,
    ) -> http::Response<ferry_protocol::Body> {
        match handler::handle(self.state.clone(), request).await {
            Ok(reply) => reply,
            Err(never) => match never {},
        }
    }
}

impl Worker {
    /// Binds the listener and sets up the runtime over the store.
    pub async fn bind(config: WorkerConfig) -> Result<Worker, WorkerError> {
        let listen = config.listen;
        if config.tls.is_none() && !config.insecure && !listen.ip().is_loopback() {
            return Err(WorkerError::Cleartext(listen));
        }
        let tls = config.tls.as_ref().map(ServerTls::load).transpose()?;
        let service = WorkerService::new(config)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| WorkerError::Bind {
                addr: listen,
                source,
            })?;
        Ok(Worker {
            listener,
            state: service.state,
            tls,
        })
    }

    /// Deploys `closure` as the HTTP function `name`, as `PUT
    /// /v1/endpoints/<name>` would (`ferry serve` deploys its one function
    /// this way, before serving).
    pub fn deploy(
        &self,
        name: &str,
        closure: Closure,
        invoke: Invoke,
    ) -> Result<Deployed, WorkerError> {
        self.state
            .endpoints
            .deploy(name, closure, invoke)
            .map_err(WorkerError::Deploy)
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops accepting, closes
    /// connections that never sent a request, lets in-flight requests
    /// finish, and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        // HTTP/2 for ferry's clients; HTTP/1.1 too, for anyone calling a
        // deployed function (curl, browsers, load generators).
        let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        http.http1().timer(hyper_util::rt::TokioTimer::new());
        // Room for a client that pipelines many small tasks on one connection;
        // pings find peers that vanished without closing.
        http.http2()
            .max_concurrent_streams(4096)
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(std::time::Duration::from_secs(20))
            .keep_alive_timeout(std::time::Duration::from_secs(20));
        // Idle connections cost a descriptor each: a bounded number are
        // served, and the rest wait in the kernel's backlog.
        let permits = Permits::new(self.state.config.max_connections);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let server = Server {
            http,
            graceful: hyper_util::server::graceful::GracefulShutdown::new(),
            state: self.state.clone(),
            established: permits.established.clone(),
            handshake: self.state.config.handshake_timeout,
            stopping,
        };
        tokio::pin!(shutdown);
        loop {
            let Ok(pending) = permits.pending.clone().acquire_owned().await else {
                break;
            };
            tokio::select! {
                accepted = self.listener.accept() => {
                    match accepted {
                        Ok((stream, peer)) => {
                            // Certificates renewed on disk apply from the
                            // next connection on.
                            let tls = self.tls.as_ref().map(|tls| tls.get());
                            tokio::spawn(connection::serve(&server, stream, peer, pending, tls));
                        }
                        Err(e) => {
                            // Out of descriptors, typically: pause rather than spin.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        tracing::info!("shutting down: finishing in-flight requests");
        let _ = stop.send(true);
        server.graceful.shutdown().await;
        Ok(())
    }
}

/// Runs a worker until SIGINT or SIGTERM, on its own threads; `ready` is
/// given the worker once it listens (to print its address, or deploy
/// functions on it) and may stop it from serving with an error.
pub fn run(
    config: WorkerConfig,
    ready: impl FnOnce(&Worker) -> Result<(), WorkerError>,
) -> Result<(), WorkerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferry-worker-io")
        .build()
        .map_err(WorkerError::Threads)?;
    runtime.block_on(async {
        let worker = Worker::bind(config).await?;
        ready(&worker)?;
        worker.serve(shutdown_signal()).await
    })
}

/// Resolves when the process is asked to stop: SIGINT (ctrl-c) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

impl Resolve for State {
    fn module(&self, hash: &ContentHash) -> Result<Module, Error> {
        if let Some(module) = self.modules.lock().get(hash) {
            return Ok(module);
        }
        let module = self.config.store.module(hash)?;
        self.config.store.touch(hash);
        let size = module.bytes().len() as u64;
        self.modules.lock().insert(*hash, module.clone(), size);
        Ok(module)
    }

    fn blob(&self, hash: &ContentHash) -> Result<Blob, Error> {
        let blob = self
            .blobs
            .get(hash, || Resolve::blob(&self.config.store, hash))?;
        self.config.store.touch(hash);
        Ok(blob)
    }
}
