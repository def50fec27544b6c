//! Object stores by URL for ferry: `file://` and `s3://`.
//!
//! A closure may name a blob that is an object in a store, or a byte range
//! of one ([`ObjectRef`](ferry_host::ObjectRef)); [`Stores`] reads it where
//! the closure runs, so the bytes go from the store to the worker and never
//! through the client. [`Stores::chunks`] splits objects into ranges of
//! whole records, one task each, as Lithops' `obj_chunk_size` does.
//!
//! ```no_run
//! use ferry_host::{LocalExecutor, ObjectRef, ReadObject};
//! use ferry_stores::Stores;
//! use std::sync::Arc;
//!
//! let stores = Arc::new(Stores::new());
//! let pool = LocalExecutor::builder().objects(stores.clone()).build()?;
//! let blob = stores.read(&ObjectRef::new("file:///etc/hostname"))?;
//! assert!(!blob.bytes().is_empty());
//! # Ok::<(), ferry_host::Error>(())
//! ```

#![deny(missing_docs)]

mod allowed;
mod chunks;
mod explain;
mod open;
mod read;
mod reference;
mod results;

pub use allowed::Allowed;
pub use explain::explain;
pub use open::{StoreError, is_url, open};
pub use results::name_under;

use object_store::ObjectStore;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use url::Url;

/// The stores a process reads from, each opened once (by scheme and
/// bucket) and shared, with the credentials of this process's environment.
pub struct Stores {
    opened: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    /// Runs reads for callers that are not async (a local pool's threads).
    runtime: OnceLock<tokio::runtime::Runtime>,
    /// The most bytes read of one object.
    limit: u64,
}

impl Default for Stores {
    fn default() -> Stores {
        Stores::with_limit(u64::MAX)
    }
}

impl Stores {
    /// No store opened yet.
    pub fn new() -> Stores {
        Stores::default()
    }

    /// Reads at most `limit` bytes of one object: more is an error naming
    /// it, not a process out of memory.
    pub fn with_limit(limit: u64) -> Stores {
        Stores {
            opened: Mutex::default(),
            runtime: OnceLock::new(),
            limit,
        }
    }

    /// The store `location` is in, opened on first use, with the URL.
    pub fn store(&self, location: &str) -> Result<(Url, Arc<dyn ObjectStore>), StoreError> {
        let url = Url::parse(location).map_err(|reason| StoreError::BadUrl {
            location: location.to_owned(),
            reason,
        })?;
        let key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        if let Some(store) = self.opened.lock().get(&key) {
            return Ok((url, store.clone()));
        }
        let (url, store) = open(location)?;
        self.opened.lock().insert(key, store.clone());
        Ok((url, store))
    }

    /// Runs `work` to its end, for callers that are not async. On an async
    /// runtime's thread, a thread of its own waits instead.
    pub fn block_on<F>(&self, work: F) -> Result<F::Output, ferry_host::Error>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        let runtime = self.runtime()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(runtime.block_on(work));
        }
        Ok(std::thread::scope(|scope| {
            scope
                .spawn(|| runtime.block_on(work))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }))
    }

    /// The store `url` is in, and the object's path in it.
    fn locate(
        &self,
        url: &str,
    ) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path), StoreError> {
        let (parsed, store) = self.store(url)?;
        Ok((store, open::path_of(&parsed)?))
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, ferry_host::Error> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferry-stores")
            .enable_all()
            .build()
            .map_err(|e| ferry_host::Error::Engine(format!("cannot start a store reader: {e}")))?;
        // Two threads may race to start one; the loser's goes without
        // blocking, wherever it is.
        if let Err(loser) = self.runtime.set(runtime) {
            loser.shutdown_background();
        }
        Ok(self.runtime.get().expect("set just now"))
    }
}

/// The error of an object that could not be read or written, for a reason.
fn failed(object: &(impl std::fmt::Display + ?Sized)) -> impl Fn(String) -> ferry_host::Error + '_ {
    move |reason| ferry_host::Error::Object {
        url: object.to_string(),
        reason,
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        // Dropped on an async runtime's thread, a runtime must not block.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opened: Vec<String> = self.opened.lock().keys().cloned().collect();
        f.debug_struct("Stores").field("opened", &opened).finish()
    }
}
