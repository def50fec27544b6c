//! `ferry worker`: serve closures to clients.

use crate::args::{SandboxArgs, ServerTlsArgs, mebibytes, seconds, trusted_keys};
use anyhow::{Context, Result};
use clap::Args;
use ferry_host::BlobStore;
use ferry_host::runtime::{ChildCompiler, Compiler};
use ferry_worker::Tokens;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `ferry worker`'s arguments.
#[derive(Args)]
pub struct WorkerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// File of the tokens clients may present, one a line with its scopes
    /// (`TOKEN run,deploy,admin`; none means all), reread when it changes
    /// [default: $FERRY_TOKEN, every scope].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Run only modules signed by a key in this file (`ferry keygen` makes
    /// one, `ferry sign` signs); repeat for more files.
    #[arg(long, value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
    /// Calls run at once; more wait [default: one per core].
    #[arg(long)]
    slots: Option<usize>,
    /// Bound on the disk cache, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    cache_size: u64,
    /// Largest run request accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 8)]
    max_request: usize,
    /// HTTP function requests let into the worker's queue at once; more
    /// wait apart, so that their callers, who need no token, never queue
    /// ahead of clients by more than this [default: four per slot].
    #[arg(long, value_name = "N")]
    function_slots: Option<usize>,
    /// Largest HTTP function request accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1)]
    max_function_body: usize,
    /// Connections served at once; more wait to be accepted. Connections
    /// that have not sent a request yet have as many places again.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a new connection has to send its first request before it
    /// is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seconds a request body may send nothing before it is cut off.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    body_timeout: f64,
    /// Largest module compiled, in MiB; larger ones are refused.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    max_module: u64,
    /// Most memory compiling one module may take, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    compile_memory: u64,
    /// Seconds compiling one module may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    compile_timeout: f64,
    /// Compile an unseen module with Cranelift before its first call,
    /// rather than run its first calls on baseline code (Winch, compiled
    /// in a fraction of the time) while Cranelift compiles in the
    /// background. Both are bounded by the limits above.
    #[arg(long)]
    optimized_only: bool,
    /// The objects this worker may read for closures and write results
    /// to, with its own `AWS_*` credentials: URL prefixes,
    /// comma-separated (`s3://events/,s3://scratch/`). None by default.
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    objects: Vec<String>,
    #[command(flatten)]
    tls: ServerTlsArgs,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Serves until the process is told to stop, caching in `store`.
pub fn run(args: WorkerArgs, store: &BlobStore) -> Result<()> {
    let mut config = ferry_worker::WorkerConfig::new(String::new(), store.clone());
    config.tokens = match &args.token_file {
        Some(file) => Tokens::from_file(file)?,
        None => Tokens::one(std::env::var(ferry_worker::TOKEN_ENV).unwrap_or_default()),
    };
    config.tls = args.tls.to_tls();
    config.insecure = args.tls.insecure;
    config.trust = trusted_keys(&args.trust)?;
    config.listen = args.listen;
    config.cache_limit = mebibytes("--cache-size", args.cache_size)?;
    config.max_request = usize::try_from(mebibytes("--max-request", args.max_request as u64)?)
        .context("--max-request is too large for this machine")?;
    config.sandbox = args.sandbox.to_sandbox()?;
    config.objects = args.objects;
    config.max_connections = args.max_connections.max(1);
    config.handshake_timeout = seconds("--handshake-timeout", args.handshake_timeout)?;
    config.body_timeout = seconds("--body-timeout", args.body_timeout)?;
    config.max_module = mebibytes("--max-module", args.max_module)?;
    // Modules come from clients: compile each in a child of this same
    // program, where its time and memory can be bounded.
    config.compiler = Compiler::Child(ChildCompiler {
        program: std::env::current_exe().context("cannot find this program to compile in")?,
        args: vec!["compile-module".into()],
        memory: mebibytes("--compile-memory", args.compile_memory)?,
        timeout: seconds("--compile-timeout", args.compile_timeout)?,
    });
    config.baseline_first = !args.optimized_only;
    if let Some(slots) = args.slots {
        config.slots = slots.max(1);
    }
    config.function_slots = args
        .function_slots
        .unwrap_or(ferry_worker::FUNCTIONS_PER_SLOT * config.slots)
        .max(1);
    config.max_function_body = usize::try_from(mebibytes(
        "--max-function-body",
        args.max_function_body as u64,
    )?)
    .context("--max-function-body is too large for this machine")?;
    ferry_worker::run(config, |worker| {
        // A worker serves on, whoever reads this line or not.
        let addr = worker.local_addr();
        let _ = writeln!(std::io::stdout(), "ferry worker listening on {addr}");
        let _ = std::io::stdout().flush();
        Ok(())
    })?;
    Ok(())
}
