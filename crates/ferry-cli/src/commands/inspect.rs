//! `ferry inspect`: a module's id and functions, read without running it.

use crate::args::load_module;
use crate::out;
use anyhow::Result;
use clap::Args;
use ferry_host::{BlobStore, FromSource, FunctionKind, Module};
use std::io::Write;

/// `ferry inspect`'s arguments.
#[derive(Args)]
pub struct InspectArgs {
    /// A .wasm file or sha256:… from the store (guest source is not built
    /// here: `ferry build` builds and describes it).
    module: String,
}

/// Describes the module.
pub fn run(args: InspectArgs, store: &BlobStore) -> Result<()> {
    // Inspecting runs nothing, so it does not build a crate either: that
    // would run the crate's build scripts.
    describe(
        &load_module(&args.module, store, FromSource::Refuse)?,
        store,
    )
}

/// Prints the module's id, size, place in the store, and functions.
pub fn describe(module: &Module, store: &BlobStore) -> Result<()> {
    let mut out = out::stdout();
    writeln!(out, "module {}", module.id())?;
    writeln!(
        out,
        "  {} bytes, ABI v{}, {}",
        module.bytes().len(),
        ferry_host::ABI_VERSION,
        if store.contains(&module.id()) {
            format!("in the store at {}", store.root().display())
        } else {
            "not in the store".to_owned()
        }
    )?;
    if !module.producers().is_empty() {
        writeln!(out, "  built with {}", module.producers().join(", "))?;
    }
    let functions = module.functions();
    writeln!(out, "functions ({}):", functions.len())?;
    let width = functions.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in functions {
        let env = f
            .env
            .as_deref()
            .map(|env| format!("env: {env}, "))
            .unwrap_or_default();
        let kind = match f.kind {
            FunctionKind::Value => "",
            FunctionKind::Scalar => "  [SQL scalar]",
            FunctionKind::Aggregate if f.retract => "  [SQL aggregate, sliding windows too]",
            FunctionKind::Aggregate => "  [SQL aggregate]",
            FunctionKind::Unknown => "  [unknown kind]",
        };
        writeln!(
            out,
            "  {:width$}  ({env}input: {}) -> {}{kind}",
            f.name, f.input, f.output
        )?;
    }
    Ok(())
}
