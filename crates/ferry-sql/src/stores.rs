//! Object stores by URL, `file://` and `s3://`, registered with a session so
//! that its tables can live where the data does: a query reads them from
//! the store, not through the client.
//!
//! An `s3://BUCKET/...` store takes its endpoint, region and credentials
//! from the environment, as the AWS tools do (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and
//! `AWS_ALLOW_HTTP=true` for an endpoint without TLS); they never travel in
//! a closure or a plan.
//!
//! ```
//! use datafusion::prelude::SessionContext;
//!
//! let ctx = SessionContext::new();
//! let (url, _store) = ferry_sql::stores::register(&ctx, "file:///tmp/")?;
//! assert_eq!(url.scheme(), "file");
//! assert!(ferry_sql::stores::register(&ctx, "ftp://example.com/x").is_err());
//! # Ok::<(), ferry_sql::stores::StoreError>(())
//! ```

use datafusion::prelude::SessionContext;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
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

/// Registers the store `location` is in with `ctx`, so that tables under
/// it can be read; returns the URL and the store.
pub fn register(
    ctx: &SessionContext,
    location: &str,
) -> Result<(Url, Arc<dyn ObjectStore>), StoreError> {
    let (url, store) = open(location)?;
    ctx.register_object_store(&url, store.clone());
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

/// A store's error in one line. S3 answers in XML over several lines, and
/// `object_store` repeats the answer down its chain of causes; this keeps
/// the status, the code and the message, and says what to check.
pub fn explain(error: &object_store::Error) -> String {
    let text = error.to_string();
    let tag = |name: &str| {
        let (open, close) = (format!("<{name}>"), format!("</{name}>"));
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&close)?;
        Some(&text[start..end])
    };
    let status = text
        .split("status code: ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .map_or(String::new(), |status| format!("{}, ", status.trim()));
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => {
            let hint = match code {
                "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied" => {
                    "; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                }
                _ => "",
            };
            format!("the store answered {status}{code}: {message}{hint}")
        }
        _ => text.lines().next().unwrap_or_default().to_owned(),
    }
}
