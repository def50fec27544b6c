//! Building C guests with clang: one `.c` file, or a directory whose `.c`
//! files make one module, compiled against the C SDK's header
//! (`sdks/c/ferry.h`), which this crate carries so that nothing but the
//! toolchain need be installed.

use crate::{BuildError, source};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The C SDK: the header guests include as `<ferry.h>`.
pub const C_HEADER: &str = include_str!("../../../sdks/c/ferry.h");

/// What to install when the toolchain is missing, for the error to say.
pub(crate) const INSTALL: &str = "install clang, lld, wasi-libc and libclang-rt-dev-wasm32 \
                       (Debian and Ubuntu: `sudo apt-get install clang lld wasi-libc \
                       libclang-rt-dev-wasm32`), or set WASI_SDK_PATH to a wasi-sdk";

/// The `.c` files that make the guest at `path` (a file, or a directory's
/// own), or `None` if there are none.
pub(crate) fn sources(path: &Path) -> Option<Vec<PathBuf>> {
    source::files(path, is_c)
}

fn is_c(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "c")
}

/// Compiles the guest at `path` to `<dir>/target/ferry-c/<name>.wasm`, where
/// `<dir>` is the directory, or the file's, and `<name>` the directory's or
/// the file's stem. clang's diagnostics go to this process's stderr.
pub(crate) fn build(path: &Path, clang: Option<&Path>) -> Result<PathBuf, BuildError> {
    let files =
        sources(path).ok_or_else(|| BuildError::new(path, "there are no .c files there"))?;
    let layout = source::Layout::prepare(path, "c", &[("ferry.h", C_HEADER)])?;
    let mut command = clang.map_or_else(default_clang, Command::new);
    // Run in the guest's directory, naming files relatively, so that
    // `__FILE__` (in panics) and the module do not depend on where the
    // guest is checked out.
    command
        .current_dir(&layout.dir)
        .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2"])
        .arg("-I")
        .arg(&layout.sdk)
        // Debug sections would carry the build's paths; names stay, for
        // traces of traps.
        .arg("-Wl,--strip-debug")
        .arg("-o")
        .arg(&layout.module)
        .args(
            files
                .iter()
                .map(|f| f.strip_prefix(&layout.dir).unwrap_or(f)),
        );
    source::run_toolchain(command, path, "clang", INSTALL, missing_part)?;
    Ok(layout.module)
}

/// `clang`, or wasi-sdk's when `WASI_SDK_PATH` names one.
fn default_clang() -> Command {
    match std::env::var_os("WASI_SDK_PATH") {
        Some(sdk) => {
            let sdk = PathBuf::from(sdk);
            let mut command = Command::new(sdk.join("bin/clang"));
            command.arg(format!(
                "--sysroot={}",
                sdk.join("share/wasi-sysroot").display()
            ));
            command
        }
        None => Command::new("clang"),
    }
}

/// Which part of the toolchain clang's messages say is missing.
fn missing_part(diagnostics: &str) -> Option<&'static str> {
    if diagnostics.contains("wasm-ld") {
        Some("the linker (lld)")
    } else if diagnostics.contains("libclang_rt.builtins-wasm32") {
        Some("its runtime for wasm32 (libclang-rt-dev-wasm32)")
    } else if diagnostics.contains("crt1-reactor.o")
        || diagnostics.contains("stdint.h' file not found")
    {
        Some("a C library for WASI (wasi-libc)")
    } else {
        None
    }
}
