//! Instances of one function's module, kept warm between batches.

use ferry_host::{Closure, Error, Instance, Runtime, Sandbox};
use std::sync::Mutex;

/// Idle instances of one SQL function. Each batch takes one (or makes one),
/// runs on it without holding any lock, and gives it back unless the call
/// trapped. Functions do not share a pool, so a busy function never waits
/// on another's lock.
pub(crate) struct Pool {
    runtime: Runtime,
    sandbox: Sandbox,
    idle: Mutex<Vec<Instance>>,
    /// Idle instances kept beyond this are dropped, returning their slots
    /// to the runtime's pooling allocator.
    keep: usize,
}

impl Pool {
    pub(crate) fn new(runtime: Runtime, sandbox: Sandbox) -> Pool {
        let keep = std::thread::available_parallelism().map_or(4, |n| n.get());
        Pool {
            runtime,
            sandbox,
            idle: Mutex::new(Vec::new()),
            keep,
        }
    }

    /// Runs `call` on an instance of `closure`'s module.
    pub(crate) fn with<T>(
        &self,
        closure: &Closure,
        call: impl FnOnce(&mut Instance) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let idle = self
            .idle
            .lock()
            .expect("the pool lock is never poisoned")
            .pop();
        let mut instance = match idle {
            Some(instance) => instance,
            None => self.runtime.instantiate(closure.module(), &self.sandbox)?,
        };
        let outcome = call(&mut instance);
        if !instance.is_poisoned() {
            let mut idle = self.idle.lock().expect("the pool lock is never poisoned");
            if idle.len() < self.keep {
                idle.push(instance);
            }
        }
        outcome
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("keep", &self.keep).finish()
    }
}
