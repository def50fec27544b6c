//! `ferry scheduler`: a Ballista scheduler that ships ferry functions to
//! its executors.

use crate::args::{ClusterTlsArgs, mebibytes, read_token};
use anyhow::{Context, Result};
use clap::Args;
use ferry_ballista::{Scheduler, SchedulerConfig};
use ferry_host::BlobStore;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `ferry scheduler`'s arguments.
#[derive(Args)]
pub struct SchedulerArgs {
    /// Address to listen on, for executors and clients alike.
    #[arg(long, default_value = "127.0.0.1:50050")]
    listen: SocketAddr,
    /// Host name executors and clients reach this scheduler at
    /// [default: the listening IP].
    #[arg(long, value_name = "HOST")]
    advertise: Option<String>,
    /// File holding the token clients and executors must present
    /// [default: $FERRY_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Bound on the store of uploaded code, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    cache_size: u64,
    /// Seconds an executor may be silent before its tasks go to others.
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    executor_timeout: u64,
    #[command(flatten)]
    tls: ClusterTlsArgs,
}

/// Serves until SIGINT or SIGTERM, keeping uploaded code in `store`.
pub fn run(args: SchedulerArgs, store: &BlobStore) -> Result<()> {
    let token = read_token(args.token_file.as_deref())?.unwrap_or_default();
    let mut worker = ferry_worker::WorkerConfig::new(token, store.clone());
    worker.cache_limit = mebibytes("--cache-size", args.cache_size)?;
    let mut config = SchedulerConfig::new(worker);
    config.listen = args.listen;
    config.advertise = args.advertise;
    config.executor_timeout = Duration::from_secs(args.executor_timeout);
    config.tls = args.tls.to_tls();
    config.insecure = args.tls.insecure;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the scheduler's threads")?;
    tokio.block_on(async {
        let scheduler = Scheduler::bind(config).await?;
        // Tests and scripts wait for this line.
        let _ = writeln!(
            std::io::stdout(),
            "ferry scheduler listening on {}",
            scheduler.local_addr()
        );
        let _ = std::io::stdout().flush();
        scheduler.serve(ferry_worker::shutdown_signal()).await?;
        Ok(())
    })
}
