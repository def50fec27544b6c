//! The workspace's example guests, compiled from source by cargo the first
//! time a process asks for them.

use ferry_host::guest::{BuiltGuest, build_crate};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The root of the ferry workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `examples/guest`: value functions (`add`, `fill`, `merge`, ...) and the
/// misbehaving ones the sandbox tests use.
pub fn example_guest() -> &'static BuiltGuest {
    static GUEST: OnceLock<BuiltGuest> = OnceLock::new();
    GUEST.get_or_init(|| build("examples/guest"))
}

/// `examples/udfs`: the SQL scalar functions and aggregates.
pub fn udfs() -> &'static BuiltGuest {
    static UDFS: OnceLock<BuiltGuest> = OnceLock::new();
    UDFS.get_or_init(|| build("examples/udfs"))
}

fn build(dir: &str) -> BuiltGuest {
    build_crate(workspace_root().join(dir)).unwrap_or_else(|e| panic!("{dir} does not build: {e}"))
}
