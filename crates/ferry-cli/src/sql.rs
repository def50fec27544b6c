//! `ferry sql`: DataFusion with ferry functions, from the command line.

use anyhow::{Context, Result, bail};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig};
use ferry_host::{Module, Runtime, Sandbox};
use ferry_sql::WasmFunctions;
use rustyline::error::ReadlineError;
use rustyline::{Behavior, DefaultEditor};
use std::io::{BufRead, IsTerminal, Lines, StdinLock};
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

/// Reads statements until the input ends or `\q`; errors are printed and the
/// shell goes on.
async fn shell(ctx: &SessionContext) -> Result<()> {
    let mut input = Input::open()?;
    if input.is_terminal() {
        eprintln!(
            "ferry sql: end statements with `;`, \\q to quit, \\d to list tables, Ctrl-C to drop or stop a statement"
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "ferry> "
        } else {
            "   ... "
        };
        let line = match input.read(prompt)? {
            Read::Line(line) => line,
            Read::Interrupted => {
                buffer.clear();
                continue;
            }
            Read::End => break,
        };
        if buffer.trim().is_empty() {
            match line.trim() {
                "\\q" | "quit" | "exit" => break,
                "\\d" => {
                    input.remember("\\d");
                    report(input.interruptible(run_statement(ctx, "SHOW TABLES")).await);
                    continue;
                }
                _ => {}
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        // A statement ends at a `;` outside strings and comments: a text
        // that does not tokenize yet (an open string) goes on reading.
        if line.trim_end().ends_with(';') && ferry_sql::split_statements(&buffer).is_ok() {
            input.remember(buffer.trim());
            report(input.interruptible(run_text(ctx, &buffer)).await);
            buffer.clear();
        }
    }
    if !buffer.trim().is_empty() {
        report(input.interruptible(run_text(ctx, &buffer)).await);
    }
    Ok(())
}

/// Where the shell's lines come from.
enum Input {
    /// A terminal: lines are edited with the usual keys, and statements are
    /// kept in a history file for the next session.
    Terminal {
        editor: Box<DefaultEditor>,
        history: Option<PathBuf>,
    },
    /// A pipe or a file: plain lines, no prompts.
    Plain(Lines<StdinLock<'static>>),
}

/// One read from the shell's input.
enum Read {
    Line(String),
    /// Ctrl-C: drop the statement being typed.
    Interrupted,
    End,
}

impl Input {
    fn open() -> Result<Input> {
        if !std::io::stdin().is_terminal() {
            return Ok(Input::Plain(std::io::stdin().lock().lines()));
        }
        let config = rustyline::Config::builder()
            .max_history_size(1000)?
            .history_ignore_dups(true)?
            // Prompts and echo go to the terminal, not into results
            // redirected to a file.
            .behavior(Behavior::PreferTerm)
            .build();
        let mut editor = Box::new(DefaultEditor::with_config(config)?);
        // `$XDG_STATE_HOME/ferry/sql_history` on Linux; platforms without a
        // state directory keep it with their local data.
        let history = dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .map(|dir| dir.join("ferry"))
            .and_then(|dir| {
                let path = dir.join("sql_history");
                let opened = std::fs::create_dir_all(&dir)
                    .map_err(ReadlineError::from)
                    .and_then(|()| match path.exists() {
                        true => editor.load_history(&path),
                        false => Ok(()),
                    });
                match opened {
                    Ok(()) => Some(path),
                    Err(error) => {
                        tracing::warn!(
                            "cannot keep the shell history in {}: {error}",
                            dir.display()
                        );
                        None
                    }
                }
            });
        Ok(Input::Terminal { editor, history })
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Input::Terminal { .. })
    }

    /// Runs what the shell was given. On a terminal, Ctrl-C stops it and
    /// the shell goes on, as it does while a statement is typed.
    async fn interruptible(&self, work: impl Future<Output = Result<()>>) -> Result<()> {
        if !self.is_terminal() {
            return work.await;
        }
        let interrupted = async {
            // Where no handler can be installed, Ctrl-C ends the shell.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            outcome = work => outcome,
            () = interrupted => bail!("interrupted"),
        }
    }

    fn read(&mut self, prompt: &str) -> Result<Read> {
        match self {
            Input::Terminal { editor, .. } => match editor.readline(prompt) {
                Ok(line) => Ok(Read::Line(line)),
                Err(ReadlineError::Interrupted) => Ok(Read::Interrupted),
                Err(ReadlineError::Eof) => Ok(Read::End),
                Err(error) => Err(error.into()),
            },
            Input::Plain(lines) => Ok(lines.next().transpose()?.map_or(Read::End, Read::Line)),
        }
    }

    /// Keeps a whole statement, not its lines, so that one key brings a
    /// multi-line statement back. It is written at once, so a shell that
    /// is killed loses nothing, and appended under a lock, so two shells
    /// open at once keep both their statements.
    fn remember(&mut self, statement: &str) {
        let Input::Terminal { editor, history } = self else {
            return;
        };
        // Adding to the history in memory cannot fail.
        let _ = editor.add_history_entry(statement);
        if let Some(path) = history
            && let Err(error) = editor.append_history(path)
        {
            tracing::warn!(
                "cannot save the shell history to {}: {error}",
                path.display()
            );
            *history = None;
        }
    }
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
