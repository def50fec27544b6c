//! Reading what an [`ObjectRef`] names: a whole object, a byte range, or
//! the whole records that start in a byte range.

use crate::{Stores, explain};
use ferry_host::{Blob, Error, ObjectRef, ReadObject};
use futures::StreamExt;
use object_store::{GetOptions, GetRange, ObjectStore};

impl Stores {
    /// The bytes `object` names, checked against its hash and version; a
    /// failure is an [`Error::Object`] naming the URL and what to check.
    pub async fn fetch(&self, object: &ObjectRef) -> Result<Blob, Error> {
        let failed = crate::failed(object);
        let (store, path) = self
            .locate(&object.url)
            .map_err(|e| failed(e.to_string()))?;
        let options = GetOptions {
            if_match: object.version.clone(),
            ..GetOptions::default()
        };
        let bytes = match object.range {
            Some((start, end)) if object.whole_lines => {
                whole_lines(&*store, &path, start..end, options, self.limit).await
            }
            Some((start, end)) if end <= start => Ok(Vec::new()),
            Some((start, end)) => {
                let range = Some(GetRange::Bounded(start..end));
                get(&*store, &path, range, options, self.limit).await
            }
            .and_then(|bytes| {
                let expected = end - start;
                if bytes.len() as u64 == expected {
                    Ok(bytes)
                } else {
                    Err(object_store::Error::Generic {
                        store: "ferry",
                        source: format!(
                            "the range ends past the object: {} bytes, not {expected}",
                            bytes.len()
                        )
                        .into(),
                    })
                }
            }),
            None => get(&*store, &path, None, options, self.limit).await,
        }
        .map_err(|e| failed(explain(&e)))?;
        tracing::debug!(%object, bytes = bytes.len(), "read an object");
        object.check(bytes)
    }
}

impl ReadObject for Stores {
    fn read(&self, object: &ObjectRef) -> Result<Blob, Error> {
        self.block_on(self.fetch(object))?
    }
}

/// What `range` of an object holds, if it is at most `limit` bytes.
async fn get(
    store: &dyn ObjectStore,
    path: &object_store::path::Path,
    range: Option<GetRange>,
    options: GetOptions,
    limit: u64,
) -> object_store::Result<Vec<u8>> {
    let options = GetOptions { range, ..options };
    let found = store.get_opts(path, options).await?;
    if found.range.end - found.range.start > limit {
        return Err(too_large(limit));
    }
    Ok(found.bytes().await?.to_vec())
}

fn too_large(limit: u64) -> object_store::Error {
    object_store::Error::Generic {
        store: "ferry",
        source: format!("it is larger than {limit} bytes, the most read of one object here").into(),
    }
}

/// The records (lines) that start in `start..end`, each whole: from the
/// first record start at or after `start` through the newline that ends
/// the record holding byte `end - 1`. Any split of an object into ranges
/// so gives each record to exactly one range. One request, streamed, and
/// dropped once the last record has ended.
async fn whole_lines(
    store: &dyn ObjectStore,
    path: &object_store::path::Path,
    std::ops::Range { start, end }: std::ops::Range<u64>,
    options: GetOptions,
    limit: u64,
) -> object_store::Result<Vec<u8>> {
    if end <= start {
        return Ok(Vec::new());
    }
    // From the byte before `start`: a record starts at `start` if that
    // byte ends one.
    let from = start.saturating_sub(1);
    let options = GetOptions {
        range: Some(GetRange::Offset(from)),
        ..options
    };
    let mut pieces = store.get_opts(path, options).await?.into_stream();
    // Where the next byte of the stream is in the object.
    let mut at = from;
    // Where the first record starts, once found.
    let mut first: Option<u64> = (start == 0).then_some(0);
    let mut out = Vec::new();
    while let Some(piece) = pieces.next().await {
        let piece = piece?;
        let mut rest = &piece[..];
        if first.is_none() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(newline) => {
                    let begins = at + newline as u64 + 1;
                    if begins >= end {
                        return Ok(Vec::new());
                    }
                    first = Some(begins);
                    rest = &rest[newline + 1..];
                    at = begins;
                }
                None => {
                    at += rest.len() as u64;
                    if at >= end {
                        return Ok(Vec::new());
                    }
                    continue;
                }
            }
        }
        // The last record ends at the first newline at or after `end - 1`.
        let skip = (end - 1).saturating_sub(at).min(rest.len() as u64) as usize;
        if let Some(newline) = rest[skip..].iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&rest[..skip + newline + 1]);
            return Ok(out);
        }
        out.extend_from_slice(rest);
        at += rest.len() as u64;
        // A range with no newline after it would read to the object's end.
        if out.len() as u64 > limit {
            return Err(too_large(limit));
        }
    }
    Ok(out)
}
