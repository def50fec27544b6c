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
//! The loop over the columns is compiled with WebAssembly SIMD (`simd128`),
//! whatever the crate's flags, and so is the function where the compiler
//! inlines it: an infallible function of non-null numbers (`a.wrapping_add(b)`)
//! becomes a vectorized loop. Nothing is asked of the author, but the module
//! then needs an engine with SIMD, as wasmtime and every browser have. Code
//! the loop calls without inlining is compiled with the crate's flags; to
//! have SIMD there too, build with `-C target-feature=+simd128`
//! (`ferry_build::guest(..).rustflag(..)`, or cargo's flags for
//! `wasm32-wasip1`).
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
//! ## Guests kept in the host's crate
//!
//! The guest need not be a crate of its own. A file of the host's crate
//! (`src/guest.rs`) that starts with `ferry::embed!();` and holds these
//! functions and the types they take is, with
//! `ferry_build::guest("src/guest.rs").build()` in the host's `build.rs`,
//! compiled to a module embedded in the host, and each function gets a
//! typed handle beside it on the host: `guest::fill` is the function,
//! `guest::fill::with_env(&binning)?` (or `::closure()` without an
//! environment) a `ferry_host::TypedClosure<Events, Counts>`, so that
//! calling it with the wrong type does not compile; an aggregate's handle
//! is on its type (`guest::GeoMean::closure()`). The file is a module of the
//! host and of the guest alike, so it names its own items without
//! `crate::`; its submodules live where the host looks for them
//! (`src/guest/*.rs`). The host depends on `ferry` and `ferry-host`.
//!
//! Closures can be written where they are used, in the host's code:
//!
//! ```text
//! let scale = 2.5;
//! let scaled = ferry::closure!([scale: f64] |x: f64| -> f64 { scale * x })?;
//! assert_eq!(scaled.call(&pool, &4.0)?.value, 10.0);
//! ```
//!
//! The build script finds each `ferry::closure!` in the host's `src/` and
//! makes it a function of the guest; the macro gives a typed closure of it.
//! What it captures is named in brackets with its type, and travels
//! serialized in the environment (so it must be `Serialize` and
//! `Deserialize`); the body sees those, its parameters and the guest's
//! public items, and nothing else of the host: using a variable it did not
//! capture is a compile error (a function cannot capture), as is a
//! capture, parameter or result without a type. Its parameters and result
//! are typed; `Result<T, E>` returns `T` or the guest's error.
//!
//! The ABI the macros implement is described in `docs/abi.md`.

#![deny(missing_docs)]

pub mod actor;
pub mod batch;
mod blob_reader;
#[cfg(target_family = "wasm")]
mod host;
/// Natively no host runs the function: there are no blobs to read.
#[cfg(not(target_family = "wasm"))]
mod host {
    pub fn blob(_name: &str) -> Option<Vec<u8>> {
        None
    }

    pub fn blob_len(_name: &str) -> Option<u64> {
        None
    }

    pub fn blob_read_at(_name: &str, _offset: u64, _buffer: &mut [u8]) -> Option<usize> {
        None
    }

    pub fn actor_call(_handle: &[u8], _function: &str, _input: &[u8]) -> (i32, Vec<u8>) {
        (
            ferry_abi::ActorCallStatus::NotGranted as i32,
            b"not running under ferry: no actors to call".to_vec(),
        )
    }
}

// Generated code names the module `::ferry::__private`; the file is named
// for what it holds.
#[doc(hidden)]
#[path = "call.rs"]
pub mod __private;

pub use blob_reader::{BlobReader, blob_reader, chunk};
pub use ferry_abi::{CHUNK_BLOB, Chunk};
pub use ferry_macros::{closure, embed, function, udaf, udf};

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
