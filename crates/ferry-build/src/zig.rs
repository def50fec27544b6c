//! Building Zig guests: a `.zig` file, the guest's root, compiled with `zig
//! build-exe` for wasm32-wasi with the Zig SDK (`sdks/zig/ferry.zig`), which
//! this crate carries, as the module `ferry`.

use crate::{BuildError, source};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Zig SDK: the module guests import as `ferry`.
pub const ZIG_SDK: &str = include_str!("../../../sdks/zig/ferry.zig");

/// The Zig the SDK is written in: Zig's language still changes between
/// versions.
const ZIG_VERSION: &str = "0.17.";

const INSTALL: &str = "install Zig 0.17 (`pip install ziglang==0.17.1`, or from \
                       ziglang.org) and put `zig` on the PATH, or name it in ZIG";

pub(crate) fn is_zig(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|ext| ext == "zig")
}

/// Compiles the guest rooted at the file `path` to
/// `<dir>/target/ferry-zig/<stem>.wasm`.
pub(crate) fn build(path: &Path, zig: Option<&Path>) -> Result<PathBuf, BuildError> {
    let layout = source::Layout::prepare(path, "zig", &[("ferry.zig", ZIG_SDK)])?;
    let mut command = find_zig(zig).map_err(|reason| BuildError::new(path, reason))?;
    let root = path.strip_prefix(&layout.dir).unwrap_or(path);
    // Run in the guest's directory, naming its root relatively, so that
    // `@src()` (in panics) and the module do not depend on where the guest
    // is checked out.
    command
        .current_dir(&layout.dir)
        .args([
            "build-exe",
            "-target",
            "wasm32-wasi",
            "-fno-entry",
            "-rdynamic",
        ])
        // Debug sections would carry the build's paths.
        .args(["-O", "ReleaseFast", "-fstrip", "--cache-dir"])
        .arg(layout.out_dir.join("cache"))
        .args(["--dep", "ferry"])
        .arg(join("-Mroot=", root.as_os_str()))
        .arg(join("-Mferry=", layout.sdk.join("ferry.zig").as_os_str()))
        .arg("--name")
        .arg(layout.module.file_stem().unwrap_or_default())
        .arg(join("-femit-bin=", layout.module.as_os_str()));
    source::run_toolchain(command, path, "zig", INSTALL, |_| None)?;
    Ok(layout.module)
}

fn join(flag: &str, value: &std::ffi::OsStr) -> OsString {
    let mut arg = OsString::from(flag);
    arg.push(value);
    arg
}

/// The Zig to build with: the one given, else `ZIG`, else `zig` on the
/// PATH, else the one the Python package `ziglang` carries; the SDK's
/// version of it.
fn find_zig(given: Option<&Path>) -> Result<Command, String> {
    let candidates: Vec<Vec<OsString>> = match given
        .map(OsString::from)
        .or_else(|| std::env::var_os("ZIG"))
    {
        Some(zig) => vec![vec![zig]],
        None => vec![
            vec!["zig".into()],
            vec!["python3".into(), "-m".into(), "ziglang".into()],
        ],
    };
    for candidate in candidates {
        let command = || {
            let mut command = Command::new(&candidate[0]);
            command.args(&candidate[1..]);
            command
        };
        let Ok(out) = command().arg("version").stderr(Stdio::null()).output() else {
            continue;
        };
        if !out.status.success() {
            continue;
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !version.starts_with(ZIG_VERSION) {
            return Err(format!(
                "the Zig SDK is written for Zig {ZIG_VERSION}x, and this zig is {version}: {INSTALL}"
            ));
        }
        return Ok(command());
    }
    Err(format!("zig is not installed: {INSTALL}"))
}
