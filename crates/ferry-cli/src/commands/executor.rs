//! `ferry executor`: a Ballista executor that runs the ferry functions in
//! the plans it receives.

use crate::args::{ClusterTlsArgs, SandboxArgs, read_token, trusted_keys};
use anyhow::{Context, Result};
use clap::Args;
use ferry_ballista::ExecutorConfig;
use ferry_host::BlobStore;
use std::path::PathBuf;

/// `ferry executor`'s arguments.
#[derive(Args)]
pub struct ExecutorArgs {
    /// The scheduler, as HOST:PORT or df://HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    scheduler: String,
    /// Address to serve results and shuffle data on.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    bind: String,
    /// Port to serve results and shuffle data on (Arrow Flight).
    #[arg(long, value_name = "PORT", default_value_t = 50051)]
    flight_port: u16,
    /// Host name other executors and the scheduler reach this one at
    /// [default: the --bind address].
    #[arg(long, value_name = "HOST")]
    advertise: Option<String>,
    /// Tasks run at once [default: one per core].
    #[arg(long)]
    slots: Option<usize>,
    /// File holding the scheduler's token [default: $FERRY_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Run only functions whose module is signed by a key in this file
    /// (`ferry keygen`, `ferry sign`); repeat for more files.
    #[arg(long, value_name = "KEY.pub")]
    trust: Vec<PathBuf>,
    /// Directory for shuffle files [default: executor-<PORT> in the store].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// The objects functions may name as blobs, read by this executor with
    /// its own `AWS_*` credentials: URL prefixes, comma-separated
    /// (`s3://lookups/`). None by default.
    #[arg(long, value_name = "URL,...", value_delimiter = ',')]
    objects: Vec<String>,
    #[command(flatten)]
    tls: ClusterTlsArgs,
    /// The sandbox of each batch call.
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Runs until SIGINT or SIGTERM, keeping fetched code in `store`.
pub fn run(args: ExecutorArgs, store: &BlobStore) -> Result<()> {
    let token = read_token(args.token_file.as_deref())?
        .filter(|token| !token.is_empty())
        .context(
            "an executor needs the scheduler's token: set $FERRY_TOKEN or pass --token-file",
        )?;
    let config = ExecutorConfig {
        scheduler: args.scheduler,
        token,
        work_dir: args
            .work_dir
            .unwrap_or_else(|| store.root().join(format!("executor-{}", args.flight_port))),
        bind_host: args.bind,
        flight_port: args.flight_port,
        advertise: args.advertise,
        slots: args
            .slots
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        store: store.clone(),
        sandbox: args.sandbox.to_sandbox()?,
        trust: trusted_keys(&args.trust)?,
        tls: args.tls.to_tls(),
        insecure: args.tls.insecure,
        native: Default::default(),
        objects: args.objects,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the executor's threads")?;
    tokio.block_on(ferry_ballista::run_executor(config))?;
    Ok(())
}
