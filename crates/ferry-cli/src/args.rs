//! Arguments several subcommands share, and reading flag values.

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_host::batch::ColumnType;
use ferry_host::javascript;
use ferry_host::{
    BlobStore, Closure, DirGrant, FromSource, Module, ModuleRef, Resolved, Sandbox, Value,
};
use ferry_protocol::signature::{ModuleSignature, TrustedKeys, read_signatures};
use ferry_stores::Stores;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A function to run: `call`, `pickle` and `map` take it alike.
#[derive(Args)]
pub struct FunctionArgs {
    /// A .wasm file, guest source (a crate directory, a C or Go file or a
    /// directory of them, a Zig or AssemblyScript file), a closure file from
    /// `ferry pickle`, or
    /// sha256:… of a module or closure in the store.
    #[arg(required_unless_present = "js")]
    module: Option<String>,
    /// The function's name; a closure names its own.
    function: Option<String>,
    /// A function written in JavaScript instead: an ES module's source
    /// (`export default (x) => x * 2`), or a .js or .mjs file, whose
    /// default export is the function.
    #[arg(long, value_name = "SOURCE|FILE", conflicts_with = "module")]
    js: Option<String>,
    /// With --js: a SQL function (scalar, or aggregate if the default
    /// export is an aggregate's object) taking columns of these types
    /// (int64,utf8,…).
    #[arg(long, value_name = "TYPE,...", value_delimiter = ',', requires_all = ["js", "returns"])]
    args: Vec<String>,
    /// With --js: a SQL function returning a column of this type.
    #[arg(long, value_name = "TYPE", requires = "js")]
    returns: Option<String>,
    /// The captured environment, as JSON (@FILE reads it from a file, -
    /// from standard input); with --js, the function's first argument.
    #[arg(long, value_name = "JSON")]
    env: Option<String>,
    /// Attach a data blob read from a file, as NAME=FILE; or an object in
    /// a store, as NAME=URL (pinned to the object's version now) or
    /// NAME=URL#sha256:HEX (checked against the hash): where the closure
    /// runs, it is read from the store, never sent from here.
    #[arg(long = "blob", value_name = "NAME=FILE|URL")]
    blobs: Vec<String>,
}

/// Which workers a client uses, and how it reaches them.
#[derive(Args)]
pub struct WorkersArgs {
    /// The workers, comma-separated.
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    pub workers: Vec<String>,
    /// File holding the workers' token (for deploying and spawning, one
    /// with the `deploy` scope) [default: $FERRY_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

impl WorkersArgs {
    /// A client of the workers, and of `more`, sending `signatures` with
    /// the modules they sign.
    pub fn remote(
        &self,
        more: &[String],
        signatures: Vec<ModuleSignature>,
    ) -> Result<ferry_remote::Remote> {
        Ok(self.builder(more, signatures)?.build()?)
    }

    /// [`remote`](Self::remote), to be configured further.
    pub fn builder(
        &self,
        more: &[String],
        signatures: Vec<ModuleSignature>,
    ) -> Result<ferry_remote::RemoteBuilder> {
        let mut remote = ferry_remote::Remote::builder().signatures(signatures);
        let mut workers: Vec<&String> = self.workers.iter().chain(more).collect();
        workers.dedup();
        if workers.is_empty() {
            bail!("name the workers with --workers HOST:PORT,...");
        }
        for worker in workers {
            remote = remote.worker(worker.clone());
        }
        if let Some(token) = read_token(self.token_file.as_deref())? {
            remote = remote.token(token);
        }
        if let Some(tls) = self.tls.to_tls() {
            remote = remote.tls(tls);
        }
        Ok(remote)
    }
}

/// How a client reaches workers, or a cluster, over TLS.
#[derive(Args)]
pub struct ClientTlsArgs {
    /// Reach the workers (the cluster) over TLS, trusting certificates
    /// from this CA (PEM).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Mutual TLS: the certificate to show the workers (the cluster),
    /// PEM.
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_client_key"])]
    tls_client_cert: Option<PathBuf>,
    /// Mutual TLS: that certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_client_cert")]
    tls_client_key: Option<PathBuf>,
}

impl ClientTlsArgs {
    /// The client's TLS settings, if the flags ask for TLS.
    pub fn to_tls(&self) -> Option<ferry_protocol::tls::ClientTls> {
        let ca = self.tls_ca.clone()?;
        let identity = self
            .tls_client_cert
            .clone()
            .zip(self.tls_client_key.clone());
        Some(ferry_protocol::tls::ClientTls { ca, identity })
    }
}

/// How a server (`ferry worker`, `ferry serve`) speaks TLS.
#[derive(Args)]
pub struct ServerTlsArgs {
    /// Serve TLS with this certificate chain (PEM); reloaded when the
    /// file changes.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: accept only clients with a certificate from this CA.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Serve cleartext on an address other than loopback.
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure: bool,
}

impl ServerTlsArgs {
    /// The server's TLS files, if the flags ask for TLS.
    pub fn to_tls(&self) -> Option<ferry_protocol::tls::ServerTls> {
        Some(ferry_protocol::tls::ServerTls {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            client_ca: self.tls_client_ca.clone(),
        })
    }
}

/// How a process of a cluster (scheduler, executor) speaks TLS.
#[derive(Args)]
pub struct ClusterTlsArgs {
    /// Speak TLS with this certificate chain (PEM), reloaded when the file
    /// changes.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA that signed the cluster's certificates (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// Mutual TLS: accept only clients with a certificate from --tls-ca,
    /// and show --tls-cert to the others.
    #[arg(long, requires = "tls_cert")]
    tls_mutual: bool,
    /// Serve cleartext on an address other than loopback.
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure: bool,
}

impl ClusterTlsArgs {
    /// The process's TLS files, if the flags ask for TLS.
    pub fn to_tls(&self) -> Option<ferry_ballista::ClusterTls> {
        Some(ferry_ballista::ClusterTls {
            cert: self.tls_cert.clone()?,
            key: self.tls_key.clone()?,
            ca: self.tls_ca.clone()?,
            mutual: self.tls_mutual,
        })
    }
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
    /// The closure the arguments name: a module's function with the
    /// environment captured, or a closure as it was pickled; then the blobs
    /// attached.
    pub fn closure(&self, store: &BlobStore) -> Result<Closure> {
        let closure = match (&self.js, &self.module) {
            (Some(source), _) => self.javascript(source, store)?,
            (None, Some(module)) => self.module_closure(module, store)?,
            (None, None) => bail!("name a module, a closure or guest source, or give --js"),
        };
        self.blobs.iter().try_fold(closure, |closure, blob| {
            let (name, file) = blob
                .split_once('=')
                .with_context(|| format!("--blob takes NAME=FILE or NAME=URL, not `{blob}`"))?;
            if ferry_stores::is_url(file) {
                let object = stores().block_on(stores().reference(file))??;
                return Ok(closure.with_object(name, object));
            }
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read blob file {file}"))?;
            Ok(closure.with_blob(name, bytes))
        })
    }

    /// A closure of the JavaScript engine: a value function, or with
    /// `--returns` a scalar or aggregate one, as the source's default
    /// export is a function or an aggregate's object. The source is
    /// loaded once here, so that one that does not load fails now.
    fn javascript(&self, source: &str, store: &BlobStore) -> Result<Closure> {
        if self.returns.is_some() && self.env.is_some() {
            bail!("--env is for a JavaScript value function; a SQL one captures nothing");
        }
        let (engine, source, shape) = javascript_source(source, store)?;
        let Some(returns) = &self.returns else {
            if shape.is_aggregate() {
                bail!(
                    "the source is an aggregate: give its column types with --args and --returns"
                );
            }
            let captured = match &self.env {
                Some(env) => Some(json_value("--env", Some(env))?),
                None => None,
            };
            return Ok(javascript::function(&engine, &source, captured.as_ref())?);
        };
        let column_type = |name: &String| {
            ColumnType::from_name(name).with_context(|| {
                let names: Vec<&str> = ColumnType::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "`{name}` is not a column type; the types are {}",
                    names.join(", ")
                )
            })
        };
        let args = self
            .args
            .iter()
            .map(column_type)
            .collect::<Result<Vec<_>>>()?;
        let returns = column_type(returns)?;
        Ok(match shape.is_aggregate() {
            true => javascript::aggregate(&engine, &source, &args, returns, shape.retract)?,
            false => javascript::scalar(&engine, &source, &args, returns)?,
        })
    }

    /// A module's function with the environment captured, or a closure as
    /// it was pickled.
    fn module_closure(&self, module: &str, store: &BlobStore) -> Result<Closure> {
        let reference: ModuleRef = module.parse()?;
        let closure = match (
            reference.resolve(Some(store), FromSource::Build)?,
            self.function.as_deref(),
        ) {
            (Resolved::Module(module), Some(function)) => Closure::new(&module, function)?
                .with_env_value(json_value("--env", self.env.as_deref())?),
            (Resolved::Module(module), None) => {
                let names: Vec<&str> = module.functions().iter().map(|r| r.name.as_str()).collect();
                bail!(
                    "{reference} is a module: name the function to run after it (it has: {})",
                    names.join(", ")
                )
            }
            (Resolved::Closure(closure), function) => {
                if let Some(function) = function.filter(|f| *f != closure.function()) {
                    bail!(
                        "{reference} is a closure of `{}`, not of `{function}`",
                        closure.function()
                    );
                }
                if self.env.is_some() {
                    bail!(
                        "{reference} is a closure, which carries its environment; \
                         --env is for a module's function"
                    );
                }
                closure
            }
        };
        Ok(closure)
    }

    /// The signatures in `MODULE.sig` beside the module argument, if there
    /// is such a file: workers that run only signed code need them.
    pub fn signatures(&self) -> Result<Vec<ModuleSignature>> {
        self.module
            .as_deref()
            .map_or_else(|| Ok(Vec::new()), signatures_beside)
    }
}

/// The JavaScript engine, the source `--js` gives (inline, or a .js or
/// .mjs file), and what the source's default export is: loaded once
/// here, so that a source that does not load fails now.
fn javascript_source(
    source: &str,
    store: &BlobStore,
) -> Result<(Module, String, javascript::Shape)> {
    let is_file = [".js", ".mjs"].iter().any(|ext| source.ends_with(ext));
    let source = if is_file {
        std::fs::read_to_string(source)
            .with_context(|| format!("cannot read the JavaScript file {source}"))?
    } else {
        source.to_owned()
    };
    let engine = javascript::engine()?;
    let runtime = crate::commands::one_shot_runtime(store)?;
    let shape = javascript::describe(&runtime, &engine, &source)?;
    Ok((engine, source, shape))
}

/// A JavaScript value function of no captured state: a reduce step
/// written in JavaScript.
pub fn javascript_function(source: &str, store: &BlobStore) -> Result<Closure> {
    let (engine, source, shape) = javascript_source(source, store)?;
    if shape.is_aggregate() {
        bail!("a reduce step is a function of two results, not an aggregate");
    }
    Ok(javascript::function(&engine, &source, None)?)
}

/// The signatures in `MODULE.sig` beside a module argument (a file or a
/// crate directory), if there is such a file.
pub fn signatures_beside(module: &str) -> Result<Vec<ModuleSignature>> {
    let file = with_suffix(Path::new(module.trim_end_matches('/')), ".sig");
    if !file.exists() {
        return Ok(Vec::new());
    }
    Ok(read_signatures(&file)?)
}

/// The keys in `--trust` files; `None` without any.
pub fn trusted_keys(files: &[PathBuf]) -> Result<Option<TrustedKeys>> {
    if files.is_empty() {
        return Ok(None);
    }
    let keys = TrustedKeys::from_files(files)?;
    if keys.is_empty() {
        bail!("--trust names no key: nothing would run");
    }
    Ok(Some(keys))
}

/// `path` with `suffix` added to its name: `key` becomes `key.pub`.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

impl SandboxArgs {
    /// The sandbox the flags describe.
    pub fn to_sandbox(&self) -> Result<Sandbox> {
        let mut sandbox = Sandbox::default();
        sandbox.limits.timeout = seconds("--timeout", self.timeout)?;
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
            // Host paths may contain `:`: a spec that is an existing path
            // is all host; otherwise the guest path follows the last `:`.
            let (host, guest) = match spec.rsplit_once(':') {
                Some(split) if !Path::new(spec).exists() => split,
                _ => (spec, spec),
            };
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

/// The module `reference` names; guest source is built and stored if
/// `source` allows it.
pub fn load_module(reference: &str, store: &BlobStore, source: FromSource) -> Result<Module> {
    let reference: ModuleRef = reference.parse()?;
    Ok(reference.module(Some(store), source)?)
}

/// The value of a JSON flag: inline, `@FILE` or `-` for standard input;
/// nil when it is not given.
pub fn json_value(flag: &str, text: Option<&str>) -> Result<Value> {
    let Some(text) = text else {
        return Ok(Value::nil());
    };
    let (json, from) = match text {
        "-" => {
            let mut json = String::new();
            std::io::stdin()
                .read_to_string(&mut json)
                .with_context(|| format!("cannot read {flag} from standard input"))?;
            (json, "standard input".to_owned())
        }
        _ => match text.strip_prefix('@') {
            Some(file) => (
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {flag} from {file}"))?,
                file.to_owned(),
            ),
            None => (text.to_owned(), String::new()),
        },
    };
    let json: serde_json::Value = serde_json::from_str(&json).with_context(|| {
        if from.is_empty() {
            format!("{flag} is not valid JSON: `{text}`")
        } else {
            format!("{flag} from {from} is not valid JSON")
        }
    })?;
    Ok(Value::from_json(&json)?)
}

/// A positive number of seconds as a duration, or an error naming the flag.
pub fn seconds(flag: &str, seconds: f64) -> Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("{flag} must be a positive number of seconds, not {seconds}");
    }
    Duration::try_from_secs_f64(seconds)
        .with_context(|| format!("{flag} {seconds} is out of range"))
}

/// The object stores this process reads, with the credentials of its
/// environment: one set, opened as needed.
pub fn stores() -> &'static Arc<Stores> {
    static STORES: OnceLock<Arc<Stores>> = OnceLock::new();
    STORES.get_or_init(Default::default)
}

/// A size in bytes: a number, optionally followed by KiB, MiB or GiB.
pub fn bytes(text: &str) -> Result<u64> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match text[digits.len()..].to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => bail!("`{other}` is not a unit of size: use KiB, MiB or GiB"),
    };
    let number: u64 = digits
        .trim()
        .parse()
        .with_context(|| format!("`{text}` is not a size, like 64MiB"))?;
    number
        .checked_mul(1 << shift)
        .with_context(|| format!("`{text}` is more than 16 EiB"))
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
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            // A worker's token file lists tokens with their scopes; a
            // client takes the first token.
            let token = text
                .lines()
                .filter_map(|line| line.split('#').next()?.split_whitespace().next())
                .next()
                .with_context(|| format!("the token file {} holds no token", file.display()))?;
            Ok(Some(token.to_owned()))
        }
        None => Ok(std::env::var(ferry_worker::TOKEN_ENV).ok()),
    }
}
