//! What a store carries for one instance, and turning a failed call into a
//! [`FailureKind`].

use super::ActorAccess;
use super::capture::Capture;
use super::frozen_clock::FrozenClock;
use super::memory_cap::MemoryCap;
use super::sandbox::{Grants, Limits};
use crate::batch::ColumnOut;
use crate::{Blob, Error, FailureKind};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Trap, WasmBacktrace};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Everything a store carries for one instance.
pub(crate) struct HostState {
    wasi: Wasi,
    pub memory_cap: MemoryCap,
    pub stdout: Capture,
    pub stderr: Capture,
    pub result_limit: u64,
    /// Set by the `result` import during a call.
    pub result: Option<Vec<u8>>,
    /// Set by the `error` import during a call.
    pub error: Option<String>,
    /// Set by the `result_column` import during a batch call.
    pub column: Option<ColumnOut>,
    /// The data blobs of the closure being run.
    pub blobs: Arc<BTreeMap<String, Blob>>,
    /// When the running call must end; waits in `poll_oneoff` stop there.
    pub deadline: Option<Instant>,
    /// Whether the guest has the real clock; without it time stands still,
    /// and waits in `poll_oneoff` take none.
    pub clock_granted: bool,
    /// Whom `actor_call` asks, if the sandbox granted any.
    pub actors: Option<ActorAccess>,
    timeout: Duration,
}

impl HostState {
    /// The state of a store whose calls run under `limits` and `grants`.
    pub fn new(limits: &Limits, grants: &Grants) -> Result<HostState, Error> {
        let stdout = Capture::new("stdout", limits.output);
        let stderr = Capture::new("stderr", limits.output);
        // Opening granted directories can fail, and that is the caller's
        // error to see now, not the guest's at its first file call.
        let wasi = if grants.dirs.is_empty() {
            Wasi::Unbuilt(grants.clone())
        } else {
            Wasi::Built(Box::new(wasi_context(grants, &stdout, &stderr)?))
        };
        Ok(HostState {
            wasi,
            memory_cap: MemoryCap::new(limits.memory),
            stdout,
            stderr,
            result_limit: limits.result,
            result: None,
            error: None,
            column: None,
            blobs: Arc::default(),
            deadline: None,
            clock_granted: grants.clock,
            actors: grants.actors.clone(),
            timeout: limits.timeout,
        })
    }

    /// The guest's WASI context, built on its first WASI call: building one
    /// is most of what a fresh instance costs, and most guests make none.
    pub fn wasi(&mut self) -> &mut WasiP1Ctx {
        if let Wasi::Unbuilt(grants) = &self.wasi {
            let context = wasi_context(grants, &self.stdout, &self.stderr)
                .expect("a WASI context without directories always builds");
            self.wasi = Wasi::Built(Box::new(context));
        }
        match &mut self.wasi {
            Wasi::Built(context) => context,
            Wasi::Unbuilt(_) => unreachable!("built just above"),
        }
    }

    /// Whether the memory cap refused to grow memory.
    pub fn memory_cap_hit(&self) -> bool {
        self.memory_cap.hit()
    }

    /// Clears what the previous call left behind.
    pub fn begin_call(&mut self, blobs: &Arc<BTreeMap<String, Blob>>) {
        self.result = None;
        self.error = None;
        self.column = None;
        self.memory_cap.reset();
        self.stdout.clear();
        self.stderr.clear();
        self.deadline = Some(Instant::now() + self.timeout);
        if !Arc::ptr_eq(&self.blobs, blobs) {
            self.blobs = blobs.clone();
        }
    }

    /// Names what went wrong when a call into the guest returned an error.
    pub fn classify(&self, error: &wasmtime::Error, limits: &Limits) -> FailureKind {
        if let Some(kind) = error.downcast_ref::<FailureKind>() {
            return kind.clone();
        }
        if self.memory_cap.hit() {
            return FailureKind::MemoryLimit {
                limit: limits.memory,
            };
        }
        if let Some(kind) = self.stdout.overflow().or_else(|| self.stderr.overflow()) {
            return kind;
        }
        if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return FailureKind::Exit { code: exit.0 };
        }
        let message = match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return FailureKind::Timeout {
                    limit_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
                };
            }
            Some(trap) => trap.to_string(),
            None => error.root_cause().to_string(),
        };
        FailureKind::Trap {
            message: with_backtrace(message, error),
        }
    }
}

/// A store's WASI context, or what it will be built from.
enum Wasi {
    Unbuilt(Grants),
    Built(Box<WasiP1Ctx>),
}

/// The WASI context `grants` allow, its output going to the captures.
fn wasi_context(grants: &Grants, stdout: &Capture, stderr: &Capture) -> Result<WasiP1Ctx, Error> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .arg("ferry")
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    for (key, value) in &grants.env {
        wasi.env(key, value);
    }
    for dir in &grants.dirs {
        let perms = if dir.writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        wasi.preopened_dir(&dir.host, &dir.guest, perms)
            .map_err(|e| Error::Io {
                action: "cannot grant the guest the directory",
                path: dir.host.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
    }
    if !grants.clock {
        wasi.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
    }
    if !grants.random {
        // Fixed bytes make guests that seed hash maps or shuffle data
        // reproducible, which the closed sandbox promises.
        let fixed = b"ferry deterministic random bytes".to_vec();
        wasi.secure_random(wasmtime_wasi::Deterministic::new(fixed.clone()))
            .insecure_random(wasmtime_wasi::Deterministic::new(fixed))
            .insecure_random_seed(0);
    }
    Ok(wasi.build_p1())
}

/// A trap's message is one line; the guest's stack is added on request
/// (`RUST_BACKTRACE` set to anything but `0`), as Rust adds its own.
fn with_backtrace(message: String, error: &wasmtime::Error) -> String {
    let wanted = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    match error.downcast_ref::<WasmBacktrace>() {
        Some(backtrace) if wanted => format!("{message}\n{backtrace}"),
        _ => crate::one_line(&message),
    }
}
