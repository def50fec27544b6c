//! The seal on precompiled code: an HMAC-SHA-256, under a key only this
//! store holds, over the engine settings, the module hash and the code.
//!
//! Loading precompiled code runs it as it is, so the store must know that
//! a `.cwasm` file is the one it wrote for this module and engine. A plain
//! digest of the code cannot tell: another module's intact file, moved
//! under this module's name, would pass. A keyed seal that covers the
//! name can.

use crate::{ContentHash, Error};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

const KEY_LEN: usize = 32;
/// SHA-256's block size, which HMAC pads its key to.
const BLOCK: usize = 64;

/// The store's secret, kept in its `key` file (readable by its owner only).
#[derive(Clone)]
pub(crate) struct StoreKey([u8; KEY_LEN]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// The key in `root/key`, made from the system's randomness the first
    /// time. Several processes opening one new store agree on one key: each
    /// writes its own candidate, and only the first one linked into place
    /// counts.
    pub(crate) fn open(root: &Path) -> Result<StoreKey, Error> {
        let path = root.join("key");
        if let Some(key) = read(&path)? {
            return Ok(key);
        }
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| {
            Error::io("cannot draw a random key for", &path)(std::io::Error::other(e.to_string()))
        })?;
        let candidate = root.join("tmp").join(format!("key-{}", std::process::id()));
        let _ = std::fs::remove_file(&candidate);
        let mut options = std::fs::File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&candidate)
            .and_then(|mut file| file.write_all(&key))
            .map_err(Error::io("cannot write", &candidate))?;
        // A damaged key (wrong length) is replaced; a good one is kept.
        let placed = match std::fs::hard_link(&candidate, &path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read(&path)? {
                Some(_) => Ok(()),
                None => std::fs::rename(&candidate, &path),
            },
            other => other,
        };
        let _ = std::fs::remove_file(&candidate);
        placed.map_err(Error::io("cannot write", &path))?;
        read(&path)?.ok_or_else(|| {
            Error::io("cannot read", &path)(std::io::Error::other("the store's key is damaged"))
        })
    }

    /// The seal over precompiled `code` for `module` under `engine_key`.
    pub(crate) fn seal(&self, engine_key: &str, module: &ContentHash, code: &[u8]) -> [u8; 32] {
        let length = (engine_key.len() as u64).to_le_bytes();
        self.hmac(&[&length, engine_key.as_bytes(), module.as_bytes(), code])
    }

    /// HMAC-SHA-256 (RFC 2104) of the concatenated `parts`.
    fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut padded = [0u8; BLOCK];
        padded[..KEY_LEN].copy_from_slice(&self.0);
        let pad = |byte: u8| padded.map(|k| k ^ byte);
        let mut inner = Sha256::new().chain_update(pad(0x36));
        for part in parts {
            inner.update(part);
        }
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner.finalize())
            .finalize()
            .into()
    }
}

/// The key at `path`: `None` if absent or not a key's length.
fn read(path: &Path) -> Result<Option<StoreKey>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes.try_into().ok().map(StoreKey)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_is_hmac_sha256_and_covers_every_part() {
        // RFC 4231, test case 2: HMAC pads a short key with zeros, so "Jefe"
        // and "Jefe" followed by zeros are the same key.
        let mut key = [0u8; KEY_LEN];
        key[..4].copy_from_slice(b"Jefe");
        let key = StoreKey(key);
        assert_eq!(
            hex::encode(key.hmac(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let module = ContentHash::of(b"m");
        let base = key.seal("e", &module, b"code");
        assert_ne!(base, key.seal("f", &module, b"code"));
        assert_ne!(base, key.seal("e", &ContentHash::of(b"n"), b"code"));
        assert_ne!(base, key.seal("e", &module, b"codf"));
        assert_ne!(base, StoreKey([1; KEY_LEN]).seal("e", &module, b"code"));
    }

    #[test]
    fn stores_opened_apart_share_one_key_and_a_damaged_key_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tmp")).unwrap();
        let first = StoreKey::open(dir.path()).unwrap();
        assert_eq!(StoreKey::open(dir.path()).unwrap().0, first.0);
        std::fs::write(dir.path().join("key"), b"short").unwrap();
        let replaced = StoreKey::open(dir.path()).unwrap();
        assert_ne!(replaced.0, first.0);
        assert_eq!(StoreKey::open(dir.path()).unwrap().0, replaced.0);
    }
}
