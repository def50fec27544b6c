//! `ferry actor`: spawn an actor on a worker, call it, snapshot it, stop
//! it. An actor is named by the handle `spawn` prints, JSON that the other
//! subcommands take as it is (or `@FILE`).

use crate::args::{FunctionArgs, WorkersArgs, json_value};
use crate::out;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ferry_host::BlobStore;
use ferry_remote::{ActorHandle, ActorOptions, ActorSnapshot};
use std::io::Write;
use std::time::Duration;

/// `ferry actor`'s arguments.
#[derive(Args)]
pub struct ActorArgs {
    #[command(subcommand)]
    command: ActorCommand,
}

#[derive(Subcommand)]
enum ActorCommand {
    /// Start an actor from a closure, whose environment is its initial
    /// state; prints its handle.
    Spawn(SpawnArgs),
    /// Call a function of the actor's module on the actor; prints the
    /// result.
    Call(CallArgs),
    /// Store the actor's state on its worker; prints the snapshot, for
    /// `spawn --snapshot`.
    Snapshot(HandleArgs),
    /// Stop the actor.
    Stop(HandleArgs),
}

#[derive(Args)]
#[command(mut_arg("function", |arg| arg.help("The function that starts the actor")))]
struct SpawnArgs {
    #[command(flatten)]
    function: FunctionArgs,
    /// Find the live actor of this name, or start one under it.
    #[arg(long)]
    name: Option<String>,
    /// Calls that trap start the actor again from its initial state this
    /// many times; the next one ends it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_restarts: u32,
    /// A call that traps runs again on the restarted actor up to this many
    /// times before its caller is told (at least once, not at most once).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_task_retries: u32,
    /// Stop the actor after this many seconds without calls [default: the
    /// worker's, 600].
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<f64>,
    /// Continue from this snapshot (JSON from `ferry actor snapshot`, or
    /// @FILE) rather than from the closure's state.
    #[arg(long, value_name = "JSON")]
    snapshot: Option<String>,
    #[command(flatten)]
    workers: WorkersArgs,
}

#[derive(Args)]
struct CallArgs {
    /// The actor's handle, as `spawn` printed it (or @FILE).
    actor: String,
    /// The function to call.
    function: String,
    /// The input, as JSON (@FILE reads it from a file, - from standard
    /// input); several parameters take an array.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    #[command(flatten)]
    workers: WorkersArgs,
}

#[derive(Args)]
struct HandleArgs {
    /// The actor's handle, as `spawn` printed it (or @FILE).
    actor: String,
    #[command(flatten)]
    workers: WorkersArgs,
}

/// Hands each subcommand to its function.
pub fn run(args: ActorArgs, store: &BlobStore) -> Result<()> {
    match args.command {
        ActorCommand::Spawn(args) => spawn(args, store),
        ActorCommand::Call(args) => call(args),
        ActorCommand::Snapshot(args) => snapshot(args),
        ActorCommand::Stop(args) => stop(args),
    }
}

fn spawn(args: SpawnArgs, store: &BlobStore) -> Result<()> {
    let closure = args.function.closure(store)?;
    let snapshot: Option<ActorSnapshot> = args
        .snapshot
        .as_deref()
        .map(|text| from_json("--snapshot", text))
        .transpose()?;
    let idle_timeout = args
        .idle_timeout
        .map(|seconds| Duration::try_from_secs_f64(seconds).context("--idle-timeout takes seconds"))
        .transpose()?;
    let more: Vec<String> = snapshot.iter().map(|s| s.worker.clone()).collect();
    let remote = args.workers.remote(&more, args.function.signatures()?)?;
    let actor = remote.spawn(
        &closure,
        ActorOptions {
            name: args.name,
            max_restarts: args.max_restarts,
            max_task_retries: args.max_task_retries,
            idle_timeout,
            worker: args.workers.workers.first().cloned(),
            snapshot,
        },
    )?;
    print_json(&actor)
}

fn call(args: CallArgs) -> Result<()> {
    let actor: ActorHandle = from_json("ACTOR", &args.actor)?;
    let remote = args
        .workers
        .remote(std::slice::from_ref(&actor.worker), Vec::new())?;
    let input = json_value("--input", args.input.as_deref())?;
    let output = remote.call_actor_value(&actor, &args.function, input)?;
    out::guest_output(&output.stdout, &output.stderr);
    print_json(&output.value.to_json()?)
}

fn snapshot(args: HandleArgs) -> Result<()> {
    let actor: ActorHandle = from_json("ACTOR", &args.actor)?;
    let remote = args
        .workers
        .remote(std::slice::from_ref(&actor.worker), Vec::new())?;
    print_json(&remote.snapshot(&actor)?)
}

fn stop(args: HandleArgs) -> Result<()> {
    let actor: ActorHandle = from_json("ACTOR", &args.actor)?;
    let remote = args
        .workers
        .remote(std::slice::from_ref(&actor.worker), Vec::new())?;
    remote.stop(&actor)?;
    writeln!(out::stdout(), "stopped {}", actor.id)?;
    Ok(())
}

/// A handle or snapshot given inline or as @FILE.
fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    let json = match text.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {what} from {file}"))?,
        None => text.to_owned(),
    };
    serde_json::from_str(&json)
        .with_context(|| format!("{what} is not what `ferry actor` printed: {text:?}"))
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    writeln!(out::stdout(), "{}", serde_json::to_string(value)?)?;
    Ok(())
}
