//! Values as they cross the guest boundary: MessagePack bytes.

use crate::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One MessagePack-encoded value: an environment, an input or a result.
///
/// Structs are encoded as maps with their field names, which is what the
/// guest SDK expects and what makes results readable as JSON.
///
/// ```
/// use ferry_host::Value;
///
/// let v = Value::encode(&(2, "two"))?;
/// assert_eq!(v.decode::<(i32, String)>()?, (2, "two".to_string()));
/// assert_eq!(v.to_json()?, serde_json::json!([2, "two"]));
/// assert_eq!(Value::from_json(&serde_json::json!([2, "two"]))?, v);
/// assert_eq!(Value::array(&[Value::encode(&2)?, Value::encode("two")?]), v);
/// # Ok::<(), ferry_host::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Value(Vec<u8>);

impl Value {
    /// MessagePack `nil`: the input of a function without parameters.
    pub fn nil() -> Value {
        Value(vec![0xc0])
    }

    /// A MessagePack array of already encoded values, built without
    /// decoding them.
    pub fn array(items: &[Value]) -> Value {
        let len = items.len();
        let mut bytes = Vec::with_capacity(5 + items.iter().map(|v| v.0.len()).sum::<usize>());
        if len < 16 {
            bytes.push(0x90 | len as u8);
        } else if let Ok(len) = u16::try_from(len) {
            bytes.push(0xdc);
            bytes.extend_from_slice(&len.to_be_bytes());
        } else {
            bytes.push(0xdd);
            bytes.extend_from_slice(&(len as u32).to_be_bytes());
        }
        for item in items {
            bytes.extend_from_slice(&item.0);
        }
        Value(bytes)
    }

    /// Encodes any serde value.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
        rmp_serde::to_vec_named(value)
            .map(Value)
            .map_err(|e| Error::Encode {
                what: "value",
                reason: e.to_string(),
            })
    }

    /// Decodes into any serde type. Bytes that are not exactly one
    /// well-formed MessagePack value are refused, trailing bytes included.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.check()?;
        if let Some(object) = self.stored_object() {
            return Err(Error::Decode {
                what: "value",
                reason: format!(
                    "it is kept in a store at {object}: read it first (Executor::take_stored)"
                ),
            });
        }
        rmp_serde::from_slice(&self.0).map_err(|e| Error::Decode {
            what: "value",
            reason: format!("expected `{}`: {e}", std::any::type_name::<T>()),
        })
    }

    /// Wraps bytes that are already MessagePack. They are not checked here:
    /// a guest reports an input it cannot decode, and [`Value::decode`] and
    /// [`Value::to_json`] check before they read.
    pub fn from_msgpack(bytes: Vec<u8>) -> Value {
        Value(bytes)
    }

    /// Checks that the bytes are exactly one well-formed MessagePack value:
    /// no reserved byte `0xc1`, no string that is not UTF-8, nothing cut
    /// short, nothing after its end, arrays and maps nested at most 512
    /// deep.
    ///
    /// ```
    /// use ferry_host::Value;
    ///
    /// assert!(Value::from_msgpack(vec![0x01]).check().is_ok());
    /// let err = Value::from_msgpack(vec![0x01, 0x02, 0x03]).check().unwrap_err();
    /// assert_eq!(err.to_string(), "cannot decode the value: it has 2 bytes after its end at byte 1");
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        crate::msgpack::check(&self.0).map_err(|reason| Error::Decode {
            what: "value",
            reason: format!("it {reason}"),
        })
    }

    /// The MessagePack bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The MessagePack bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Converts JSON: numbers become integers where they are integral, else
    /// floats.
    pub fn from_json(json: &serde_json::Value) -> Result<Value, Error> {
        Self::encode(json)
    }

    /// Converts to JSON for people and tools. MessagePack binaries become
    /// arrays of numbers, map keys that are not strings become their JSON
    /// text, and extension values become `{"ext": type, "data": [...]}`; a
    /// value kept in a store is `{"stored": URL, "sha256": HASH}`.
    pub fn to_json(&self) -> Result<serde_json::Value, Error> {
        self.check()?;
        if let Some(object) = self.stored_object() {
            return Ok(serde_json::json!({
                "stored": object.url,
                "sha256": object.hash.map(|hash| hash.to_string()),
            }));
        }
        let value =
            rmpv::decode::read_value(&mut self.0.as_slice()).map_err(|e| Error::Decode {
                what: "value",
                reason: e.to_string(),
            })?;
        Ok(msgpack_to_json(value))
    }
}

fn msgpack_to_json(value: rmpv::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match value {
        rmpv::Value::Nil => Json::Null,
        rmpv::Value::Boolean(b) => Json::Bool(b),
        rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(n), _) => Json::from(n),
            (None, Some(n)) => Json::from(n),
            (None, None) => Json::Null,
        },
        rmpv::Value::F32(f) => {
            serde_json::Number::from_f64(f64::from(f)).map_or(Json::Null, Json::Number)
        }
        rmpv::Value::F64(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        rmpv::Value::String(s) => match s.into_str() {
            Some(s) => Json::String(s),
            None => Json::Null,
        },
        rmpv::Value::Binary(bytes) => Json::from(bytes),
        rmpv::Value::Array(items) => Json::Array(items.into_iter().map(msgpack_to_json).collect()),
        rmpv::Value::Map(entries) => Json::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match msgpack_to_json(k) {
                        Json::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, msgpack_to_json(v))
                })
                .collect(),
        ),
        rmpv::Value::Ext(kind, data) => serde_json::json!({ "ext": kind, "data": data }),
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_json() {
            Ok(json) => write!(f, "Value({json})"),
            Err(_) => write!(f, "Value(<{} undecodable bytes>)", self.0.len()),
        }
    }
}

/// What a call produced: its value and what the guest printed.
#[derive(Clone, Debug, PartialEq)]
pub struct Output<T = Value> {
    /// The result.
    pub value: T,
    /// What the guest wrote to stdout (bounded by the sandbox's limit).
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr (bounded by the sandbox's limit).
    pub stderr: Vec<u8>,
}

impl<T> Output<T> {
    /// The same output with its value passed through `f`.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Output<U>, E> {
        Ok(Output {
            value: f(self.value)?,
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }
}

impl Output<Value> {
    /// Decodes the value, keeping the captured output.
    pub fn decode<T: DeserializeOwned>(self) -> Result<Output<T>, Error> {
        self.try_map(|value| value.decode())
    }
}
