//! Reading the guest's linear memory from inside a host function, with every
//! pointer and length the guest passes checked against the memory's size.

use super::host_state::HostState;
use std::ops::Range;
use wasmtime::{Caller, Memory};

/// The guest's exported `memory`.
pub(crate) fn guest_memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| wasmtime::format_err!("the guest exports no `memory`"))
}

/// The byte range of a guest buffer, refused unless it lies within a memory
/// of `size` bytes.
pub(crate) fn guest_range(size: usize, ptr: i32, len: i32) -> wasmtime::Result<Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .filter(|end| *end <= size);
    end.map(|end| start..end).ok_or_else(|| {
        wasmtime::format_err!("the guest passed a buffer outside its memory ({start} + {len})")
    })
}

/// Copies a buffer out of guest memory: the one copy out of the ABI.
pub(crate) fn guest_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let data = memory.data(&caller);
    Ok(data[guest_range(data.len(), ptr, len)?].to_vec())
}
