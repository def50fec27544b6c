//! Values kept in object stores: a large result left where a worker put
//! it, handed on by reference (to the reduce step that needs it, say) and
//! read only where it is used. Such a value is a MessagePack extension of
//! type [`STORED_EXT`] holding an [`ObjectRef`] with the value's hash; only
//! hosts make them (a guest's result holding one is refused).

use crate::{Error, ObjectRef, ReadObject, Value};

/// The MessagePack extension type of a value kept in a store.
pub const STORED_EXT: i8 = 70;

impl Value {
    /// The value whose MessagePack bytes are the object `object` (which
    /// should carry their hash).
    ///
    /// ```
    /// use ferry_host::{ContentHash, ObjectRef, Value};
    ///
    /// let big = Value::encode(&vec![7u8; 100])?;
    /// let object = ObjectRef::new("s3://tmp/r1").hash(ContentHash::of(big.as_bytes()));
    /// let stored = Value::stored(&object);
    /// assert_eq!(stored.stored_object(), Some(object));
    /// assert!(stored.decode::<Vec<u8>>().unwrap_err().to_string().contains("s3://tmp/r1"));
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn stored(object: &ObjectRef) -> Value {
        let data = rmp_serde::to_vec(object).expect("object references serialize");
        let mut bytes = Vec::with_capacity(data.len() + 6);
        bytes.push(0xc9);
        bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
        bytes.push(STORED_EXT as u8);
        bytes.extend_from_slice(&data);
        Value::from_msgpack(bytes)
    }

    /// The object this value is kept in, if it is kept in one.
    pub fn stored_object(&self) -> Option<ObjectRef> {
        let bytes = self.as_bytes();
        let data = bytes.strip_prefix(&[0xc9])?;
        let (len, rest) = data.split_first_chunk::<4>()?;
        let (&kind, data) = rest.split_first()?;
        (kind as i8 == STORED_EXT && data.len() == u32::from_be_bytes(*len) as usize)
            .then(|| rmp_serde::from_slice(data).ok())
            .flatten()
    }

    /// The objects this value refers to where hosts read them: the value
    /// itself, or the elements of an array of at most 15 (the pair a
    /// reducer is given, say).
    pub fn stored_objects(&self) -> Vec<ObjectRef> {
        // Asked of every input a worker runs: most hold no extension at
        // all, and a scan for its marker spares splitting and copying them.
        if !self.as_bytes().contains(&0xc9) {
            return Vec::new();
        }
        if let Some(object) = self.stored_object() {
            return vec![object];
        }
        self.short_array_items()
            .into_iter()
            .filter_map(|item| item.stored_object())
            .collect()
    }

    fn short_array_items(&self) -> Vec<Value> {
        let bytes = self.as_bytes();
        if !matches!(bytes.first(), Some(0x91..=0x9f)) {
            return Vec::new();
        }
        crate::msgpack::array_items(bytes)
            .unwrap_or_default()
            .into_iter()
            .map(|range| Value::from_msgpack(bytes[range].to_vec()))
            .collect()
    }

    /// The value with what is kept in stores read by `reader`: the value
    /// itself, or the elements of an array; anything else as it is.
    pub fn read_stored(&self, reader: &dyn ReadObject) -> Result<Value, Error> {
        let read = |object: &ObjectRef| -> Result<Value, Error> {
            let blob = reader.read(object)?;
            let value = Value::from_msgpack(blob.bytes().to_vec());
            value.check().map_err(|e| Error::Object {
                url: object.to_string(),
                reason: e.to_string(),
            })?;
            Ok(value)
        };
        if let Some(object) = self.stored_object() {
            return read(&object);
        }
        if self.stored_objects().is_empty() {
            return Ok(self.clone());
        }
        let items = self
            .short_array_items()
            .into_iter()
            .map(|item| match item.stored_object() {
                Some(object) => read(&object),
                None => Ok(item),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Value::array(&items))
    }
}
