//! Splitting objects into chunks of whole records: the inputs of a map
//! over data that stays in its store.

use crate::open::path_of;
use crate::{StoreError, Stores, explain};
use ferry_host::ObjectRef;
use futures::StreamExt;
use object_store::{ObjectMeta, ObjectStoreExt};

impl Stores {
    /// The objects at `location` split into ranges of `chunk_bytes` (the
    /// last of each object shorter), each read as the whole records that
    /// start in it ([`ObjectRef::whole_lines`]) and, in a store that
    /// versions objects (`s3://`), only while the object is the version
    /// listed. `location` is one object, or a prefix: every
    /// object under it, in key order. Only names and sizes are read here.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), ferry_stores::StoreError> {
    /// let chunks = ferry_stores::Stores::new().chunks("s3://events/2026/", 64 << 20).await?;
    /// assert!(chunks.iter().all(|chunk| chunk.whole_lines));
    /// # Ok(()) }
    /// ```
    pub async fn chunks(
        &self,
        location: &str,
        chunk_bytes: u64,
    ) -> Result<Vec<ObjectRef>, StoreError> {
        let (url, store) = self.store(location)?;
        let path = path_of(&url)?;
        let failed = |e: object_store::Error| StoreError::Store {
            url: location.to_owned(),
            reason: explain(&e),
        };
        let mut objects: Vec<ObjectMeta> = Vec::new();
        if !location.ends_with('/') {
            match store.head(&path).await {
                Ok(meta) => objects.push(meta),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        if objects.is_empty() {
            let mut listing = store.list(Some(&path));
            while let Some(meta) = listing.next().await {
                objects.push(meta.map_err(failed)?);
            }
            objects.sort_by(|a, b| a.location.cmp(&b.location));
        }
        let chunk_bytes = chunk_bytes.max(1);
        let mut chunks = Vec::new();
        for meta in objects.iter().filter(|meta| meta.size > 0) {
            let mut object_url = url.clone();
            object_url.set_path(meta.location.as_ref());
            // A file's ETag is its inode and time, true only on this
            // machine: a worker with its own copy could never match it.
            let object = ObjectRef {
                version: meta.e_tag.clone().filter(|_| url.scheme() != "file"),
                ..ObjectRef::new(object_url.as_str())
            };
            let mut start = 0;
            while start < meta.size {
                let end = start.saturating_add(chunk_bytes).min(meta.size);
                chunks.push(object.clone().range(start, end).whole_lines());
                start = end;
            }
        }
        if chunks.is_empty() {
            return Err(StoreError::Empty(location.to_owned()));
        }
        Ok(chunks)
    }
}
