//! Instances of one function's module, kept warm between batches, and
//! instances lent to one aggregate for good, to keep its groups' states.

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
    budgets: Budgets,
}

/// How many instances the pools of one `WasmFunctions` set aside together,
/// so that those of some functions never leave none for the calls of
/// others: idle ones up to half its pooling allocator's slots, and those
/// keeping an aggregate's states up to a quarter.
#[derive(Clone)]
pub(crate) struct Budgets {
    idle: Budget,
    kept: Budget,
}

impl Budgets {
    /// The budgets of the instances of `runtime`'s pooling allocator.
    pub(crate) fn new(runtime: &Runtime) -> Budgets {
        let slots = runtime.config().max_instances as usize;
        Budgets {
            idle: Budget::new(slots / 2),
            kept: Budget::new(slots / 4),
        }
    }
}

/// A bounded count of instances set aside, shared by the pools.
#[derive(Clone)]
struct Budget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl Budget {
    fn new(limit: usize) -> Budget {
        Budget {
            used: Arc::default(),
            limit,
        }
    }

    /// Takes a place for one more instance, if there is one.
    fn reserve(&self) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok()
    }

    fn release(&self) {
        self.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An instance lent to one aggregate for as long as it keeps states in
/// it. It goes back to the pool only once the aggregate has taken every
/// state out ([`Pool::give_back`]); otherwise it is dropped with them.
pub(crate) struct KeptInstance {
    /// The instance, whose guest holds the aggregate's states.
    pub(crate) instance: Instance,
    _place: Place,
}

/// A place in the budget of kept instances, given up on drop.
struct Place(Budget);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Pool {
    pub(crate) fn new(runtime: Runtime, sandbox: Sandbox, budgets: Budgets) -> Pool {
        let keep = std::thread::available_parallelism().map_or(4, |n| n.get());
        Pool {
            runtime,
            sandbox,
            idle: Mutex::new(Vec::new()),
            keep,
            budgets,
        }
    }

    /// An instance of `closure`'s module for one aggregate to keep, if the
    /// budget has room for it and one can be had.
    pub(crate) fn lend(&self, closure: &Closure) -> Option<KeptInstance> {
        if !self.budgets.kept.reserve() {
            return None;
        }
        let place = Place(self.budgets.kept.clone());
        match self.take(closure) {
            Ok(instance) => Some(KeptInstance {
                instance,
                _place: place,
            }),
            Err(error) => {
                tracing::debug!(%error, "no instance to keep an aggregate's states in");
                None
            }
        }
    }

    /// Takes back an instance an aggregate kept states in, once it keeps
    /// none: it is then as any instance that served calls.
    pub(crate) fn give_back(&self, kept: KeptInstance) {
        self.put(kept.instance);
    }

    /// An idle instance, or a new one.
    fn take(&self, closure: &Closure) -> Result<Instance, Error> {
        let idle = self.idle.lock().pop();
        match idle {
            Some(instance) => {
                self.budgets.idle.release();
                Ok(instance)
            }
            None => self.runtime.instantiate(closure.module(), &self.sandbox),
        }
    }

    /// Runs `call` on an instance of `closure`'s module.
    pub(crate) fn with<T>(
        &self,
        closure: &Closure,
        call: impl FnOnce(&mut Instance) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut instance = self.take(closure)?;
        let outcome = call(&mut instance);
        self.put(instance);
        outcome
    }

    /// Keeps `instance` idle, if it can serve more calls and there is room.
    fn put(&self, instance: Instance) {
        if instance.is_reusable() {
            let mut idle = self.idle.lock();
            if idle.len() < self.keep && self.budgets.idle.reserve() {
                idle.push(instance);
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let idle = self.idle.get_mut().len();
        self.budgets.idle.used.fetch_sub(idle, Ordering::AcqRel);
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
    fn a_budget_is_shared_and_bounded() {
        let budget = Budget::new(2);
        let other = budget.clone();
        assert!(budget.reserve() && other.reserve());
        assert!(!budget.reserve() && !other.reserve());
        other.release();
        assert!(budget.reserve());
    }
}
