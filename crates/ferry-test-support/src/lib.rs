//! What ferry's tests and benchmarks share, so that each draws the same
//! guests and the same data the same way: the workspace's example guests,
//! built from source once per process, and pseudo-random data that is the
//! same on every run.
//!
//! ```no_run
//! use ferry_test_support::{Random, udfs};
//!
//! let module = &udfs().module;
//! let mut random = Random::new(7);
//! let column: Vec<Option<u64>> = random.column(100, 4, |v| v % 10);
//! ```

#![deny(missing_docs)]

mod data;
pub mod fuzz;
mod guests;
mod native;
pub mod s3;
pub mod system;
pub mod tls;
pub mod venv;

pub use data::{Random, int64_batches};
pub use guests::{
    assemblyscript_udfs, c_udfs, example_guest, go_udfs, udfs, unseen, workspace_root, zig_udfs,
};
pub use native::native_gcd;
