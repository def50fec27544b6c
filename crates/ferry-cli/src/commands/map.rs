//! `ferry map`: a function over every line of a JSON-lines file, locally or
//! on workers, optionally reduced to one result.

use crate::args::{FunctionArgs, SandboxArgs, WorkersArgs};
use crate::out;
use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_host::{
    BlobStore, Closure, Executor, ExecutorExt, LocalExecutor, Runtime, RuntimeConfig, Value,
};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// `ferry map`'s arguments.
#[derive(Args)]
#[command(mut_arg("function", |arg| arg.help("The function to apply to each input")))]
pub struct MapArgs {
    // Before the function's flags, so that `--inputs` is listed first.
    /// One JSON input per line.
    #[arg(long, value_name = "FILE.jsonl")]
    inputs: PathBuf,
    #[command(flatten)]
    function: FunctionArgs,
    /// Run on the workers instead of locally.
    #[command(flatten)]
    workers: WorkersArgs,
    /// Reduce the results with this function of the same module, which
    /// takes the pair (a, b) and must be associative.
    #[arg(long, value_name = "FUNCTION")]
    reduce: Option<String>,
    /// Inputs per task, with --reduce.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "reduce")]
    chunk_size: usize,
    /// The sandbox of local runs; with --workers, each worker's own
    /// sandbox applies.
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Runs the job on a local pool, or on the workers.
pub fn run(args: MapArgs, store: &BlobStore) -> Result<()> {
    let mapper = args.function.closure(store)?;
    let signatures = args.function.signatures()?;
    let reducer = args
        .reduce
        .map(|name| Closure::new(mapper.module(), &name))
        .transpose()?;
    let job = MapJob {
        mapper,
        reducer,
        inputs: args.inputs,
        chunk_size: args.chunk_size,
    };
    if args.workers.workers.is_empty() {
        let runtime = Runtime::new(RuntimeConfig::with_store(store.clone()))?;
        let pool = LocalExecutor::builder()
            .runtime(runtime)
            .sandbox(args.sandbox.to_sandbox()?)
            .build()?;
        job.run(&pool)
    } else {
        job.run(&args.workers.remote(&[], signatures)?)
    }
}

/// `ferry map`: the closures, and where the inputs are.
struct MapJob {
    mapper: Closure,
    reducer: Option<Closure>,
    inputs: PathBuf,
    chunk_size: usize,
}

impl MapJob {
    /// Maps (and reduces) on `executor`, printing JSON lines to stdout and a
    /// progress bar to stderr. A failed input prints `{"error": ...}` in its
    /// place; any failure makes the command fail at the end.
    fn run(self, executor: &impl Executor) -> Result<()> {
        let open = || {
            std::fs::File::open(&self.inputs)
                .map(std::io::BufReader::new)
                .with_context(|| format!("cannot read inputs from {}", self.inputs.display()))
        };
        // A first pass counts the inputs for the progress bar and checks that
        // each is JSON; the second streams them, so memory stays bounded.
        let mut total = 0u64;
        for (number, line) in open()?.lines().enumerate() {
            let line =
                line.with_context(|| format!("cannot read line {} of the inputs", number + 1))?;
            if !line.trim().is_empty() {
                serde_json::from_str::<serde_json::Value>(&line)
                    .with_context(|| format!("line {} of the inputs is not JSON", number + 1))?;
                total += 1;
            }
        }
        let progress = indicatif::ProgressBar::new(total).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len}  {per_sec}  eta {eta}")?,
        );
        let inputs = open()?
            .lines()
            .map_while(Result::ok)
            .filter(|line| !line.trim().is_empty())
            .map_while(|line| serde_json::from_str::<serde_json::Value>(&line).ok());
        let mut out = out::stdout();
        let failed = match &self.reducer {
            Some(reducer) => {
                let reduced: Option<serde_json::Value> = executor
                    .map_reduce(&self.mapper, reducer, inputs)
                    .chunk_size(self.chunk_size)
                    .on_progress(|done| progress.set_position(done))
                    .run()?;
                writeln!(out, "{}", reduced.unwrap_or(serde_json::Value::Null))?;
                false
            }
            None => {
                let mut failed = false;
                let inputs = inputs.map_while(|json| Value::from_json(&json).ok());
                let results = executor.map_values(&self.mapper, inputs);
                for result in results {
                    // As `ferry call` prints a result.
                    let line = match result.and_then(|output| output.value.to_json()) {
                        Ok(json) => json,
                        Err(e) => {
                            failed = true;
                            serde_json::json!({ "error": e.to_string() })
                        }
                    };
                    writeln!(out, "{line}")?;
                    progress.inc(1);
                    if out::closed() {
                        break;
                    }
                }
                failed
            }
        };
        progress.finish_and_clear();
        if failed {
            bail!("some inputs failed; their lines hold the errors");
        }
        Ok(())
    }
}
