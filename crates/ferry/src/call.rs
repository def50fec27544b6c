//! Implementation details the macros expand to; not a public API.
//!
//! What the exports written by `#[ferry::function]`, `#[ferry::udf]` and
//! `#[ferry::udaf]` run: taking the host's buffers, decoding the arguments or
//! reading the columns and aggregate states, and reporting the outcome
//! through the host imports.

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

/// Decodes an argument (`what` names it in the error) from MessagePack.
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

/// The encoded result of a function that cannot fail.
pub fn finish_value<T: Serialize>(value: T) -> Result<Vec<u8>, Failure> {
    encode(&value)
}

/// The encoded result of a function returning `Result`; `Err` is the
/// function's error.
pub fn finish_result<T: Serialize, E: Display>(result: Result<T, E>) -> Result<Vec<u8>, Failure> {
    match result {
        Ok(value) => encode(&value),
        Err(e) => Err(Failure::Error(e.to_string())),
    }
}

/// Checks that the host passed the columns the function was compiled for.
pub fn expect_columns(columns: &[crate::batch::Column<'_>], tags: &[u32]) -> Result<(), Failure> {
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
pub fn write_states<'t, T: Serialize + 't>(
    states: impl ExactSizeIterator<Item = &'t T>,
) -> Result<crate::batch::ColumnBuilder, Failure> {
    let mut out = crate::batch::ColumnBuilder::new(crate::batch::ColumnType::Binary, states.len());
    // The compact form (structs as arrays, no field names): states are
    // decoded and encoded again on every call, and only this SDK reads
    // them.
    for state in states {
        out.push_written(|values| rmp_serde::encode::write(values, state))
            .map_err(|e| Failure::Error(format!("the state could not be encoded: {e}")))?;
    }
    Ok(out)
}

/// The group of each row of a kept step (a `uint32` column), and the
/// columns after it. The states the guest keeps grow, from `init`, to
/// hold every group named.
pub fn kept_groups<'c, 'a, T>(
    columns: &'c [crate::batch::Column<'a>],
    kept: &mut Vec<T>,
    init: impl Fn() -> T,
) -> Result<(Vec<u32>, &'c [crate::batch::Column<'a>]), Failure> {
    let (of_row, rest) = split_groups(columns, usize::MAX)?;
    if let Some(&last) = of_row.iter().max() {
        let needed = last as usize + 1;
        if needed > kept.len() {
            kept.resize_with(needed, init);
        }
    }
    Ok((of_row, rest))
}

/// The groups a kept finish or states step is about: its one column.
pub fn kept_named<T>(
    columns: &[crate::batch::Column<'_>],
    kept: &mut Vec<T>,
    init: impl Fn() -> T,
) -> Result<Vec<u32>, Failure> {
    match kept_groups(columns, kept, init)? {
        (groups, []) => Ok(groups),
        _ => Err(Failure::BadArgument(
            "a kept finish or states step takes one column, its groups".into(),
        )),
    }
}

/// What a kept step returns but for finish and states: how many groups
/// the guest keeps.
pub fn kept_count(groups: usize) -> crate::batch::ColumnBuilder {
    let mut out = crate::batch::ColumnBuilder::new(crate::batch::ColumnType::UInt32, 1);
    out.push_value(groups as u32);
    out
}

/// The kept drop step: the first `n` groups leave, the rest move down.
pub fn kept_drop<T>(
    columns: &[crate::batch::Column<'_>],
    kept: &mut Vec<T>,
) -> Result<crate::batch::ColumnBuilder, Failure> {
    let count = match columns {
        [count]
            if count.column_type() == crate::batch::ColumnType::UInt32
                && count.len() == 1
                && !count.has_nulls() =>
        {
            count.value::<u32>(0) as usize
        }
        _ => {
            return Err(Failure::BadArgument(
                "a kept drop step takes one uint32 row, how many groups leave".into(),
            ));
        }
    };
    kept.drain(..count.min(kept.len()));
    if kept.is_empty() {
        // The memory goes back to the allocator for the next query's groups.
        *kept = Vec::new();
    }
    Ok(kept_count(kept.len()))
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
///
/// # Safety
/// `env_ptr`/`env_len` must be a buffer the host allocated with
/// `ferry_alloc(len, 1)`, and `columns_ptr` must hold `column_count` column
/// descriptors of live buffers: what the ABI promises an export's arguments.
#[cfg(target_family = "wasm")]
pub unsafe fn call_scalar(
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
///
/// # Safety
/// Both buffers must have been allocated by the host with
/// `ferry_alloc(len, 1)`, as the ABI promises an export's arguments.
#[cfg(target_family = "wasm")]
pub unsafe fn call_value(
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
