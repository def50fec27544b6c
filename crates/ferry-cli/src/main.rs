//! `ferry`: build, inspect, call, pickle and run ferry functions.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use ferry_host::{
    BlobStore, Closure, ContentHash, DirGrant, Encoding, Error, Executor, ExecutorExt,
    LocalExecutor, Module, Runtime, RuntimeConfig, Sandbox, Value,
};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use out::note;

mod out;
mod sql;

/// Functions as portable, sandboxed values.
#[derive(Parser)]
#[command(name = "ferry", version, about)]
struct Cli {
    /// The content-addressed store for modules, blobs and compiled code
    /// [default: $FERRY_STORE, else ferry under your cache directory].
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a guest crate to WebAssembly, store it, and list its functions.
    Build {
        /// The guest crate's directory.
        #[arg(default_value = ".")]
        crate_dir: PathBuf,
        /// Also copy the module here.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Show a module's id and functions, read without running it.
    Inspect {
        /// A .wasm file, a guest crate directory, or sha256:… from the store.
        module: String,
    },
    /// Call a function once, with JSON in and JSON out.
    Call {
        /// A .wasm file, a guest crate directory, or sha256:… from the store.
        module: String,
        /// The function's name.
        function: String,
        /// The captured environment, as JSON.
        #[arg(long, value_name = "JSON")]
        env: Option<String>,
        /// The input, as JSON; several parameters take an array.
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Make a closure (function + environment + blobs) and write its bytes.
    Pickle {
        /// A .wasm file, a guest crate directory, or sha256:… from the store.
        module: String,
        /// The function's name.
        function: String,
        /// The captured environment, as JSON.
        #[arg(long, value_name = "JSON")]
        env: Option<String>,
        /// Attach a data blob read from a file, as NAME=FILE.
        #[arg(long = "blob", value_name = "NAME=FILE")]
        blobs: Vec<String>,
        /// Write hashes only; the runner resolves them from its store.
        #[arg(long)]
        by_reference: bool,
        /// Where to write the closure.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Run a function over every line of a JSON-lines file, locally or on
    /// workers, optionally reducing the results to one.
    Map {
        /// A .wasm file, a guest crate directory, or sha256:… from the store.
        module: String,
        /// The function to apply to each input.
        function: String,
        /// One JSON input per line.
        #[arg(long, value_name = "FILE.jsonl")]
        inputs: PathBuf,
        /// The captured environment, as JSON.
        #[arg(long, value_name = "JSON")]
        env: Option<String>,
        /// Run on these workers instead of locally, comma-separated.
        #[arg(long, value_name = "URL,...", value_delimiter = ',')]
        workers: Vec<String>,
        /// Reduce the results with this function of the same module, which
        /// takes the pair (a, b) and must be associative.
        #[arg(long, value_name = "FUNCTION")]
        reduce: Option<String>,
        /// Inputs per task, with --reduce.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "reduce")]
        chunk_size: usize,
        /// File holding the workers' token [default: $FERRY_TOKEN].
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// The sandbox of local runs; with --workers, each worker's own
        /// sandbox applies.
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Serve closures to clients: a worker for `--workers` and `Remote`.
    Worker {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// File holding the token clients must present [default: $FERRY_TOKEN].
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Calls run at once; more wait [default: one per core].
        #[arg(long)]
        slots: Option<usize>,
        /// Bound on the disk cache, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 2048)]
        cache_size: u64,
        /// Largest run request accepted, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = 8)]
        max_request: usize,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Query CSV, Parquet and JSON files with SQL and ferry functions:
    /// `CREATE FUNCTION name AS 'module.wasm' LANGUAGE wasm`. Without -c or
    /// -f, reads statements from standard input.
    Sql {
        /// Run these statements (`;`-separated); may be repeated.
        #[arg(short = 'c', long = "command", value_name = "SQL")]
        commands: Vec<String>,
        /// Run the statements in this file; may be repeated.
        #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
        files: Vec<PathBuf>,
        /// Register a file or directory as a table, as NAME=PATH or PATH
        /// (named after the file); the format comes from the extension.
        #[arg(short = 't', long = "table", value_name = "[NAME=]PATH")]
        tables: Vec<String>,
        /// Register every SQL function of a module (a .wasm file, a guest
        /// crate directory, or sha256:… from the store).
        #[arg(long = "functions", value_name = "MODULE")]
        modules: Vec<String>,
        /// How results are printed; all but `table` stream rows as they
        /// come.
        #[arg(long, value_enum, default_value_t)]
        format: sql::Format,
        /// The sandbox of each batch call.
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Load a closure written by `ferry pickle` and run it.
    Run {
        /// The closure file.
        closure: PathBuf,
        /// The input, as JSON.
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
}

/// What the guest may do.
#[derive(Args)]
struct SandboxArgs {
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

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        note!("error: {error}");
        for cause in error.chain().skip(1) {
            note!("  because: {cause}");
        }
        if let Some(failure) = error.downcast_ref::<Error>().and_then(Error::failure) {
            print_guest_output(&failure.stdout, &failure.stderr);
        }
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let store = match &cli.store {
        Some(dir) => BlobStore::open(dir)?,
        None => BlobStore::open_default()?,
    };
    match cli.command {
        Command::Build { crate_dir, out } => {
            let built = ferry_host::guest::build_crate(&crate_dir)?;
            store.put(built.module.bytes())?;
            if let Some(out) = out {
                std::fs::copy(&built.path, &out)
                    .with_context(|| format!("cannot copy the module to {}", out.display()))?;
            }
            writeln!(out::stdout(), "built {}", built.path.display())?;
            describe(&built.module, &store)?;
        }
        Command::Inspect { module } => describe(&load_module(&module, &store)?, &store)?,
        Command::Call {
            module,
            function,
            env,
            input,
            sandbox,
        } => {
            let closure = make_closure(&module, &function, env.as_deref(), &store)?;
            execute(&closure, input.as_deref(), sandbox, &store)?;
        }
        Command::Pickle {
            module,
            function,
            env,
            blobs,
            by_reference,
            output,
        } => {
            let mut closure = make_closure(&module, &function, env.as_deref(), &store)?;
            for blob in blobs {
                let (name, file) = blob
                    .split_once('=')
                    .with_context(|| format!("--blob takes NAME=FILE, not `{blob}`"))?;
                let bytes =
                    std::fs::read(file).with_context(|| format!("cannot read blob file {file}"))?;
                closure = closure.with_blob(name, bytes);
            }
            let encoding = if by_reference {
                store.add_closure(&closure)?;
                Encoding::ByReference
            } else {
                Encoding::ByValue
            };
            let bytes = closure.to_bytes(encoding);
            std::fs::write(&output, &bytes)
                .with_context(|| format!("cannot write {}", output.display()))?;
            writeln!(
                out::stdout(),
                "closure {} ({} bytes, {}) written to {}",
                closure.id(),
                bytes.len(),
                if by_reference {
                    "by reference"
                } else {
                    "by value"
                },
                output.display()
            )?;
        }
        Command::Map {
            module,
            function,
            inputs,
            env,
            workers,
            reduce,
            chunk_size,
            token_file,
            sandbox,
        } => {
            let mapper = make_closure(&module, &function, env.as_deref(), &store)?;
            let reducer = reduce
                .map(|name| Closure::new(mapper.module(), &name))
                .transpose()?;
            let job = MapJob {
                mapper,
                reducer,
                inputs,
                chunk_size,
            };
            if workers.is_empty() {
                let runtime = Runtime::new(RuntimeConfig::with_store(store.clone()))?;
                let pool = LocalExecutor::builder()
                    .runtime(runtime)
                    .sandbox(sandbox.into_sandbox()?)
                    .build()?;
                job.run(&pool)?;
            } else {
                let mut remote = ferry_remote::Remote::builder();
                for worker in workers {
                    remote = remote.worker(worker);
                }
                if let Some(token) = read_token(token_file.as_deref())? {
                    remote = remote.token(token);
                }
                job.run(&remote.build()?)?;
            }
        }
        Command::Worker {
            listen,
            token_file,
            slots,
            cache_size,
            max_request,
            sandbox,
        } => {
            let token = read_token(token_file.as_deref())?.unwrap_or_default();
            let mut config = ferry_worker::WorkerConfig::new(token, store);
            config.listen = listen;
            config.cache_limit = mebibytes("--cache-size", cache_size)?;
            config.max_request = usize::try_from(mebibytes("--max-request", max_request as u64)?)
                .context("--max-request is too large for this machine")?;
            config.sandbox = sandbox.into_sandbox()?;
            if let Some(slots) = slots {
                config.slots = slots.max(1);
            }
            ferry_worker::run(config, |addr| {
                // A worker serves on, whoever reads this line or not.
                let _ = writeln!(std::io::stdout(), "ferry worker listening on {addr}");
                let _ = std::io::stdout().flush();
            })?;
        }
        Command::Sql {
            commands,
            files,
            tables,
            modules,
            format,
            sandbox,
        } => {
            let modules = modules
                .iter()
                .map(|spec| load_module(spec, &store))
                .collect::<Result<Vec<_>>>()?;
            let runtime = Runtime::new(RuntimeConfig::with_store(store.clone()))?;
            sql::SqlCommand {
                commands,
                files,
                tables,
                modules,
                format,
            }
            .run(runtime, sandbox.into_sandbox()?)?;
        }
        Command::Run {
            closure,
            input,
            sandbox,
        } => {
            let bytes = std::fs::read(&closure)
                .with_context(|| format!("cannot read closure file {}", closure.display()))?;
            let closure = Closure::from_bytes(&bytes, Some(&store))?;
            execute(&closure, input.as_deref(), sandbox, &store)?;
        }
    }
    Ok(())
}

/// Runs one call with `input` (JSON) on the local executor and prints the
/// result as JSON.
fn execute(
    closure: &Closure,
    input: Option<&str>,
    sandbox: SandboxArgs,
    store: &BlobStore,
) -> Result<()> {
    let input = json_value("--input", input)?;
    let runtime = Runtime::new(RuntimeConfig::with_store(store.clone()))?;
    let pool = LocalExecutor::builder()
        .threads(1)
        .runtime(runtime)
        .sandbox(sandbox.into_sandbox()?)
        .build()?;
    let output = pool.submit(closure, input).wait()?;
    print_guest_output(&output.stdout, &output.stderr);
    writeln!(
        out::stdout(),
        "{}",
        serde_json::to_string_pretty(&output.value.to_json()?)?
    )?;
    Ok(())
}

/// `mib` MiB in bytes, or an error naming the flag if that overflows.
fn mebibytes(flag: &str, mib: u64) -> Result<u64> {
    mib.checked_mul(1 << 20)
        .with_context(|| format!("{flag} {mib} MiB is too large"))
}

/// The token from `file`, else from `$FERRY_TOKEN`.
fn read_token(file: Option<&Path>) -> Result<Option<String>> {
    match file {
        Some(file) => {
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?;
            Ok(Some(token.trim().to_owned()))
        }
        None => Ok(std::env::var(ferry_worker::TOKEN_ENV).ok()),
    }
}

/// `ferry map`: the closures, and where the inputs are.
struct MapJob {
    mapper: Closure,
    reducer: Option<Closure>,
    inputs: PathBuf,
    chunk_size: usize,
}

impl MapJob {
    /// Maps (and reduces) on `executor`, printing JSON lines to stdout and a
    /// progress bar to stderr. A failed input prints `{"error": ...}` in its
    /// place; any failure makes the command fail at the end.
    fn run(self, executor: &impl Executor) -> Result<()> {
        let open = || {
            std::fs::File::open(&self.inputs)
                .map(std::io::BufReader::new)
                .with_context(|| format!("cannot read inputs from {}", self.inputs.display()))
        };
        // A first pass counts the inputs for the progress bar and checks that
        // each is JSON; the second streams them, so memory stays bounded.
        let mut total = 0u64;
        for (number, line) in open()?.lines().enumerate() {
            let line =
                line.with_context(|| format!("cannot read line {} of the inputs", number + 1))?;
            if !line.trim().is_empty() {
                serde_json::from_str::<serde_json::Value>(&line)
                    .with_context(|| format!("line {} of the inputs is not JSON", number + 1))?;
                total += 1;
            }
        }
        let progress = indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len}  {per_sec}  eta {eta}")?,
        );
        let inputs = open()?
            .lines()
            .map_while(Result::ok)
            .filter(|line| !line.trim().is_empty())
            .map_while(|line| serde_json::from_str::<serde_json::Value>(&line).ok());
        let mut out = out::stdout();
        let failed = match &self.reducer {
            Some(reducer) => {
                let reduced: Option<serde_json::Value> = executor
                    .map_reduce(&self.mapper, reducer, inputs)
                    .chunk_size(self.chunk_size)
                    .on_progress(|done| progress.set_position(done))
                    .run()?;
                writeln!(out, "{}", reduced.unwrap_or(serde_json::Value::Null))?;
                false
            }
            None => {
                let mut failed = false;
                for result in executor.map::<_, serde_json::Value, _>(&self.mapper, inputs) {
                    let line = match result {
                        Ok(output) => output.value,
                        Err(e) => {
                            failed = true;
                            serde_json::json!({ "error": e.to_string() })
                        }
                    };
                    writeln!(out, "{line}")?;
                    progress.inc(1);
                    if out::closed() {
                        break;
                    }
                }
                failed
            }
        };
        progress.finish_and_clear();
        if failed {
            bail!("some inputs failed; their lines hold the errors");
        }
        Ok(())
    }
}

/// Guest output goes to stderr, so that stdout is exactly the result.
fn print_guest_output(stdout: &[u8], stderr: &[u8]) {
    for (name, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        if !bytes.is_empty() {
            let text = String::from_utf8_lossy(bytes);
            note!(
                "--- guest {name} ---\n{}",
                text.strip_suffix('\n').unwrap_or(&text)
            );
        }
    }
}

fn json_value(flag: &str, text: Option<&str>) -> Result<Value> {
    match text {
        None => Ok(Value::nil()),
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("{flag} is not valid JSON: `{text}`"))?;
            Ok(Value::from_json(&json)?)
        }
    }
}

/// A closure of `function` in the module `spec` names, with `env` (JSON)
/// captured.
fn make_closure(
    spec: &str,
    function: &str,
    env: Option<&str>,
    store: &BlobStore,
) -> Result<Closure> {
    let module = load_module(spec, store)?;
    Ok(Closure::new(&module, function)?.with_env_value(json_value("--env", env)?))
}

/// A module named by a hash in the store, a `.wasm` file, or a guest crate to
/// build.
fn load_module(spec: &str, store: &BlobStore) -> Result<Module> {
    if spec.starts_with("sha256:") {
        let hash: ContentHash = spec.parse()?;
        return Ok(store.module(&hash)?);
    }
    let path = Path::new(spec);
    if path.join("Cargo.toml").is_file() {
        let built = ferry_host::guest::build_crate(path)?;
        store.put(built.module.bytes())?;
        return Ok(built.module);
    }
    if !path.exists() {
        bail!(
            "`{spec}` is neither a .wasm file, a guest crate directory, nor a sha256:… module id"
        );
    }
    Ok(Module::from_file(path)?)
}

fn describe(module: &Module, store: &BlobStore) -> Result<()> {
    let mut out = out::stdout();
    writeln!(out, "module {}", module.id())?;
    writeln!(
        out,
        "  {} bytes, ABI v{}, {}",
        module.bytes().len(),
        ferry_host::ABI_VERSION,
        if store.contains(&module.id()) {
            format!("in the store at {}", store.root().display())
        } else {
            "not in the store".to_owned()
        }
    )?;
    let functions = module.functions();
    writeln!(out, "functions ({}):", functions.len())?;
    let width = functions.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in functions {
        let env = f
            .env
            .as_deref()
            .map(|env| format!("env: {env}, "))
            .unwrap_or_default();
        let kind = match f.kind {
            ferry_host::FunctionKind::Value => "",
            ferry_host::FunctionKind::Scalar => "  [SQL scalar]",
            ferry_host::FunctionKind::Aggregate if f.retract => {
                "  [SQL aggregate, sliding windows too]"
            }
            ferry_host::FunctionKind::Aggregate => "  [SQL aggregate]",
            ferry_host::FunctionKind::Unknown => "  [unknown kind]",
        };
        writeln!(
            out,
            "  {:width$}  ({env}input: {}) -> {}{kind}",
            f.name, f.input, f.output
        )?;
    }
    Ok(())
}

impl SandboxArgs {
    fn into_sandbox(self) -> Result<Sandbox> {
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
        for pair in self.grant_env {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--grant-env takes KEY=VALUE, not `{pair}`"))?;
            sandbox.grants.env.push((key.to_owned(), value.to_owned()));
        }
        for spec in self.grant_dir {
            let (spec, writable) = match spec.strip_suffix(":rw") {
                Some(rest) => (rest.to_owned(), true),
                None => (spec, false),
            };
            let (host, guest) = match spec.split_once(':') {
                Some((host, guest)) => (host.to_owned(), guest.to_owned()),
                None => (spec.clone(), spec),
            };
            sandbox.grants.dirs.push(DirGrant {
                host: host.into(),
                guest,
                writable,
            });
        }
        sandbox.grants.clock = self.grant_clock;
        sandbox.grants.random = self.grant_random;
        Ok(sandbox)
    }
}
