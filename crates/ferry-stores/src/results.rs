//! Results kept in a store: written under a prefix the job names, each
//! under a name of its own, referred to by URL and hash, and deleted once
//! read or no longer needed.

use crate::open::path_of;
use crate::{Stores, explain};
use ferry_host::{ContentHash, Error, ObjectRef, Value};
use object_store::{ObjectStoreExt, PutPayload};

impl Stores {
    /// Writes `value` under `prefix` (a URL, taken as a directory), named at
    /// random so that equal results of two tasks are two objects; returns
    /// the value that refers to it ([`Value::stored`]).
    pub async fn put_value(&self, prefix: &str, value: &Value) -> Result<Value, Error> {
        let mut name = [0u8; 16];
        getrandom::fill(&mut name)
            .map_err(|e| Error::Engine(format!("no randomness to name a result: {e}")))?;
        let slash = if prefix.ends_with('/') { "" } else { "/" };
        let url = format!("{prefix}{slash}{}.msgpack", hex::encode(name));
        let failed = |reason: String| Error::Object {
            url: url.clone(),
            reason,
        };
        let (parsed, store) = self.store(&url).map_err(|e| failed(e.to_string()))?;
        let path = path_of(&parsed).map_err(|e| failed(e.to_string()))?;
        store
            .put(&path, PutPayload::from(value.as_bytes().to_vec()))
            .await
            .map_err(|e| failed(explain(&e)))?;
        let object = ObjectRef::new(url).hash(ContentHash::of(value.as_bytes()));
        Ok(Value::stored(&object))
    }

    /// Deletes the object `object` names.
    pub async fn delete(&self, object: &ObjectRef) -> Result<(), Error> {
        let failed = |reason: String| Error::Object {
            url: object.url.clone(),
            reason,
        };
        let (url, store) = self.store(&object.url).map_err(|e| failed(e.to_string()))?;
        let path = path_of(&url).map_err(|e| failed(e.to_string()))?;
        store.delete(&path).await.map_err(|e| failed(explain(&e)))
    }
}
