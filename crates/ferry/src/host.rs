//! The host, as the guest sees it: the `ferry_v1` imports, and the
//! allocator exports through which the host hands over and takes back
//! memory.

use std::alloc::Layout;

#[link(wasm_import_module = "ferry_v1")]
unsafe extern "C" {
    #[link_name = "result"]
    fn ferry_result(ptr: *const u8, len: usize);
    #[link_name = "error"]
    fn ferry_error(ptr: *const u8, len: usize);
    #[link_name = "panic"]
    fn ferry_panic(
        msg_ptr: *const u8,
        msg_len: usize,
        file_ptr: *const u8,
        file_len: usize,
        line: u32,
        column: u32,
    );
    #[link_name = "result_column"]
    fn ferry_result_column(descriptor_ptr: *const u8);
    #[link_name = "blob_len"]
    fn ferry_blob_len(name_ptr: *const u8, name_len: usize) -> i64;
    #[link_name = "blob_read"]
    fn ferry_blob_read(
        name_ptr: *const u8,
        name_len: usize,
        offset: i64,
        dst_ptr: *mut u8,
        dst_len: usize,
    ) -> i64;
    #[link_name = "actor_call"]
    fn ferry_actor_call(
        handle_ptr: *const u8,
        handle_len: usize,
        function_ptr: *const u8,
        function_len: usize,
        input_ptr: *const u8,
        input_len: usize,
        reply_ptr: *mut [u32; 2],
    ) -> i32;
}

/// `ferry_alloc(size, align)`: memory the host fills and hands over.
#[unsafe(no_mangle)]
extern "C" fn ferry_alloc(size: usize, align: usize) -> *mut u8 {
    match Layout::from_size_align(size, align) {
        Ok(layout) if size > 0 => unsafe { std::alloc::alloc(layout) },
        // A zero-sized buffer needs no memory, only a well-aligned address.
        Ok(_) => align as *mut u8,
        Err(_) => std::ptr::null_mut(),
    }
}

/// `ferry_free(ptr, size, align)`: returns memory from `ferry_alloc`.
#[unsafe(no_mangle)]
unsafe extern "C" fn ferry_free(ptr: *mut u8, size: usize, align: usize) {
    if size > 0
        && let Ok(layout) = Layout::from_size_align(size, align)
    {
        unsafe { std::alloc::dealloc(ptr, layout) }
    }
}

/// # Safety
/// `ptr` must come from `ferry_alloc(len, 1)` and not be used again.
pub unsafe fn take(ptr: *mut u8, len: usize) -> Vec<u8> {
    if len == 0 {
        Vec::new()
    } else {
        unsafe { Vec::from_raw_parts(ptr, len, len) }
    }
}

/// Hands the host a value call's encoded result.
pub fn result(bytes: &[u8]) {
    unsafe { ferry_result(bytes.as_ptr(), bytes.len()) }
}

/// Hands the host an output column; it copies the buffers during the
/// call.
pub fn result_column(builder: &crate::batch::ColumnBuilder) {
    let bytes = builder.column().descriptor().to_bytes();
    unsafe { ferry_result_column(bytes.as_ptr()) }
}

/// Frees the buffers of a batch call: the descriptor array (align 4) and
/// each column's buffers (align 8), as the host allocated them.
pub fn free_columns(columns_ptr: *mut u8, descriptors: &[crate::batch::ColumnDescriptor]) {
    let free = |ptr: u32, len: usize, align: usize| {
        if ptr != 0 && len > 0 {
            unsafe { ferry_free(ptr as usize as *mut u8, len, align) }
        }
    };
    for d in descriptors {
        let rows = d.rows as usize;
        let offsets = ferry_abi::batch::ColumnType::from_tag(d.column_type)
            .and_then(|t| t.offset_width())
            .map_or(0, |w| (rows + 1) * w);
        free(d.validity, rows.div_ceil(8), 8);
        free(d.values, d.values_len as usize, 8);
        free(d.offsets, offsets, 8);
    }
    free(
        columns_ptr as usize as u32,
        descriptors.len() * crate::batch::ColumnDescriptor::SIZE,
        4,
    );
}

/// Hands the host the message of a failed call.
pub fn error(message: &str) {
    unsafe { ferry_error(message.as_ptr(), message.len()) }
}

/// Reports every panic to the host, with its message and location,
/// before the guest aborts.
pub fn install_panic_hook() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = match info.payload_as_str() {
                Some(text) => text.to_owned(),
                None => "Box<dyn Any>".to_owned(),
            };
            let (file, line, column) = info
                .location()
                .map(|l| (l.file(), l.line(), l.column()))
                .unwrap_or(("", 0, 0));
            unsafe {
                ferry_panic(
                    message.as_ptr(),
                    message.len(),
                    file.as_ptr(),
                    file.len(),
                    line,
                    column,
                )
            }
        }))
    });
}

/// Reads a whole blob: its length first, then its bytes.
pub fn blob(name: &str) -> Option<Vec<u8>> {
    let len = usize::try_from(blob_len(name)?).ok()?;
    let mut bytes = vec![0u8; len];
    (blob_read_at(name, 0, &mut bytes)? == len).then_some(bytes)
}

/// The size of a blob, if there is one of that name.
pub fn blob_len(name: &str) -> Option<u64> {
    u64::try_from(unsafe { ferry_blob_len(name.as_ptr(), name.len()) }).ok()
}

/// Copies bytes of a blob from `offset` into `buffer`: how many.
pub fn blob_read_at(name: &str, offset: u64, buffer: &mut [u8]) -> Option<usize> {
    let read = unsafe {
        ferry_blob_read(
            name.as_ptr(),
            name.len(),
            i64::try_from(offset).ok()?,
            buffer.as_mut_ptr(),
            buffer.len(),
        )
    };
    usize::try_from(read).ok()
}

/// Calls an actor: its status, and the reply the host allocated for it.
pub fn actor_call(handle: &[u8], function: &str, input: &[u8]) -> (i32, Vec<u8>) {
    let mut reply = [0u32; 2];
    let status = unsafe {
        ferry_actor_call(
            handle.as_ptr(),
            handle.len(),
            function.as_ptr(),
            function.len(),
            input.as_ptr(),
            input.len(),
            &mut reply,
        )
    };
    let bytes = unsafe { take(reply[0] as usize as *mut u8, reply[1] as usize) };
    (status, bytes)
}
