//! What the tests of the `ferry` command share.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};

/// The `ferry` binary, to be run from the workspace root, where the README's
/// relative paths (`examples/udfs`) lead.
pub fn ferry() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.current_dir(ferry_test_support::workspace_root());
    command
}

/// `ferry`, with none of the `AWS_*` variables of whoever runs the tests:
/// those that need a store are given a test server's.
pub fn ferry_without_aws() -> Command {
    let mut command = ferry();
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
}

/// What a server started with `ferry` says it listens on: the address in
/// its first line, `<prefix><address>`.
pub fn listening_address(child: &mut Child, prefix: &str) -> Option<String> {
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    line.trim().strip_prefix(prefix).map(str::to_owned)
}
