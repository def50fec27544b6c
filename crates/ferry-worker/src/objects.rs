//! Objects the closures a worker runs refer to, read by the worker from
//! their stores with its own credentials: the client sends only the
//! reference. An object whose hash the closure names is kept in the
//! worker's store under that hash, counted against the disk cache, and read
//! from there the next time.

use crate::cache::DiskCache;
use ferry_host::{Blob, BlobStore, Error, ObjectRef, ReadObject, Resolve};
use ferry_stores::Stores;
use std::sync::Arc;

/// Reads objects on the worker's slot threads, as the jobs that need them
/// start.
pub(crate) struct StoredObjects {
    stores: Stores,
    store: BlobStore,
    cache: Arc<DiskCache>,
}

impl StoredObjects {
    pub(crate) fn new(store: BlobStore, cache: Arc<DiskCache>) -> StoredObjects {
        StoredObjects {
            stores: Stores::new(),
            store,
            cache,
        }
    }

    /// The stores, for writing results to them.
    pub(crate) fn stores(&self) -> &Stores {
        &self.stores
    }
}

impl ReadObject for StoredObjects {
    fn read(&self, object: &ObjectRef) -> Result<Blob, Error> {
        if let Some(hash) = object.hash
            && self.store.contains(&hash)
            && let Ok(blob) = Resolve::blob(&self.store, &hash)
        {
            self.store.touch(&hash);
            return Ok(blob);
        }
        let blob = self.stores.read(object)?;
        if let Some(hash) = object.hash {
            self.store.put(blob.bytes())?;
            self.cache
                .added(blob.bytes().len() as u64, |stored| *stored == hash);
        }
        Ok(blob)
    }
}
