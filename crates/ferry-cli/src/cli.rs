//! The command line: the global flags and one subcommand, each subcommand's
//! own arguments declared in its module under [`crate::commands`].

use crate::commands::{
    actor::ActorArgs, build::BuildArgs, call::CallArgs, endpoint::DeployArgs, endpoint::ServeArgs,
    endpoint::UndeployArgs, executor::ExecutorArgs, inspect::InspectArgs, map::MapArgs,
    pickle::PickleArgs, run::RunArgs, scheduler::SchedulerArgs, sign::KeygenArgs, sign::SignArgs,
    sql::SqlArgs, worker::WorkerArgs,
};
use clap::{Parser, Subcommand};
use ferry_host::BlobStore;
use std::path::PathBuf;

/// Functions as portable, sandboxed values.
#[derive(Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    /// The content-addressed store for modules, blobs and compiled code
    /// [default: $FERRY_STORE, else ferry under your cache directory].
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Compile guest source (Rust, C, Zig) to WebAssembly, store it, and list its
    /// functions.
    Build(BuildArgs),
    /// Show a module's id and functions, read without running it.
    Inspect(InspectArgs),
    /// Call a function once, with JSON in and JSON out.
    Call(CallArgs),
    /// Make a closure (function + environment + blobs) and write its bytes.
    Pickle(PickleArgs),
    /// Run a function over every line of a JSON-lines file, locally or on
    /// workers, optionally reducing the results to one.
    Map(MapArgs),
    /// Serve closures to clients: a worker for `--workers` and `Remote`.
    Worker(WorkerArgs),
    /// Deploy a function on workers as an HTTP endpoint: it answers
    /// `POST /fn/NAME`, JSON in and JSON out, in a fresh sandbox per request.
    Deploy(DeployArgs),
    /// Take a deployed function off workers.
    Undeploy(UndeployArgs),
    /// Serve one function as an HTTP endpoint, without a worker:
    /// `POST /fn/NAME`, JSON in and JSON out.
    Serve(ServeArgs),
    /// Actors on workers: one instance each, its memory kept between
    /// calls (spawn, call, snapshot, stop).
    Actor(ActorArgs),
    /// Query CSV, Parquet and JSON files with SQL and ferry functions:
    /// `CREATE FUNCTION name AS 'module.wasm' LANGUAGE wasm`. Without -c or
    /// -f, reads statements from standard input.
    Sql(SqlArgs),
    /// Schedule SQL over a cluster of `ferry executor`s (Apache DataFusion
    /// Ballista), shipping ferry functions to them: `ferry sql --cluster`.
    Scheduler(SchedulerArgs),
    /// Run a cluster's tasks, fetching the ferry functions they use from
    /// the scheduler.
    Executor(ExecutorArgs),
    /// Load a closure written by `ferry pickle` and run it.
    Run(RunArgs),
    /// Make an Ed25519 key pair for signing modules.
    Keygen(KeygenArgs),
    /// Sign a module, for workers that run only code signed by keys they
    /// trust (`ferry worker --trust`); clients send MODULE.sig with it.
    Sign(SignArgs),
    /// Compile the module on standard input and write its code: a worker
    /// runs this to bound what compiling takes.
    #[command(hide = true)]
    CompileModule,
}

impl Cli {
    /// The store `--store` names, else the default one.
    pub fn store(&self) -> Result<BlobStore, ferry_host::Error> {
        match &self.store {
            Some(dir) => BlobStore::open(dir),
            None => BlobStore::open_default(),
        }
    }
}
