//! `ferry map`: a function over every line of a JSON-lines file, or over
//! ranges of objects in a store, locally or on workers, optionally reduced
//! to one result.

use crate::args::{FunctionArgs, SandboxArgs, WorkersArgs, stores};
use crate::out;
use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_host::{
    BlobStore, Closure, Error, Executor, ExecutorExt, LocalExecutor, ObjectRef, Output, Value,
};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// `ferry map`'s arguments.
#[derive(Args)]
#[command(mut_arg("function", |arg| arg.help("The function to apply to each input")))]
pub struct MapArgs {
    // Before the function's flags, so that `--inputs` is listed first.
    /// One JSON input per line.
    #[arg(long, value_name = "FILE.jsonl", required_unless_present = "over")]
    inputs: Option<PathBuf>,
    /// Map over objects instead: those at this URL (one object, or every
    /// object under a prefix ending in `/`), split into ranges of whole
    /// lines, one task each. A task reads its range as the blob `chunk`
    /// (`ferry::chunk()` in Rust) and gets `{url, start, end}` as its
    /// input; the data goes from the store to where the task runs.
    #[arg(long, value_name = "URL", conflicts_with = "inputs")]
    over: Option<String>,
    /// With --over: the size of a range (the last of each object is
    /// shorter), in bytes or with KiB, MiB or GiB.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = crate::args::bytes, requires = "over")]
    chunk_bytes: u64,
    #[command(flatten)]
    function: FunctionArgs,
    /// Run on the workers instead of locally.
    #[command(flatten)]
    workers: WorkersArgs,
    /// Reduce the results with this function of the same module, which
    /// takes the pair (a, b) and must be associative.
    #[arg(long, value_name = "FUNCTION", group = "reducer")]
    reduce: Option<String>,
    /// Reduce the results with this JavaScript function of (a, b) instead
    /// (source, or a .js or .mjs file, as --js).
    #[arg(long, value_name = "SOURCE|FILE", group = "reducer")]
    reduce_js: Option<String>,
    /// Inputs per task, with a reduce and --inputs.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "reducer")]
    chunk_size: usize,
    /// With --workers: results over --results-over are written by the
    /// workers under this prefix (`s3://bucket/tmp/job-7/`) instead of
    /// coming back; a reduce reads them there and deletes each once used
    /// (and all that is left if the job fails); without --reduce, each is
    /// printed as a reference, `{"stored": URL, "sha256": HASH}`.
    #[arg(long, value_name = "URL", requires = "workers")]
    results_to: Option<String>,
    /// With --results-to: results of at most this size come back.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = crate::args::bytes, requires = "results_to")]
    results_over: u64,
    /// Write each result as an object under this prefix, and print its
    /// reference instead of the result.
    #[arg(long, value_name = "URL", conflicts_with_all = ["reducer", "results_to"])]
    output: Option<String>,
    /// The sandbox of local runs; with --workers, each worker's own
    /// sandbox applies.
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Runs the job on a local pool, or on the workers.
pub fn run(args: MapArgs, store: &BlobStore) -> Result<()> {
    let mapper = args.function.closure(store)?;
    let signatures = args.function.signatures()?;
    let reducer = match (&args.reduce, &args.reduce_js) {
        (Some(name), _) => Some(Closure::new(mapper.module(), name)?),
        (None, Some(source)) => Some(crate::args::javascript_function(source, store)?),
        (None, None) => None,
    };
    let inputs = match (args.inputs, args.over) {
        (_, Some(_)) if args.chunk_bytes == 0 => bail!("--chunk-bytes must be at least 1 byte"),
        (_, Some(location)) => {
            let chunks = stores().block_on(stores().chunks(&location, args.chunk_bytes))??;
            Inputs::Objects(chunks)
        }
        (Some(file), None) => Inputs::Lines(file),
        (None, None) => bail!("give the inputs: --inputs FILE.jsonl, or --over URL"),
    };
    let job = MapJob {
        mapper,
        reducer,
        inputs,
        chunk_size: args.chunk_size,
        output: args.output.clone(),
    };
    if args.workers.workers.is_empty() {
        let runtime = super::one_shot_runtime(store)?;
        let pool = LocalExecutor::builder()
            .runtime(runtime)
            .sandbox(args.sandbox.to_sandbox()?)
            .objects(stores().clone())
            .build()?;
        return job.run(&pool);
    }
    let mut remote = args.workers.builder(&[], signatures)?;
    // Every result goes to --output, written where it was made.
    let results_to = args.output.map(|prefix| (prefix, 0));
    if let Some((prefix, over)) = results_to.or(args.results_to.map(|p| (p, args.results_over))) {
        remote = remote.store_results(prefix, over);
    }
    job.run(&remote.build()?)
}

/// `ferry map`: the closures, and where the inputs are.
struct MapJob {
    mapper: Closure,
    reducer: Option<Closure>,
    inputs: Inputs,
    chunk_size: usize,
    /// Where each result is written, on a local pool.
    output: Option<String>,
}

/// What a map runs over.
enum Inputs {
    /// JSON values, one per line of a file.
    Lines(PathBuf),
    /// Ranges of objects, one per task.
    Objects(Vec<ObjectRef>),
}

impl MapJob {
    /// Maps (and reduces) on `executor`, printing JSON lines to stdout and a
    /// progress bar to stderr. A failed input prints `{"error": ...}` in its
    /// place; any failure makes the command fail at the end.
    fn run(self, executor: &impl Executor) -> Result<()> {
        let progress = |total: usize| -> Result<indicatif::ProgressBar> {
            Ok(indicatif::ProgressBar::new(total as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len}  {per_sec}  eta {eta}",
                )?,
            ))
        };
        let file = match self.inputs {
            Inputs::Lines(file) => file,
            Inputs::Objects(chunks) => {
                let progress = progress(chunks.len())?;
                return match &self.reducer {
                    Some(reducer) => {
                        let reduced = executor
                            .map_reduce_objects(&self.mapper, reducer, chunks)
                            .on_progress(|done| progress.set_position(done))
                            .run::<serde_json::Value>();
                        print_reduced(reduced, &progress)
                    }
                    None => print_mapped(
                        executor.map_objects(&self.mapper, chunks),
                        self.output.as_deref(),
                        &progress,
                    ),
                };
            }
        };
        let open = || {
            std::fs::File::open(&file)
                .map(std::io::BufReader::new)
                .with_context(|| format!("cannot read inputs from {}", file.display()))
        };
        // A first pass counts the inputs for the progress bar and checks that
        // each is JSON; the second streams them, so memory stays bounded.
        let mut total = 0;
        for (number, line) in open()?.lines().enumerate() {
            let line =
                line.with_context(|| format!("cannot read line {} of the inputs", number + 1))?;
            if !line.trim().is_empty() {
                serde_json::from_str::<serde_json::Value>(&line)
                    .with_context(|| format!("line {} of the inputs is not JSON", number + 1))?;
                total += 1;
            }
        }
        let progress = progress(total)?;
        let inputs = open()?
            .lines()
            .map_while(Result::ok)
            .filter(|line| !line.trim().is_empty())
            .map_while(|line| serde_json::from_str::<serde_json::Value>(&line).ok());
        match &self.reducer {
            Some(reducer) => {
                let reduced = executor
                    .map_reduce(&self.mapper, reducer, inputs)
                    .chunk_size(self.chunk_size)
                    .on_progress(|done| progress.set_position(done))
                    .run::<serde_json::Value>();
                print_reduced(reduced, &progress)
            }
            None => {
                let inputs = inputs.map_while(|json| Value::from_json(&json).ok());
                print_mapped(
                    executor.map_values(&self.mapper, inputs),
                    self.output.as_deref(),
                    &progress,
                )
            }
        }
    }
}

/// Prints the one result of a map-reduce.
fn print_reduced(
    reduced: Result<Option<serde_json::Value>, Error>,
    progress: &indicatif::ProgressBar,
) -> Result<()> {
    progress.finish_and_clear();
    writeln!(
        out::stdout(),
        "{}",
        reduced?.unwrap_or(serde_json::Value::Null)
    )?;
    Ok(())
}

/// Prints each result as `ferry call` does, a failure as `{"error": ...}`,
/// and fails at the end if any failed. With `output`, a result not yet
/// there (made on a local pool) is written under it first.
fn print_mapped(
    results: impl Iterator<Item = Result<Output, Error>>,
    output: Option<&str>,
    progress: &indicatif::ProgressBar,
) -> Result<()> {
    let mut out = out::stdout();
    let mut failed = false;
    let written = |value: Value| -> Result<Value, Error> {
        match output {
            Some(prefix) if value.stored_object().is_none() => {
                let url = ferry_stores::name_under(prefix)?;
                stores().block_on(stores().put_value(&url, &value))?
            }
            _ => Ok(value),
        }
    };
    for result in results {
        let line = match result.and_then(|output| written(output.value)?.to_json()) {
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
    progress.finish_and_clear();
    if failed {
        bail!("some inputs failed; their lines hold the errors");
    }
    Ok(())
}
