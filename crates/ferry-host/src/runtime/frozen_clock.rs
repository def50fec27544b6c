//! The clock of a guest that was not granted the real one.

use std::time::Duration;

/// A clock that stands still, for guests that were not granted the real
/// one: the wall clock at the epoch, the monotonic clock at
/// [`MONOTONIC_NOW`].
pub(crate) struct FrozenClock;

/// Where the frozen monotonic clock stands: not at 0, which Go's runtime
/// takes for a broken clock and refuses to start with.
const MONOTONIC_NOW: u64 = 1_000_000_000;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        MONOTONIC_NOW
    }
}
