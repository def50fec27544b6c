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

/// What a server started with `ferry` says it listens on: the address in
/// its first line, `<prefix><address>`.
pub fn listening_address(child: &mut Child, prefix: &str) -> Option<String> {
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    line.trim().strip_prefix(prefix).map(str::to_owned)
}
