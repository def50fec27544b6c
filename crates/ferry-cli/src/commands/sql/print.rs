//! How results are written: a table drawn whole, or rows streamed in a
//! format for scripts.

use crate::out::{self, Stdout};
use anyhow::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv;
use datafusion::arrow::json::{ArrayWriter, LineDelimitedWriter};
use std::io::{BufWriter, Write};

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

/// Writes batches to standard output in a machine-readable format.
pub enum Printer {
    Csv(Box<csv::Writer<BufWriter<Stdout>>>),
    Json(ArrayWriter<BufWriter<Stdout>>),
    Ndjson(LineDelimitedWriter<BufWriter<Stdout>>),
}

impl Printer {
    /// A printer for `format`; none for a table, which is drawn whole.
    pub fn new(format: Format) -> Option<Printer> {
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

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
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

    pub fn finish(self) -> Result<()> {
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
