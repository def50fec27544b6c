//! What the tests of this crate share beyond `ferry-test-support`: the
//! hand-written guest and sandboxes small enough to hit.

use ferry_host::Sandbox;
use ferry_test_support::workspace_root;
use std::time::Duration;

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
pub fn tight_sandbox() -> Sandbox {
    let mut sandbox = Sandbox::default();
    sandbox.limits.timeout = Duration::from_secs(60);
    sandbox.limits.memory = 64 << 20;
    sandbox.limits.output = 64 << 10;
    sandbox.limits.result = 1 << 20;
    sandbox
}

/// [`tight_sandbox`] with a deadline of `ms` milliseconds, for the calls
/// that are meant to meet it.
pub fn deadline(ms: u64) -> Sandbox {
    let mut sandbox = tight_sandbox();
    sandbox.limits.timeout = Duration::from_millis(ms);
    sandbox
}
