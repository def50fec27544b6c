//! A session: statements run one by one, each result printed with its
//! row count and time.

use super::print::{Format, Printer};
use crate::out::{self, note};
use anyhow::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::DataFusionError;
use datafusion::execution::context::SessionContext;
use futures::StreamExt;
use std::io::Write;
use std::time::Instant;

/// A session and how it prints results.
pub struct Session {
    pub ctx: SessionContext,
    pub format: Format,
}

impl Session {
    /// Runs each statement of `text`, printing results and timings; stops
    /// at the first error.
    pub async fn run_text(&self, text: &str) -> Result<()> {
        for statement in ferry_sql::split_statements(text)? {
            self.run_statement(&statement).await?;
        }
        Ok(())
    }

    pub async fn run_statement(&self, statement: &str) -> Result<()> {
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

/// DataFusion's message, which already says what its causes say; a ferry
/// error without DataFusion's "External error" in front.
fn plain(error: DataFusionError) -> anyhow::Error {
    match error.find_root() {
        DataFusionError::External(inner) => anyhow::anyhow!("{inner}"),
        _ => anyhow::anyhow!("{error}"),
    }
}
