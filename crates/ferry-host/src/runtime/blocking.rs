//! Entering guest code from a thread that runs tokio tasks.
//!
//! wasmtime-wasi's synchronous WASI runs each call with tokio's `block_on`,
//! which panics on a thread already inside a runtime, as DataFusion's
//! tasks and an async caller's are. Guests that call WASI, as Go's runtime
//! does from its first instruction, would take the host down with them.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `guest` (code that enters a guest) so that the WASI calls it makes
/// may block: on a worker of a multi-threaded runtime, as a blocking
/// section (tens of nanoseconds when no other task waits for the worker);
/// on a thread of a current-thread runtime, on a thread of its own (tens of
/// microseconds), since that runtime has no way to block; elsewhere as it
/// is.
pub(crate) fn enter_guest<R: Send>(guest: impl FnOnce() -> R + Send) -> R {
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(guest),
        Ok(_) => std::thread::scope(|scope| {
            scope
                .spawn(guest)
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        Err(_) => guest(),
    }
}
