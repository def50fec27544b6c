//! Modules: WebAssembly bytes, named by their SHA-256, with the functions
//! their `ferry.functions` section lists.

use crate::{ContentHash, Error};
use ferry_abi::{ABI_VERSION, FUNCTIONS_SECTION, FunctionKind, FunctionRecord};
use std::path::Path;
use std::sync::Arc;

/// A ferry module: its bytes, their hash, and its function records, read from
/// the custom section without running any of its code.
///
/// Cloning is cheap; the bytes are shared.
///
/// ```no_run
/// use ferry_host::Module;
///
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// println!("{}", module.id());
/// for f in module.functions() {
///     println!("{}({}) -> {}", f.name, f.input, f.output);
/// }
/// # Ok::<(), ferry_host::Error>(())
/// ```
#[derive(Clone)]
pub struct Module {
    id: ContentHash,
    bytes: Arc<[u8]>,
    functions: Arc<[FunctionRecord]>,
    producers: Arc<[String]>,
}

impl Module {
    /// Reads a module from bytes, hashing them and checking that they are a
    /// WebAssembly module with ferry functions of this ABI version.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Result<Module, Error> {
        let bytes = bytes.into();
        let id = ContentHash::of(&bytes);
        Self::parse(id, bytes)
    }

    /// Like [`Module::from_bytes`], but refuses bytes whose hash is not
    /// `expected`: for bytes that arrive under a name.
    pub fn from_bytes_verified(
        bytes: impl Into<Arc<[u8]>>,
        expected: &ContentHash,
    ) -> Result<Module, Error> {
        let bytes = bytes.into();
        let actual = ContentHash::of(&bytes);
        if actual != *expected {
            return Err(Error::HashMismatch {
                what: "module",
                expected: *expected,
                actual,
            });
        }
        Self::parse(actual, bytes)
    }

    /// Reads a `.wasm` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Module, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(Error::io("cannot read module", path))?;
        Self::from_bytes(bytes)
    }

    fn parse(id: ContentHash, bytes: Arc<[u8]>) -> Result<Module, Error> {
        let Sections {
            functions,
            producers,
        } = read_sections(&bytes)?;
        if let Some(foreign) = functions.iter().find(|f| f.abi != ABI_VERSION) {
            return Err(Error::AbiMismatch {
                function: foreign.name.clone(),
                found: foreign.abi,
                supported: ABI_VERSION,
            });
        }
        Ok(Module {
            id,
            bytes,
            functions: functions.into(),
            producers: producers.into(),
        })
    }

    /// The module's name: the SHA-256 of its bytes.
    pub fn id(&self) -> ContentHash {
        self.id
    }

    /// The WebAssembly bytes.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    /// The functions the module offers, in section order.
    pub fn functions(&self) -> &[FunctionRecord] {
        &self.functions
    }

    /// The tools that processed the module, as its `producers` section
    /// names them (`rustc 1.95.0 (59807616e 2026-04-14)`): with the source,
    /// what it takes to build the same bytes again. Empty if the section
    /// is missing or unreadable; nothing depends on it.
    pub fn producers(&self) -> &[String] {
        &self.producers
    }

    /// The record of function `name`, of a kind this host can call; an
    /// unknown name gets an error listing the functions there are.
    pub fn record(&self, name: &str) -> Result<&FunctionRecord, Error> {
        let record = self
            .functions
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| Error::UnknownFunction {
                module: self.id,
                function: name.to_owned(),
                available: self
                    .functions
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if record.kind == FunctionKind::Unknown {
            return Err(Error::Signature {
                function: name.to_owned(),
                reason: "it is of a kind this version of ferry does not know".into(),
            });
        }
        Ok(record)
    }

    /// The record of function `name`, which must be of `kind`.
    pub fn function(&self, name: &str, kind: FunctionKind) -> Result<&FunctionRecord, Error> {
        let record = self.record(name)?;
        check_signature(record, kind)?;
        Ok(record)
    }
}

/// Whether `record` is of `kind` and can be called so. A dynamic record's
/// types are each closure's, and checked on the closure's record.
pub(crate) fn check_signature(record: &FunctionRecord, kind: FunctionKind) -> Result<(), Error> {
    let signature = |reason: String| Error::Signature {
        function: record.name.clone(),
        reason,
    };
    if record.kind != kind {
        return Err(signature(format!(
            "it is {} function, not {} function",
            kind_name(record.kind),
            kind_name(kind)
        )));
    }
    // Its argument columns are what tell an aggregate how many rows a
    // batch has (docs/abi.md, section 9).
    if kind == FunctionKind::Aggregate && record.args.is_empty() && !record.dynamic {
        return Err(signature(
            "an aggregate takes at least one argument column".into(),
        ));
    }
    Ok(())
}

fn kind_name(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Value => "a value",
        FunctionKind::Scalar => "a scalar (SQL)",
        FunctionKind::Aggregate => "an aggregate (SQL)",
        FunctionKind::Unknown => "an unknown",
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("id", &self.id)
            .field("size", &self.bytes.len())
            .field("functions", &self.functions.len())
            .finish()
    }
}

/// What the module's custom sections say.
struct Sections {
    functions: Vec<FunctionRecord>,
    producers: Vec<String>,
}

/// Walks the module's sections (without validating function bodies, which the
/// compiler does), parses every `ferry.functions` section, and reads the
/// tools the `producers` section names.
fn read_sections(bytes: &[u8]) -> Result<Sections, Error> {
    let malformed = |e: wasmparser::BinaryReaderError| Error::MalformedModule {
        reason: crate::one_line(&e.to_string()),
    };
    let mut section = Vec::new();
    let mut found = false;
    let mut producers = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            wasmparser::Payload::Version { encoding, .. }
                if encoding != wasmparser::Encoding::Module =>
            {
                return Err(Error::MalformedModule {
                    reason: "this is a component; ferry runs core modules (wasm32-wasip1)".into(),
                });
            }
            wasmparser::Payload::CustomSection(custom) if custom.name() == FUNCTIONS_SECTION => {
                found = true;
                section.extend_from_slice(custom.data());
            }
            wasmparser::Payload::CustomSection(custom) => {
                if let wasmparser::KnownCustom::Producers(reader) = custom.as_known() {
                    producers = processed_by(reader);
                }
            }
            _ => {}
        }
    }
    if !found {
        return Err(Error::NotAFerryModule);
    }
    Ok(Sections {
        functions: ferry_abi::parse_records(&section)?,
        producers,
    })
}

/// The `processed-by` tools of a producers section, as `name version`.
fn processed_by(reader: wasmparser::ProducersSectionReader<'_>) -> Vec<String> {
    reader
        .into_iter()
        .flatten()
        .filter(|field| field.name == "processed-by")
        .flat_map(|field| field.values.into_iter().flatten())
        .map(|tool| format!("{} {}", tool.name, tool.version))
        .collect()
}
