//! A task's eventual result: waited on by blocking, awaited as a future, or
//! watched with a listener.

use crate::{Error, Output};
use parking_lot::{Condvar, Mutex};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The result of a submitted job, once it is done. It is a [`Future`] (for
/// async callers, on any runtime), blockable with [`Task::wait`], and can be
/// watched with [`Task::notify`]; see also [`wait`](super::wait) and
/// [`as_completed`](super::as_completed).
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

type Listener = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    finished: bool,
    cancelled: bool,
    result: Option<Result<Output, Error>>,
    waker: Option<Waker>,
    cancel_waker: Option<Waker>,
    listeners: Vec<Listener>,
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
        let mut state = self.slot.state.lock();
        loop {
            if let Some(result) = state.result.take() {
                return result;
            }
            if state.finished {
                return Err(Error::ShutDown);
            }
            self.slot.done.wait(&mut state);
        }
    }

    /// The result, if the task is done and it has not been taken yet.
    pub fn try_take(&mut self) -> Option<Result<Output, Error>> {
        self.slot.state.lock().result.take()
    }

    /// Whether the task is done.
    pub fn is_done(&self) -> bool {
        self.slot.state.lock().finished
    }

    /// Runs `listener` once the task is done (at once if it already is).
    pub fn notify(&self, listener: impl FnOnce() + Send + 'static) {
        let mut state = self.slot.state.lock();
        if state.finished {
            drop(state);
            listener();
        } else {
            state.listeners.push(Box::new(listener));
        }
    }

    /// Cancels the task: it completes now with [`Error::Cancelled`], and its
    /// executor skips or abandons the work when it next looks. Work a guest has
    /// already started may run to its deadline; its result is discarded.
    pub fn cancel(&self) {
        // Done first, then the executor told: an executor that gives up on
        // the work drops its completer, which must find the task already
        // done rather than complete it with `ShutDown`.
        self.slot.fill(Err(Error::Cancelled));
        let cancel_waker = {
            let mut state = self.slot.state.lock();
            state.cancelled = true;
            state.cancel_waker.take()
        };
        if let Some(waker) = cancel_waker {
            waker.wake();
        }
    }
}

impl Slot {
    /// Completes the task unless it already is (a cancelled task keeps its
    /// `Cancelled`).
    fn fill(&self, result: Result<Output, Error>) {
        let (waker, listeners) = {
            let mut state = self.state.lock();
            if state.finished {
                return;
            }
            state.finished = true;
            state.result = Some(result);
            (state.waker.take(), std::mem::take(&mut state.listeners))
        };
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
        for listener in listeners {
            listener();
        }
    }
}

impl Completer {
    /// Delivers the result and wakes whoever waits.
    pub fn complete(mut self, result: Result<Output, Error>) {
        if let Some(slot) = self.slot.take() {
            slot.fill(result);
        }
    }

    /// Whether the task was cancelled, so its work can be skipped.
    pub fn is_cancelled(&self) -> bool {
        self.slot
            .as_ref()
            .is_some_and(|slot| slot.state.lock().cancelled)
    }

    /// Resolves when the task is cancelled, for executors that race the work
    /// against cancellation.
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'static {
        let slot = self.slot.clone();
        std::future::poll_fn(move |cx| match &slot {
            Some(slot) => {
                let mut state = slot.state.lock();
                if state.cancelled {
                    Poll::Ready(())
                } else {
                    state.cancel_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
            None => Poll::Pending,
        })
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
        let mut state = self.slot.state.lock();
        match state.result.take() {
            Some(result) => Poll::Ready(result),
            None if state.finished => Poll::Ready(Err(Error::ShutDown)),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
