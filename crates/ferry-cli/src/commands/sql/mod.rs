//! `ferry sql`: DataFusion with ferry functions, from the command line.

mod print;
mod session;
mod shell;
mod table;

use crate::args::{ClientTlsArgs, SandboxArgs, load_module, read_token, signatures_beside};
use crate::out::note;
use anyhow::{Context, Result};
use clap::Args;
use datafusion::prelude::SessionConfig;
use ferry_host::{BlobStore, FromSource, Module, Runtime, Sandbox};
use ferry_protocol::signature::read_signatures;
use ferry_sql::WasmFunctions;
use print::Format;
use session::Session;
use std::path::PathBuf;

/// `ferry sql`'s arguments.
#[derive(Args)]
pub struct SqlArgs {
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
    format: Format,
    /// Run the queries on a cluster: `ferry scheduler`'s address, as
    /// df://HOST:PORT. Tables must be files every executor can read.
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    /// File holding the cluster's token [default: $FERRY_TOKEN].
    #[arg(long, value_name = "FILE", requires = "cluster")]
    token_file: Option<PathBuf>,
    /// Send the signatures in this file (`ferry sign`) with the functions
    /// of the modules they sign, for executors that run only signed code;
    /// may be repeated. `MODULE.sig` beside a --functions module is sent
    /// without it.
    #[arg(long, value_name = "FILE.sig", requires = "cluster")]
    signatures: Vec<PathBuf>,
    #[command(flatten)]
    tls: ClientTlsArgs,
    /// The sandbox of each batch call.
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Loads the modules, then runs the statements, or the shell without any.
pub fn run(args: SqlArgs, store: &BlobStore) -> Result<()> {
    let modules = args
        .modules
        .iter()
        .map(|reference| load_module(reference, store, FromSource::Build))
        .collect::<Result<Vec<_>>>()?;
    let runtime = crate::commands::one_shot_runtime(store)?;
    let sandbox = args.sandbox.to_sandbox()?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the query runtime")?;
    tokio.block_on(run_async(&args, &modules, runtime, sandbox))
}

async fn run_async(
    args: &SqlArgs,
    modules: &[Module],
    runtime: Runtime,
    sandbox: Sandbox,
) -> Result<()> {
    // The SQL is this user's own, so it may build the crates it names.
    let mut functions = WasmFunctions::new(runtime)
        .with_sandbox(sandbox)
        .from_source(FromSource::Build);
    if args.cluster.is_none() {
        // Here is where the functions run; on a cluster, the executors
        // read the objects.
        functions = functions.with_objects(crate::args::stores().clone());
    }
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = match &args.cluster {
        None => functions.session_with(config),
        Some(scheduler) => {
            let token = read_token(args.token_file.as_deref())?
                .filter(|token| !token.is_empty())
                .context(
                    "--cluster needs the scheduler's token: set $FERRY_TOKEN or pass --token-file",
                )?;
            let mut credentials = ferry_ballista::Credentials::token(token);
            credentials.tls = args.tls.to_tls();
            for file in &args.signatures {
                credentials.signatures.extend(read_signatures(file)?);
            }
            for module in &args.modules {
                credentials.signatures.extend(signatures_beside(module)?);
            }
            ferry_ballista::connect(scheduler, &functions, config, &credentials)?
        }
    };
    let session = Session {
        ctx,
        format: args.format,
    };
    let ctx = &session.ctx;
    for module in modules {
        let names = functions.register_module(ctx, module)?;
        note!(
            "functions from {}: {}",
            module.id().short(),
            names.join(", ")
        );
    }
    for table in &args.tables {
        table::register_table(ctx, table).await?;
    }
    if args.commands.is_empty() && args.files.is_empty() {
        return shell::shell(&session).await;
    }
    for command in &args.commands {
        session.run_text(command).await?;
    }
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        session.run_text(&text).await?;
    }
    Ok(())
}
