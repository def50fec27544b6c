//! What the tests of the `ferry` command share.

use std::process::Command;

/// The `ferry` binary, to be run from the workspace root, where the README's
/// relative paths (`examples/udfs`) lead.
pub fn ferry() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.current_dir(ferry_test_support::workspace_root());
    command
}
