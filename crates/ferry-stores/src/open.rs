//! Opening the store a URL is in: `file://` needs nothing, `s3://BUCKET/`
//! takes its endpoint, region and credentials from the environment as the
//! AWS tools do (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, and `AWS_ALLOW_HTTP=true` for an endpoint
//! without TLS), so that they never travel in a closure or a plan.

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use std::sync::Arc;
use url::Url;

/// Why a store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location is not a URL.
    #[error("{location:?} is not a URL: {reason}")]
    BadUrl {
        /// What was given.
        location: String,
        /// What is wrong with it.
        reason: url::ParseError,
    },
    /// A scheme ferry has no store for.
    #[error("ferry reads file:// and s3:// URLs, not {0}://")]
    Unsupported(String),
    /// A URL whose path is not an object's.
    #[error("{url} does not name an object: {reason}")]
    BadPath {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A listing or a read failed.
    #[error("cannot read {url}: {reason}")]
    Store {
        /// What was read.
        url: String,
        /// The store's answer, in one line.
        reason: String,
    },
    /// Nothing to split into chunks.
    #[error("there are no objects at {0}")]
    Empty(String),
    /// `s3://` without a bucket.
    #[error("an s3:// URL names its bucket first: s3://BUCKET/PREFIX/")]
    NoBucket,
    /// An S3 endpoint without TLS that was not allowed.
    #[error(
        "the S3 endpoint {0} has no TLS: set AWS_ALLOW_HTTP=true to send S3 requests in cleartext"
    )]
    Cleartext(String),
    /// The store refused its settings.
    #[error(
        "cannot use bucket {bucket}: {source} (the S3 store reads AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )]
    S3 {
        /// The bucket.
        bucket: String,
        /// What the store said.
        source: object_store::Error,
    },
}

/// Whether `location` is a URL (`SCHEME://...`) rather than a local path.
pub fn is_url(location: &str) -> bool {
    location.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// The store `location` (a URL) is in, with the URL.
///
/// ```
/// let (url, _store) = ferry_stores::open("file:///tmp/")?;
/// assert_eq!(url.scheme(), "file");
/// assert!(ferry_stores::open("ftp://example.com/x").is_err());
/// # Ok::<(), ferry_stores::StoreError>(())
/// ```
pub fn open(location: &str) -> Result<(Url, Arc<dyn ObjectStore>), StoreError> {
    let url = Url::parse(location).map_err(|reason| StoreError::BadUrl {
        location: location.to_owned(),
        reason,
    })?;
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => Arc::new(LocalFileSystem::new()),
        "s3" => Arc::new(s3(&url)?),
        other => return Err(StoreError::Unsupported(other.to_owned())),
    };
    Ok((url, store))
}

fn s3(url: &Url) -> Result<object_store::aws::AmazonS3, StoreError> {
    let bucket = url
        .host_str()
        .filter(|bucket| !bucket.is_empty())
        .ok_or(StoreError::NoBucket)?;
    // object_store refuses these too, but only at the first request and
    // without saying what to set.
    let allowed = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|allow| {
        ["true", "1", "yes", "on"]
            .iter()
            .any(|yes| allow.eq_ignore_ascii_case(yes))
    });
    let endpoint = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|key| std::env::var(key).ok());
    if let Some(endpoint) = endpoint
        && endpoint.starts_with("http://")
        && !allowed
    {
        return Err(StoreError::Cleartext(endpoint));
    }
    AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|source| StoreError::S3 {
            bucket: bucket.to_owned(),
            source,
        })
}

/// The path of `url`'s object within its store.
pub(crate) fn path_of(url: &Url) -> Result<Path, StoreError> {
    Path::from_url_path(url.path()).map_err(|e| StoreError::BadPath {
        url: url.to_string(),
        reason: e.to_string(),
    })
}
