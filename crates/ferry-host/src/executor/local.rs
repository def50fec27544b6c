//! The local executor: a pool of threads in this process, the embedded
//! default.

use super::{Completer, Executor, Job, Task};
use crate::{
    Closure, ContentHash, Error, Instance, Output, ReadObject, Runtime, RuntimeConfig, Sandbox,
    Value,
};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// Runs closures on a pool of threads in this process.
///
/// Each call gets a fresh instance unless [`LocalExecutorBuilder::reuse_instances`]
/// is set, in which case each thread keeps one instance per module and calls
/// it again (faster, but guest state carries over between calls). Dropping
/// the executor finishes the calls already submitted, then stops the threads.
///
/// ```no_run
/// use ferry_host::{ExecutorExt, LocalExecutor, Sandbox};
/// use std::time::Duration;
///
/// let mut sandbox = Sandbox::default();
/// sandbox.limits.timeout = Duration::from_secs(2);
/// let pool = LocalExecutor::builder().threads(4).sandbox(sandbox).build()?;
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub struct LocalExecutor {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
    runtime: Runtime,
    load: Arc<Load>,
}

struct Queued {
    job: Job,
    done: Completer,
}

/// The jobs waiting for a thread. Idle threads wait on a condition
/// variable, so a job wakes one of them and nothing else: with the
/// receiver of a channel shared behind a lock, each job also woke the next
/// thread waiting for that lock.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Queued>,
    closed: bool,
}

impl Queue {
    /// Adds a job, or gives it back if the queue is closed.
    fn push(&self, queued: Queued) -> Result<(), Box<Queued>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Box::new(queued));
        }
        state.jobs.push_back(queued);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job, once there is one; `None` when the queue is closed
    /// and empty.
    fn pop(&self) -> Option<Queued> {
        let mut state = self.state.lock();
        loop {
            if let Some(queued) = state.jobs.pop_front() {
                return Some(queued);
            }
            if state.closed {
                return None;
            }
            self.ready.wait(&mut state);
        }
    }

    /// Takes no more jobs; the threads finish those queued, then stop.
    fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Jobs waiting and running, for [`LocalExecutor::load`].
#[derive(Default)]
struct Load {
    queued: AtomicUsize,
    running: AtomicUsize,
}

/// Configures a [`LocalExecutor`].
#[derive(Default)]
pub struct LocalExecutorBuilder {
    threads: Option<usize>,
    runtime: Option<Runtime>,
    sandbox: Sandbox,
    reuse_instances: bool,
    objects: Option<Arc<dyn ReadObject>>,
}

impl LocalExecutorBuilder {
    /// Number of threads; the default is one per core.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// The runtime to run on; the default is a new one with
    /// [`RuntimeConfig::default`].
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The sandbox every call runs in.
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Keep instances across calls instead of a fresh one per call.
    pub fn reuse_instances(mut self, reuse: bool) -> Self {
        self.reuse_instances = reuse;
        self
    }

    /// What reads the objects closures refer to (`ferry_stores::Stores`
    /// reads `file://` and `s3://`); without one, such closures fail.
    pub fn objects(mut self, reader: Arc<dyn ReadObject>) -> Self {
        self.objects = Some(reader);
        self
    }

    /// Starts the threads.
    pub fn build(self) -> Result<LocalExecutor, Error> {
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => Runtime::new(RuntimeConfig::default())?,
        };
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let queue = Arc::new(Queue::default());
        let load = Arc::new(Load::default());
        let handles = (0..threads)
            .map(|i| {
                let thread = PoolThread {
                    runtime: runtime.clone(),
                    sandbox: self.sandbox.clone(),
                    warm: self.reuse_instances.then(HashMap::new),
                    load: load.clone(),
                    objects: self.objects.clone(),
                };
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("ferry-local-{i}"))
                    .spawn(move || thread.run(&queue))
                    .map_err(|e| Error::Engine(format!("cannot start a pool thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LocalExecutor {
            queue,
            threads: handles,
            runtime,
            load,
        })
    }
}

impl LocalExecutor {
    /// A pool with one thread per core, fresh instances and the default
    /// sandbox.
    pub fn new() -> Result<LocalExecutor, Error> {
        Self::builder().build()
    }

    /// Configures a pool.
    pub fn builder() -> LocalExecutorBuilder {
        LocalExecutorBuilder::default()
    }

    /// The runtime the pool runs on.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// How many jobs are waiting for a thread, and how many are running.
    ///
    /// A cancelled job counts as waiting until a thread takes it off the
    /// queue and skips it.
    pub fn load(&self) -> (usize, usize) {
        (
            self.load.queued.load(Ordering::Relaxed),
            self.load.running.load(Ordering::Relaxed),
        )
    }
}

impl Executor for LocalExecutor {
    fn submit_job(&self, job: Job) -> Task {
        let (task, done) = Task::pending();
        self.load.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(queued) = self.queue.push(Queued { job, done }) {
            self.load.queued.fetch_sub(1, Ordering::Relaxed);
            queued.done.complete(Err(Error::ShutDown));
        }
        task
    }

    fn parallelism(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        // Closing the queue lets each thread finish it, then stop.
        self.queue.close();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Instances one thread keeps, by module, when reuse is on.
const WARM_PER_THREAD: usize = 16;

/// One thread of the pool: takes jobs off the shared queue until it closes.
struct PoolThread {
    runtime: Runtime,
    sandbox: Sandbox,
    warm: Option<HashMap<ContentHash, Instance>>,
    load: Arc<Load>,
    objects: Option<Arc<dyn ReadObject>>,
}

impl PoolThread {
    fn run(mut self, queue: &Queue) {
        while let Some(Queued { job, done }) = queue.pop() {
            self.load.queued.fetch_sub(1, Ordering::Relaxed);
            if done.is_cancelled() {
                continue;
            }
            self.load.running.fetch_add(1, Ordering::Relaxed);
            // A panic here is a bug in ferry, not the guest's doing; it must
            // cost one job, not the thread, or the pool shrinks for good.
            let limits = self.sandbox.limits.clone();
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                // Read here, on the pool's threads, so that the jobs of a
                // map read their objects in parallel.
                let job = match &self.objects {
                    Some(reader) if job.has_unread_objects() => {
                        job.read_objects(&**reader)?
                    }
                    _ => job,
                };
                job.run(&limits, |closure, input| {
                    if done.is_cancelled() {
                        return Err(Error::Cancelled);
                    }
                    self.execute(closure, input)
                })
            }))
            .unwrap_or_else(|panic| {
                let message = panic_message(&*panic);
                tracing::error!(%message, "a job panicked; its thread goes on with fresh instances");
                if let Some(warm) = self.warm.as_mut() {
                    warm.clear();
                }
                Err(Error::Internal(message))
            });
            self.load.running.fetch_sub(1, Ordering::Relaxed);
            done.complete(result);
        }
    }

    fn execute(&mut self, closure: &Closure, input: &Value) -> Result<Output, Error> {
        let Some(warm) = self.warm.as_mut() else {
            return self.runtime.call(closure, input, &self.sandbox);
        };
        let id = closure.module().id();
        let mut instance = match warm.remove(&id) {
            Some(instance) => instance,
            None => self.runtime.instantiate(closure.module(), &self.sandbox)?,
        };
        let result = instance.call_closure(closure, input);
        if instance.is_reusable() {
            if warm.len() >= WARM_PER_THREAD
                && let Some(evict) = warm.keys().next().copied()
            {
                warm.remove(&evict);
            }
            warm.insert(id, instance);
        }
        result
    }
}

/// The text of a panic's payload, which is a `&str` or a `String` when it
/// comes from `panic!`.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}
