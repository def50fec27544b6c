//! Files and directories, local or in an object store, registered as
//! tables, by name and extension.

use crate::out::note;
use anyhow::{Context, Result, bail};
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions};
use ferry_sql::stores;
use futures::TryStreamExt;
use std::path::{Path, PathBuf};

/// Registers a CSV, Parquet or JSON-lines file, or a directory of them, as
/// a table: `NAME=PATH`, or `PATH` named after the file. A path may be a
/// store's URL (`s3://bucket/prefix/`, `file:///...`): the query reads it
/// from there.
pub async fn register_table(ctx: &SessionContext, spec: &str) -> Result<()> {
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
    let extension = match ferry_stores::is_url(location) {
        true => stored_extension(ctx, location).await?,
        false => extension(&path)?,
    };
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

/// The extension of an object, or of the objects under a prefix (a URL
/// ending in `/`), registering their store with `ctx`.
async fn stored_extension(ctx: &SessionContext, location: &str) -> Result<String> {
    let (url, store) = stores::register(ctx, location)?;
    let of = |path: &str| {
        Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_owned)
    };
    if !location.ends_with('/') {
        return of(url.path())
            .with_context(|| format!("{location} has no extension to tell its format"));
    }
    let prefix = datafusion::object_store::path::Path::from_url_path(url.path())
        .with_context(|| format!("{location} is not a path in a store"))?;
    let mut listed = store.list(Some(&prefix));
    while let Some(object) = listed
        .try_next()
        .await
        .map_err(|e| anyhow::anyhow!("cannot list {location}: {}", ferry_stores::explain(&e)))?
    {
        if let Some(extension) = of(object.location.as_ref()) {
            return Ok(extension);
        }
    }
    bail!("{location} has no objects to read as a table")
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
