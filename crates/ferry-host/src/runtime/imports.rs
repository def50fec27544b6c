//! The functions a guest may import: WASI preview 1 (with a `poll_oneoff`
//! that keeps to the deadline) and ferry's own `ferry_v1` module.

use super::guest_memory::{guest_bytes, guest_memory, guest_range, stop};
use super::host_state::HostState;
use super::poll_oneoff::poll_oneoff;
use crate::batch::{ColumnOut, ColumnType};
use crate::{Blob, FailureKind, Location};
use ferry_abi::batch::ColumnDescriptor;
use ferry_abi::{IMPORT_MODULE, imports};
use wasmtime::{Caller, Linker};

/// Adds WASI preview 1 and the `ferry_v1` imports to `linker`.
pub(crate) fn add_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, HostState::wasi)?;
    // A wait inside a host call is out of reach of epoch interruption, so
    // WASI's own `poll_oneoff` would let a guest sleep past its deadline.
    linker.allow_shadowing(true);
    linker.func_wrap("wasi_snapshot_preview1", "poll_oneoff", poll_oneoff)?;
    linker.allow_shadowing(false);
    super::actor_call::add_import(linker)?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::RESULT,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let len = u64::from(len as u32);
            let limit = caller.data().result_limit;
            if len > limit {
                return Err(wasmtime::Error::new(FailureKind::ResultTooLarge {
                    size: len,
                    limit,
                }));
            }
            once(caller.data().result.is_some(), imports::RESULT)?;
            let bytes = guest_bytes(
                &mut caller,
                "the buffer passed to `result`",
                ptr as u32,
                len,
            )?;
            crate::msgpack::check_without_ext(&bytes, crate::STORED_EXT).map_err(|reason| {
                wasmtime::Error::new(FailureKind::MalformedResult {
                    reason: format!("the value {reason}"),
                })
            })?;
            caller.data_mut().result = Some(bytes);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::RESULT_COLUMN,
        |mut caller: Caller<'_, HostState>, ptr: i32| {
            once(caller.data().column.is_some(), imports::RESULT_COLUMN)?;
            let descriptor: [u8; ColumnDescriptor::SIZE] = guest_bytes(
                &mut caller,
                "the descriptor passed to `result_column`",
                ptr as u32,
                ColumnDescriptor::SIZE as u64,
            )?
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
            let message = guest_text(&mut caller, "the message passed to `error`", ptr, len)?;
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
            let message = guest_text(
                &mut caller,
                "the message passed to `panic`",
                msg_ptr,
                msg_len,
            )?;
            let file = guest_text(
                &mut caller,
                "the file passed to `panic`",
                file_ptr,
                file_len,
            )?;
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
            let name = blob_name(&mut caller, imports::BLOB_LEN, name_ptr, name_len)?;
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
            let name = blob_name(&mut caller, imports::BLOB_READ, name_ptr, name_len)?;
            let Some(blob) = find_blob(caller.data(), &name).map(|b| b.bytes().clone()) else {
                return Ok(-1);
            };
            // An offset past the end, or negative, reads nothing.
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(blob.len());
            let count = (dst_len as u32 as usize).min(blob.len() - start);
            let memory = guest_memory(&mut caller)?;
            let dst = guest_range(
                memory.data_size(&caller),
                "the buffer passed to `blob_read`",
                dst_ptr as u32,
                count as u64,
            )?;
            memory.data_mut(&mut caller)[dst].copy_from_slice(&blob[start..start + count]);
            Ok(count as i64)
        },
    )?;
    Ok(())
}

/// Refuses a second `result` or `result_column` in one call: the ABI gives a
/// call one result.
fn once(already: bool, import: &str) -> wasmtime::Result<()> {
    if already {
        return Err(stop(format!("`{import}` was called twice in one call")));
    }
    Ok(())
}

/// A message from the guest, cut to the result limit: a guest must not get
/// more out through its error than through its result.
fn guest_text(
    caller: &mut Caller<'_, HostState>,
    what: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<String> {
    let len = u64::from(len as u32);
    let memory = guest_memory(caller)?;
    let range = guest_range(memory.data_size(&caller), what, ptr as u32, len)?;
    let limit = caller.data().result_limit;
    let kept = range.start..range.start + len.min(limit) as usize;
    let mut text = String::from_utf8_lossy(&memory.data(&caller)[kept]).into_owned();
    if len > limit {
        text.push_str(&format!(" ... ({} more bytes not kept)", len - limit));
    }
    Ok(text)
}

fn blob_name(
    caller: &mut Caller<'_, HostState>,
    import: &str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let what = format!("the blob name passed to `{import}`");
    guest_bytes(caller, &what, ptr as u32, u64::from(len as u32))
}

/// Copies an output column out of guest memory (the one copy out), refusing
/// one over the result limit or one that is not a well-formed column.
fn read_column(
    caller: &mut Caller<'_, HostState>,
    descriptor: &ColumnDescriptor,
) -> wasmtime::Result<ColumnOut> {
    let malformed = |reason: String| {
        wasmtime::Error::new(FailureKind::MalformedResult {
            reason: format!("the column {reason}"),
        })
    };
    let column_type = ColumnType::from_tag(descriptor.column_type)
        .ok_or_else(|| malformed(format!("has unknown type tag {}", descriptor.column_type)))?;
    let rows = u64::from(descriptor.rows);
    let offsets_len = column_type
        .offset_width()
        .map_or(0, |width| (rows + 1) * width as u64);
    if offsets_len > 0 && descriptor.offsets == 0 {
        return Err(malformed(format!(
            "is {} and needs offsets, but its offsets pointer is 0 (no buffer)",
            column_type.name()
        )));
    }
    let validity_len = if descriptor.validity == 0 {
        0
    } else {
        rows.div_ceil(8)
    };
    let values_len = u64::from(descriptor.values_len);
    let size = validity_len + values_len + offsets_len;
    let limit = caller.data().result_limit;
    if size > limit {
        return Err(wasmtime::Error::new(FailureKind::ResultTooLarge {
            size,
            limit,
        }));
    }
    let mut copy = |buffer: &str, ptr: u32, len: u64| -> wasmtime::Result<Vec<u8>> {
        let what = format!("the {buffer} of the column passed to `result_column`");
        guest_bytes(caller, &what, ptr, len)
    };
    let column = ColumnOut {
        column_type,
        rows: rows as usize,
        null_count: descriptor.null_count as usize,
        validity: (descriptor.validity != 0)
            .then(|| copy("validity bitmap", descriptor.validity, validity_len))
            .transpose()?,
        values: copy("values", descriptor.values, values_len)?,
        offsets: column_type
            .offset_width()
            .map(|_| copy("offsets", descriptor.offsets, offsets_len))
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
