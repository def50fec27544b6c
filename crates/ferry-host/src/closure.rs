//! Closures: a module, one of its functions, the environment captured for it
//! and named data blobs, with one deterministic binary encoding.
//!
//! # Encoding (format version 1)
//!
//! ```text
//! magic    8 bytes   "FERRYCLO"
//! version  u16 LE    1, or 2 when the closure refers to objects
//! mode     u8        0 = by value (module and blobs inside), 1 = by reference (hashes only)
//! body     MessagePack array [module hash, function, env, [[blob name, blob hash]...],
//!                             module bytes or nil, [blob bytes...]]
//!          version 2 adds one element: [[blob name, object reference]...]
//! id       32 bytes  SHA-256 of the by-reference body: the closure's id
//! ```
//!
//! Blobs are sorted by name and every field has one encoding, so the same
//! closure always gives the same bytes. A blob that is an object in a store
//! ([`ObjectRef`]) travels as its reference in both modes: its bytes never
//! pass through whoever ships the closure. The trailing id covers every field of
//! the by-reference body and the hashes inside it cover the module and blob
//! bytes, so any change to the bytes is detected on decoding.

use crate::store::Resolve;
use crate::{BlobStore, ContentHash, Error, Module, ObjectRef, ReadObject, Value};
use ferry_abi::batch::ColumnType;
use ferry_abi::{DynamicTypes, FunctionKind, FunctionRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"FERRYCLO";
const FORMAT_VERSION: u16 = 1;
/// The version of closures that refer to objects; the rest stay at 1, so
/// their bytes and ids are what they were before objects existed.
const OBJECTS_VERSION: u16 = 2;
const HEADER_LEN: usize = MAGIC.len() + 2 + 1;
const ID_LEN: usize = 32;

/// How a closure carries its code and data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Module and blob bytes inside: self-contained, runs anywhere.
    ByValue,
    /// Hashes only: small; the receiver resolves them from its store.
    ByReference,
}

/// A named piece of data shipped with a closure, read by the guest with
/// `ferry::blob(name)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    id: ContentHash,
    bytes: Arc<[u8]>,
}

impl Blob {
    /// Wraps bytes, hashing them.
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Blob {
        let bytes = bytes.into();
        Blob {
            id: ContentHash::of(&bytes),
            bytes,
        }
    }

    /// The blob's hash.
    pub fn id(&self) -> ContentHash {
        self.id
    }

    /// The blob's bytes.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// Bytes already checked against `id` (by the store, as it read them).
    pub(crate) fn verified(id: ContentHash, bytes: Vec<u8>) -> Blob {
        Blob {
            id,
            bytes: bytes.into(),
        }
    }

    /// A reference that does not keep the bytes alive: a cache of blobs
    /// that holds each one only while someone uses it.
    pub fn downgrade(&self) -> WeakBlob {
        WeakBlob {
            id: self.id,
            bytes: Arc::downgrade(&self.bytes),
        }
    }
}

/// A [`Blob`] held by others, if anyone still holds it.
#[derive(Clone, Debug)]
pub struct WeakBlob {
    id: ContentHash,
    bytes: std::sync::Weak<[u8]>,
}

impl WeakBlob {
    /// The blob, if anyone still holds it.
    pub fn upgrade(&self) -> Option<Blob> {
        self.bytes
            .upgrade()
            .map(|bytes| Blob { id: self.id, bytes })
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({:?}, {} bytes)", self.id, self.bytes.len())
    }
}

/// A function made into a value: module, function, captured environment and
/// data blobs. Cloning is cheap.
///
/// ```no_run
/// use ferry_host::{Closure, Encoding, Module};
///
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// let greet = Closure::new(&module, "greet")?.with_env(&"Hello")?;
/// let bytes = greet.to_bytes(Encoding::ByValue);
/// let back = Closure::from_bytes(&bytes, None)?;
/// assert_eq!(back.id(), greet.id());
/// # Ok::<(), ferry_host::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Closure {
    module: Module,
    function: Arc<str>,
    env: Value,
    /// Blobs in hand: the closure's own, and objects once read.
    blobs: Arc<BTreeMap<String, Blob>>,
    /// Blobs that are objects in stores, read or not.
    objects: Arc<BTreeMap<String, ObjectRef>>,
    /// For a function whose types are each closure's (a dynamic record):
    /// its record with the types the environment gives, or why it gives
    /// none.
    typed: Option<Result<Arc<FunctionRecord>, Arc<str>>>,
}

/// The body of the encoding; field order is the format.
#[derive(Serialize, Deserialize)]
struct Body {
    module: ContentHash,
    function: String,
    #[serde(with = "crate::as_binary")]
    env: Vec<u8>,
    blobs: Vec<(String, ContentHash)>,
    #[serde(with = "optional_bytes")]
    module_bytes: Option<Vec<u8>>,
    blob_bytes: Vec<BlobBytes>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    objects: Vec<(String, ObjectRef)>,
}

#[derive(Serialize, Deserialize)]
struct BlobBytes(#[serde(with = "crate::as_binary")] Vec<u8>);

impl Closure {
    /// A closure of `function` in `module` with no environment (nil) and no
    /// blobs. Fails if the module has no such function. Value functions run
    /// on executors; scalar and aggregate closures are SQL functions
    /// (`ferry-sql`).
    pub fn new(module: &Module, function: &str) -> Result<Closure, Error> {
        module.record(function)?;
        Ok(Closure {
            module: module.clone(),
            function: function.into(),
            env: Value::nil(),
            blobs: Arc::default(),
            objects: Arc::default(),
            typed: None,
        }
        .typed())
    }

    /// The record of the closure's function: its kind and signature, with
    /// the types its environment gives if the function is dynamic.
    pub fn record(&self) -> &FunctionRecord {
        match &self.typed {
            Some(Ok(record)) => record,
            _ => self.module_record(),
        }
    }

    fn module_record(&self) -> &FunctionRecord {
        self.module
            .record(&self.function)
            .expect("a closure's function was checked when it was made")
    }

    /// The record of the closure's function, which must be of `kind`, with
    /// its types: a dynamic function's from the environment, which must
    /// give them.
    pub fn function_record(&self, kind: FunctionKind) -> Result<&FunctionRecord, Error> {
        let record = self.module.function(&self.function, kind)?;
        match &self.typed {
            None => Ok(record),
            Some(Ok(typed)) => {
                crate::module::check_signature(typed, kind)?;
                Ok(typed)
            }
            Some(Err(reason)) => Err(Error::Signature {
                function: self.function.to_string(),
                reason: reason.to_string(),
            }),
        }
    }

    /// Reads a dynamic function's types from the environment.
    fn typed(mut self) -> Closure {
        let record = self.module_record();
        if !record.dynamic {
            return self;
        }
        let typed = self
            .env
            .decode::<DynamicTypes>()
            .map_err(|e| {
                format!(
                    "its types are each closure's, and this closure's environment gives none \
                     (a map with `args`, column type names, and `returns`): {e}"
                )
            })
            .and_then(|types| {
                let unknown = types
                    .args
                    .iter()
                    .chain([&types.returns])
                    .find(|name| ColumnType::from_name(name).is_none())
                    .cloned();
                match unknown {
                    Some(unknown) => Err(format!(
                        "its environment names `{unknown}`, which is not a column type"
                    )),
                    None => Ok(Arc::new(record.with_types(types))),
                }
            });
        self.typed = Some(typed.map_err(Arc::from));
        self
    }

    /// Captures `env` as the function's environment.
    pub fn with_env<T: Serialize + ?Sized>(self, env: &T) -> Result<Closure, Error> {
        Ok(self.with_env_value(Value::encode(env)?))
    }

    /// Captures an already encoded environment.
    pub fn with_env_value(mut self, env: Value) -> Closure {
        self.env = env;
        self.typed()
    }

    /// Attaches a data blob under `name`, replacing any blob of that name.
    pub fn with_blob(mut self, name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Closure {
        let name = name.into();
        if self.objects.contains_key(&name) {
            Arc::make_mut(&mut self.objects).remove(&name);
        }
        Arc::make_mut(&mut self.blobs).insert(name, Blob::new(bytes));
        self
    }

    /// Attaches the object `object` as the blob `name`, replacing any blob
    /// of that name. Only the reference travels with the closure; the
    /// bytes are read where it runs (see [`ReadObject`]).
    ///
    /// ```no_run
    /// use ferry_host::{Closure, Module, ObjectRef};
    ///
    /// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
    /// let count = Closure::new(&module, "count_lines")?
    ///     .with_object("chunk", ObjectRef::new("s3://events/run-1.jsonl").range(0, 1 << 20).whole_lines());
    /// assert!(count.unread_object().is_some());
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn with_object(mut self, name: impl Into<String>, object: ObjectRef) -> Closure {
        let name = name.into();
        if self.blobs.contains_key(&name) {
            Arc::make_mut(&mut self.blobs).remove(&name);
        }
        Arc::make_mut(&mut self.objects).insert(name, object);
        self
    }

    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The function's name.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The captured environment.
    pub fn env(&self) -> &Value {
        &self.env
    }

    /// The data blobs in hand, by name: the closure's own, and its objects
    /// once read.
    pub fn blobs(&self) -> &Arc<BTreeMap<String, Blob>> {
        &self.blobs
    }

    /// The blobs that are objects in stores, by name.
    pub fn objects(&self) -> &Arc<BTreeMap<String, ObjectRef>> {
        &self.objects
    }

    /// The blobs that travel with the closure by hash: all but its objects.
    pub fn carried_blobs(&self) -> impl Iterator<Item = (&String, &Blob)> {
        self.blobs
            .iter()
            .filter(|(name, _)| !self.objects.contains_key(*name))
    }

    /// An object not read yet, with its name: the closure cannot run
    /// until [`read_objects`](Closure::read_objects) has read it.
    pub fn unread_object(&self) -> Option<(&str, &ObjectRef)> {
        self.unread_objects().next()
    }

    /// The objects not read yet, with their names.
    pub fn unread_objects(&self) -> impl Iterator<Item = (&str, &ObjectRef)> {
        self.objects
            .iter()
            .filter(|(name, _)| !self.blobs.contains_key(*name))
            .map(|(name, object)| (name.as_str(), object))
    }

    /// The closure with every object read by `reader`.
    pub fn read_objects(&self, reader: &dyn ReadObject) -> Result<Closure, Error> {
        let mut closure = self.clone();
        for (name, object) in self.unread_objects() {
            let blob = reader.read(object)?;
            Arc::make_mut(&mut closure.blobs).insert(name.to_owned(), blob);
        }
        Ok(closure)
    }

    /// Fails, naming the object, if the closure has one not read yet.
    pub(crate) fn check_objects_read(&self) -> Result<(), Error> {
        match self.unread_object() {
            None => Ok(()),
            Some((name, object)) => Err(Error::ObjectNotRead {
                name: name.to_owned(),
                url: object.to_string(),
            }),
        }
    }

    /// The closure's id: the SHA-256 of its by-reference encoding, so the same
    /// closure has the same id however it travels.
    pub fn id(&self) -> ContentHash {
        ContentHash::of(&self.body(Encoding::ByReference))
    }

    fn body(&self, encoding: Encoding) -> Vec<u8> {
        let by_value = encoding == Encoding::ByValue;
        let body = Body {
            module: self.module.id(),
            function: self.function.to_string(),
            env: self.env.as_bytes().to_vec(),
            blobs: self
                .carried_blobs()
                .map(|(name, blob)| (name.clone(), blob.id))
                .collect(),
            module_bytes: by_value.then(|| self.module.bytes().to_vec()),
            blob_bytes: if by_value {
                self.carried_blobs()
                    .map(|(_, b)| BlobBytes(b.bytes.to_vec()))
                    .collect()
            } else {
                Vec::new()
            },
            objects: self
                .objects
                .iter()
                .map(|(name, object)| (name.clone(), object.clone()))
                .collect(),
        };
        rmp_serde::to_vec(&body).expect("closure bodies always serialize")
    }

    /// Encodes the closure. The same closure always gives the same bytes.
    pub fn to_bytes(&self, encoding: Encoding) -> Vec<u8> {
        let body = self.body(encoding);
        let id = match encoding {
            Encoding::ByReference => ContentHash::of(&body),
            Encoding::ByValue => self.id(),
        };
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + ID_LEN);
        out.extend_from_slice(MAGIC);
        let version = if self.objects.is_empty() {
            FORMAT_VERSION
        } else {
            OBJECTS_VERSION
        };
        out.extend_from_slice(&version.to_le_bytes());
        out.push(match encoding {
            Encoding::ByValue => 0,
            Encoding::ByReference => 1,
        });
        out.extend_from_slice(&body);
        out.extend_from_slice(id.as_bytes());
        out
    }

    /// Decodes and verifies a closure. A by-reference closure is resolved from
    /// `store`; a by-value one needs none.
    pub fn from_bytes(bytes: &[u8], store: Option<&BlobStore>) -> Result<Closure, Error> {
        Self::from_bytes_with(bytes, store.map(|store| store as &dyn Resolve))
    }

    /// Like [`Closure::from_bytes`], resolving references with any
    /// [`Resolve`]r (a cache in front of a store, say).
    pub fn from_bytes_with(bytes: &[u8], resolver: Option<&dyn Resolve>) -> Result<Closure, Error> {
        let corrupt = |reason: String| Error::CorruptClosure { reason };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::NotAClosure);
        }
        if bytes.len() < HEADER_LEN + ID_LEN {
            return Err(corrupt(format!(
                "only {} bytes, too short for a closure",
                bytes.len()
            )));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION && version != OBJECTS_VERSION {
            return Err(Error::ClosureVersion {
                found: version,
                supported: OBJECTS_VERSION,
            });
        }
        let encoding = match bytes[10] {
            0 => Encoding::ByValue,
            1 => Encoding::ByReference,
            other => return Err(corrupt(format!("unknown encoding mode {other}"))),
        };
        let (body_bytes, id) = bytes[HEADER_LEN..].split_at(bytes.len() - HEADER_LEN - ID_LEN);
        let mut reader = body_bytes;
        let body: Body = rmp_serde::from_read(&mut reader).map_err(|e| corrupt(e.to_string()))?;
        if !reader.is_empty() {
            return Err(corrupt(format!(
                "{} stray bytes after the body",
                reader.len()
            )));
        }
        if (encoding == Encoding::ByValue) != body.module_bytes.is_some()
            || (encoding == Encoding::ByValue && body.blob_bytes.len() != body.blobs.len())
            || (encoding == Encoding::ByReference && !body.blob_bytes.is_empty())
        {
            return Err(corrupt("the body does not match its encoding mode".into()));
        }
        if (version == OBJECTS_VERSION) == body.objects.is_empty() {
            return Err(corrupt(format!(
                "a version {version} closure with {} objects",
                body.objects.len()
            )));
        }
        crate::msgpack::check(&body.env)
            .map_err(|reason| corrupt(format!("the environment {reason}")))?;

        let module = match body.module_bytes {
            Some(module_bytes) => Module::from_bytes_verified(module_bytes, &body.module)?,
            None => need(resolver, "module", &body.module)?.module(&body.module)?,
        };
        let mut blob_bytes = body.blob_bytes.into_iter();
        let mut blobs = BTreeMap::new();
        // One blob under several names is read and held once.
        let mut read: std::collections::HashMap<ContentHash, Blob> = Default::default();
        for (name, hash) in body.blobs {
            let blob = match (blob_bytes.next(), read.get(&hash)) {
                (Some(BlobBytes(bytes)), _) => Blob::new(bytes),
                (None, Some(same)) => same.clone(),
                (None, None) => need(resolver, "blob", &hash)?.blob(&hash)?,
            };
            if blob.id != hash {
                return Err(Error::HashMismatch {
                    what: "blob",
                    expected: hash,
                    actual: blob.id,
                });
            }
            read.insert(hash, blob.clone());
            blobs.insert(name, blob);
        }
        let mut objects = BTreeMap::new();
        for (name, object) in body.objects {
            if blobs.contains_key(&name) {
                return Err(corrupt(format!("two blobs are named `{name}`")));
            }
            if let Some(blob) = resolver.and_then(|resolver| resolver.object(&object)) {
                blobs.insert(name.clone(), object.check_read(blob)?);
            }
            objects.insert(name, object);
        }
        module.record(&body.function)?;
        let closure = Closure {
            module,
            function: body.function.into(),
            env: Value::from_msgpack(body.env),
            blobs: Arc::new(blobs),
            objects: Arc::new(objects),
            typed: None,
        }
        .typed();
        let actual = closure.id();
        if actual.as_bytes() != id {
            return Err(corrupt(format!(
                "the closure's contents hash to {actual}, not to the id it carries"
            )));
        }
        Ok(closure)
    }
}

// Here rather than in `store.rs`, so that closures depend on the store and
// not the other way round.
impl BlobStore {
    /// Stores a closure's module and data blobs, so that its by-reference
    /// encoding can be resolved from this store.
    pub fn add_closure(&self, closure: &Closure) -> Result<(), Error> {
        self.put(closure.module().bytes())?;
        for (_, blob) in closure.carried_blobs() {
            self.put(blob.bytes())?;
        }
        Ok(())
    }
}

fn need<'a>(
    resolver: Option<&'a dyn Resolve>,
    what: &'static str,
    hash: &ContentHash,
) -> Result<&'a dyn Resolve, Error> {
    resolver.ok_or(Error::NoStore { what, hash: *hash })
}

/// `Option<Vec<u8>>` as nil or one MessagePack binary.
mod optional_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => s.serialize_bytes(bytes),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "crate::as_binary")] Vec<u8>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(bytes)| bytes))
    }
}
