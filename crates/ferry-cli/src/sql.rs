//! `ferry sql`: DataFusion with ferry functions, from the command line.

use anyhow::{Context, Result, bail};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig};
use ferry_host::{Module, Runtime, Sandbox};
use ferry_sql::WasmFunctions;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `ferry sql` was asked to do.
pub struct SqlCommand {
    /// Statements given with -c, in order.
    pub commands: Vec<String>,
    /// Files given with -f, in order.
    pub files: Vec<PathBuf>,
    /// Tables to register, as NAME=PATH or PATH.
    pub tables: Vec<String>,
    /// Modules whose functions to register.
    pub modules: Vec<Module>,
}

impl SqlCommand {
    pub fn run(self, runtime: Runtime, sandbox: Sandbox) -> Result<()> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the query runtime")?;
        tokio.block_on(self.run_async(runtime, sandbox))
    }

    async fn run_async(self, runtime: Runtime, sandbox: Sandbox) -> Result<()> {
        let functions = WasmFunctions::new(runtime).with_sandbox(sandbox);
        let ctx = functions.session_with(SessionConfig::new().with_information_schema(true));
        for module in &self.modules {
            let names = functions.register_module(&ctx, module)?;
            eprintln!(
                "functions from {}: {}",
                module.id().short(),
                names.join(", ")
            );
        }
        for table in &self.tables {
            register_table(&ctx, table).await?;
        }
        if self.commands.is_empty() && self.files.is_empty() {
            return shell(&ctx).await;
        }
        for command in &self.commands {
            run_text(&ctx, command).await?;
        }
        for file in &self.files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            run_text(&ctx, &text).await?;
        }
        Ok(())
    }
}

/// Registers a CSV, Parquet or JSON-lines file, or a directory of them, as
/// a table: `NAME=PATH`, or `PATH` named after the file.
async fn register_table(ctx: &SessionContext, spec: &str) -> Result<()> {
    // Only a plain name before `=` names the table: `year=2024/` is a
    // partition directory.
    let named = spec.split_once('=').filter(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
    });
    let (name, path) = match named {
        Some((name, path)) => (name.to_owned(), PathBuf::from(path)),
        None => {
            let path = PathBuf::from(spec);
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .with_context(|| format!("cannot name a table after `{spec}`; write NAME={spec}"))?
                .to_owned();
            (stem, path)
        }
    };
    let location = path.to_str().context("table paths must be UTF-8")?;
    let extension = extension(&path)?;
    // DataFusion picks files by extension, case and all.
    let dotted = format!(".{extension}");
    match extension.to_ascii_lowercase().as_str() {
        "parquet" => {
            let options = ParquetReadOptions {
                file_extension: &dotted,
                ..ParquetReadOptions::default()
            };
            ctx.register_parquet(&name, location, options).await?
        }
        "csv" => {
            let options = CsvReadOptions::new().file_extension(&dotted);
            ctx.register_csv(&name, location, options).await?
        }
        "json" | "jsonl" | "ndjson" => {
            let options = JsonReadOptions {
                file_extension: &dotted,
                ..JsonReadOptions::default()
            };
            ctx.register_json(&name, location, options).await?
        }
        other => bail!(
            "cannot tell the format of {}: .{other} is not .parquet, .csv, .json, .jsonl or .ndjson",
            path.display()
        ),
    }
    eprintln!("table {name}: {}", path.display());
    Ok(())
}

/// The extension of a file, or of the files in a directory.
fn extension(path: &Path) -> Result<String> {
    let of = |path: &Path| path.extension().and_then(|e| e.to_str()).map(str::to_owned);
    if path.is_dir() {
        let entries = std::fs::read_dir(path)
            .with_context(|| format!("cannot read directory {}", path.display()))?;
        for entry in entries {
            if let Some(extension) = of(&entry?.path()) {
                return Ok(extension);
            }
        }
        bail!("{} has no files to read as a table", path.display());
    }
    if !path.exists() {
        bail!("no such file: {}", path.display());
    }
    of(path).with_context(|| format!("{} has no extension to tell its format", path.display()))
}

/// Runs each statement of `text`, printing results and timings; stops at
/// the first error.
async fn run_text(ctx: &SessionContext, text: &str) -> Result<()> {
    for statement in ferry_sql::split_statements(text)? {
        run_statement(ctx, &statement).await?;
    }
    Ok(())
}

async fn run_statement(ctx: &SessionContext, statement: &str) -> Result<()> {
    let started = Instant::now();
    let frame = ferry_sql::execute(ctx, statement).await.map_err(plain)?;
    let batches = frame.collect().await.map_err(plain)?;
    let elapsed = started.elapsed();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let seconds = elapsed.as_secs_f64();
    if !batches.iter().any(|b| b.num_columns() > 0) {
        // DDL: nothing to show.
        eprintln!("done in {seconds:.3} s");
        return Ok(());
    }
    if rows > 0 {
        println!("{}", pretty_format_batches(&batches)?);
    }
    eprintln!(
        "{rows} row{} in {seconds:.3} s",
        if rows == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Reads statements from standard input until it ends or `\q`; errors are
/// printed and the shell goes on.
async fn shell(ctx: &SessionContext) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("ferry sql: end statements with `;`, \\q to quit, \\d to list tables");
    }
    let mut buffer = String::new();
    let mut lines = std::io::stdin().lock().lines();
    loop {
        if interactive {
            eprint!(
                "{}",
                if buffer.is_empty() {
                    "ferry> "
                } else {
                    "   ... "
                }
            );
            std::io::stderr().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        match line.trim() {
            "\\q" | "quit" | "exit" if buffer.trim().is_empty() => return Ok(()),
            "\\d" if buffer.trim().is_empty() => {
                report(run_statement(ctx, "SHOW TABLES").await);
                continue;
            }
            _ => {}
        }
        buffer.push_str(&line);
        buffer.push('\n');
        // A statement ends at a `;` outside strings and comments: a text
        // that does not tokenize yet (an open string) goes on reading.
        if line.trim_end().ends_with(';') && ferry_sql::split_statements(&buffer).is_ok() {
            report(run_text(ctx, &buffer).await);
            buffer.clear();
        }
    }
    if !buffer.trim().is_empty() {
        report(run_text(ctx, &buffer).await);
    }
    Ok(())
}

/// DataFusion's message, which already says what its causes say; a ferry
/// error without DataFusion's "External error" in front.
fn plain(error: DataFusionError) -> anyhow::Error {
    match error.find_root() {
        DataFusionError::External(inner) => anyhow::anyhow!("{inner}"),
        _ => anyhow::anyhow!("{error}"),
    }
}

fn report(outcome: Result<()>) {
    if let Err(error) = outcome {
        eprintln!("error: {error:#}");
    }
}
