//! The Python package's tests: pytest, in a virtual environment under the
//! target directory, against the extension cargo built with the workspace
//! and the example guests built from source.

use ferry_test_support::venv::{build_dir, virtual_env};
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_python_package_passes_its_tests() {
    let root = ferry_test_support::workspace_root();
    let package = root.join("crates/ferry-python");
    let build = build_dir();
    let requirements = std::fs::read_to_string(package.join("requirements-test.txt")).unwrap();
    let python = virtual_env(&build.join("python-venv"), &requirements);
    let site = stage(&build, &package.join("python"));
    ferry_test_support::system::java();
    let store = tempfile::tempdir().unwrap();
    // A closure Rust encoded, for Python to encode the same way.
    let greet = ferry_host::Closure::new(&ferry_test_support::example_guest().module, "greet")
        .unwrap()
        .with_env("Hello")
        .unwrap()
        .to_bytes(ferry_host::Encoding::ByValue);
    let rust_closure = store.path().join("greet.closure");
    std::fs::write(&rust_closure, greet).unwrap();
    let status = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(package.join("python/tests"))
        .env("PYTHONPATH", &site)
        .env("FERRY_STORE", store.path())
        .env(
            "FERRY_TEST_GUEST",
            &ferry_test_support::example_guest().path,
        )
        .env("FERRY_TEST_UDFS", &ferry_test_support::udfs().path)
        .env("FERRY_TEST_RUST_CLOSURE", &rust_closure)
        .env("FERRY_TEST_ROOT", &root)
        .status()
        .expect("cannot run pytest");
    assert!(
        status.success(),
        "the Python tests failed (their output is above)"
    );
}

/// The package as Python imports it: its sources and the extension cargo
/// built, in `python-site` under the build directory.
fn stage(build: &Path, sources: &Path) -> PathBuf {
    let site = build.join("python-site");
    let package = site.join("ferry");
    let _ = std::fs::remove_dir_all(&site);
    std::fs::create_dir_all(&package).unwrap();
    for entry in std::fs::read_dir(sources.join("ferry")).unwrap().flatten() {
        std::fs::copy(entry.path(), package.join(entry.file_name())).unwrap();
    }
    let library = format!(
        "{}ferry_native{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let extension = if cfg!(windows) {
        "_native.pyd"
    } else {
        "_native.abi3.so"
    };
    // Built for this test, cargo leaves it in `deps`; `cargo build` puts it
    // beside.
    let built = [build.join("deps").join(&library), build.join(&library)]
        .into_iter()
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("cannot find the extension {library} cargo built"));
    std::fs::copy(built, package.join(extension)).unwrap();
    site
}
