//! Building guest crates from source: `cargo build --release --target
//! wasm32-wasip1`, then reading the module it produced.

use crate::{Error, Module};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target ferry guests are compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip1";

/// A guest crate that was built.
#[derive(Debug)]
pub struct BuiltGuest {
    /// The `.wasm` file cargo wrote.
    pub path: PathBuf,
    /// The module read from it.
    pub module: Module,
}

/// Builds the guest crate in `crate_dir` (a directory with a `Cargo.toml`
/// whose library is a `cdylib`) in release mode for `wasm32-wasip1`.
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
    let crate_dir = crate_dir.as_ref();
    let manifest = crate_dir.join("Cargo.toml");
    let fail = |reason: String| Error::Build {
        path: crate_dir.to_owned(),
        reason,
    };
    if !manifest.is_file() {
        return Err(fail("there is no Cargo.toml there".into()));
    }
    ensure_target().map_err(&fail)?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--lib",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--target", GUEST_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        // A guest is its own build: a wrapper set for the build that runs
        // this host (`clippy-driver` when CI lints while it compiles) is not
        // meant for the guest's code or its target.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| fail(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(fail(format!(
            "cargo build failed ({}); see its messages above",
            output.status
        )));
    }
    let path = wasm_artifact(&output.stdout).ok_or_else(|| {
        fail("cargo built no .wasm library; is the crate's lib crate-type `cdylib`?".into())
    })?;
    let module = Module::from_file(&path)?;
    Ok(BuiltGuest { path, module })
}

/// The last `.wasm` file among cargo's `compiler-artifact` messages.
fn wasm_artifact(messages: &[u8]) -> Option<PathBuf> {
    messages
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|name| name.as_str().map(PathBuf::from))
        .rfind(|path| path.extension().is_some_and(|ext| ext == "wasm"))
}

/// Adds the guest target through rustup when the active toolchain lacks it.
fn ensure_target() -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", GUEST_TARGET])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.is_some_and(|dir| dir.is_dir()) {
        return Ok(());
    }
    tracing::info!("installing the {GUEST_TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", GUEST_TARGET])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("the {GUEST_TARGET} target is missing and rustup cannot be run ({e}); install the target"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`rustup target add {GUEST_TARGET}` failed ({status})"
        ))
    }
}
