//! Tables that live where the data does: the store a URL is in registered
//! with a session, so that a query reads its tables from the store, not
//! through the client; and, for processes that plan or run queries they did
//! not register tables for (a cluster's scheduler and executors), a
//! registry that opens a store the first time a plan names it.
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! let (url, _store) = ferry_sql::stores::register(&ctx, "file:///tmp/")?;
//! assert_eq!(url.scheme(), "file");
//! assert!(ferry_sql::stores::register(&ctx, "ftp://example.com/x").is_err());
//! # Ok::<(), ferry_stores::StoreError>(())
//! ```

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::prelude::SessionContext;
use ferry_stores::StoreError;
use object_store::ObjectStore;
use std::sync::Arc;
use url::Url;

/// Registers the store `location` is in with `ctx`, so that tables under
/// it can be read; returns the URL and the store.
pub fn register(
    ctx: &SessionContext,
    location: &str,
) -> Result<(Url, Arc<dyn ObjectStore>), StoreError> {
    let (url, store) = ferry_stores::open(location)?;
    ctx.register_object_store(&url, store.clone());
    Ok((url, store))
}

/// An [`ObjectStoreRegistry`] that opens `s3://` stores as plans name them,
/// with the credentials of this process's environment (`AWS_*`), and
/// keeps them; `file://` as DataFusion's own registry does.
///
/// ```
/// use datafusion::execution::object_store::ObjectStoreRegistry;
///
/// let registry = ferry_sql::stores::StoreRegistry::default();
/// let url = url::Url::parse("file:///tmp/").unwrap();
/// assert!(registry.get_store(&url).is_ok());
/// ```
#[derive(Debug, Default)]
pub struct StoreRegistry {
    opened: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.opened.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.opened.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.opened.get_store(url) {
            return Ok(store);
        }
        let (_, store) = ferry_stores::open(url.as_str())
            .map_err(|e| DataFusionError::Configuration(e.to_string()))?;
        self.opened.register_store(url, store.clone());
        Ok(store)
    }
}
