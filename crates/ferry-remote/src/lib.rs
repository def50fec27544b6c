//! Run closures on remote `ferry worker`s.
//!
//! [`Remote`] is an [`Executor`], so `call`, `call_async`, `map` and
//! `map_reduce` work on it exactly as on the local pool. Code travels by
//! reference: before a worker first runs a closure, the client asks which of
//! its module and blobs the worker lacks and uploads only those; afterwards
//! a task sends just the closure's hashes, its environment and the input.
//!
//! Work is spread over the workers by load. A task whose worker cannot be
//! reached, or dies mid-task, is retried on another with exponential
//! back-off; a guest failure is final and never retried. What only a remote
//! executor can fail at (a timeout, an unreachable or refusing worker) is a
//! [`RemoteError`], carried in [`ferry_host::Error::Executor`].
//!
//! ```no_run
//! use ferry_host::{Closure, ExecutorExt, Module};
//! use ferry_remote::Remote;
//!
//! let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
//! let add = Closure::new(&module, "add")?;
//! let remote = Remote::builder()
//!     .worker("http://127.0.0.1:7878")
//!     .worker("http://127.0.0.1:7879")
//!     .token("s3cret")
//!     .build()?;
//! let sum: i64 = remote.call(&add, &(2, 3))?.value;
//! # Ok::<(), ferry_host::Error>(())
//! ```

#![deny(missing_docs)]

mod actor;
mod batches;
mod blobs;
mod deploy;
mod error;
mod link;

pub use actor::{ActorOptions, ActorSnapshot};
pub use blobs::Blobs;
pub use error::{ActorError, RemoteError};
pub use ferry_protocol::actor::ActorHandle;

use ferry_host::executor::{Completer, Executor, Job, Task};
use ferry_host::{ContentHash, Error, Output, Value};
use ferry_protocol::StoreResults;
use ferry_protocol::signature::ModuleSignature;
use ferry_protocol::tls::ClientTls;
use link::{Attempt, Link};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An executor whose threads are `ferry worker`s.
pub struct Remote {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    links: Vec<Arc<Link>>,
    attempts: u32,
    backoff: Duration,
    task_timeout: Option<Duration>,
    uploaded: AtomicU64,
    /// This client as an actor's caller, and its calls to each actor so
    /// far: the worker keeps them in this order.
    caller: String,
    calls_to: parking_lot::Mutex<HashMap<String, u64>>,
    /// Where workers put results over a size (a prefix, and the size), and
    /// what reads and deletes them.
    results_to: Option<(String, u64)>,
    stores: ferry_stores::Stores,
    /// Deletions of results of unfinished tasks under way, which dropping
    /// the client waits for.
    deleting: AtomicU64,
}

/// Configures a [`Remote`].
pub struct RemoteBuilder {
    workers: Vec<String>,
    token: Option<String>,
    attempts: u32,
    backoff: Duration,
    task_timeout: Option<Duration>,
    signatures: HashMap<ContentHash, Vec<ModuleSignature>>,
    tls: Option<ClientTls>,
    results_to: Option<(String, u64)>,
}

impl RemoteBuilder {
    /// Results over `over` bytes are written by the workers under `prefix`
    /// (`s3://bucket/tmp/job-7/`, with each process's own `AWS_*`
    /// credentials) instead of coming back: `submit` and `map_values` give
    /// a reference ([`Value::stored`](ferry_host::Value)), a reducer and
    /// any task given one read it where they run, and typed calls read it
    /// here when asked. A map-reduce deletes its partial results as it
    /// goes, and whatever is left when it fails; a task that fails or is
    /// cancelled leaves nothing.
    pub fn store_results(mut self, prefix: impl Into<String>, over: u64) -> Self {
        self.results_to = Some((prefix.into(), over));
        self
    }

    /// Adds a worker, as `host:port`, `http://host:port` or
    /// `https://host:port` (see [`tls`](Self::tls)).
    pub fn worker(mut self, address: impl Into<String>) -> Self {
        self.workers.push(address.into());
        self
    }

    /// The shared token; the default is `$FERRY_TOKEN`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How many times a task is tried when workers fail (default 5).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The first back-off between attempts; it doubles each time, up to 2 s
    /// (default 50 ms).
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Gives up on a task, with [`RemoteError::TimedOut`], after this long in
    /// all.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Sends `signatures` with every job whose modules they sign, for
    /// workers that run only signed code (`ferry worker --trust`); see
    /// [`ferry_protocol::signature`].
    pub fn signatures(mut self, signatures: impl IntoIterator<Item = ModuleSignature>) -> Self {
        for signature in signatures {
            let held = self.signatures.entry(signature.module).or_default();
            if !held.contains(&signature) {
                held.push(signature);
            }
        }
        self
    }

    /// Reaches every worker over TLS, trusting certificates from `tls.ca`
    /// (and showing `tls.identity` to workers that ask for one). Without
    /// this, `https://` addresses are refused.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Starts the client. Connections are made on first use.
    pub fn build(self) -> Result<Remote, Error> {
        let token = match self.token {
            Some(token) => token,
            None => std::env::var(ferry_protocol::TOKEN_ENV).unwrap_or_default(),
        };
        if self.workers.is_empty() {
            return Err(Error::Engine(
                "a remote executor needs at least one worker".into(),
            ));
        }
        let signatures = Arc::new(self.signatures);
        let tls = Link::tls_config(self.tls.as_ref())?;
        let links = self
            .workers
            .iter()
            .map(|address| {
                Link::new(address, &token, signatures.clone(), tls.clone()).map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // One thread: a client's work is small beside the workers', and two
        // threads woke each other on every request (a synchronous round trip
        // took 275-293 µs with two against 220-246 µs with one; pipelined
        // throughput was the same).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferry-remote")
            .enable_all()
            .build()
            .map_err(|e| Error::Engine(format!("cannot start the client's threads: {e}")))?;
        let shared = Arc::new(Shared {
            links,
            attempts: self.attempts,
            backoff: self.backoff,
            task_timeout: self.task_timeout,
            uploaded: AtomicU64::new(0),
            caller: ferry_protocol::random_id(),
            calls_to: Default::default(),
            results_to: self.results_to,
            stores: ferry_stores::Stores::new(),
            deleting: AtomicU64::new(0),
        });
        for link in &shared.links {
            runtime.spawn(link.clone().learn_slots());
        }
        Ok(Remote {
            shared,
            runtime: Some(runtime),
        })
    }
}

impl Remote {
    /// Configures a remote executor.
    pub fn builder() -> RemoteBuilder {
        RemoteBuilder {
            workers: Vec::new(),
            token: None,
            attempts: 5,
            backoff: Duration::from_millis(50),
            task_timeout: None,
            signatures: HashMap::new(),
            tls: None,
            results_to: None,
        }
    }

    /// Bytes of modules, blobs and large inputs uploaded so far.
    pub fn uploaded_bytes(&self) -> u64 {
        self.shared.uploaded.load(Ordering::Relaxed)
    }

    /// Runs `work` on the client's threads and waits for it, from any
    /// thread, inside an async runtime or not.
    pub(crate) fn wait<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, Attempt>> + Send + 'static,
    ) -> Result<T, Error> {
        let runtime = self.runtime.as_ref().ok_or(Error::ShutDown)?;
        let (done, result) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = done.send(work.await.map_err(Error::from));
        });
        result.recv().map_err(|_| Error::ShutDown)?
    }

    /// The workers' addresses.
    pub fn workers(&self) -> Vec<String> {
        self.shared
            .links
            .iter()
            .map(|link| link.address().to_owned())
            .collect()
    }
}

impl Executor for Remote {
    fn submit_job(&self, job: Job) -> Task {
        let (task, done) = Task::pending();
        if let Some(runtime) = &self.runtime {
            runtime.spawn(run(self.shared.clone(), job, done));
        }
        task
    }

    fn parallelism(&self) -> usize {
        self.shared.links.iter().map(|link| link.slots()).sum()
    }

    fn take_stored(&self, value: Value) -> Result<Value, Error> {
        let Some(object) = value.stored_object() else {
            return Ok(value);
        };
        let stores = &self.shared.stores;
        let read = value.read_stored(stores)?;
        stores.block_on(stores.delete(&object.url))??;
        Ok(read)
    }

    fn discard(&self, value: &Value) {
        let stores = &self.shared.stores;
        for object in value.stored_objects() {
            match stores.block_on(stores.delete(&object.url)) {
                Ok(Ok(())) => {}
                Ok(Err(error)) | Err(error) => {
                    tracing::warn!(%error, "a partial result stays in its store");
                }
            }
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Results of cancelled tasks are deleted before the client goes,
        // within reason.
        let started = std::time::Instant::now();
        while self.shared.deleting.load(Ordering::SeqCst) > 0
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Unfinished tasks complete with `ShutDown` as their completers drop.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn run(shared: Arc<Shared>, job: Job, done: Completer) {
    // The task's own object for a result kept in a store, whichever
    // worker, and however many attempts, it takes.
    let store_results = match &shared.results_to {
        Some((prefix, over)) => match ferry_stores::name_under(prefix) {
            Ok(object) => Some(StoreResults {
                object,
                over: *over,
            }),
            Err(error) => return done.complete(Err(error)),
        },
        None => None,
    };
    let attempts = shared.attempts(&job, store_results.as_ref());
    let outcome = tokio::select! {
        result = async {
            match shared.task_timeout {
                Some(limit) => tokio::time::timeout(limit, attempts).await.unwrap_or_else(|_| Err(RemoteError::TimedOut {
                    limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                }.into())),
                None => attempts.await,
            }
        } => Some(result),
        () = done.cancelled() => None,
    };
    // An attempt given up on may have written the result all the same: it
    // goes before the task is seen to fail, so that whoever waits for the
    // task finds nothing left.
    if let Some(to) = &store_results
        && !matches!(outcome, Some(Ok(_)))
    {
        shared.deleting.fetch_add(1, Ordering::SeqCst);
        if let Err(error) = Box::pin(shared.stores.delete(&to.object)).await {
            tracing::warn!(%error, "the result of a task that did not finish stays in its store");
        }
        shared.deleting.fetch_sub(1, Ordering::SeqCst);
    }
    if let Some(result) = outcome {
        done.complete(result);
    }
}

impl Shared {
    /// Tries the job on the least loaded worker, then on others, backing off
    /// between attempts, until it succeeds or fails for a reason retrying
    /// cannot change.
    async fn attempts(
        &self,
        job: &Job,
        store_results: Option<&StoreResults>,
    ) -> Result<Output, Error> {
        let mut last = None;
        for attempt in 0..self.attempts {
            if attempt > 0 {
                let factor = 1u32 << (attempt - 1).min(6);
                tokio::time::sleep((self.backoff * factor).min(Duration::from_secs(2))).await;
            }
            let link = self.pick();
            match link.run(job, &self.uploaded, store_results).await {
                Ok(output) => return Ok(output),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retry(error)) => {
                    tracing::warn!(worker = link.address(), attempt, error = %error, "retrying the task elsewhere");
                    link.mark_down(self.backoff * 4);
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or(Error::ShutDown))
    }

    /// The reachable worker with the fewest tasks per slot; if none is
    /// reachable, the one that has been down longest.
    fn pick(&self) -> Arc<Link> {
        self.links
            .iter()
            .min_by_key(|link| (link.is_down(), link.down_since(), link.load_per_slot()))
            .expect("there is at least one worker")
            .clone()
    }
}
