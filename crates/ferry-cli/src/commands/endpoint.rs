//! HTTP functions: `ferry deploy` puts a closure on workers under a name,
//! `ferry undeploy` takes it off, and `ferry serve` answers for one function
//! without a worker. Each answers `POST /fn/<name>`, its input the JSON
//! body and its result the JSON answer.

use crate::args::{FunctionArgs, SandboxArgs, ServerTlsArgs, WorkersArgs, read_token};
use crate::out;
use anyhow::{Context, Result};
use clap::Args;
use ferry_host::BlobStore;
use ferry_protocol::endpoint::{Deployed, Invoke};
use ferry_worker::{Tokens, WorkerConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Who may call a function: anyone, or holders of its own token.
#[derive(Args)]
pub struct InvokeArgs {
    /// Callers must send `authorization: Bearer <token>` with the token in
    /// this file (the first word of its first line); without it, anyone
    /// who reaches the server may call the function.
    #[arg(long, value_name = "FILE")]
    invoke_token_file: Option<PathBuf>,
}

impl InvokeArgs {
    fn invoke(&self) -> Result<Invoke> {
        let file = self.invoke_token_file.as_deref();
        let token = file.map(|file| read_token(Some(file))).transpose()?;
        Ok(token.flatten().map_or(Invoke::Open, Invoke::Token))
    }
}

/// `ferry deploy`'s arguments.
#[derive(Args)]
#[command(mut_arg("function", |arg| arg.help("The function to deploy")))]
pub struct DeployArgs {
    #[command(flatten)]
    function: FunctionArgs,
    /// The name it answers to, at POST /fn/NAME [default: the function's].
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    invoke: InvokeArgs,
    #[command(flatten)]
    workers: WorkersArgs,
}

/// `ferry undeploy`'s arguments.
#[derive(Args)]
pub struct UndeployArgs {
    /// The name of the function to take off the workers.
    name: String,
    #[command(flatten)]
    workers: WorkersArgs,
}

/// `ferry serve`'s arguments.
#[derive(Args)]
#[command(mut_arg("function", |arg| arg.help("The function to serve")))]
pub struct ServeArgs {
    #[command(flatten)]
    function: FunctionArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The name it answers to, at POST /fn/NAME [default: the function's].
    #[arg(long)]
    name: Option<String>,
    /// Requests run at once; more wait [default: one per core].
    #[arg(long)]
    slots: Option<usize>,
    #[command(flatten)]
    invoke: InvokeArgs,
    #[command(flatten)]
    tls: ServerTlsArgs,
    /// The sandbox of each request.
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Deploys the function on every worker, and says where it answers.
pub fn deploy(args: DeployArgs, store: &BlobStore) -> Result<()> {
    let closure = args.function.closure(store)?;
    let name = args.name.unwrap_or_else(|| closure.function().to_owned());
    let remote = args.workers.remote(&[], args.function.signatures()?)?;
    let deployed = remote.deploy(&name, &closure, args.invoke.invoke()?)?;
    let mut stdout = out::stdout();
    for (worker, deployed) in args.workers.workers.iter().zip(&deployed) {
        report(&mut stdout, worker, deployed)?;
    }
    Ok(())
}

/// Takes the function off every worker.
pub fn undeploy(args: UndeployArgs) -> Result<()> {
    args.workers.remote(&[], Vec::new())?.undeploy(&args.name)?;
    writeln!(out::stdout(), "undeployed {}", args.name)?;
    Ok(())
}

/// Serves the one function until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs, store: &BlobStore) -> Result<()> {
    let closure = args.function.closure(store)?;
    let name = args.name.unwrap_or_else(|| closure.function().to_owned());
    let invoke = args.invoke.invoke()?;
    // A worker whose protocol endpoints refuse every token: only the
    // function answers.
    let mut config = WorkerConfig::new(String::new(), store.clone());
    config.tokens = Tokens::none();
    config.listen = args.listen;
    config.tls = args.tls.to_tls();
    config.insecure = args.tls.insecure;
    config.sandbox = args.sandbox.to_sandbox()?;
    if let Some(slots) = args.slots {
        config.slots = slots.max(1);
    }
    // No clients to keep a share for: the function may fill the queue, and
    // its requests are as large as a worker's.
    config.function_slots = config.max_connections;
    config.max_function_body = config.max_request;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    ferry_worker::run(config, |worker| {
        let deployed = worker.deploy(&name, closure, invoke)?;
        let at = format!("{scheme}://{}", worker.local_addr());
        // Tests and scripts wait for this line.
        let _ = report(&mut out::stdout(), &at, &deployed);
        Ok(())
    })
    .context("cannot serve the function")?;
    Ok(())
}

fn report(out: &mut impl Write, server: &str, deployed: &Deployed) -> Result<()> {
    let server = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    let replaced = if deployed.replaced { " (replaced)" } else { "" };
    writeln!(
        out,
        "{} answers POST {}/fn/{} ({}, {}){replaced}",
        deployed.function, server, deployed.name, deployed.closure, deployed.invoke
    )?;
    out.flush()?;
    Ok(())
}
