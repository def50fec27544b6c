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
#[derive(Debug, thiserror::Error)]
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
