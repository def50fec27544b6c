//! The histogram demo, with its guest in this crate (`src/guest.rs`): the
//! build script compiles that file to WebAssembly and embeds it, and each
//! of its functions has a typed handle here.
//!
//! ```
//! use ferry_example_histogram_inline::guest::{self, Binning, Events};
//!
//! let binning = Binning { bins: 10, lo: 0.0, hi: 10.0, truth: 5.0, spread: 1.0, seed: 7 };
//! let fill = guest::fill::with_env(&binning)?;
//! let pool = ferry_host::LocalExecutor::new()?;
//! let counts = fill.call(&pool, &Events { start: 0, end: 1000 })?.value;
//! // The same source, run natively, gives the same counts.
//! assert_eq!(counts, guest::fill(binning, Events { start: 0, end: 1000 }).unwrap());
//! # Ok::<(), ferry_host::Error>(())
//! ```
//!
//! A call with the wrong type is a compile error, not a failed call:
//!
//! ```compile_fail,E0308
//! use ferry_example_histogram_inline::guest::{self, Binning};
//!
//! let binning = Binning { bins: 10, lo: 0.0, hi: 10.0, truth: 5.0, spread: 1.0, seed: 7 };
//! let pool = ferry_host::LocalExecutor::new()?;
//! // `fill` takes `Events`, not a pair of numbers.
//! guest::fill::with_env(&binning)?.call(&pool, &(0u64, 1000u64))?;
//! # Ok::<(), ferry_host::Error>(())
//! ```

pub mod guest;

use ferry_host::{Error, TypedClosure};
use guest::{Binning, Events};

/// A closure written here rather than in the guest: how many of a range's
/// events land in the two bins around the middle, counted with the
/// guest's `fill`. It captures `binning`; the build script put its body in
/// the guest.
pub fn central(binning: &Binning) -> Result<TypedClosure<Events, u64>, Error> {
    ferry::closure!([binning: Binning] |events: Events| -> Result<u64, String> {
        let counts = fill(binning.clone(), events)?;
        let middle = binning.bins / 2;
        Ok(counts.bins[middle.saturating_sub(1)..=middle].iter().sum())
    })
}

/// A closure that captures nothing and takes two arguments.
pub fn weighted() -> Result<TypedClosure<(i64, i64), i64>, Error> {
    ferry::closure!(|a: i64, b: i64| -> i64 { 3 * a + b })
}
