//! `ferry call`: one call, JSON in and JSON out.

use crate::args::{FunctionArgs, SandboxArgs, json_value};
use crate::out;
use anyhow::Result;
use clap::Args;
use ferry_host::{BlobStore, Closure};
use std::io::Write;

/// `ferry call`'s arguments.
#[derive(Args)]
pub struct CallArgs {
    #[command(flatten)]
    function: FunctionArgs,
    /// The input, as JSON (@FILE reads it from a file, - from standard
    /// input); several parameters take an array.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Makes the closure and calls it.
pub fn run(args: CallArgs, store: &BlobStore) -> Result<()> {
    let closure = args.function.closure(store)?;
    call_once(&closure, args.input.as_deref(), &args.sandbox, store)
}

/// Calls `closure` once on `input` (JSON) in a fresh instance, and prints
/// the result as JSON and what the guest printed on stderr.
pub fn call_once(
    closure: &Closure,
    input: Option<&str>,
    sandbox: &SandboxArgs,
    store: &BlobStore,
) -> Result<()> {
    let input = json_value("--input", input)?;
    let runtime = super::one_shot_runtime(store)?;
    let closure = closure.read_objects(&**crate::args::stores())?;
    let output = runtime.call(&closure, &input, &sandbox.to_sandbox()?)?;
    out::guest_output(&output.stdout, &output.stderr);
    writeln!(
        out::stdout(),
        "{}",
        serde_json::to_string_pretty(&output.value.to_json()?)?
    )?;
    Ok(())
}
