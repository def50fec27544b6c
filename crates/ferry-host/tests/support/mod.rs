//! Shared by the integration tests: the example guest, compiled from source
//! once per test binary.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

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

/// The hand-written guest in `examples/wat/by-hand.wat`, after `edit` has had
/// a chance to change its text (to break it in a particular way).
pub fn by_hand(edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let text = std::fs::read_to_string(workspace_root().join("examples/wat/by-hand.wat"))
        .expect("the hand-written guest is there");
    wat::parse_str(edit(text)).expect("the edited guest is still valid text format")
}

/// A sandbox whose limits are small enough for tests to hit quickly, with
/// a deadline so far off that no call meant to finish meets it, however
/// loaded the machine.
pub fn tight_sandbox() -> ferry_host::Sandbox {
    let mut sandbox = ferry_host::Sandbox::default();
    sandbox.limits.timeout = std::time::Duration::from_secs(60);
    sandbox.limits.memory = 64 << 20;
    sandbox.limits.output = 64 << 10;
    sandbox.limits.result = 1 << 20;
    sandbox
}

/// [`tight_sandbox`] with a deadline of `ms` milliseconds, for the calls
/// that are meant to meet it.
pub fn deadline(ms: u64) -> ferry_host::Sandbox {
    let mut sandbox = tight_sandbox();
    sandbox.limits.timeout = std::time::Duration::from_millis(ms);
    sandbox
}

/// The SQL function examples (`examples/udfs`), built from source once.
pub fn udfs() -> Module {
    static UDFS: OnceLock<Module> = OnceLock::new();
    UDFS.get_or_init(|| {
        ferry_host::guest::build_crate(workspace_root().join("examples/udfs"))
            .expect("the UDF examples build")
            .module
    })
    .clone()
}
