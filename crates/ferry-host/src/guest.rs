//! Building guests from source, in any language `ferry build` knows
//! (`cargo build --release --target wasm32-wasip1` for Rust), then reading
//! the module it produced.

use crate::{Error, Module};
use std::path::{Path, PathBuf};

pub use ferry_build::GUEST_TARGET;

/// A guest crate that was built.
#[derive(Debug)]
pub struct BuiltGuest {
    /// The `.wasm` file cargo wrote.
    pub path: PathBuf,
    /// The module read from it.
    pub module: Module,
}

/// Builds the guest crate in `crate_dir` (a directory with a `Cargo.toml`
/// whose library is a `cdylib`) in release mode for `wasm32-wasip1`
/// ([`ferry_build::build_crate`]), and reads the module.
///
/// Installs the target with rustup first if the toolchain lacks it. Cargo's
/// diagnostics go to this process's stderr.
///
/// ```no_run
/// let built = ferry_host::guest::build_crate("examples/guest")?;
/// println!("{} at {}", built.module.id(), built.path.display());
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn build_crate(crate_dir: impl AsRef<Path>) -> Result<BuiltGuest, Error> {
    read(ferry_build::build_crate(crate_dir))
}

/// Builds the guest source at `path` in whatever language it is in
/// ([`ferry_build::build`]: a Rust crate, C files, a Zig file, Go files, an
/// AssemblyScript file),
/// and reads the module. The toolchain's diagnostics go to this process's
/// stderr.
///
/// ```no_run
/// let built = ferry_host::guest::build("examples/c/udfs.c")?;
/// println!("{} at {}", built.module.id(), built.path.display());
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn build(path: impl AsRef<Path>) -> Result<BuiltGuest, Error> {
    read(ferry_build::build(path))
}

/// Builds `source` (found by [`ferry_build::Source::detect`], perhaps with
/// a toolchain of its own), and reads the module.
///
/// ```no_run
/// use ferry_build::Source;
///
/// let source = Source::detect("examples/zig/udfs.zig").expect("a Zig file");
/// let built = ferry_host::guest::build_source(&source.with_program("/opt/zig/zig"))?;
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn build_source(source: &ferry_build::Source) -> Result<BuiltGuest, Error> {
    read(source.build())
}

/// The module a build wrote, or the build's error as ferry's.
pub(crate) fn read(built: Result<PathBuf, ferry_build::BuildError>) -> Result<BuiltGuest, Error> {
    let path = built.map_err(|e| Error::Build {
        path: e.path,
        reason: e.reason,
    })?;
    let module = Module::from_file(&path)?;
    Ok(BuiltGuest { path, module })
}
