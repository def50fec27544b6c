//! WASI's `poll_oneoff`, replaced by one that keeps to the call's deadline.

use super::guest_memory::{guest_memory, guest_range};
use super::host_state::HostState;
use std::time::{Duration, Instant};
use wasmtime::{Caller, Trap};

/// The most subscriptions one `poll_oneoff` takes; more get `EINVAL`.
pub(crate) const MAX_SUBSCRIPTIONS: u64 = 4096;

/// WASI `poll_oneoff` that never waits past the call's deadline. File
/// descriptor subscriptions are reported ready at once (guests have no
/// sockets, and stdio never blocks here). Clock subscriptions wait for the
/// earliest timeout, or not at all when the clock is not granted and time
/// stands still; a wait that would pass the deadline ends the call as timed
/// out.
pub(crate) fn poll_oneoff(
    mut caller: Caller<'_, HostState>,
    subscriptions: i32,
    events: i32,
    count: i32,
    events_written: i32,
) -> wasmtime::Result<i32> {
    const SUBSCRIPTION: u64 = 48;
    const EVENT: u64 = 32;
    const ERRNO_INVAL: i32 = 28;
    let count = u64::from(count as u32);
    // A guest has no sockets, so more than a few subscriptions is a bug or
    // an attempt to make the host copy its whole memory.
    if count == 0 || count > MAX_SUBSCRIPTIONS {
        return Ok(ERRNO_INVAL);
    }
    let memory = guest_memory(&mut caller)?;
    let size = memory.data_size(&caller);
    let what = |buffer| format!("the {buffer} passed to `poll_oneoff`");
    let input = guest_range(
        size,
        &what("subscriptions"),
        subscriptions as u32,
        count * SUBSCRIPTION,
    )?;
    let output = guest_range(size, &what("events"), events as u32, count * EVENT)?;
    let written = guest_range(size, &what("event count"), events_written as u32, 4)?;
    let subscriptions = memory.data(&caller)[input].to_vec();
    let u64_at = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };

    let mut ready = Vec::new();
    let mut clocks = Vec::new();
    for subscription in subscriptions.chunks_exact(SUBSCRIPTION as usize) {
        let userdata = u64_at(subscription, 0);
        match subscription[8] {
            0 => {
                let timeout = u64_at(subscription, 24);
                let absolute = subscription[40] & 1 == 1;
                let wait = if !caller.data().clock_granted {
                    Duration::ZERO
                } else if absolute {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    Duration::from_nanos(timeout).saturating_sub(now)
                } else {
                    Duration::from_nanos(timeout)
                };
                clocks.push((userdata, wait));
            }
            kind => ready.push((
                userdata,
                if kind <= 2 { 0 } else { ERRNO_INVAL as u16 },
                kind,
            )),
        }
    }
    if ready.is_empty() {
        let wait = clocks
            .iter()
            .map(|(_, wait)| *wait)
            .min()
            .unwrap_or_default();
        let left = caller.data().deadline.map_or(wait, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        });
        if wait > left {
            std::thread::sleep(left);
            return Err(wasmtime::Error::new(Trap::Interrupt));
        }
        std::thread::sleep(wait);
        ready.extend(
            clocks
                .iter()
                .filter(|(_, w)| *w <= wait)
                .map(|(userdata, _)| (*userdata, 0, 0)),
        );
    }
    let mut out = vec![0u8; ready.len() * EVENT as usize];
    for ((userdata, errno, kind), event) in ready.iter().zip(out.chunks_exact_mut(EVENT as usize)) {
        event[0..8].copy_from_slice(&userdata.to_le_bytes());
        event[8..10].copy_from_slice(&errno.to_le_bytes());
        event[10] = *kind;
    }
    let data = memory.data_mut(&mut caller);
    data[output.start..output.start + out.len()].copy_from_slice(&out);
    data[written].copy_from_slice(&(ready.len() as u32).to_le_bytes());
    Ok(0)
}
