//! The ways a remote executor fails that a local one cannot.

use ferry_host::Error;

/// What can go wrong between a client and its workers. It reaches callers
/// inside [`Error::Executor`]; [`RemoteError::of`] finds it there.
///
/// ```no_run
/// use ferry_host::{Closure, ExecutorExt, Module};
/// use ferry_remote::{Remote, RemoteError};
///
/// # fn demo(remote: &Remote, add: &Closure) {
/// match remote.call::<_, i64>(add, &(2, 3)) {
///     Ok(sum) => println!("{}", sum.value),
///     Err(error) => match RemoteError::of(&error) {
///         Some(RemoteError::Rejected { status: 401, .. }) => eprintln!("wrong token"),
///         _ => eprintln!("{error}"),
///     },
/// }
/// # }
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The task did not finish within its time limit.
    #[error("the task did not finish within {limit_ms} ms")]
    TimedOut {
        /// The limit.
        limit_ms: u64,
    },

    /// A worker could not be reached, or the connection failed mid-task, on
    /// every attempt.
    #[error("cannot reach worker {worker}: {reason}")]
    Transport {
        /// The worker's address.
        worker: String,
        /// What failed, on the last attempt.
        reason: String,
    },

    /// A worker refused the request.
    #[error("worker {worker} refused the request ({status}): {reason}")]
    Rejected {
        /// The worker's address.
        worker: String,
        /// The HTTP status.
        status: u16,
        /// The worker's explanation.
        reason: String,
    },
}

/// How an actor's call went wrong, beside a guest failure that left it as
/// it was (that one is an ordinary [`Error::Call`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The call trapped; the actor started again from its initial state.
    #[error(
        "actor {actor}: {failure}; it started again from its initial state (restart {restarts})"
    )]
    Restarted {
        /// The actor's id.
        actor: String,
        /// The failure.
        failure: ferry_host::CallFailure,
        /// Restarts so far.
        restarts: u32,
    },
    /// The call trapped once more than the actor may restart: it is gone.
    #[error("actor {actor} died: {failure}")]
    Died {
        /// The actor's id.
        actor: String,
        /// The last failure.
        failure: ferry_host::CallFailure,
    },
    /// The actor is not on its worker: stopped, idle past its time-out,
    /// died earlier, or the worker restarted.
    #[error("actor {actor} is gone: {reason}")]
    Gone {
        /// The actor's id.
        actor: String,
        /// The worker's explanation.
        reason: String,
    },
}

impl ActorError {
    /// The actor's error inside `error`, if it carries one.
    pub fn of(error: &Error) -> Option<&ActorError> {
        error.executor_error()
    }
}

impl From<ActorError> for Error {
    fn from(error: ActorError) -> Error {
        Error::Executor(Box::new(error))
    }
}

impl RemoteError {
    /// The remote executor's error inside `error`, if it carries one.
    pub fn of(error: &Error) -> Option<&RemoteError> {
        error.executor_error()
    }
}

impl From<RemoteError> for Error {
    fn from(error: RemoteError) -> Error {
        Error::Executor(Box::new(error))
    }
}
