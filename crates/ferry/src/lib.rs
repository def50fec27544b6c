//! # ferry guest SDK
//!
//! Write ordinary Rust functions, mark them `#[ferry::function]`, compile the
//! crate to `wasm32-wasip1` as a `cdylib`, and any ferry host can call them:
//! in-process, on a remote worker, or wherever the closure travels.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct Scale {
//!     factor: f64,
//! }
//!
//! /// `env` is the captured environment; the other parameters are the input.
//! #[ferry::function]
//! fn scale(env: Scale, x: f64) -> f64 {
//!     env.factor * x
//! }
//!
//! /// Returning `Err` reaches the host as a guest error carrying the message.
//! #[ferry::function]
//! fn divide(a: i64, b: i64) -> Result<i64, String> {
//!     a.checked_div(b).ok_or_else(|| format!("cannot divide {a} by zero"))
//! }
//!
//! // Outside WebAssembly the functions stay ordinary functions, so they can be
//! // unit-tested natively.
//! assert_eq!(scale(Scale { factor: 2.0 }, 1.5), 3.0);
//! assert!(divide(1, 0).is_err());
//! ```
//!
//! ## The rules
//! - A parameter named `env` is the captured environment: the value bound
//!   into a closure when it is made. Every other parameter is the input: with
//!   one, the input is that value; with several, the input is an array of them.
//! - Parameter and result types are any serde types. They cross the boundary
//!   as MessagePack, structs as maps with their field names. Use `BTreeMap`
//!   rather than `HashMap` in an environment if the same closure must always
//!   encode to the same bytes.
//! - A return type spelled `Result<T, E>` with `E: Display` reports `Err` as a
//!   guest error with `E`'s message. Any other return type is the value.
//! - A panic reaches the host as a panic error with its message and location.
//! - WASI works as usual but the host decides what it grants: by default no
//!   files, no environment variables and a clock stuck at zero.
//!
//! ## SQL functions
//!
//! `#[ferry::udf]` turns a row function into a vectorized scalar function that
//! takes whole columns, one call per batch:
//!
//! ```
//! #[ferry::udf]
//! fn gcd(a: i64, b: i64) -> i64 {
//!     let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
//!     while b != 0 {
//!         (a, b) = (b, a % b);
//!     }
//!     a as i64
//! }
//!
//! /// With `Option` parameters, nulls reach the function instead of making
//! /// the row null.
//! #[ferry::udf]
//! fn first(a: Option<i64>, b: Option<i64>) -> Option<i64> {
//!     a.or(b)
//! }
//!
//! assert_eq!(gcd(12, 18), 6);
//! ```
//!
//! Parameters and the result are `bool`, integers, `f32`, `f64`, `&str` or
//! `String` (utf8), `&[u8]` or `Vec<u8>` (binary), or an `Option` of one. A
//! null in a non-`Option` argument makes the row null without calling the
//! function. A `Result` return reports `Err` as an error naming the row. A
//! parameter named `env` is bound when the function is registered. For whole
//! columns, see [`batch`].
//!
//! `#[ferry::udaf]` on an `impl` block makes an aggregate function of its
//! `init`, `update`, `merge` and `finish`. The type is the state: it must be
//! serde-serializable, since partial states travel between partitions.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct Range {
//!     lo: Option<i64>,
//!     hi: Option<i64>,
//! }
//!
//! /// `range(x)`: the largest value minus the smallest, null for no rows.
//! #[ferry::udaf]
//! impl Range {
//!     fn init() -> Self {
//!         Range { lo: None, hi: None }
//!     }
//!     /// A row function, as with `#[ferry::udf]`: rows with a null in a
//!     /// non-`Option` argument are skipped.
//!     fn update(&mut self, x: i64) {
//!         self.lo = Some(self.lo.map_or(x, |lo| lo.min(x)));
//!         self.hi = Some(self.hi.map_or(x, |hi| hi.max(x)));
//!     }
//!     fn merge(&mut self, other: Self) {
//!         for x in [other.lo, other.hi].into_iter().flatten() {
//!             self.update(x);
//!         }
//!     }
//!     fn finish(self) -> Option<i64> {
//!         Some(self.hi? - self.lo?)
//!     }
//! }
//! ```
//!
//! An optional `retract`, with `update`'s arguments, takes a row back out of
//! the state; with it the function also runs over sliding windows (`OVER
//! (ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)`), which DataFusion refuses for
//! an aggregate that cannot retract.
//!
//! Any of these may take the environment as a parameter named `env`;
//! `update` and `retract` may return `Result<(), E>` to fail naming the
//! row. The function is named after the type in snake case, or
//! `#[ferry::udaf(name = "...")]`.
//! `ferry::batch::Date32` and `TimestampMicros` are SQL dates and timestamps.
//!
//! The ABI the macros implement is described in `docs/abi.md`.

pub mod batch;

pub use ferry_macros::{function, udaf, udf};

/// Reads the data blob `name` attached to the closure being run, or `None` if
/// the closure has no blob of that name (or this is not running under ferry).
///
/// ```
/// // Natively there are no blobs.
/// assert_eq!(ferry::blob("lookup-table"), None);
/// ```
pub fn blob(name: &str) -> Option<Vec<u8>> {
    host::blob(name)
}

/// Implementation details the macro expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use std::fmt::Display;

    /// Why a call did not produce a value.
    pub enum Failure {
        /// The function returned an error.
        Error(String),
        /// An argument did not decode into its parameter type.
        BadArgument(String),
    }

    pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Failure> {
        // An absent value is nil, so `()` and `Option` parameters accept it.
        let bytes = if bytes.is_empty() { &[0xc0][..] } else { bytes };
        rmp_serde::from_slice(bytes).map_err(|e| {
            Failure::BadArgument(format!(
                "the {what} does not match the type `{}`: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Failure> {
        rmp_serde::to_vec_named(value)
            .map_err(|e| Failure::Error(format!("the result could not be encoded: {e}")))
    }

    pub fn finish_value<T: Serialize>(value: T) -> Result<Vec<u8>, Failure> {
        encode(&value)
    }

    pub fn finish_result<T: Serialize, E: Display>(
        result: Result<T, E>,
    ) -> Result<Vec<u8>, Failure> {
        match result {
            Ok(value) => encode(&value),
            Err(e) => Err(Failure::Error(e.to_string())),
        }
    }

    /// Checks that the host passed the columns the function was compiled for.
    pub fn expect_columns(
        columns: &[crate::batch::Column<'_>],
        tags: &[u32],
    ) -> Result<(), Failure> {
        let found: Vec<u32> = columns.iter().map(|c| c.column_type() as u32).collect();
        let rows_agree = columns
            .windows(2)
            .all(|pair| pair[0].len() == pair[1].len());
        if found != tags || !rows_agree {
            return Err(Failure::BadArgument(format!(
                "expected columns of types {tags:?}, got {found:?}{}",
                if rows_agree {
                    ""
                } else {
                    " of different lengths"
                }
            )));
        }
        Ok(())
    }

    /// Rows in the batch (at least one column is passed; a function of no
    /// arguments gets none and is called once).
    pub fn rows(columns: &[crate::batch::Column<'_>]) -> usize {
        columns.first().map_or(1, |c| c.len())
    }

    /// A row's `Result`, with the row named in the error.
    pub fn row_result<T, E: Display>(row: usize, result: Result<T, E>) -> Result<T, Failure> {
        result.map_err(|e| Failure::Error(format!("row {row}: {e}")))
    }

    /// An aggregate call's states (the first column: one row per group)
    /// and the columns after.
    pub fn split_states<'c, 'a>(
        columns: &'c [crate::batch::Column<'a>],
    ) -> Result<(crate::batch::Column<'a>, &'c [crate::batch::Column<'a>]), Failure> {
        match columns {
            [states, rest @ ..] if states.column_type() == crate::batch::ColumnType::Binary => {
                Ok((*states, rest))
            }
            _ => Err(Failure::BadArgument(
                "an aggregate call starts with its states: a binary column".into(),
            )),
        }
    }

    /// Decodes each group's state; a group without one (a null row) starts
    /// from `init`.
    pub fn read_states<T: DeserializeOwned>(
        states: crate::batch::Column<'_>,
        init: impl Fn() -> T,
    ) -> Result<Vec<T>, Failure> {
        (0..states.len())
            .map(|group| match states.get::<&[u8]>(group) {
                Some(bytes) => decode("aggregate state", bytes),
                None => Ok(init()),
            })
            .collect()
    }

    /// The group of each row (a `uint32` column, each below `groups`) and
    /// the columns after it, which must have a row for each.
    pub fn split_groups<'c, 'a>(
        columns: &'c [crate::batch::Column<'a>],
        groups: usize,
    ) -> Result<(Vec<u32>, &'c [crate::batch::Column<'a>]), Failure> {
        use crate::batch::{ColumnType, FromColumn};
        let [index, rest @ ..] = columns else {
            return Err(Failure::BadArgument(
                "an aggregate update or merge names each row's group".into(),
            ));
        };
        if index.column_type() != ColumnType::UInt32 || index.has_nulls() {
            return Err(Failure::BadArgument(
                "groups are a uint32 column without nulls".into(),
            ));
        }
        let of_row: Vec<u32> = u32::iter(*index).collect();
        if let Some(bad) = of_row.iter().find(|&&group| group as usize >= groups) {
            return Err(Failure::BadArgument(format!(
                "group {bad} in a call about {groups} groups"
            )));
        }
        if rest.iter().any(|column| column.len() != of_row.len()) {
            return Err(Failure::BadArgument(format!(
                "{} group indices for columns of another length",
                of_row.len()
            )));
        }
        Ok((of_row, rest))
    }

    /// Encodes each group's state for the host to keep: a binary column
    /// with a row per group.
    pub fn write_states<T: Serialize>(
        states: &[T],
    ) -> Result<crate::batch::ColumnBuilder, Failure> {
        let mut out =
            crate::batch::ColumnBuilder::new(crate::batch::ColumnType::Binary, states.len());
        // The compact form (structs as arrays, no field names): states are
        // decoded and encoded again on every call, and only this SDK reads
        // them.
        for state in states {
            out.push_written(|values| rmp_serde::encode::write(values, state))
                .map_err(|e| Failure::Error(format!("the state could not be encoded: {e}")))?;
        }
        Ok(out)
    }

    /// The partial states a merge step receives, decoded, each with its row;
    /// null rows (partitions that saw no rows) are skipped.
    pub fn partial_states<'a, T: DeserializeOwned>(
        columns: &[crate::batch::Column<'a>],
    ) -> Result<impl Iterator<Item = Result<(usize, T), Failure>> + 'a, Failure> {
        let [states] = columns else {
            return Err(Failure::BadArgument(
                "a merge call takes one binary column of partial states".into(),
            ));
        };
        let states = *states;
        if states.column_type() != crate::batch::ColumnType::Binary {
            return Err(Failure::BadArgument("partial states must be binary".into()));
        }
        Ok((0..states.len()).filter_map(move |row| {
            let bytes = states.get::<&[u8]>(row)?;
            Some(decode("partial state", bytes).map(|state| (row, state)))
        }))
    }

    /// Runs one batch call: reads the column descriptors, runs `body`, and
    /// hands the output column to the host. The input buffers belong to the
    /// guest after the call, as in value calls, and are freed here.
    #[cfg(target_family = "wasm")]
    pub fn call_scalar(
        env_ptr: *mut u8,
        env_len: usize,
        columns_ptr: *mut u8,
        column_count: usize,
        body: impl FnOnce(
            &[u8],
            &[crate::batch::Column<'_>],
        ) -> Result<crate::batch::ColumnBuilder, Failure>,
    ) -> i32 {
        use crate::batch::{Column, ColumnDescriptor};
        crate::host::install_panic_hook();
        let env = unsafe { crate::host::take(env_ptr, env_len) };
        let descriptors: Vec<ColumnDescriptor> = (0..column_count)
            .map(|i| {
                // SAFETY: the host wrote `column_count` descriptors there.
                let bytes = unsafe {
                    &*(columns_ptr.add(i * ColumnDescriptor::SIZE)
                        as *const [u8; ColumnDescriptor::SIZE])
                };
                ColumnDescriptor::from_bytes(bytes)
            })
            .collect();
        // SAFETY: the host guarantees the descriptors describe live buffers.
        let columns: Option<Vec<Column<'_>>> = descriptors
            .iter()
            .map(|d| unsafe { Column::from_descriptor(d) })
            .collect();
        let outcome = match columns {
            Some(columns) => body(&env, &columns),
            None => Err(Failure::BadArgument(
                "a column has a type this SDK does not know".into(),
            )),
        };
        let status = report(outcome, |builder| crate::host::result_column(&builder));
        crate::host::free_columns(columns_ptr, &descriptors);
        status
    }

    /// Hands the outcome of a call to the host and returns its status code.
    #[cfg(target_family = "wasm")]
    fn report<T>(outcome: Result<T, Failure>, deliver: impl FnOnce(T)) -> i32 {
        let status = match outcome {
            Ok(value) => {
                deliver(value);
                ferry_abi::Status::Ok
            }
            Err(Failure::Error(message)) => {
                crate::host::error(&message);
                ferry_abi::Status::Error
            }
            Err(Failure::BadArgument(message)) => {
                crate::host::error(&message);
                ferry_abi::Status::BadArgument
            }
        };
        status as i32
    }

    /// Runs one value call: takes ownership of the argument buffers the host
    /// allocated with `ferry_alloc(len, 1)`, and reports the outcome through
    /// the host imports.
    #[cfg(target_family = "wasm")]
    pub fn call_value(
        env_ptr: *mut u8,
        env_len: usize,
        input_ptr: *mut u8,
        input_len: usize,
        body: impl FnOnce(&[u8], &[u8]) -> Result<Vec<u8>, Failure>,
    ) -> i32 {
        crate::host::install_panic_hook();
        // SAFETY: the ABI hands these buffers to the guest; they were
        // allocated by `ferry_alloc(len, 1)`, the layout of a `Vec<u8>`.
        let env = unsafe { crate::host::take(env_ptr, env_len) };
        let input = unsafe { crate::host::take(input_ptr, input_len) };
        report(body(&env, &input), |bytes| crate::host::result(&bytes))
    }
}

#[cfg(target_family = "wasm")]
mod host {
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

    pub fn error(message: &str) {
        unsafe { ferry_error(message.as_ptr(), message.len()) }
    }

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

    pub fn blob(name: &str) -> Option<Vec<u8>> {
        let len = unsafe { ferry_blob_len(name.as_ptr(), name.len()) };
        let len = usize::try_from(len).ok()?;
        let mut bytes = vec![0u8; len];
        let read = unsafe {
            ferry_blob_read(
                name.as_ptr(),
                name.len(),
                0,
                bytes.as_mut_ptr(),
                bytes.len(),
            )
        };
        (usize::try_from(read).ok()? == len).then_some(bytes)
    }
}

#[cfg(not(target_family = "wasm"))]
mod host {
    pub fn blob(_name: &str) -> Option<Vec<u8>> {
        None
    }
}
