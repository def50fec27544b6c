//! The local executor: a pool of threads in this process, the embedded
//! default.

use super::{Completer, Executor, Task};
use crate::{Closure, ContentHash, Error, Instance, Runtime, RuntimeConfig, Sandbox, Value};
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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
    sender: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    runtime: Runtime,
}

struct Job {
    closure: Closure,
    input: Value,
    done: Completer,
}

/// Configures a [`LocalExecutor`].
#[derive(Default)]
pub struct LocalExecutorBuilder {
    threads: Option<usize>,
    runtime: Option<Runtime>,
    sandbox: Sandbox,
    reuse_instances: bool,
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

    /// Starts the threads.
    pub fn build(self) -> Result<LocalExecutor, Error> {
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => Runtime::new(RuntimeConfig::default())?,
        };
        let threads = self
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let handles = (0..threads)
            .map(|i| {
                let worker = Worker {
                    runtime: runtime.clone(),
                    sandbox: self.sandbox.clone(),
                    warm: self.reuse_instances.then(HashMap::new),
                };
                let receiver = receiver.clone();
                std::thread::Builder::new()
                    .name(format!("ferry-local-{i}"))
                    .spawn(move || worker.run(&receiver))
                    .map_err(|e| Error::Engine(format!("cannot start a pool thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LocalExecutor {
            sender: Some(sender),
            threads: handles,
            runtime,
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
}

impl Executor for LocalExecutor {
    fn submit(&self, closure: &Closure, input: Value) -> Task {
        let (task, done) = Task::pending();
        let job = Job {
            closure: closure.clone(),
            input,
            done,
        };
        if let Some(sender) = &self.sender
            && let Err(mpsc::SendError(job)) = sender.send(job)
        {
            job.done.complete(Err(Error::ShutDown));
        }
        task
    }

    fn parallelism(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        // Closing the channel lets each thread finish the queue, then stop.
        self.sender.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Instances one thread keeps, by module, when reuse is on.
const WARM_PER_THREAD: usize = 16;

struct Worker {
    runtime: Runtime,
    sandbox: Sandbox,
    warm: Option<HashMap<ContentHash, Instance>>,
}

impl Worker {
    fn run(mut self, receiver: &Mutex<mpsc::Receiver<Job>>) {
        loop {
            let job = match receiver.lock() {
                Ok(receiver) => receiver.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            let result = self.execute(&job.closure, &job.input);
            job.done.complete(result);
        }
    }

    fn execute(&mut self, closure: &Closure, input: &Value) -> Result<crate::Output, Error> {
        let Some(warm) = self.warm.as_mut() else {
            return self.runtime.call(closure, input, &self.sandbox);
        };
        let id = closure.module().id();
        let mut instance = match warm.remove(&id) {
            Some(instance) => instance,
            None => self.runtime.instantiate(closure.module(), &self.sandbox)?,
        };
        let result = instance.call_closure(closure, input);
        if !instance.is_poisoned() {
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
