//! `ferry run`: load a closure file and call it.

use super::call::call_once;
use crate::args::SandboxArgs;
use anyhow::{Context, Result};
use clap::Args;
use ferry_host::{BlobStore, Closure};
use std::path::PathBuf;

/// `ferry run`'s arguments.
#[derive(Args)]
pub struct RunArgs {
    /// The closure file.
    closure: PathBuf,
    /// The input, as JSON (@FILE reads it from a file, - from standard
    /// input).
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Loads the closure, resolving references from `store`, and calls it.
pub fn run(args: RunArgs, store: &BlobStore) -> Result<()> {
    let bytes = std::fs::read(&args.closure)
        .with_context(|| format!("cannot read closure file {}", args.closure.display()))?;
    let closure = Closure::from_bytes(&bytes, Some(store))?;
    call_once(&closure, args.input.as_deref(), &args.sandbox, store)
}
