//! Shared by the integration tests: the example guest, compiled from source
//! once per test binary.

use ferry_host::Module;
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example guest (`examples/guest`), built by cargo during the test run.
pub fn guest() -> Module {
    static GUEST: OnceLock<Module> = OnceLock::new();
    GUEST
        .get_or_init(|| {
            ferry_host::guest::build_crate(workspace_root().join("examples/guest"))
                .expect("the example guest builds")
                .module
        })
        .clone()
}
