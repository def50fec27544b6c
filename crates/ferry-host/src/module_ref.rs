//! Module references: the one way a user names code to ferry, on the command
//! line (`ferry call guest.wasm add`) and in SQL (`CREATE FUNCTION f AS
//! 'guest.wasm'`): a `.wasm` file, guest source (a crate directory, C, Zig,
//! Go or AssemblyScript files), a closure file written by `ferry pickle`, or
//! `sha256:<hash>` of a module or closure in the store.

use crate::{BlobStore, Closure, ContentHash, Error, Module, ParseHashError};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What a reference may be, as its errors tell the user.
struct Accepted;

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a module is named by a .wasm file, guest source ({}), a closure file from \
             `ferry pickle`, or sha256:<hash> from the store",
            ferry_build::ACCEPTED_SOURCES
        )
    }
}

/// Code a user named, found but not yet loaded.
///
/// Paths are taken as written, relative ones against the current directory.
///
/// ```no_run
/// use ferry_host::{BlobStore, FromSource, ModuleRef};
///
/// let store = BlobStore::open_default()?;
/// let reference: ModuleRef = "examples/guest".parse()?;
/// let module = reference.module(Some(&store), FromSource::Build)?;
/// println!("{} is {}", reference, module.id());
/// # Ok::<(), ferry_host::ModuleRefError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleRef {
    /// `sha256:<hash>`: a module or a closure in the store.
    Stored(ContentHash),
    /// Guest source ([`ferry_build::Source`]): a directory with a
    /// `Cargo.toml`, a `.c` file or a directory of them, compiled when the
    /// caller allows it.
    Source(PathBuf),
    /// A file: a WebAssembly module, or a closure written by `ferry pickle`.
    File(PathBuf),
}

/// Whether a reference to guest source may be compiled. Compiling runs a
/// toolchain (cargo, and with it a crate's build scripts), so it is the
/// caller's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromSource {
    /// Build the source, as `ferry build` does, and keep its module in the
    /// store.
    Build,
    /// Refuse it: only compiled code is taken.
    Refuse,
}

/// What a reference names once loaded.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// A module, whose functions are yet to be chosen.
    Module(Module),
    /// A closure: a function of a module, with its environment and blobs.
    Closure(Closure),
}

/// Why a reference names no code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleRefError {
    /// `sha256:` followed by something other than a hash.
    #[error(transparent)]
    Hash(#[from] ParseHashError),

    /// Nothing at the path.
    #[error("cannot read {}: there is no such file or directory; {}", .0.display(), Accepted)]
    Missing(PathBuf),

    /// A directory that holds no guest source.
    #[error("{} is a directory without guest source in it; {}", .0.display(), Accepted)]
    NotSource(PathBuf),

    /// Guest source where the caller takes compiled code only.
    #[error(
        "{} is guest source, and source is not built here; build it with `ferry build` \
         and name its .wasm file or sha256:<hash> instead", .0.display()
    )]
    BuildRefused(PathBuf),

    /// A hash, and no store to look it up in.
    #[error("{0} names a module or closure in the store, but no store was given")]
    NoStore(ContentHash),

    /// A closure where a module is wanted.
    #[error(
        "{0} is a closure, not a module; a module is named by a .wasm file, \
         guest source, or sha256:<hash> of a module in the store"
    )]
    NotAModule(ModuleRef),

    /// Reading, building or decoding what the reference names failed.
    #[error(transparent)]
    Load(#[from] Error),
}

impl ModuleRef {
    /// Loads what the reference names. A hash is looked up in `store`; a
    /// crate is built if `source` says so, its module then kept in `store`.
    /// Bytes that start as a closure does are decoded as one (resolving a
    /// by-reference closure from `store`); any others are read as a module.
    pub fn resolve(
        &self,
        store: Option<&BlobStore>,
        source: FromSource,
    ) -> Result<Resolved, ModuleRefError> {
        let bytes = match self {
            ModuleRef::Stored(hash) => {
                let store = store.ok_or(ModuleRefError::NoStore(*hash))?;
                store.get(hash)?.ok_or_else(|| Error::NotInStore {
                    what: "module or closure",
                    hash: *hash,
                    store: store.root().to_owned(),
                })?
            }
            ModuleRef::Source(path) => return Ok(Resolved::Module(build(path, store, source)?)),
            ModuleRef::File(path) => read_regular_file(path)?,
        };
        match Closure::from_bytes(&bytes, store) {
            Err(Error::NotAClosure) => Ok(Resolved::Module(Module::from_bytes(bytes)?)),
            closure => Ok(Resolved::Closure(closure?)),
        }
    }

    /// The module the reference names; a closure is refused.
    pub fn module(
        &self,
        store: Option<&BlobStore>,
        source: FromSource,
    ) -> Result<Module, ModuleRefError> {
        match self.resolve(store, source)? {
            Resolved::Module(module) => Ok(module),
            Resolved::Closure(_) => Err(ModuleRefError::NotAModule(self.clone())),
        }
    }
}

/// Reads a file, refusing anything but a regular one: a device such as
/// `/dev/zero`, or a pipe, would be read without end. A file that grows
/// while it is read is cut at the size it had when opened.
fn read_regular_file(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(Error::io("cannot read", path))?;
    let meta = file.metadata().map_err(Error::io("cannot read", path))?;
    if !meta.is_file() {
        return Err(Error::io("cannot read", path)(std::io::Error::other(
            "it is not a regular file",
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len())
        .read_to_end(&mut bytes)
        .map_err(Error::io("cannot read", path))?;
    Ok(bytes)
}

/// Builds the source at `path` if `source` allows it, keeping its module in
/// `store`.
fn build(
    path: &Path,
    store: Option<&BlobStore>,
    source: FromSource,
) -> Result<Module, ModuleRefError> {
    if source == FromSource::Refuse {
        return Err(ModuleRefError::BuildRefused(path.to_owned()));
    }
    let module = crate::guest::build(path)?.module;
    if let Some(store) = store {
        store.put(module.bytes())?;
    }
    Ok(module)
}

/// Reads a reference as a user writes it, looking at the file system to
/// tell a crate from a file.
impl FromStr for ModuleRef {
    type Err = ModuleRefError;

    fn from_str(text: &str) -> Result<ModuleRef, ModuleRefError> {
        if text.starts_with("sha256:") {
            return Ok(ModuleRef::Stored(text.parse()?));
        }
        let path = PathBuf::from(text);
        if ferry_build::Source::detect(&path).is_some() {
            Ok(ModuleRef::Source(path))
        } else if path.is_dir() {
            Err(ModuleRefError::NotSource(path))
        } else if path.exists() {
            Ok(ModuleRef::File(path))
        } else {
            Err(ModuleRefError::Missing(path))
        }
    }
}

/// As the user wrote it.
impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleRef::Stored(hash) => write!(f, "{hash}"),
            ModuleRef::Source(path) | ModuleRef::File(path) => write!(f, "{}", path.display()),
        }
    }
}
