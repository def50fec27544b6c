//! Entering guest code from a thread that runs tokio tasks.
//!
//! wasmtime-wasi's synchronous WASI runs each call with tokio's `block_on`,
//! which panics on a thread already inside a runtime, as DataFusion's
//! tasks and an async caller's are. Guests that call WASI, as Go's runtime
//! does from its first instruction, would take the host down with them.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `guest` (code that enters a guest) so that the WASI calls it makes
/// may block: on a worker of a multi-threaded runtime, as a blocking
/// section, which costs tens of nanoseconds; elsewhere as it is. A
/// current-thread runtime has no way to block, so there a guest that calls
/// WASI still fails: run ferry from a multi-threaded runtime or
/// `spawn_blocking`.
pub(crate) fn enter_guest<R>(guest: impl FnOnce() -> R) -> R {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(guest)
        }
        _ => guest(),
    }
}
