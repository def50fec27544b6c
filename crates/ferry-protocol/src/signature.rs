//! Signed code: Ed25519 signatures over a module's hash. `ferry sign` makes
//! them with a secret key; a worker started with `--trust` runs only modules
//! that carry one by a key it trusts, and checks that before compiling.
//!
//! A signature names its module by hash, so it travels beside the module
//! (in a `.sig` file, in a run request), never inside a closure: signing
//! does not change what a closure is or where it is cached. Keys stay in
//! their files; neither a closure nor the store ever holds one.
//!
//! The files are lines of text, so they can be read, diffed and
//! concatenated:
//!
//! - a public key: `ed25519:<64 hex digits>`; a file of trusted keys holds
//!   one per line, with `#` comments;
//! - a signature: `sha256:<module> ed25519:<key> <128 hex digits>`; a
//!   `.sig` file holds one per signer;
//! - a secret key: the PKCS#8 document in hex (`ferry keygen` writes it with
//!   mode 0600).
//!
//! ```
//! use ferry_host::ContentHash;
//! use ferry_protocol::signature::{SecretKey, TrustedKeys};
//!
//! let (key, _document) = SecretKey::generate()?;
//! let module = ContentHash::of(b"(module)");
//! let signature = key.sign(&module);
//! let trusted = TrustedKeys::from_keys([key.public_key()]);
//! assert!(trusted.admits(&module, std::slice::from_ref(&signature)));
//! assert!(!trusted.admits(&ContentHash::of(b"other"), &[signature]));
//! # Ok::<(), ferry_protocol::signature::SignatureError>(())
//! ```

use bytes::Bytes;
use ferry_host::ContentHash;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What is signed: the module's hash behind a fixed prefix, so that a
/// signature made for ferry means nothing anywhere else.
fn message(module: &ContentHash) -> Vec<u8> {
    let mut message = b"ferry module signature v1\n".to_vec();
    message.extend_from_slice(module.as_bytes());
    message
}

/// Why a key or a signature could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Text that is not what it should be.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being read, e.g. `line 3 of keys.pub`.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The system's random number generator failed.
    #[error("cannot make a key: the system's random number generator failed")]
    Random,
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; 32]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(&self.0[..6]))
    }
}

impl FromStr for PublicKey {
    type Err = String;

    fn from_str(text: &str) -> Result<PublicKey, String> {
        let not_a_key = || format!("{text:?} is not a key: expected `ed25519:` and 64 hex digits");
        let digits = text.strip_prefix("ed25519:").ok_or_else(not_a_key)?;
        let mut key = [0; 32];
        hex::decode_to_slice(digits, &mut key).map_err(|_| not_a_key())?;
        Ok(PublicKey(key))
    }
}

/// A secret signing key, read from the file `ferry keygen` wrote.
pub struct SecretKey(Ed25519KeyPair);

impl SecretKey {
    /// A new random key, and the PKCS#8 document to keep it in.
    pub fn generate() -> Result<(SecretKey, Vec<u8>), SignatureError> {
        let random = ring::rand::SystemRandom::new();
        let document =
            Ed25519KeyPair::generate_pkcs8(&random).map_err(|_| SignatureError::Random)?;
        let key = Ed25519KeyPair::from_pkcs8(document.as_ref())
            .expect("a document ring just made is well formed");
        Ok((SecretKey(key), document.as_ref().to_vec()))
    }

    /// Reads a key file: the PKCS#8 document, in hex.
    pub fn from_file(path: &Path) -> Result<SecretKey, SignatureError> {
        let text = read(path, "read the key file")?;
        let malformed = |reason: &str| SignatureError::Malformed {
            what: format!("the key file {}", path.display()),
            reason: reason.to_owned(),
        };
        let document = hex::decode(text.trim())
            .map_err(|_| malformed("expected the hex digits `ferry keygen` writes"))?;
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&document)
            .map(SecretKey)
            .map_err(|e| malformed(&format!("not an Ed25519 PKCS#8 key ({e})")))
    }

    /// The public half, to give to workers (`--trust`).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(
            self.0
                .public_key()
                .as_ref()
                .try_into()
                .expect("an Ed25519 public key has 32 bytes"),
        )
    }

    /// Signs `module`.
    pub fn sign(&self, module: &ContentHash) -> ModuleSignature {
        ModuleSignature {
            module: *module,
            key: Bytes::copy_from_slice(&self.public_key().0),
            signature: Bytes::copy_from_slice(self.0.sign(&message(module)).as_ref()),
        }
    }
}

/// A signature over one module, by one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSignature {
    /// The module signed.
    pub module: ContentHash,
    /// The signer's public key, 32 bytes.
    pub key: Bytes,
    /// The Ed25519 signature, 64 bytes.
    pub signature: Bytes,
}

impl ModuleSignature {
    /// The signer, if the key has the right length.
    pub fn signer(&self) -> Option<PublicKey> {
        self.key.as_ref().try_into().ok().map(PublicKey)
    }

    /// Whether the signature is the signer's, over this module.
    pub fn is_valid(&self) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.key)
            .verify(&message(&self.module), &self.signature)
            .is_ok()
    }
}

impl fmt::Display for ModuleSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self
            .signer()
            .map_or_else(|| hex::encode(&self.key), |key| key.to_string());
        write!(f, "{} {key} {}", self.module, hex::encode(&self.signature))
    }
}

impl FromStr for ModuleSignature {
    type Err = String;

    fn from_str(line: &str) -> Result<ModuleSignature, String> {
        let expected = "expected `sha256:<module> ed25519:<key> <signature>`";
        let mut words = line.split_whitespace();
        let (Some(module), Some(key), Some(signature), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return Err(expected.into());
        };
        let module = ContentHash::from_str(module).map_err(|e| e.to_string())?;
        let key: PublicKey = key.parse()?;
        let signature = hex::decode(signature)
            .ok()
            .filter(|bytes| bytes.len() == 64)
            .ok_or_else(|| format!("the signature is not 128 hex digits; {expected}"))?;
        Ok(ModuleSignature {
            module,
            key: Bytes::copy_from_slice(&key.0),
            signature: signature.into(),
        })
    }
}

/// The signatures in a `.sig` file, one per line.
pub fn read_signatures(path: &Path) -> Result<Vec<ModuleSignature>, SignatureError> {
    parse_lines(path, &read(path, "read the signature file")?)
}

/// Adds `signature` to the `.sig` file at `path` unless it is there.
pub fn add_signature(path: &Path, signature: &ModuleSignature) -> Result<(), SignatureError> {
    let mut signatures = match path.exists() {
        true => read_signatures(path)?,
        false => Vec::new(),
    };
    if !signatures.contains(signature) {
        signatures.push(signature.clone());
    }
    let text: String = signatures.iter().map(|s| format!("{s}\n")).collect();
    std::fs::write(path, text).map_err(|source| SignatureError::Io {
        action: "write the signature file",
        path: path.to_owned(),
        source,
    })
}

/// The keys a worker runs code from.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys(HashSet<PublicKey>);

impl TrustedKeys {
    /// Trusts exactly `keys`.
    pub fn from_keys(keys: impl IntoIterator<Item = PublicKey>) -> TrustedKeys {
        TrustedKeys(keys.into_iter().collect())
    }

    /// Reads files of public keys, one key per line, `#` starting a comment.
    pub fn from_files(paths: &[PathBuf]) -> Result<TrustedKeys, SignatureError> {
        let mut keys = HashSet::new();
        for path in paths {
            keys.extend(parse_lines::<PublicKey>(
                path,
                &read(path, "read the trusted keys")?,
            )?);
        }
        Ok(TrustedKeys(keys))
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key is trusted (and so nothing runs).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether one of `signatures` is a valid signature of `module` by a
    /// trusted key.
    pub fn admits(&self, module: &ContentHash, signatures: &[ModuleSignature]) -> bool {
        signatures.iter().any(|signature| {
            signature.module == *module
                && signature.signer().is_some_and(|key| self.0.contains(&key))
                && signature.is_valid()
        })
    }
}

fn read(path: &Path, action: &'static str) -> Result<String, SignatureError> {
    std::fs::read_to_string(path).map_err(|source| SignatureError::Io {
        action,
        path: path.to_owned(),
        source,
    })
}

/// Parses each line that is not blank or a `#` comment.
fn parse_lines<T: FromStr<Err = String>>(
    path: &Path,
    text: &str,
) -> Result<Vec<T>, SignatureError> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| {
            line.parse().map_err(|reason| SignatureError::Malformed {
                what: format!("line {} of {}", n + 1, path.display()),
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_survives_its_text_form_and_binds_module_and_key() {
        let (key, _) = SecretKey::generate().unwrap();
        let (other, _) = SecretKey::generate().unwrap();
        let module = ContentHash::of(b"module");
        let signature = key.sign(&module);
        let line = signature.to_string();
        let back: ModuleSignature = line.parse().unwrap();
        assert_eq!(back, signature);
        assert!(back.is_valid());
        assert_eq!(
            key.public_key().to_string().parse::<PublicKey>(),
            Ok(key.public_key())
        );

        let trusted = TrustedKeys::from_keys([key.public_key()]);
        assert!(trusted.admits(&module, std::slice::from_ref(&signature)));
        // Moved to another module, or claimed by another key: refused.
        let moved = ModuleSignature {
            module: ContentHash::of(b"other"),
            ..signature.clone()
        };
        assert!(!moved.is_valid() && !trusted.admits(&moved.module, std::slice::from_ref(&moved)));
        let claimed = ModuleSignature {
            key: Bytes::copy_from_slice(&other.public_key().0),
            ..signature.clone()
        };
        let both = TrustedKeys::from_keys([key.public_key(), other.public_key()]);
        assert!(!claimed.is_valid() && !both.admits(&module, &[claimed]));
        // A valid signature by a key not trusted.
        let theirs = other.sign(&module);
        assert!(theirs.is_valid() && !trusted.admits(&module, &[theirs]));
    }

    #[test]
    fn malformed_key_and_signature_lines_are_refused_in_one_line() {
        use ferry_test_support::fuzz::fuzz;
        let (key, _) = SecretKey::generate().unwrap();
        let line = key.sign(&ContentHash::of(b"m")).to_string();
        fuzz("signature lines", &[line.into_bytes()], |bytes| {
            String::from_utf8_lossy(bytes)
                .parse::<ModuleSignature>()
                .map(drop)
        });
        let key = key.public_key().to_string();
        fuzz("public keys", &[key.into_bytes()], |bytes| {
            String::from_utf8_lossy(bytes)
                .parse::<PublicKey>()
                .map(drop)
        });
    }
}
