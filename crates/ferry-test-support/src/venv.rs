//! Python virtual environments under the target directory, for tests that
//! need Python packages (pytest and the engines, an S3 server).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`, from the running test binary in its `deps`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("a test knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps")
        .to_path_buf()
}

/// A virtual environment at `dir` with `requirements` (pip's format)
/// installed, made once and remade when the requirements change. Returns
/// its interpreter. Panics, saying what to install, when Python or pip
/// fails.
pub fn virtual_env(dir: &Path, requirements: &str) -> PathBuf {
    let python = dir.join("bin/python");
    let installed = dir.join("ferry-requirements.txt");
    if std::fs::read_to_string(&installed).ok().as_deref() == Some(requirements) {
        return python;
    }
    let _ = std::fs::remove_dir_all(dir);
    run(
        Command::new("python3").args(["-m", "venv"]).arg(dir),
        "python3 -m venv (these tests need python3 with venv; on Debian: apt install python3-venv)",
    );
    let wanted = dir.join("requirements.txt");
    std::fs::write(&wanted, requirements).expect("the new environment is writable");
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&wanted),
        &format!("pip install of {}", requirements.trim().replace('\n', ", ")),
    );
    std::fs::write(installed, requirements).expect("the new environment is writable");
    python
}

/// Runs `command`, panicking with `what` if it fails.
pub fn run(command: &mut Command, what: &str) {
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{what} failed: {status}"),
        Err(e) => panic!("{what} could not start: {e}"),
    }
}
