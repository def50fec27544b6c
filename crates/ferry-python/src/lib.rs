//! ferry for Python: the `ferry._native` extension module behind the `ferry`
//! package (`python/ferry`).
//!
//! It wraps the Rust host as it is: a [`Module`](module::Module) is a
//! `ferry_host::Module`, a [`Closure`](closure::Closure) a
//! `ferry_host::Closure` with the same encoding, calls run on one runtime per
//! process whose compiled code is kept in the same store the `ferry` CLI
//! uses (`$FERRY_STORE`). Values cross as MessagePack; Arrow arrays through
//! the Arrow C data interface, with one guest call per batch.

#![deny(missing_docs)]

mod closure;
mod errors;
mod module;
mod sandbox;
mod signals;
mod value;

use ferry_host::{BlobStore, Runtime, RuntimeConfig};
use pyo3::prelude::*;
use std::sync::OnceLock;

/// The process's runtime and store, made on first use: every closure in a
/// Python process shares them, as every call in a Rust process would.
fn host() -> PyResult<&'static (Runtime, Option<BlobStore>)> {
    static HOST: OnceLock<(Runtime, Option<BlobStore>)> = OnceLock::new();
    if let Some(host) = HOST.get() {
        // Every call comes through here first.
        signals::restore();
        return Ok(host);
    }
    // Without a usable store (no cache directory, say), compiled code is
    // kept in memory only: slower to start, never wrong.
    let store = BlobStore::open_default().ok();
    let config = match &store {
        Some(store) => RuntimeConfig::with_store(store.clone()),
        None => RuntimeConfig::default(),
    };
    let runtime = Runtime::new(config).map_err(errors::to_python)?;
    signals::remember();
    Ok(HOST.get_or_init(|| (runtime, store)))
}

/// The `ferry._native` module.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<module::Module>()?;
    m.add_class::<closure::Closure>()?;
    m.add_function(wrap_pyfunction!(module::load, m)?)?;
    errors::add(m)?;
    m.add("ABI_VERSION", ferry_host::ABI_VERSION)?;
    Ok(())
}
