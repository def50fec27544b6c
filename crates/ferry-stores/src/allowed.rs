//! Stores a server uses on behalf of the closures it runs: only under the
//! prefixes its operator allows. A closure comes from a client, but the
//! server reads with its own credentials; without this, any client could
//! read whatever those credentials reach.

use crate::Stores;
use ferry_host::{Blob, Error, ObjectRef, ReadObject, Value};

/// [`Stores`] limited to objects under some URL prefixes.
///
/// ```
/// use ferry_host::{ObjectRef, ReadObject};
/// use ferry_stores::Allowed;
///
/// let allowed = Allowed::new(&["file:///srv/lookups".into()], 1 << 30, "ferry worker --objects");
/// let refused = allowed.read(&ObjectRef::new("file:///etc/passwd")).unwrap_err();
/// assert!(refused.to_string().contains("only under file:///srv/lookups/"));
/// ```
pub struct Allowed {
    stores: Stores,
    /// URL prefixes, each ending in `/`.
    prefixes: Vec<String>,
    /// The command line option that allows more, for the error without any.
    option: &'static str,
}

impl Allowed {
    /// Objects under `prefixes` (`s3://bucket/prefix/`, `file:///dir/`), at
    /// most `max_object` bytes each; `option` is how an operator allows
    /// more, named in the error when nothing is allowed.
    pub fn new(prefixes: &[String], max_object: u64, option: &'static str) -> Allowed {
        Allowed {
            stores: Stores::with_limit(max_object),
            prefixes: prefixes
                .iter()
                .map(|prefix| match prefix.ends_with('/') {
                    true => prefix.clone(),
                    false => format!("{prefix}/"),
                })
                .collect(),
            option,
        }
    }

    /// Fails unless `url` is under an allowed prefix (after `..` and the
    /// like are resolved).
    pub fn check(&self, url: &str) -> Result<(), Error> {
        let normal = url::Url::parse(url).map(String::from).ok();
        match normal.filter(|url| self.prefixes.iter().any(|p| url.starts_with(p))) {
            Some(_) => Ok(()),
            None if self.prefixes.is_empty() => Err(Error::Object {
                url: url.to_owned(),
                reason: format!(
                    "this server reads and writes no objects (its operator allows them with `{} URL,...`)",
                    self.option
                ),
            }),
            None => Err(Error::Object {
                url: url.to_owned(),
                reason: format!(
                    "this server reads and writes objects only under {}",
                    self.prefixes.join(", ")
                ),
            }),
        }
    }

    /// Writes a value to the object at `url`, if it may.
    pub async fn put_value(&self, url: &str, value: &Value) -> Result<Value, Error> {
        self.check(url)?;
        self.stores.put_value(url, value).await
    }
}

impl ReadObject for Allowed {
    fn read(&self, object: &ObjectRef) -> Result<Blob, Error> {
        self.check(&object.url)?;
        self.stores.read(object)
    }
}
