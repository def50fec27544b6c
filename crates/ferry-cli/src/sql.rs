//! `ferry sql`: DataFusion with ferry functions, from the command line.

use crate::out::{self, Stdout, note};
use anyhow::{Context, Result, bail};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig};
use ferry_host::{Module, Runtime, Sandbox};
use ferry_sql::WasmFunctions;
use futures::StreamExt;
use rustyline::error::ReadlineError;
use rustyline::{Behavior, DefaultEditor};
use std::io::{BufRead, BufWriter, IsTerminal, Lines, StdinLock, Write};
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
    /// How results are printed.
    pub format: Format,
}

/// How `ferry sql` prints results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table drawn for people, once every row has arrived.
    #[default]
    Table,
    /// Comma-separated values with a header line, as rows arrive.
    Csv,
    /// Tab-separated values with a header line, as rows arrive.
    Tsv,
    /// One JSON array of objects, as rows arrive.
    Json,
    /// A JSON object per line, as rows arrive.
    Ndjson,
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
        let session = Session {
            ctx: functions.session_with(SessionConfig::new().with_information_schema(true)),
            format: self.format,
        };
        let ctx = &session.ctx;
        for module in &self.modules {
            let names = functions.register_module(ctx, module)?;
            note!(
                "functions from {}: {}",
                module.id().short(),
                names.join(", ")
            );
        }
        for table in &self.tables {
            register_table(ctx, table).await?;
        }
        if self.commands.is_empty() && self.files.is_empty() {
            return shell(&session).await;
        }
        for command in &self.commands {
            session.run_text(command).await?;
        }
        for file in &self.files {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            session.run_text(&text).await?;
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
    note!("table {name}: {}", path.display());
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

/// A session and how it prints results.
struct Session {
    ctx: SessionContext,
    format: Format,
}

impl Session {
    /// Runs each statement of `text`, printing results and timings; stops
    /// at the first error.
    async fn run_text(&self, text: &str) -> Result<()> {
        for statement in ferry_sql::split_statements(text)? {
            self.run_statement(&statement).await?;
        }
        Ok(())
    }

    async fn run_statement(&self, statement: &str) -> Result<()> {
        let started = Instant::now();
        let frame = ferry_sql::execute(&self.ctx, statement)
            .await
            .map_err(plain)?;
        if frame.schema().fields().is_empty() {
            // DDL: nothing to show.
            frame.collect().await.map_err(plain)?;
            note!("done in {:.3} s", started.elapsed().as_secs_f64());
            return Ok(());
        }
        let rows = match Printer::new(self.format) {
            None => {
                let batches = frame.collect().await.map_err(plain)?;
                let rows = batches.iter().map(RecordBatch::num_rows).sum();
                if rows > 0 {
                    writeln!(out::stdout(), "{}", pretty_format_batches(&batches)?)?;
                }
                rows
            }
            // Streamed, so that a result larger than memory can go to a file.
            Some(mut out) => {
                let mut batches = frame.execute_stream().await.map_err(plain)?;
                // A header even when no row comes.
                out.write(&RecordBatch::new_empty(batches.schema()))?;
                let mut rows = 0;
                // Dropping the stream stops the query once nobody reads.
                while let Some(batch) = batches.next().await
                    && !out::closed()
                {
                    let batch = batch.map_err(plain)?;
                    rows += batch.num_rows();
                    out.write(&batch)?;
                }
                out.finish()?;
                rows
            }
        };
        note!(
            "{rows} row{} in {:.3} s",
            if rows == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Writes batches to standard output in a machine-readable format.
enum Printer {
    Csv(Box<csv::Writer<BufWriter<Stdout>>>),
    Json(ArrayWriter<BufWriter<Stdout>>),
    Ndjson(LineDelimitedWriter<BufWriter<Stdout>>),
}

impl Printer {
    /// A printer for `format`; none for a table, which is drawn whole.
    fn new(format: Format) -> Option<Printer> {
        let out = BufWriter::new(out::stdout());
        let delimited = |delimiter| {
            csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delimiter)
        };
        Some(match format {
            Format::Table => return None,
            Format::Csv => Printer::Csv(Box::new(delimited(b',').build(out))),
            Format::Tsv => Printer::Csv(Box::new(delimited(b'\t').build(out))),
            Format::Json => Printer::Json(ArrayWriter::new(out)),
            Format::Ndjson => Printer::Ndjson(LineDelimitedWriter::new(out)),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Printer::Csv(writer) => writer.write(batch)?,
            // The JSON writers leave rows in the buffer; a reader at the
            // other end of a pipe should see each batch as it comes.
            Printer::Json(writer) => {
                writer.write(batch)?;
                writer.get_mut().flush()?;
            }
            Printer::Ndjson(writer) => {
                writer.write(batch)?;
                writer.get_mut().flush()?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        let mut out = match self {
            Printer::Csv(writer) => writer.into_inner(),
            Printer::Json(mut writer) => {
                writer.finish()?;
                let mut out = writer.into_inner();
                out.write_all(b"\n")?;
                out
            }
            Printer::Ndjson(mut writer) => {
                writer.finish()?;
                writer.into_inner()
            }
        };
        out.flush()?;
        Ok(())
    }
}

/// Reads statements until the input ends or `\q`; errors are printed and the
/// shell goes on.
async fn shell(session: &Session) -> Result<()> {
    let mut input = Input::open()?;
    if input.is_terminal() {
        note!(
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
                    report(
                        input
                            .interruptible(session.run_statement("SHOW TABLES"))
                            .await,
                    );
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
            report(input.interruptible(session.run_text(&buffer)).await);
            buffer.clear();
        }
    }
    if !buffer.trim().is_empty() {
        report(input.interruptible(session.run_text(&buffer)).await);
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
        note!("error: {error:#}");
    }
}
