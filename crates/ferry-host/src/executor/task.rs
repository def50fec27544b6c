//! A task's eventual result: waited on by blocking or awaited as a future.

use crate::{Error, Output};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};

/// The result of a submitted call, once it is done. It is both a
/// [`Future`] (for async callers, on any runtime) and blockable with
/// [`Task::wait`].
#[must_use = "a task does nothing visible unless its result is taken"]
pub struct Task {
    slot: Arc<Slot>,
}

/// The executor's end of a task: completing it wakes the waiter. Dropping it
/// without completing (an executor going away) completes the task with
/// [`Error::ShutDown`], so no waiter hangs.
pub struct Completer {
    slot: Option<Arc<Slot>>,
}

#[derive(Default)]
struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    result: Option<Result<Output, Error>>,
    waker: Option<Waker>,
}

impl Task {
    /// A pending task and the means to complete it.
    pub fn pending() -> (Task, Completer) {
        let slot = Arc::new(Slot::default());
        (Task { slot: slot.clone() }, Completer { slot: Some(slot) })
    }

    /// A task that is already done.
    pub fn ready(result: Result<Output, Error>) -> Task {
        let (task, completer) = Task::pending();
        completer.complete(result);
        task
    }

    /// Blocks until the task is done.
    pub fn wait(self) -> Result<Output, Error> {
        let mut state = self.slot.lock();
        loop {
            if let Some(result) = state.result.take() {
                return result;
            }
            state = self
                .slot
                .done
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Whether the result is in.
    pub fn is_done(&self) -> bool {
        self.slot.lock().result.is_some()
    }
}

impl Slot {
    fn fill(&self, result: Result<Output, Error>) {
        let waker = {
            let mut state = self.lock();
            state.result = Some(result);
            state.waker.take()
        };
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Completer {
    /// Delivers the result and wakes whoever waits.
    pub fn complete(mut self, result: Result<Output, Error>) {
        if let Some(slot) = self.slot.take() {
            slot.fill(result);
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.fill(Err(Error::ShutDown));
        }
    }
}

impl Future for Task {
    type Output = Result<Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        match state.result.take() {
            Some(result) => Poll::Ready(result),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
