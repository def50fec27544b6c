//! `ferry`: build, inspect, call, pickle and run ferry functions.

use anyhow::Result;
use clap::Parser;
use cli::{Cli, Command};
use commands::{
    actor, build, call, endpoint, executor, inspect, map, pickle, run, scheduler, sign, sql, worker,
};
use out::note;
use std::io::IsTerminal;

mod args;
mod cli;
mod commands;
mod out;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    if let Err(error) = execute(cli) {
        note!("error: {error}");
        for cause in error.chain().skip(1) {
            note!("  because: {cause}");
        }
        if let Some(failure) = error
            .downcast_ref::<ferry_host::Error>()
            .and_then(ferry_host::Error::failure)
        {
            out::guest_output(&failure.stdout, &failure.stderr);
        }
        std::process::exit(1);
    }
}

/// Hands the subcommand to its module.
fn execute(cli: Cli) -> Result<()> {
    if let Command::CompileModule = cli.command {
        // A worker's child: it touches no store.
        return Ok(ferry_host::runtime::serve_compile()?);
    }
    let store = cli.store()?;
    match cli.command {
        Command::Build(args) => build::run(args, &store),
        Command::Inspect(args) => inspect::run(args, &store),
        Command::Call(args) => call::run(args, &store),
        Command::Pickle(args) => pickle::run(args, &store),
        Command::Map(args) => map::run(args, &store),
        Command::Worker(args) => worker::run(args, &store),
        Command::Deploy(args) => endpoint::deploy(args, &store),
        Command::Undeploy(args) => endpoint::undeploy(args),
        Command::Serve(args) => endpoint::serve(args, &store),
        Command::Actor(args) => actor::run(args, &store),
        Command::Sql(args) => sql::run(args, &store),
        Command::Scheduler(args) => scheduler::run(args, &store),
        Command::Executor(args) => executor::run(args, &store),
        Command::Run(args) => run::run(args, &store),
        Command::Keygen(args) => sign::keygen(args),
        Command::Sign(args) => sign::sign(args, &store),
        Command::CompileModule => unreachable!("handled before the store is opened"),
    }
}
