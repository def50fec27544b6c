//! Reading the guest's linear memory from inside a host function, with every
//! pointer and length the guest passes checked against the memory's size.

use super::host_state::HostState;
use crate::FailureKind;
use std::ops::Range;
use wasmtime::{Caller, Memory};

/// The guest's exported `memory`.
pub(crate) fn guest_memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| stop("the guest exports no `memory`".to_owned()))
}

/// The byte range of a guest buffer, `what` (named for messages), refused
/// unless it lies within a memory of `size` bytes. A pointer of 0 means "no
/// buffer" in the ABI, so it may only come with a length of 0. Lengths are
/// `u64` so that a guest's count times a size cannot wrap.
pub(crate) fn guest_range(
    size: usize,
    what: &str,
    ptr: u32,
    len: u64,
) -> wasmtime::Result<Range<usize>> {
    if ptr == 0 && len > 0 {
        return Err(stop(format!(
            "{what} has pointer 0, which means no buffer, and length {len}"
        )));
    }
    let start = ptr as usize;
    let end = u64::try_from(start)
        .ok()
        .and_then(|start| start.checked_add(len))
        .filter(|end| *end <= size as u64);
    end.map(|end| start..end as usize).ok_or_else(|| {
        stop(format!(
            "{what} lies outside the guest's memory ({len} bytes at {ptr}, memory of {size} bytes)"
        ))
    })
}

/// Copies a buffer out of guest memory: the one copy out of the ABI.
pub(crate) fn guest_bytes(
    caller: &mut Caller<'_, HostState>,
    what: &str,
    ptr: u32,
    len: u64,
) -> wasmtime::Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let data = memory.data(&caller);
    Ok(data[guest_range(data.len(), what, ptr, len)?].to_vec())
}

/// Stops the guest for breaking the ABI: a trap whose message is one line,
/// with no wasm backtrace attached to it.
pub(crate) fn stop(message: String) -> wasmtime::Error {
    wasmtime::Error::new(FailureKind::Trap { message })
}
