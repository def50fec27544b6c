//! The JavaScript engine, `sdks/javascript/engine`: QuickJS as a guest
//! module, which runs the JavaScript a closure carries as source. It is a
//! crate of this workspace, built with cargo like any guest crate, its C
//! compiled with clang for wasm32-wasi.

use crate::cargo::GuestBuild;
use crate::{BuildError, c};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Names a built engine module to use instead of building one: for a
/// `ferry` installed without this repository.
pub const JAVASCRIPT_ENGINE_ENV: &str = "FERRY_JAVASCRIPT_ENGINE";

/// Where the engine's crate is, in the repository this crate was built
/// from.
const ENGINE_CRATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdks/javascript/engine");

/// Where cargo puts the engine, from its crate, unless told otherwise.
const BUILT: &str = "../../../target/wasm32-wasip1/release/ferry_javascript.wasm";

/// The JavaScript engine's `.wasm` file: the one `FERRY_JAVASCRIPT_ENGINE`
/// names, or else built from its crate (a no-op once built). cargo's and
/// clang's diagnostics go to this process's stderr; a missing clang is an
/// error that says how to install it.
///
/// ```no_run
/// let engine = ferry_build::javascript_engine()?;
/// println!("the engine is {}", engine.display());
/// # Ok::<(), ferry_build::BuildError>(())
/// ```
pub fn javascript_engine() -> Result<PathBuf, BuildError> {
    if let Some(wasm) = std::env::var_os(JAVASCRIPT_ENGINE_ENV) {
        return Ok(wasm.into());
    }
    let dir = Path::new(ENGINE_CRATE);
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::new(
            dir,
            format!(
                "the engine's crate is not there (was ferry built outside its repository?); \
                 set {JAVASCRIPT_ENGINE_ENV} to a built engine module"
            ),
        ));
    }
    let env = clang_env(dir)?;
    // Every `--js` asks for the engine, and once it is built cargo has
    // nothing to say but that it is fresh; the first build shows its
    // progress.
    let built_before = dir.join(BUILT).is_file();
    GuestBuild {
        manifest: &manifest,
        target_dir: None,
        rustflags: None,
        cargo: None,
        env,
        quiet: built_before,
    }
    .run()
    .map_err(|e| {
        BuildError::new(
            e.path,
            format!("{} (QuickJS is C: {})", e.reason, c::INSTALL),
        )
    })
}

/// What `rquickjs`'s build script needs to compile QuickJS with the
/// system's clang, or with the wasi-sdk `WASI_SDK_PATH` names (it would
/// otherwise download one).
fn clang_env(dir: &Path) -> Result<Vec<(&'static str, OsString)>, BuildError> {
    if let Some(sdk) = std::env::var_os("WASI_SDK_PATH") {
        return Ok(vec![("WASI_SDK", sdk)]);
    }
    let clang_runs = Command::new("clang")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !clang_runs {
        return Err(BuildError::new(
            dir,
            format!("clang is not installed, and QuickJS is C: {}", c::INSTALL),
        ));
    }
    Ok(vec![
        ("RQUICKJS_SYS_NO_WASI_SDK", "1".into()),
        ("CC_wasm32_wasip1", "clang".into()),
        // clang before 16 knows the target only as wasm32-wasi.
        ("CFLAGS_wasm32_wasip1", "--target=wasm32-wasi".into()),
    ])
}
