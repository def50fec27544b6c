//! Objects the closures a worker runs refer to, read by the worker from
//! their stores with its own credentials (the client sends only the
//! reference), and results it writes to them: only under the prefixes its
//! operator allows, and at most `max_blob` bytes of one. An object whose
//! hash the closure names is kept in the worker's store under that hash,
//! counted against the disk cache, and read from there the next time.

use crate::cache::DiskCache;
use ferry_host::{Blob, BlobStore, Error, ObjectRef, ReadObject, Resolve, Value};
use ferry_stores::Allowed;
use std::sync::Arc;

/// Reads objects on the worker's slot threads, as the jobs that need them
/// start, and writes results.
pub(crate) struct StoredObjects {
    allowed: Allowed,
    store: BlobStore,
    cache: Arc<DiskCache>,
}

impl StoredObjects {
    pub(crate) fn new(
        store: BlobStore,
        cache: Arc<DiskCache>,
        allowed: &[String],
        max_object: u64,
    ) -> StoredObjects {
        StoredObjects {
            allowed: Allowed::new(allowed, max_object, "ferry worker --objects"),
            store,
            cache,
        }
    }

    /// Writes a result to the object at `url`, if it may.
    pub(crate) async fn put_value(&self, url: &str, value: &Value) -> Result<Value, Error> {
        self.allowed.put_value(url, value).await
    }
}

impl ReadObject for StoredObjects {
    fn read(&self, object: &ObjectRef) -> Result<Blob, Error> {
        // Checked before the cache too: an object kept for one closure is
        // not thereby allowed to the next.
        self.allowed.check(&object.url)?;
        if let Some(hash) = object.hash
            && self.store.contains(&hash)
            && let Ok(blob) = Resolve::blob(&self.store, &hash)
        {
            self.store.touch(&hash);
            return Ok(blob);
        }
        let blob = self.allowed.read(object)?;
        if let Some(hash) = object.hash {
            // Kept for next time if it can be; the bytes are in hand anyway.
            match self.store.put(blob.bytes()) {
                Ok(_) => self
                    .cache
                    .added(blob.bytes().len() as u64, |stored| *stored == hash),
                Err(error) => tracing::warn!(%error, %object, "an object read is not kept"),
            }
        }
        Ok(blob)
    }
}
