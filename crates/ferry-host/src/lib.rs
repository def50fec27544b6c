//! # ferry host library
//!
//! ferry makes a function a portable value. A [`Module`] is WebAssembly code
//! named by its SHA-256; a [`Closure`] is a module's function together with
//! the environment captured for it and any data [`Blob`]s, encoded to one
//! deterministic byte string; the [`Runtime`] runs closures on wasmtime inside
//! a [`Sandbox`]; an [`Executor`] decides where: [`LocalExecutor`] is a
//! thread pool in this process.
//!
//! ```no_run
//! use ferry_host::{Closure, Encoding, ExecutorExt, LocalExecutor};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct HistSpec { bins: u32, lo: f64, hi: f64, peak: f64, width: f64, seed: u64 }
//! #[derive(Serialize, Deserialize)]
//! struct Range { start: u64, end: u64 }
//! #[derive(Serialize, Deserialize, Debug)]
//! struct Histogram { counts: Vec<u64>, underflow: u64, overflow: u64 }
//!
//! // Compile the example guest from source and capture a histogram spec.
//! let guest = ferry_host::guest::build_crate("examples/guest")?;
//! let spec = HistSpec { bins: 40, lo: 0.0, hi: 200.0, peak: 91.0, width: 2.5, seed: 1 };
//! let fill = Closure::new(&guest.module, "fill")?.with_env(&spec)?;
//!
//! // Pickle it, load it back: the same closure, byte for byte.
//! let bytes = fill.to_bytes(Encoding::ByValue);
//! let fill = Closure::from_bytes(&bytes, None)?;
//!
//! // Run it over ten ranges of events on the local pool.
//! let pool = LocalExecutor::new()?;
//! let ranges = (0..10u64).map(|i| Range { start: i * 1000, end: (i + 1) * 1000 });
//! for histogram in pool.map::<_, Histogram, _>(&fill, ranges) {
//!     println!("{:?}", histogram?.value.counts);
//! }
//! # Ok::<(), ferry_host::Error>(())
//! ```

#![deny(missing_docs)]

mod as_binary;
pub mod batch;
mod closure;
mod error;
pub mod executor;
pub mod guest;
mod hash;
pub mod javascript;
mod lru;
mod module;
mod module_ref;
mod msgpack;
mod object;
pub mod runtime;
mod seal;
mod store;
mod stored;
mod typed;
mod value;

pub use closure::{Blob, Closure, Encoding, WeakBlob};
pub use error::{CallFailure, Error, FailureKind, Location, one_line};
pub use executor::{Executor, ExecutorExt, Job, LocalExecutor, Task};
pub use ferry_abi::{ABI_VERSION, FunctionKind, FunctionRecord};
pub use hash::{ContentHash, ParseHashError};
pub use lru::Lru;
pub use module::Module;
pub use module_ref::{FromSource, ModuleRef, ModuleRefError, Resolved};
pub use object::{ObjectRef, ReadObject};
pub use runtime::{
    DirGrant, GlobalValue, Grants, Instance, InstanceState, Limits, Preparation, Runtime,
    RuntimeConfig, Sandbox,
};
pub use store::{BlobStore, BlobWriter, Resolve, STORE_ENV};
pub use stored::STORED_EXT;
pub use typed::{TypedClosure, TypedMapReduce, TypedTask};
pub use value::{Output, Value};
