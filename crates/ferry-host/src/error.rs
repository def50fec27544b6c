//! Errors. [`Error`] is what every fallible ferry API returns; a call that ran
//! guest code and failed carries a [`CallFailure`], which says what the guest
//! did and what it printed before it failed.

use crate::ContentHash;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong loading, encoding or running ferry code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a WebAssembly module.
    #[error("not a valid WebAssembly module: {reason}")]
    MalformedModule {
        /// What the parser objected to.
        reason: String,
    },

    /// A WebAssembly module without ferry's metadata section.
    #[error(
        "the module has no `ferry.functions` section, so it offers no ferry functions; \
         build it with the ferry SDK (`#[ferry::function]`) or add the section as docs/abi.md describes"
    )]
    NotAFerryModule,

    /// The metadata section is there but cannot be read.
    #[error("{0}")]
    BadMetadata(#[from] ferry_abi::RecordError),

    /// Bytes that should have a given hash have another one.
    #[error("{what} does not match its name: expected {expected}, got {actual}")]
    HashMismatch {
        /// What was checked: a module, a blob, a closure.
        what: &'static str,
        /// The hash it was named by.
        expected: ContentHash,
        /// The hash of the bytes that arrived.
        actual: ContentHash,
    },

    /// The module speaks another version of the guest ABI.
    #[error(
        "function `{function}` was built for ferry ABI v{found}, but this host speaks v{supported}; \
         rebuild the guest with a ferry SDK for ABI v{supported}"
    )]
    AbiMismatch {
        /// The first function with a foreign version.
        function: String,
        /// The version it declares.
        found: u32,
        /// The version this host implements.
        supported: u32,
    },

    /// The module claims the ABI but does not implement it.
    #[error("the module breaks the ferry ABI: {reason}")]
    AbiViolation {
        /// What is missing or wrong.
        reason: String,
    },

    /// A function was called in a way its signature does not allow.
    #[error("`{}` cannot be called this way: {reason}", .function.escape_debug())]
    Signature {
        /// The function.
        function: String,
        /// How the call and the signature differ.
        reason: String,
    },

    /// No function of that name.
    // Names come from the caller and the module, so escape them to keep the error one line.
    #[error(
        "module {module:?} has no function `{}`; it has: {}",
        .function.escape_debug(),
        .available.escape_debug()
    )]
    UnknownFunction {
        /// The module asked.
        module: ContentHash,
        /// The name asked for.
        function: String,
        /// The names it does have, comma-separated.
        available: String,
    },

    /// The compiler (Cranelift, or Winch for baseline code) refused the
    /// module.
    #[error("cannot compile module {module:?}: {reason}")]
    Compile {
        /// The module.
        module: ContentHash,
        /// The compiler's reason.
        reason: String,
    },

    /// A module whose memory starts larger than the sandbox allows.
    #[error(
        "module {module:?} starts with {needs} bytes of memory, over the sandbox's limit of \
         {limit} bytes; raise the memory limit"
    )]
    InitialMemory {
        /// The module.
        module: ContentHash,
        /// Its initial memory, in bytes.
        needs: u64,
        /// The sandbox's memory limit, in bytes.
        limit: u64,
    },

    /// A module over the runtime's size limit for compiling.
    #[error(
        "module {module:?} is {size} bytes, over the limit of {limit} bytes for compiling; \
         raise the limit (`ferry worker --max-module`) for modules you trust"
    )]
    ModuleTooLarge {
        /// The module.
        module: ContentHash,
        /// Its size.
        size: u64,
        /// The runtime's limit.
        limit: u64,
    },

    /// Compiling a module in a bounded child stopped at a limit.
    #[error(
        "cannot compile module {module:?}: {reason}; raise the limit \
         (`ferry worker --compile-timeout`, `--compile-memory`) for modules you trust"
    )]
    CompileLimit {
        /// The module.
        module: ContentHash,
        /// Which limit, and its value.
        reason: String,
    },

    /// Bytes that are not an encoded closure at all.
    #[error("not a ferry closure: the bytes do not start with the closure magic number")]
    NotAClosure,

    /// A closure written by a newer (or older) ferry.
    #[error("closure format v{found} is not supported; this ferry reads v{supported}")]
    ClosureVersion {
        /// The version in the bytes.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },

    /// Closure bytes that were cut short or changed.
    #[error("closure bytes are truncated or corrupted: {reason}")]
    CorruptClosure {
        /// Where decoding failed.
        reason: String,
    },

    /// A by-reference closure names something the store does not have.
    #[error("{what} {hash} is not in the store at {store}; add it, or ship the closure by value")]
    NotInStore {
        /// A module or a blob.
        what: &'static str,
        /// Its hash.
        hash: ContentHash,
        /// The store's directory.
        store: PathBuf,
    },

    /// An object a closure refers to could not be read, or was not what
    /// the closure says.
    #[error("cannot read {url}: {reason}")]
    Object {
        /// The object's URL (and range).
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// A closure that refers to an object ran where nothing had read it.
    #[error(
        "blob `{name}` is the object {url}, and nothing here reads objects: give the executor a reader (ferry_stores::Stores)"
    )]
    ObjectNotRead {
        /// The blob's name.
        name: String,
        /// The object's URL.
        url: String,
    },

    /// A by-reference closure was decoded without a store to resolve it.
    #[error("the closure refers to {what} {hash} by hash, and no store was given to look it up")]
    NoStore {
        /// A module or a blob.
        what: &'static str,
        /// Its hash.
        hash: ContentHash,
    },

    /// A value could not be turned into MessagePack.
    #[error("cannot encode the {what} as MessagePack: {reason}")]
    Encode {
        /// Which value.
        what: &'static str,
        /// serde's reason.
        reason: String,
    },

    /// A result did not decode into the type the caller asked for.
    #[error("cannot decode the {what}: {reason}")]
    Decode {
        /// Which value.
        what: &'static str,
        /// serde's reason.
        reason: String,
    },

    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot read".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The engine could not be set up with the requested configuration.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),

    /// Building a guest from source failed.
    #[error("cannot build the guest at {path}: {reason}")]
    Build {
        /// The crate directory or source file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// ferry itself failed while running a task: a bug, which the executor
    /// survives. The message is the panic's.
    #[error("ferry failed while running the task (a bug in ferry, please report it): {0}")]
    Internal(String),

    /// The executor was shut down before the task ran.
    #[error("the executor has shut down; the task was not run")]
    ShutDown,

    /// The task was cancelled before it finished.
    #[error("the task was cancelled")]
    Cancelled,

    /// An executor failed in a way only it can (a remote executor's worker
    /// could not be reached, say), with an error of the executor's own type;
    /// [`Error::executor_error`] gets at it.
    #[error(transparent)]
    Executor(Box<dyn std::error::Error + Send + Sync>),

    /// Guest code ran and failed.
    #[error(transparent)]
    Call(Box<CallFailure>),
}

impl Error {
    /// The guest failure, if this error is one.
    pub fn failure(&self) -> Option<&CallFailure> {
        match self {
            Error::Call(failure) => Some(failure),
            _ => None,
        }
    }

    /// The executor's own error, if this is an [`Error::Executor`] carrying
    /// an `E`.
    pub fn executor_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Error::Executor(error) => error.downcast_ref(),
            _ => None,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// `text` on one line: each line break, with the indentation around it,
/// becomes one space. Messages of other libraries (wasmparser's, Cranelift's,
/// serde's quoting untrusted bytes) can span lines; ferry's errors do not.
///
/// ```
/// assert_eq!(ferry_host::one_line("expected [\n    0x0,\n]"), "expected [ 0x0, ]");
/// ```
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    if let Some(first) = lines.next() {
        out.push_str(first);
    }
    for line in lines {
        out.push(' ');
        out.push_str(line);
    }
    out
}

/// A call that ran guest code and did not produce a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("`{function}` {kind}")]
pub struct CallFailure {
    /// The function called.
    pub function: String,
    /// What happened.
    pub kind: FailureKind,
    /// What the guest wrote to stdout before it failed (bounded).
    #[serde(with = "crate::as_binary")]
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr before it failed (bounded).
    #[serde(with = "crate::as_binary")]
    pub stderr: Vec<u8>,
}

/// The ways guest code can fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum FailureKind {
    /// The function returned an error.
    #[error("returned an error: {message}")]
    Error {
        /// The guest's message.
        message: String,
    },
    /// The environment or input did not match the function's parameter types.
    #[error("could not decode its arguments: {message}")]
    BadArgument {
        /// The guest's explanation.
        message: String,
    },
    /// The guest panicked.
    #[error("panicked at {location}: {message}")]
    Panic {
        /// The panic message.
        message: String,
        /// Where in the guest's source.
        location: Location,
    },
    /// The guest hit a WebAssembly trap (unreachable, division by zero, ...).
    #[error("trapped: {message}")]
    Trap {
        /// The trap and, where known, the guest's stack.
        message: String,
    },
    /// The guest ran past its deadline and was stopped.
    #[error("ran past its deadline of {limit_ms} ms and was stopped")]
    Timeout {
        /// The deadline.
        limit_ms: u64,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("tried to grow its memory past the limit of {limit} bytes and was stopped")]
    MemoryLimit {
        /// The cap.
        limit: u64,
    },
    /// The guest wrote more to stdout or stderr than allowed.
    #[error("wrote more than {limit} bytes to {stream} and was stopped")]
    OutputLimit {
        /// `stdout` or `stderr`.
        stream: String,
        /// The cap.
        limit: u64,
    },
    /// The guest's result is not what the ABI allows: bytes that are not
    /// exactly one MessagePack value, or a column that is not well formed.
    #[error("returned a malformed result: {reason}")]
    MalformedResult {
        /// What is wrong with it.
        reason: String,
    },
    /// The guest's result was larger than allowed.
    #[error("returned a result of {size} bytes, over the limit of {limit}")]
    ResultTooLarge {
        /// The size the guest tried to return.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// The guest called WASI `proc_exit`.
    #[error("exited with code {code} instead of returning")]
    Exit {
        /// The exit code.
        code: i32,
    },
}

/// A place in the guest's source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Source file as the guest's compiler saw it.
    pub file: String,
    /// One-based line.
    pub line: u32,
    /// One-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.is_empty() {
            f.write_str("an unknown location")
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}
