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

/// `ferry` with a store of its own, so that tests do not share modules.
pub struct Ferry {
    store: tempfile::TempDir,
    env: Vec<(&'static str, String)>,
}

impl Ferry {
    pub fn new() -> Ferry {
        Ferry::with_env(Vec::new())
    }

    /// With these variables set for every command (where a toolchain is).
    pub fn with_env(env: Vec<(&'static str, String)>) -> Ferry {
        Ferry {
            store: tempfile::tempdir().unwrap(),
            env,
        }
    }

    pub fn store(&self) -> &std::path::Path {
        self.store.path()
    }

    /// `ferry` with this store.
    pub fn command(&self) -> Command {
        let mut command = ferry();
        command.env("FERRY_STORE", self.store.path());
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command().args(args).output().unwrap()
    }

    /// `ferry` with `args`, reading `input` from standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ferry {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "ferry {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    /// A path in the store's directory, for files a test writes.
    pub fn path(&self, name: &str) -> String {
        self.store.path().join(name).display().to_string()
    }

    /// Writes a file in the store's directory; its path.
    pub fn file(&self, name: &str, contents: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
