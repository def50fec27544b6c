//! Blobs that stay in object stores: a closure names them by URL, and
//! whoever runs it reads them from the store, so that the bytes never pass
//! through the client that made the closure.
//!
//! ferry-host knows what such a reference says, not how to read one: a
//! [`ReadObject`] does that (`ferry-stores` has one for `file://` and
//! `s3://`), given to the executor that runs the closure.

use crate::{Blob, ContentHash, Error};
use serde::{Deserialize, Serialize};

/// A blob that is an object in a store, or a byte range of one.
///
/// With a hash, the bytes read are checked against it (and a worker may
/// keep them by hash); with a version (the ETag the store gave when the
/// reference was made), reading fails if the object has changed since.
///
/// ```
/// use ferry_host::ObjectRef;
///
/// let whole = ObjectRef::new("s3://events/2026/run-1.jsonl");
/// let part = whole.clone().range(0, 64 << 20).whole_lines();
/// assert_eq!(part.range, Some((0, 64 << 20)));
/// assert!(part.whole_lines);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Where the object is: `s3://BUCKET/KEY` or `file:///PATH`.
    pub url: String,
    /// Bytes `start..end` of the object, or the whole object.
    pub range: Option<(u64, u64)>,
    /// With a range: the newline-delimited records that *start* in it,
    /// each whole (read past the range's end to finish the last one). The
    /// ranges that split an object then split its records, each into
    /// exactly one part.
    pub whole_lines: bool,
    /// The object's version when the reference was made (its ETag).
    pub version: Option<String>,
    /// The SHA-256 of the bytes to be read.
    pub hash: Option<ContentHash>,
}

impl ObjectRef {
    /// The whole object at `url`, whatever its bytes.
    pub fn new(url: impl Into<String>) -> ObjectRef {
        ObjectRef {
            url: url.into(),
            range: None,
            whole_lines: false,
            version: None,
            hash: None,
        }
    }

    /// Only bytes `start..end`.
    pub fn range(mut self, start: u64, end: u64) -> ObjectRef {
        self.range = Some((start, end));
        self
    }

    /// The records that start in the range, each whole.
    pub fn whole_lines(mut self) -> ObjectRef {
        self.whole_lines = true;
        self
    }

    /// Only the object's version `etag`.
    pub fn version(mut self, etag: impl Into<String>) -> ObjectRef {
        self.version = Some(etag.into());
        self
    }

    /// Only bytes whose SHA-256 is `hash`.
    pub fn hash(mut self, hash: ContentHash) -> ObjectRef {
        self.hash = Some(hash);
        self
    }

    /// `bytes` as the blob this names, if they hash as it says.
    pub fn check(&self, bytes: Vec<u8>) -> Result<Blob, Error> {
        self.check_read(Blob::new(bytes))
    }

    /// `blob`, if it hashes as this says.
    pub fn check_read(&self, blob: Blob) -> Result<Blob, Error> {
        match self.hash {
            // What they do hash to stays here: it would tell a client the
            // hash of whatever the reader can read.
            Some(expected) if expected != blob.id() => Err(Error::Object {
                url: self.to_string(),
                reason: format!("its bytes do not hash to the {expected} the closure names"),
            }),
            _ => Ok(blob),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)?;
        if let Some((start, end)) = self.range {
            write!(f, " bytes {start}..{end}")?;
        }
        Ok(())
    }
}

/// Reads the objects closures refer to. Implementations read `file://`,
/// `s3://` or whatever stores they know, with credentials of their own:
/// a closure carries only the URL.
pub trait ReadObject: Send + Sync {
    /// The bytes `object` names, checked with [`ObjectRef::check`]; a
    /// failure is an [`Error::Object`] naming the URL.
    fn read(&self, object: &ObjectRef) -> Result<Blob, Error>;
}
