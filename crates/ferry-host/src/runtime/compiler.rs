//! Where modules are compiled: on the calling thread, or in a child process
//! whose time and memory are bounded.
//!
//! Cranelift cannot be interrupted, and what it needs grows with the module
//! (a 60 MB module took 30 s and 1.35 GB). A process that compiles modules
//! others sent it, as a worker does, hands them to a child it can limit: the
//! child's memory by `RLIMIT_DATA`, its time by a kill when the deadline
//! passes. The child compiles with the engine settings of the tier it is
//! asked for (baseline or optimized, see [`Tier`]) and writes
//! wasmtime's serialized code back, which the parent loads as it would load
//! precompiled code from its store.
//!
//! The child's side is [`serve_compile`]: a program calls it when started
//! with the arguments its [`ChildCompiler`] names (`ferry` has a hidden
//! `compile-module` subcommand for it).

use super::tier::{TIER_ENV, Tier};
use crate::{Error, Module, one_line};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where a [`Runtime`](crate::Runtime) compiles modules it has no code for.
#[derive(Clone, Debug, Default)]
pub enum Compiler {
    /// On the thread that needs the module. Nothing bounds the time or
    /// memory it takes but [`RuntimeConfig::max_module`](crate::RuntimeConfig::max_module).
    #[default]
    InProcess,
    /// In a child process with bounded memory and time.
    Child(ChildCompiler),
}

/// A program that compiles one module per run, bounded.
///
/// ```no_run
/// use ferry_host::runtime::{ChildCompiler, Compiler};
/// use ferry_host::{Runtime, RuntimeConfig};
/// use std::time::Duration;
///
/// // This program's own `main` calls `serve_compile` when its first
/// // argument is `compile-module`.
/// let compiler = ChildCompiler {
///     program: std::env::current_exe()?,
///     args: vec!["compile-module".into()],
///     memory: 2 << 30,
///     timeout: Duration::from_secs(60),
/// };
/// let runtime = Runtime::new(RuntimeConfig {
///     compiler: Compiler::Child(compiler),
///     ..RuntimeConfig::default()
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ChildCompiler {
    /// The program to start.
    pub program: PathBuf,
    /// Its arguments, which make it call [`serve_compile`].
    pub args: Vec<OsString>,
    /// The most memory the child may allocate, in bytes (its data segment,
    /// heap and anonymous mappings; on Unix).
    pub memory: u64,
    /// How long the child may take before it is killed.
    pub timeout: Duration,
}

/// The first byte of the child's answer: code follows, or a reason.
const COMPILED: u8 = 0;
const REFUSED: u8 = 1;

/// The child's side: reads a module on standard input, compiles it for
/// the tier its parent named and writes the serialized code (or why it
/// could not) on standard output. Fails only if standard input or output
/// fail.
pub fn serve_compile() -> std::io::Result<()> {
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    let compiled = wasmtime::Engine::new(&Tier::from_env().settings())
        .and_then(|engine| engine.precompile_module(&bytes));
    drop(bytes);
    let mut out = std::io::stdout().lock();
    match compiled {
        Ok(code) => {
            out.write_all(&[COMPILED])?;
            out.write_all(&code)?;
        }
        Err(e) => {
            out.write_all(&[REFUSED])?;
            out.write_all(one_line(&format!("{e:#}")).as_bytes())?;
        }
    }
    out.flush()
}

impl ChildCompiler {
    /// Compiles `module` for `tier` in a child and returns its serialized
    /// code, for `wasmtime::Module::deserialize` under the tier's settings.
    pub(super) fn compile(&self, module: &Module, tier: Tier) -> Result<Vec<u8>, Error> {
        let id = module.id();
        let limit = |reason: String| Error::CompileLimit { module: id, reason };
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env(TIER_ENV, tier.env_value())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        bound(&mut command, self.memory);
        let mut child = command.spawn().map_err(|e| {
            Error::Engine(format!(
                "cannot start the compiler `{}`: {e}",
                self.program.display()
            ))
        })?;
        let deadline = Instant::now() + self.timeout;
        let (status, answer, stderr) = std::thread::scope(|scope| {
            let stdout = child.stdout.take();
            let stderr = child.stderr.take();
            // Machine code is a few times the size of the module; far more
            // is a compiler gone wrong.
            let most = (module.bytes().len() as u64).saturating_mul(64) + (1 << 20);
            let answer = scope.spawn(move || read_at_most(stdout, most));
            let stderr = scope.spawn(move || read_at_most(stderr, 64 << 10));
            // Written from a thread of its own, so that a child that reads
            // nothing still meets the deadline; one that stopped early says
            // why on standard error.
            let stdin = child.stdin.take();
            scope.spawn(move || stdin.map(|mut stdin| stdin.write_all(module.bytes())));
            let status = wait_until(&mut child, deadline);
            let answer = answer.join().unwrap_or_default();
            let stderr = stderr.join().unwrap_or_default();
            (status, answer, stderr)
        });
        let Some(status) = status else {
            return Err(limit(format!(
                "compiling took longer than {:?}, the limit for one module",
                self.timeout
            )));
        };
        match answer.split_first() {
            Some((&COMPILED, code)) if status.success() => Ok(code.to_vec()),
            Some((&REFUSED, reason)) if status.success() => Err(Error::Compile {
                module: id,
                reason: String::from_utf8_lossy(reason).into_owned(),
            }),
            _ if out_of_memory(&status, &stderr) => Err(limit(format!(
                "compiling needed more than {} MiB, the memory limit for one module",
                self.memory >> 20
            ))),
            _ => Err(Error::Engine(format!(
                "the compiler `{}` failed ({status}): {}",
                self.program.display(),
                one_line(String::from_utf8_lossy(&stderr).trim())
            ))),
        }
    }
}

/// Reads a pipe to its end, keeping at most `most` bytes.
fn read_at_most(pipe: Option<impl Read>, most: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let mut pipe = pipe.take(most);
        let _ = pipe.read_to_end(&mut bytes);
        // Drain the rest so the child is not blocked writing it.
        let _ = std::io::copy(pipe.get_mut(), &mut std::io::sink());
    }
    bytes
}

/// Waits for `child` until `deadline`; past it, kills it and says `None`.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Whether the child stopped because an allocation failed: Rust's runtime
/// says so on standard error and aborts.
fn out_of_memory(status: &ExitStatus, stderr: &[u8]) -> bool {
    #[cfg(unix)]
    let aborted = {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(libc::SIGABRT)
    };
    #[cfg(not(unix))]
    let aborted = !status.success();
    aborted || String::from_utf8_lossy(stderr).contains("memory allocation of")
}

/// Limits the child's memory and ties its life to ours.
#[cfg(unix)]
fn bound(command: &mut Command, memory: u64) {
    use std::os::unix::process::CommandExt;
    let memory = libc::rlim_t::try_from(memory).unwrap_or(libc::RLIM_INFINITY);
    // SAFETY: between fork and exec only async-signal-safe calls are
    // allowed; `setrlimit` and `prctl` are plain system calls.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: memory,
                rlim_max: memory,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A compile outliving the process that wanted it is waste.
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Elsewhere only the deadline bounds the child.
#[cfg(not(unix))]
fn bound(_: &mut Command, _: u64) {}
