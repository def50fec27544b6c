//! The ferry guest ABI, as data: the names and numbers that a guest module and a
//! host must agree on, and the function records a module carries in its
//! `ferry.functions` custom section.
//!
//! `docs/abi.md` is the normative description; this crate is its one
//! implementation in Rust, shared by the guest SDK (through its proc macro) and
//! the host, so the two cannot drift apart.
//!
//! ```
//! use ferry_abi::{FunctionKind, FunctionRecord, parse_records};
//!
//! let record = FunctionRecord::value("add", "(i64, i64)", "i64", None);
//! let section = record.to_section_line();
//! let parsed = parse_records(section.as_bytes()).unwrap();
//! assert_eq!(parsed, vec![record]);
//! assert_eq!(parsed[0].kind, FunctionKind::Value);
//! assert_eq!(parsed[0].export, "ferry_fn_add");
//! ```

#![deny(missing_docs)]

pub mod batch;
mod chunk;

pub use chunk::{CHUNK_BLOB, Chunk};
use serde::{Deserialize, Serialize};

/// The ABI version this crate describes. A module whose records name another
/// version is refused by the host before any of its code runs.
pub const ABI_VERSION: u32 = 1;

/// Name of the custom section that lists a module's ferry functions.
pub const FUNCTIONS_SECTION: &str = "ferry.functions";

/// Import module under which the host provides the ferry imports. The version
/// is part of the name so that a later ABI can be offered beside this one.
pub const IMPORT_MODULE: &str = "ferry_v1";

/// Prefix of the export that implements a function, unless its record says
/// otherwise.
pub const EXPORT_PREFIX: &str = "ferry_fn_";

/// Exported allocator: `ferry_alloc(size: i32, align: i32) -> i32`.
pub const EXPORT_ALLOC: &str = "ferry_alloc";

/// Exported deallocator: `ferry_free(ptr: i32, size: i32, align: i32)`.
pub const EXPORT_FREE: &str = "ferry_free";

/// Import names inside [`IMPORT_MODULE`].
pub mod imports {
    /// `result(ptr: i32, len: i32)`: the MessagePack-encoded return value.
    pub const RESULT: &str = "result";
    /// `error(ptr: i32, len: i32)`: a UTF-8 error message.
    pub const ERROR: &str = "error";
    /// `panic(msg_ptr, msg_len, file_ptr, file_len, line, column)`: the guest
    /// is about to abort; never returns.
    pub const PANIC: &str = "panic";
    /// `blob_len(name_ptr: i32, name_len: i32) -> i64`: size of a named data
    /// blob, or -1 when the closure has none of that name.
    pub const BLOB_LEN: &str = "blob_len";
    /// `blob_read(name_ptr, name_len, offset: i64, dst_ptr, dst_len) -> i64`:
    /// copies part of a blob into guest memory; returns the bytes copied or -1.
    pub const BLOB_READ: &str = "blob_read";
    /// `result_column(descriptor_ptr: i32)`: a batch call's output column,
    /// described by a [`ColumnDescriptor`](crate::batch::ColumnDescriptor).
    pub const RESULT_COLUMN: &str = "result_column";
    /// `actor_call(handle_ptr, handle_len, function_ptr, function_len,
    /// input_ptr, input_len, reply_ptr) -> i32`: calls a function of an
    /// actor the host can reach; see [`ActorCallStatus`](crate::ActorCallStatus).
    pub const ACTOR_CALL: &str = "actor_call";
}

/// What `actor_call` returns. In each case the host has written the
/// pointer and length (two little-endian `u32`s) of a reply it allocated
/// with `ferry_alloc(len, 1)` at `reply_ptr`; the guest owns that buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ActorCallStatus {
    /// The actor's function returned; the reply is its result, MessagePack.
    Done = 0,
    /// The call failed: the function returned an error, trapped (the actor
    /// restarted or died), or the actor is gone; the reply is a UTF-8
    /// message.
    Failed = 1,
    /// The host running the guest reaches no actors; the reply is a UTF-8
    /// message.
    NotGranted = 2,
}

impl ActorCallStatus {
    /// The status for a raw return code, if it is one this ABI defines.
    pub fn from_code(code: i32) -> Option<ActorCallStatus> {
        match code {
            0 => Some(ActorCallStatus::Done),
            1 => Some(ActorCallStatus::Failed),
            2 => Some(ActorCallStatus::NotGranted),
            _ => None,
        }
    }
}

/// What a value call's export returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// The call succeeded; the value was passed to `result` (nil if not).
    Ok = 0,
    /// The function returned an error, passed to `error`.
    Error = 1,
    /// The environment or the input could not be decoded into the function's
    /// parameter types; the reason was passed to `error`.
    BadArgument = 2,
}

impl Status {
    /// The status for a raw return code, if it is one this ABI defines.
    pub fn from_code(code: i32) -> Option<Status> {
        match code {
            0 => Some(Status::Ok),
            1 => Some(Status::Error),
            2 => Some(Status::BadArgument),
            _ => None,
        }
    }
}

/// How a function is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    /// One MessagePack environment and input in, one MessagePack value out.
    Value,
    /// A batch of columns in, one column out, row for row: a SQL scalar
    /// function. Its record lists `args` and `returns` as column type names.
    Scalar,
    /// Columns in, partial states merged across batches and partitions, one
    /// value out: a SQL aggregate function. Its record lists `args` and
    /// `returns` as for scalar functions; its exports are `export` followed
    /// by each required [`AggregateStep`](batch::AggregateStep)'s suffix,
    /// and the retract step's when the record has `retract`.
    Aggregate,
    /// A kind this version of the crate does not know: the host lists it but
    /// will not call it.
    #[serde(other)]
    Unknown,
}

/// One function a module offers, as recorded in its `ferry.functions` section.
///
/// The type fields are descriptions for people and tools (`ferry inspect`);
/// for value functions they are the Rust type names the SDK saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// ABI version the function was compiled against.
    pub abi: u32,
    /// Name callers use.
    pub name: String,
    /// Calling convention.
    pub kind: FunctionKind,
    /// Name of the export implementing it.
    pub export: String,
    /// The captured environment's type, if the function takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The input's type.
    pub input: String,
    /// The result's type.
    pub output: String,
    /// Which SDK produced the record, e.g. `ferry-rust/0.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdk: Option<String>,
    /// For batch functions: the argument column types, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// For batch functions: the result column type, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    /// For aggregate functions: whether the module exports the retract
    /// step, so that the function can run over sliding windows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retract: bool,
    /// For aggregate functions: whether the module exports the kept steps
    /// ([`AggregateStep::KEPT`](batch::AggregateStep::KEPT)), so that a
    /// host may leave the states of a query's groups in one instance's
    /// memory between calls.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kept: bool,
    /// For batch functions: whether the types are each closure's rather
    /// than the record's. One compiled function then serves many
    /// signatures, an interpreter's for instance: `args` and `returns` are
    /// empty here, and a closure's environment, a map, carries them under
    /// those keys ([`DynamicTypes`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dynamic: bool,
}

/// What the environment of a closure of a [`dynamic`](FunctionRecord::dynamic)
/// function carries besides its own fields: the column types the record
/// leaves open, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicTypes {
    /// The argument column types.
    pub args: Vec<String>,
    /// The result column type.
    pub returns: String,
    /// For aggregates whose module has the retract step: whether this
    /// closure's may be called (an interpreted program may lack it).
    #[serde(default)]
    pub retract: bool,
}

impl FunctionRecord {
    /// A value function record of the current ABI version with the
    /// conventional export name.
    pub fn value(name: &str, input: &str, output: &str, env: Option<&str>) -> Self {
        FunctionRecord {
            abi: ABI_VERSION,
            name: name.to_owned(),
            kind: FunctionKind::Value,
            export: format!("{EXPORT_PREFIX}{name}"),
            env: env.map(str::to_owned),
            input: input.to_owned(),
            output: output.to_owned(),
            sdk: None,
            args: Vec::new(),
            returns: None,
            retract: false,
            kept: false,
            dynamic: false,
        }
    }

    /// A scalar (batch) function record of the current ABI version.
    pub fn scalar(
        name: &str,
        args: &[batch::ColumnType],
        returns: batch::ColumnType,
        env: Option<&str>,
    ) -> Self {
        let names: Vec<String> = args.iter().map(|t| t.name().to_owned()).collect();
        FunctionRecord {
            abi: ABI_VERSION,
            name: name.to_owned(),
            kind: FunctionKind::Scalar,
            export: format!("{}{name}", batch::EXPORT_PREFIX),
            env: env.map(str::to_owned),
            input: format!("({})", names.join(", ")),
            output: returns.name().to_owned(),
            sdk: None,
            args: names,
            returns: Some(returns.name().to_owned()),
            retract: false,
            kept: false,
            dynamic: false,
        }
    }

    /// An aggregate function record of the current ABI version.
    pub fn aggregate(
        name: &str,
        args: &[batch::ColumnType],
        returns: batch::ColumnType,
        env: Option<&str>,
    ) -> Self {
        FunctionRecord {
            kind: FunctionKind::Aggregate,
            export: format!("{}{name}", batch::AGGREGATE_PREFIX),
            ..Self::scalar(name, args, returns, env)
        }
    }

    /// The record of a closure of this dynamic function whose environment
    /// gives it `types`: the types filled in, and `dynamic` no longer set.
    pub fn with_types(&self, types: DynamicTypes) -> FunctionRecord {
        FunctionRecord {
            input: format!("({})", types.args.join(", ")),
            output: types.returns.clone(),
            args: types.args,
            returns: Some(types.returns),
            retract: self.retract && types.retract,
            dynamic: false,
            ..self.clone()
        }
    }

    /// The exports a module must have for this function, each of the batch
    /// call's type `(i32, i32, i32, i32) -> i32`.
    pub fn exports(&self) -> Vec<String> {
        match self.kind {
            FunctionKind::Value | FunctionKind::Scalar => vec![self.export.clone()],
            FunctionKind::Aggregate => batch::AggregateStep::REQUIRED
                .iter()
                .chain(self.retract.then_some(&batch::AggregateStep::Retract))
                .chain(batch::AggregateStep::KEPT.iter().filter(|_| self.kept))
                .map(|step| self.step_export(*step))
                .collect(),
            FunctionKind::Unknown => Vec::new(),
        }
    }

    /// The export of one step of an aggregate function.
    pub fn step_export(&self, step: batch::AggregateStep) -> String {
        format!("{}{}", self.export, step.suffix())
    }

    /// The record as it is stored in the section: one JSON object and a
    /// newline.
    pub fn to_section_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("records always serialize");
        line.push('\n');
        line
    }
}

/// Why a `ferry.functions` section could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed `{FUNCTIONS_SECTION}` section, record {index}: {reason}")]
pub struct RecordError {
    /// Zero-based index of the record that failed.
    pub index: usize,
    /// What was wrong with it.
    pub reason: String,
}

/// Parses the concatenated contents of every `ferry.functions` section of a
/// module. Records are JSON objects; whitespace and NUL padding between them
/// is ignored, because linkers may pad the data they concatenate.
pub fn parse_records(section: &[u8]) -> Result<Vec<FunctionRecord>, RecordError> {
    let mut records = Vec::new();
    for (index, chunk) in section
        .split(|b| *b == b'\n')
        .map(|line| line.trim_ascii_start().trim_ascii_end())
        .map(trim_nul)
        .filter(|line| !line.is_empty())
        .enumerate()
    {
        let record = serde_json::from_slice(chunk).map_err(|e| RecordError {
            index,
            reason: e.to_string(),
        })?;
        records.push(record);
    }
    Ok(records)
}

fn trim_nul(mut bytes: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., 0] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_padding_and_unknown_kinds() {
        let a = FunctionRecord::value("a", "i64", "i64", Some("Spec"));
        let mut section = a.to_section_line().into_bytes();
        section.extend_from_slice(b"\0\0\n");
        section.extend_from_slice(
            br#"{"abi":1,"name":"b","kind":"scalar_v9","export":"x","input":"","output":""}"#,
        );
        let parsed = parse_records(&section).unwrap();
        assert_eq!(parsed[0], a);
        assert_eq!(parsed[1].kind, FunctionKind::Unknown);
    }

    #[test]
    fn scalar_records_round_trip() {
        let record = FunctionRecord::scalar(
            "gcd",
            &[batch::ColumnType::Int64; 2],
            batch::ColumnType::Int64,
            None,
        );
        assert_eq!(
            parse_records(record.to_section_line().as_bytes()).unwrap(),
            vec![record]
        );
    }

    #[test]
    fn a_broken_record_is_named() {
        let err = parse_records(b"{\"abi\":1}\n").unwrap_err();
        assert_eq!(err.index, 0);
        assert!(err.reason.contains("missing field"), "{err}");
    }
}
