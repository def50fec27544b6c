//! The interactive shell: statements read line by line from a terminal or
//! a pipe, errors printed and the shell going on.

use super::Session;
use crate::out::note;
use anyhow::{Result, bail};
use rustyline::error::ReadlineError;
use rustyline::{Behavior, DefaultEditor};
use std::io::{BufRead, IsTerminal, Lines, StdinLock};
use std::path::PathBuf;

/// Reads statements until the input ends or `\q`; errors are printed and the
/// shell goes on.
pub async fn shell(session: &Session) -> Result<()> {
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

fn report(outcome: Result<()>) {
    if let Err(error) = outcome {
        note!("error: {error:#}");
    }
}
