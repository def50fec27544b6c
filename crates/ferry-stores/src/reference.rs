//! Making a reference to an object, as a user names it.

use crate::open::path_of;
use crate::{StoreError, Stores, explain};
use ferry_host::{ContentHash, ObjectRef};
use object_store::ObjectStoreExt;

impl Stores {
    /// A reference to the object at `location`. `URL#sha256:HEX` is
    /// checked against that hash wherever it is read (and a worker keeps
    /// it by hash); a plain `s3://` URL is pinned to the object's version
    /// now (one `HEAD` request), so that no task reads a changed object.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), ferry_stores::StoreError> {
    /// let stores = ferry_stores::Stores::new();
    /// let table = stores.reference("s3://lookups/zones.parquet").await?;
    /// assert!(table.version.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn reference(&self, location: &str) -> Result<ObjectRef, StoreError> {
        if let Some((url, fragment)) = location.split_once('#') {
            let hash = fragment
                .parse::<ContentHash>()
                .map_err(|e| StoreError::BadPath {
                    url: location.to_owned(),
                    reason: format!("after `#` comes the object's sha256:HEX ({e})"),
                })?;
            self.store(url)?;
            return Ok(ObjectRef::new(url).hash(hash));
        }
        let (url, store) = self.store(location)?;
        let meta = store
            .head(&path_of(&url)?)
            .await
            .map_err(|e| StoreError::Store {
                url: location.to_owned(),
                reason: explain(&e),
            })?;
        let object = ObjectRef::new(location);
        // A file's ETag is its inode and time, true only on this machine.
        Ok(match meta.e_tag.filter(|_| url.scheme() != "file") {
            Some(etag) => object.version(etag),
            None => object,
        })
    }
}
