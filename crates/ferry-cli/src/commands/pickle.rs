//! `ferry pickle`: make a closure and write its bytes.

use crate::args::FunctionArgs;
use crate::out;
use anyhow::{Context, Result};
use clap::Args;
use ferry_host::{BlobStore, Encoding};
use std::io::Write;
use std::path::PathBuf;

/// `ferry pickle`'s arguments.
#[derive(Args)]
pub struct PickleArgs {
    #[command(flatten)]
    function: FunctionArgs,
    /// Write hashes only; the runner resolves them from its store.
    #[arg(long)]
    by_reference: bool,
    /// Where to write the closure.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// Makes the closure, attaches the blobs, and writes it; by reference, its
/// module and blobs go into `store`.
pub fn run(args: PickleArgs, store: &BlobStore) -> Result<()> {
    let closure = args.function.closure(store)?;
    let encoding = if args.by_reference {
        store.add_closure(&closure)?;
        Encoding::ByReference
    } else {
        Encoding::ByValue
    };
    let bytes = closure.to_bytes(encoding);
    let output = &args.output;
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    writeln!(
        out::stdout(),
        "closure {} ({} bytes, {}) written to {}",
        closure.id(),
        bytes.len(),
        if args.by_reference {
            "by reference"
        } else {
            "by value"
        },
        output.display()
    )?;
    Ok(())
}
