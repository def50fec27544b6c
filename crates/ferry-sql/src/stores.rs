//! Tables that live where the data does: the store a URL is in registered
//! with a session, so that a query reads its tables from the store, not
//! through the client.
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
