//! Results kept in a store: each written to an object of its own under a
//! prefix the job names, referred to by URL and hash, and deleted once
//! read or no longer needed.

use crate::{Stores, explain};
use ferry_host::{ContentHash, Error, ObjectRef, Value};
use object_store::{ObjectStoreExt, PutPayload};

/// A new object's URL under `prefix` (a URL, taken as a directory), named
/// at random: equal results of two tasks are two objects, and a task run
/// again writes its own object again.
pub fn name_under(prefix: &str) -> Result<String, Error> {
    let mut name = [0u8; 16];
    getrandom::fill(&mut name)
        .map_err(|e| Error::Engine(format!("no randomness to name a result: {e}")))?;
    let slash = if prefix.ends_with('/') { "" } else { "/" };
    Ok(format!("{prefix}{slash}{}.msgpack", hex::encode(name)))
}

impl Stores {
    /// Writes `value` to the object at `url`; returns the value that refers
    /// to it ([`Value::stored`]).
    pub async fn put_value(&self, url: &str, value: &Value) -> Result<Value, Error> {
        let failed = crate::failed(url);
        let (store, path) = self.locate(url).map_err(|e| failed(e.to_string()))?;
        store
            .put(&path, PutPayload::from(value.as_bytes().to_vec()))
            .await
            .map_err(|e| failed(explain(&e)))?;
        let object = ObjectRef::new(url).hash(ContentHash::of(value.as_bytes()));
        Ok(Value::stored(&object))
    }

    /// Deletes the object at `url`, if there is one.
    pub async fn delete(&self, url: &str) -> Result<(), Error> {
        let failed = crate::failed(url);
        let (store, path) = self.locate(url).map_err(|e| failed(e.to_string()))?;
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(failed(explain(&e))),
        }
    }
}
