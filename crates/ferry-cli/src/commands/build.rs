//! `ferry build`: compile guest source in any language ferry knows, store
//! its module, list its functions.

use super::inspect::describe;
use crate::out;
use anyhow::{Context, Result};
use clap::Args;
use ferry_host::BlobStore;
use std::io::Write;
use std::path::PathBuf;

/// `ferry build`'s arguments.
#[derive(Args)]
pub struct BuildArgs {
    /// The guest's source: a crate directory, a C file or a directory of
    /// C files, or a Zig file.
    #[arg(default_value = ".")]
    source: PathBuf,
    /// Also copy the module here.
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Builds the crate and describes the module it made.
pub fn run(args: BuildArgs, store: &BlobStore) -> Result<()> {
    let built = ferry_host::guest::build(&args.source)?;
    store.put(built.module.bytes())?;
    if let Some(out) = args.out {
        std::fs::copy(&built.path, &out)
            .with_context(|| format!("cannot copy the module to {}", out.display()))?;
    }
    writeln!(out::stdout(), "built {}", built.path.display())?;
    describe(&built.module, store)
}
