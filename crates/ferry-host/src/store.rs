//! The content-addressed store on disk: module and data blobs under their
//! SHA-256, and wasmtime's precompiled code under the module hash and the
//! engine settings it was compiled for.
//!
//! The store knows bytes, hashes and modules, not closures: a closure is
//! decoded against the store's [`Resolve`], and what storing a closure means
//! ([`BlobStore::add_closure`]) is written beside the closure, in
//! `closure.rs`.

use crate::seal::StoreKey;
use crate::{Blob, ContentHash, Error, Module, ObjectRef};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Where by-reference closures find the modules and blobs they name.
pub trait Resolve {
    /// The module `hash` names, checked against it.
    fn module(&self, hash: &ContentHash) -> Result<Module, Error>;
    /// The blob `hash` names, checked against it.
    fn blob(&self, hash: &ContentHash) -> Result<Blob, Error>;
    /// The bytes of an object a closure refers to, if this resolver has
    /// them (read already, or kept by hash); `None` leaves it unread.
    fn object(&self, object: &ObjectRef) -> Option<Blob> {
        let _ = object;
        None
    }
}

impl Resolve for BlobStore {
    fn module(&self, hash: &ContentHash) -> Result<Module, Error> {
        BlobStore::module(self, hash)
    }

    fn blob(&self, hash: &ContentHash) -> Result<Blob, Error> {
        self.require("blob", hash)
            .map(|bytes| Blob::verified(*hash, bytes))
    }

    fn object(&self, object: &ObjectRef) -> Option<Blob> {
        let hash = object.hash?;
        Resolve::blob(self, &hash).ok()
    }
}

/// Environment variable that overrides the default store location.
pub const STORE_ENV: &str = "FERRY_STORE";

/// A directory of content-addressed blobs and precompiled code.
///
/// Everything read back is checked against its hash, so a damaged file is
/// reported, never run. Writes are atomic (write, then rename), so several
/// processes may share one store.
///
/// ```
/// use ferry_host::BlobStore;
///
/// let dir = std::env::temp_dir().join(format!("ferry-doc-store-{}", std::process::id()));
/// let store = BlobStore::open(&dir)?;
/// let hash = store.put(b"lookup table")?;
/// assert_eq!(store.get(&hash)?.as_deref(), Some(&b"lookup table"[..]));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), ferry_host::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    key: StoreKey,
}

/// Precompiled code files start with this, then their seal (see `seal.rs`).
const COMPILED_MAGIC: &[u8; 8] = b"FERRYCW2";

impl BlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobStore, Error> {
        let root = root.into();
        for dir in ["blobs", "compiled", "tmp"] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path)
                .map_err(Error::io("cannot create store directory", &path))?;
        }
        let key = StoreKey::open(&root)?;
        Ok(BlobStore { root, key })
    }

    /// Opens the store at `$FERRY_STORE`, or else `ferry` under the user's
    /// cache directory (`~/.cache/ferry` on Linux).
    pub fn open_default() -> Result<BlobStore, Error> {
        Self::open(Self::default_root())
    }

    /// Where [`BlobStore::open_default`] puts the store.
    pub fn default_root() -> PathBuf {
        match std::env::var_os(STORE_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("ferry"),
        }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }

    /// Whether the store holds `hash`.
    pub fn contains(&self, hash: &ContentHash) -> bool {
        self.blob_path(hash).is_file()
    }

    /// Stores `bytes` under their hash and returns it. Storing what is already
    /// there costs one `stat`.
    pub fn put(&self, bytes: &[u8]) -> Result<ContentHash, Error> {
        let hash = ContentHash::of(bytes);
        let path = self.blob_path(&hash);
        if !path.is_file() {
            self.write_atomic(&path, &[bytes])?;
        }
        Ok(hash)
    }

    /// The bytes stored under `hash`, checked against it; `None` if absent.
    /// A file whose bytes do not match is deleted and reported.
    pub fn get(&self, hash: &ContentHash) -> Result<Option<Vec<u8>>, Error> {
        let path = self.blob_path(hash);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read blob", &path)(e)),
        };
        let actual = ContentHash::of(&bytes);
        if actual != *hash {
            // Deleted, so the next put of the right bytes repairs it.
            tracing::warn!(path = %path.display(), "deleting a damaged blob");
            let _ = std::fs::remove_file(&path);
            return Err(Error::HashMismatch {
                what: "stored blob",
                expected: *hash,
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// Like [`BlobStore::get`], but a missing blob is an error naming it.
    pub(crate) fn require(&self, what: &'static str, hash: &ContentHash) -> Result<Vec<u8>, Error> {
        self.get(hash)?.ok_or_else(|| Error::NotInStore {
            what,
            hash: *hash,
            store: self.root.clone(),
        })
    }

    /// The module stored under `hash`.
    pub fn module(&self, hash: &ContentHash) -> Result<Module, Error> {
        Module::from_bytes_verified(self.require("module", hash)?, hash)
    }

    fn compiled_path(&self, engine_key: &str, module: &ContentHash) -> PathBuf {
        self.root
            .join("compiled")
            .join(engine_key)
            .join(format!("{}.cwasm", module.to_hex()))
    }

    /// Precompiled code for `module` under these engine settings, if stored
    /// and sealed by this store for this module and engine. Any other file
    /// (damaged, from another store, or another module's moved here) is
    /// deleted and reported as absent, so the caller recompiles.
    pub(crate) fn load_compiled(&self, engine_key: &str, module: &ContentHash) -> Option<Vec<u8>> {
        let path = self.compiled_path(engine_key, module);
        let mut bytes = std::fs::read(&path).ok()?;
        let intact = bytes.len() >= 40
            && &bytes[..8] == COMPILED_MAGIC
            && self.key.seal(engine_key, module, &bytes[40..]) == bytes[8..40];
        if !intact {
            tracing::warn!(path = %path.display(), "discarding precompiled code this store did not seal for this module");
            let _ = std::fs::remove_file(&path);
            return None;
        }
        bytes.drain(..40);
        Some(bytes)
    }

    /// Keeps precompiled code for `module` under these engine settings.
    pub(crate) fn save_compiled(
        &self,
        engine_key: &str,
        module: &ContentHash,
        code: &[u8],
    ) -> Result<(), Error> {
        let seal = self.key.seal(engine_key, module, code);
        self.write_atomic(
            &self.compiled_path(engine_key, module),
            &[COMPILED_MAGIC, &seal, code],
        )
    }

    /// A writer for a blob that arrives in pieces: hashed as it is written,
    /// and stored only if it has the hash it claims. Its temporary file is
    /// created with the first bytes, so a writer that never gets any holds
    /// no file open.
    pub fn writer(&self) -> BlobWriter {
        BlobWriter {
            store: self.clone(),
            tmp: None,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Deletes temporary files a crashed writer left behind: those of a
    /// process that is no longer running, and any not written to for an
    /// hour (a live writer is closed long before). Returns how many.
    pub fn remove_orphans(&self) -> usize {
        let Ok(listing) = std::fs::read_dir(self.root.join("tmp")) else {
            return 0;
        };
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        listing
            .flatten()
            .filter(|item| {
                let name = item.file_name();
                let writer_gone = name
                    .to_str()
                    .and_then(|name| name.split_once('-'))
                    .is_some_and(|(pid, _)| !process_is_running(pid));
                let stale = item
                    .metadata()
                    .and_then(|meta| meta.modified())
                    .is_ok_and(|modified| modified < an_hour_ago);
                (writer_gone || stale) && std::fs::remove_file(item.path()).is_ok()
            })
            .count()
    }

    /// Bytes used by blobs and precompiled code.
    pub fn usage(&self) -> u64 {
        self.entries().iter().map(|entry| entry.size).sum()
    }

    /// Deletes the least recently written (or [touched](Self::touch))
    /// blobs and precompiled code until the store uses at most `limit`
    /// bytes, sparing those `keep` says to. Returns the bytes left.
    pub fn evict(&self, limit: u64, keep: impl Fn(&ContentHash) -> bool) -> u64 {
        let mut entries = self.entries();
        let mut used: u64 = entries.iter().map(|entry| entry.size).sum();
        entries.sort_by_key(|entry| entry.modified);
        for entry in entries {
            if used <= limit {
                break;
            }
            if keep(&entry.hash) || std::fs::remove_file(&entry.path).is_err() {
                continue;
            }
            used -= entry.size;
        }
        used
    }

    /// Marks the blob `hash` as just used, so that [`evict`](Self::evict)
    /// takes it last. A blob that is absent, or a store that is read-only,
    /// is left as it is.
    pub fn touch(&self, hash: &ContentHash) {
        if let Ok(file) = File::options().append(true).open(self.blob_path(hash)) {
            let _ = file.set_modified(std::time::SystemTime::now());
        }
    }

    /// Every blob and precompiled code file, with what eviction needs.
    fn entries(&self) -> Vec<Entry> {
        fn walk(dir: &Path, out: &mut Vec<Entry>) {
            let Ok(listing) = std::fs::read_dir(dir) else {
                return;
            };
            for item in listing.flatten() {
                let path = item.path();
                let Ok(meta) = item.metadata() else { continue };
                if meta.is_dir() {
                    walk(&path, out);
                } else if let Some(hash) = path
                    .file_stem()
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.parse().ok())
                {
                    out.push(Entry {
                        hash,
                        size: meta.len(),
                        modified: meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH),
                        path,
                    });
                }
            }
        }
        let mut entries = Vec::new();
        walk(&self.root.join("blobs"), &mut entries);
        walk(&self.root.join("compiled"), &mut entries);
        entries
    }

    fn tmp_path(&self) -> PathBuf {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        self.root.join("tmp").join(format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// A new temporary file. It must not exist yet: a file or symlink
    /// planted at a temporary name is passed over, never followed or
    /// overwritten.
    fn create_tmp(&self) -> Result<(PathBuf, File), Error> {
        let mut tries = 0;
        loop {
            let path = self.tmp_path();
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((path, file)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 64 => {
                    tries += 1;
                }
                Err(e) => return Err(Error::io("cannot create", &path)(e)),
            }
        }
    }

    fn write_atomic(&self, path: &Path, parts: &[&[u8]]) -> Result<(), Error> {
        let (tmp, mut file) = self.create_tmp()?;
        if let Err(e) = parts.iter().try_for_each(|part| file.write_all(part)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io("cannot write", &tmp)(e));
        }
        drop(file);
        self.move_into_place(&tmp, path)
    }

    fn move_into_place(&self, tmp: &Path, path: &Path) -> Result<(), Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(Error::io("cannot create store directory", parent))?;
        }
        std::fs::rename(tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            Error::io("cannot move into the store", path)(e)
        })
    }
}

/// Whether a process with this id runs, as far as this system can tell
/// (where it cannot, temporary files are only removed by age).
fn process_is_running(pid: &str) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid).exists()
}

struct Entry {
    hash: ContentHash,
    size: u64,
    modified: std::time::SystemTime,
    path: PathBuf,
}

/// A blob being written in pieces; see [`BlobStore::writer`]. Dropped
/// unfinished, it leaves nothing behind.
pub struct BlobWriter {
    store: BlobStore,
    /// The temporary file, from the first bytes on.
    tmp: Option<(PathBuf, File)>,
    hasher: Sha256,
    len: u64,
}

impl BlobWriter {
    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let (path, file) = match &mut self.tmp {
            Some(tmp) => tmp,
            None => self.tmp.insert(self.store.create_tmp()?),
        };
        file.write_all(bytes)
            .map_err(Error::io("cannot write", &*path))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores the blob if its bytes hash to `expected`; otherwise discards
    /// them and says so.
    pub fn finish(mut self, expected: &ContentHash) -> Result<ContentHash, Error> {
        let actual = ContentHash::from_digest(std::mem::take(&mut self.hasher).finalize().into());
        if actual != *expected {
            return Err(Error::HashMismatch {
                what: "uploaded blob",
                expected: *expected,
                actual,
            });
        }
        // The empty blob gets its file here, as nothing was written.
        let (tmp, file) = match self.tmp.take() {
            Some(tmp) => tmp,
            None => self.store.create_tmp()?,
        };
        drop(file);
        self.store
            .move_into_place(&tmp, &self.store.blob_path(expected))?;
        Ok(actual)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some((path, _)) = &self.tmp {
            let _ = std::fs::remove_file(path);
        }
    }
}
