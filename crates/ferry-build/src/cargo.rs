//! Running cargo for the guest target: `cargo build --release --target
//! wasm32-wasip1`, then finding the module it wrote.

use crate::BuildError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target ferry guests are compiled for.
pub const GUEST_TARGET: &str = "wasm32-wasip1";

/// One `cargo build` of a guest crate.
pub(crate) struct GuestBuild<'a> {
    pub manifest: &'a Path,
    /// `--target-dir`, if not cargo's own choice.
    pub target_dir: Option<&'a Path>,
    /// rustc's flags for the guest, all of them; `None` leaves them to the
    /// guest's own configuration.
    pub rustflags: Option<Vec<String>>,
    /// cargo, if not `$CARGO` or the one on the PATH.
    pub cargo: Option<&'a Path>,
    /// Variables for the build's scripts, which compile the crate's C.
    pub env: Vec<(&'static str, OsString)>,
    /// Whether cargo keeps its progress to itself (errors still show).
    pub quiet: bool,
}

impl GuestBuild<'_> {
    /// Builds the crate's library and returns the `.wasm` file cargo wrote.
    /// Cargo's diagnostics go to this process's stderr.
    pub fn run(&self) -> Result<PathBuf, BuildError> {
        let dir = self.manifest.parent().unwrap_or(self.manifest);
        let fail = |reason: String| BuildError::new(dir, reason);
        ensure_target().map_err(&fail)?;
        let cargo: OsString = match self.cargo {
            Some(cargo) => cargo.into(),
            None => std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        };
        let mut command = Command::new(cargo);
        command
            .args(["build", "--release", "--lib"])
            .arg("--message-format=json-render-diagnostics")
            .args(["--target", GUEST_TARGET])
            .arg("--manifest-path")
            .arg(self.manifest);
        if self.quiet {
            command.arg("--quiet");
        }
        if let Some(target_dir) = self.target_dir {
            command.arg("--target-dir").arg(target_dir);
        }
        // A guest is its own build: nothing of the build that runs this is
        // meant for it, neither the wrapper (`clippy-driver` when CI lints
        // while it compiles) nor the flags, target, features and cfgs cargo
        // gives a build script.
        for (var, _) in std::env::vars_os() {
            let name = var.to_string_lossy();
            if ["CARGO_CFG_", "CARGO_FEATURE_", "DEP_"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                command.env_remove(&var);
            }
        }
        for var in [
            "RUSTC_WORKSPACE_WRAPPER",
            "CLIPPY_ARGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            crate::embed::MODULE_PATH_ENV,
        ] {
            command.env_remove(var);
        }
        if let Some(flags) = &self.rustflags {
            // These alone: cargo takes flags from one place, and flags
            // meant for the host (`-C target-cpu=native`) have no place here.
            command
                .env_remove("RUSTFLAGS")
                .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"));
        }
        command.envs(self.env.iter().map(|(var, value)| (var, value)));
        let output = command
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
        wasm_artifact(&output.stdout).ok_or_else(|| {
            fail("cargo built no .wasm library; is the crate's lib crate-type `cdylib`?".into())
        })
    }
}

/// Builds the guest crate in `crate_dir` (a directory with a `Cargo.toml`
/// whose library is a `cdylib`) in release mode for `wasm32-wasip1`, and
/// returns the `.wasm` file. Installs the target with rustup first if the
/// toolchain lacks it.
///
/// ```no_run
/// let wasm = ferry_build::build_crate("examples/guest")?;
/// println!("built {}", wasm.display());
/// # Ok::<(), ferry_build::BuildError>(())
/// ```
pub fn build_crate(crate_dir: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
    build_crate_with(crate_dir.as_ref(), None)
}

/// As [`build_crate`], with this cargo if one is given.
pub(crate) fn build_crate_with(
    crate_dir: &Path,
    cargo: Option<&Path>,
) -> Result<PathBuf, BuildError> {
    let manifest = crate_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::new(crate_dir, "there is no Cargo.toml there"));
    }
    GuestBuild {
        manifest: &manifest,
        target_dir: None,
        rustflags: None,
        cargo,
        env: Vec::new(),
        quiet: false,
    }
    .run()
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
    let rustc: OsString = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
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
