//! Arguments several subcommands share, and reading flag values.

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_host::{BlobStore, Closure, DirGrant, FromSource, Module, ModuleRef, Sandbox, Value};
use std::path::Path;
use std::time::Duration;

/// A function to run: `call`, `pickle` and `map` take it alike.
#[derive(Args)]
pub struct FunctionArgs {
    /// A .wasm file, a guest crate directory, or sha256:… from the store.
    module: String,
    /// The function's name.
    function: String,
    /// The captured environment, as JSON.
    #[arg(long, value_name = "JSON")]
    env: Option<String>,
}

/// What the guest may do.
#[derive(Args)]
pub struct SandboxArgs {
    /// Wall-clock limit for the call, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    timeout: f64,
    /// Memory limit, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    memory: u64,
    /// Give the guest an environment variable, as KEY=VALUE.
    #[arg(long = "grant-env", value_name = "KEY=VALUE")]
    grant_env: Vec<String>,
    /// Give the guest a host directory, as HOST_DIR[:GUEST_DIR][:rw].
    #[arg(long = "grant-dir", value_name = "HOST[:GUEST][:rw]")]
    grant_dir: Vec<String>,
    /// Give the guest the real clock.
    #[arg(long)]
    grant_clock: bool,
    /// Give the guest real randomness.
    #[arg(long)]
    grant_random: bool,
}

impl FunctionArgs {
    /// A closure of the function, with the environment captured.
    pub fn closure(&self, store: &BlobStore) -> Result<Closure> {
        let module = load_module(&self.module, store)?;
        Ok(Closure::new(&module, &self.function)?
            .with_env_value(json_value("--env", self.env.as_deref())?))
    }
}

impl SandboxArgs {
    /// The sandbox the flags describe.
    pub fn to_sandbox(&self) -> Result<Sandbox> {
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bail!(
                "--timeout must be a positive number of seconds, not {}",
                self.timeout
            );
        }
        let mut sandbox = Sandbox::default();
        sandbox.limits.timeout = Duration::try_from_secs_f64(self.timeout)
            .with_context(|| format!("--timeout {} is out of range", self.timeout))?;
        sandbox.limits.memory = mebibytes("--memory", self.memory)?;
        for pair in &self.grant_env {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--grant-env takes KEY=VALUE, not `{pair}`"))?;
            sandbox.grants.env.push((key.to_owned(), value.to_owned()));
        }
        for spec in &self.grant_dir {
            let (spec, writable) = match spec.strip_suffix(":rw") {
                Some(rest) => (rest, true),
                None => (spec.as_str(), false),
            };
            let (host, guest) = spec.split_once(':').unwrap_or((spec, spec));
            sandbox.grants.dirs.push(DirGrant {
                host: host.into(),
                guest: guest.to_owned(),
                writable,
            });
        }
        sandbox.grants.clock = self.grant_clock;
        sandbox.grants.random = self.grant_random;
        Ok(sandbox)
    }
}

/// The module `reference` names; a guest crate is built and stored.
pub fn load_module(reference: &str, store: &BlobStore) -> Result<Module> {
    let reference: ModuleRef = reference.parse()?;
    Ok(reference.module(Some(store), FromSource::Build)?)
}

/// The value of a JSON flag; nil when it is not given.
pub fn json_value(flag: &str, text: Option<&str>) -> Result<Value> {
    match text {
        None => Ok(Value::nil()),
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("{flag} is not valid JSON: `{text}`"))?;
            Ok(Value::from_json(&json)?)
        }
    }
}

/// `mib` MiB in bytes, or an error naming the flag if that overflows.
pub fn mebibytes(flag: &str, mib: u64) -> Result<u64> {
    mib.checked_mul(1 << 20)
        .with_context(|| format!("{flag} {mib} MiB is too large"))
}

/// The token from `file`, else from `$FERRY_TOKEN`.
pub fn read_token(file: Option<&Path>) -> Result<Option<String>> {
    match file {
        Some(file) => {
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            Ok(Some(token.trim().to_owned()))
        }
        None => Ok(std::env::var(ferry_worker::TOKEN_ENV).ok()),
    }
}
