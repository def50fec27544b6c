//! Instances of one function's module, kept warm between batches.

use ferry_host::{Closure, Error, Instance, Runtime, Sandbox};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    budget: IdleBudget,
}

/// How many idle instances the pools of one `WasmFunctions` keep together:
/// half its pooling allocator's slots, so that idle instances of some
/// functions never leave none for the calls of others.
#[derive(Clone)]
pub(crate) struct IdleBudget {
    idle: Arc<AtomicUsize>,
    limit: usize,
}

impl IdleBudget {
    pub(crate) fn new(runtime: &Runtime) -> IdleBudget {
        IdleBudget {
            idle: Arc::default(),
            limit: runtime.config().max_instances as usize / 2,
        }
    }

    /// Takes a place for one more idle instance, if there is one.
    fn reserve(&self) -> bool {
        self.idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |idle| {
                (idle < self.limit).then_some(idle + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.idle.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pool {
    pub(crate) fn new(runtime: Runtime, sandbox: Sandbox, budget: IdleBudget) -> Pool {
        let keep = std::thread::available_parallelism().map_or(4, |n| n.get());
        Pool {
            runtime,
            sandbox,
            idle: Mutex::new(Vec::new()),
            keep,
            budget,
        }
    }

    /// Runs `call` on an instance of `closure`'s module.
    pub(crate) fn with<T>(
        &self,
        closure: &Closure,
        call: impl FnOnce(&mut Instance) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let idle = self.idle.lock().pop();
        let mut instance = match idle {
            Some(instance) => {
                self.budget.release();
                instance
            }
            None => self.runtime.instantiate(closure.module(), &self.sandbox)?,
        };
        let outcome = call(&mut instance);
        if instance.is_reusable() {
            let mut idle = self.idle.lock();
            if idle.len() < self.keep && self.budget.reserve() {
                idle.push(instance);
            }
        }
        outcome
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().len();
        self.budget.idle.fetch_sub(idle, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("keep", &self.keep).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_budget_is_shared_and_bounded() {
        let budget = IdleBudget {
            idle: Arc::default(),
            limit: 2,
        };
        let other = budget.clone();
        assert!(budget.reserve() && other.reserve());
        assert!(!budget.reserve() && !other.reserve());
        other.release();
        assert!(budget.reserve());
    }
}
