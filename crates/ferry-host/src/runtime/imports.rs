//! The functions a guest may import: WASI preview 1 (with a `poll_oneoff`
//! that keeps to the deadline) and ferry's own `ferry_v1` module.

use super::guest_memory::{guest_bytes, guest_memory, guest_range};
use super::host_state::HostState;
use super::poll_oneoff::poll_oneoff;
use crate::batch::{ColumnOut, ColumnType};
use crate::{Blob, FailureKind, Location};
use ferry_abi::batch::ColumnDescriptor;
use ferry_abi::{IMPORT_MODULE, imports};
use wasmtime::{Caller, Linker};

/// Adds WASI preview 1 and the `ferry_v1` imports to `linker`.
pub(crate) fn add_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |state| &mut state.wasi)?;
    // A wait inside a host call is out of reach of epoch interruption, so
    // WASI's own `poll_oneoff` would let a guest sleep past its deadline.
    linker.allow_shadowing(true);
    linker.func_wrap("wasi_snapshot_preview1", "poll_oneoff", poll_oneoff)?;
    linker.allow_shadowing(false);

    linker.func_wrap(
        IMPORT_MODULE,
        imports::RESULT,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let limit = caller.data().result_limit;
            if u64::from(len as u32) > limit {
                return Err(wasmtime::Error::new(FailureKind::ResultTooLarge {
                    size: u64::from(len as u32),
                    limit,
                }));
            }
            let bytes = guest_bytes(&mut caller, ptr, len)?;
            caller.data_mut().result = Some(bytes);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::RESULT_COLUMN,
        |mut caller: Caller<'_, HostState>, ptr: i32| {
            let descriptor: [u8; ColumnDescriptor::SIZE] =
                guest_bytes(&mut caller, ptr, ColumnDescriptor::SIZE as i32)?
                    .try_into()
                    .expect("a descriptor's worth of bytes");
            let column = read_column(&mut caller, &ColumnDescriptor::from_bytes(&descriptor))?;
            caller.data_mut().column = Some(column);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::ERROR,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let message =
                String::from_utf8_lossy(&guest_bytes(&mut caller, ptr, len)?).into_owned();
            caller.data_mut().error = Some(message);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::PANIC,
        |mut caller: Caller<'_, HostState>,
         msg_ptr: i32,
         msg_len: i32,
         file_ptr: i32,
         file_len: i32,
         line: i32,
         column: i32|
         -> wasmtime::Result<()> {
            let message =
                String::from_utf8_lossy(&guest_bytes(&mut caller, msg_ptr, msg_len)?).into_owned();
            let file = String::from_utf8_lossy(&guest_bytes(&mut caller, file_ptr, file_len)?)
                .into_owned();
            Err(wasmtime::Error::new(FailureKind::Panic {
                message,
                location: Location {
                    file,
                    line: line as u32,
                    column: column as u32,
                },
            }))
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::BLOB_LEN,
        |mut caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32|
         -> wasmtime::Result<i64> {
            let name = guest_bytes(&mut caller, name_ptr, name_len)?;
            Ok(find_blob(caller.data(), &name).map_or(-1, |blob| blob.bytes().len() as i64))
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::BLOB_READ,
        |mut caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         offset: i64,
         dst_ptr: i32,
         dst_len: i32|
         -> wasmtime::Result<i64> {
            let name = guest_bytes(&mut caller, name_ptr, name_len)?;
            let Some(blob) = find_blob(caller.data(), &name).map(|b| b.bytes().clone()) else {
                return Ok(-1);
            };
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(blob.len());
            let count = (dst_len as u32 as usize).min(blob.len() - start);
            let memory = guest_memory(&mut caller)?;
            let dst = guest_range(memory.data_size(&caller), dst_ptr, count as i32)?;
            memory.data_mut(&mut caller)[dst].copy_from_slice(&blob[start..start + count]);
            Ok(count as i64)
        },
    )?;
    Ok(())
}

/// Copies an output column out of guest memory (the one copy out), refusing
/// one over the result limit or one that is not a well-formed column.
fn read_column(
    caller: &mut Caller<'_, HostState>,
    descriptor: &ColumnDescriptor,
) -> wasmtime::Result<ColumnOut> {
    let malformed = |reason: String| {
        wasmtime::Error::new(FailureKind::Trap {
            message: format!("the guest returned a malformed column: {reason}"),
        })
    };
    let column_type = ColumnType::from_tag(descriptor.column_type)
        .ok_or_else(|| malformed(format!("unknown column type {}", descriptor.column_type)))?;
    let rows = descriptor.rows as usize;
    let offsets_len = column_type
        .offset_width()
        .map_or(0, |width| (rows + 1) * width);
    let validity_len = if descriptor.validity == 0 {
        0
    } else {
        rows.div_ceil(8)
    };
    let size = (validity_len + descriptor.values_len as usize + offsets_len) as u64;
    let limit = caller.data().result_limit;
    if size > limit {
        return Err(wasmtime::Error::new(FailureKind::ResultTooLarge {
            size,
            limit,
        }));
    }
    let mut copy = |ptr: u32, len: usize| -> wasmtime::Result<Vec<u8>> {
        if len == 0 {
            Ok(Vec::new())
        } else {
            guest_bytes(caller, ptr as i32, len as i32)
        }
    };
    let column = ColumnOut {
        column_type,
        rows,
        null_count: descriptor.null_count as usize,
        validity: (descriptor.validity != 0)
            .then(|| copy(descriptor.validity, validity_len))
            .transpose()?,
        values: copy(descriptor.values, descriptor.values_len as usize)?,
        offsets: column_type
            .offset_width()
            .map(|_| copy(descriptor.offsets, offsets_len))
            .transpose()?,
    };
    column.check().map_err(malformed)?;
    Ok(column)
}

fn find_blob<'a>(state: &'a HostState, name: &[u8]) -> Option<&'a Blob> {
    std::str::from_utf8(name)
        .ok()
        .and_then(|name| state.blobs.get(name))
}
