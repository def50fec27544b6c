//! Content addresses: everything ferry stores or ships is named by the
//! SHA-256 of its bytes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The SHA-256 of some bytes, written `sha256:<64 hex digits>`.
///
/// ```
/// use ferry_host::ContentHash;
///
/// let hash = ContentHash::of(b"hello");
/// let text = hash.to_string();
/// assert!(text.starts_with("sha256:2cf24dba"));
/// assert_eq!(text.parse::<ContentHash>().unwrap(), hash);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        ContentHash(Sha256::digest(bytes).into())
    }

    /// A hash from a finished SHA-256 digest.
    pub fn from_digest(digest: [u8; 32]) -> ContentHash {
        ContentHash(digest)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest in lowercase hex, without the `sha256:` prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits: enough to tell modules apart in messages.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.short())
    }
}

/// Why a string is not a content hash.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a content hash: expected `sha256:` followed by 64 hex digits")]
pub struct ParseHashError(String);

impl FromStr for ContentHash {
    type Err = ParseHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.strip_prefix("sha256:").unwrap_or(text);
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| ParseHashError(text.to_owned()))?;
        Ok(ContentHash(out))
    }
}

/// 32 bytes in binary formats (MessagePack), `sha256:<hex>` in formats
/// meant for people (JSON).
impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            return text.parse().map_err(serde::de::Error::custom);
        }
        let bytes = crate::as_binary::deserialize(d)?;
        let digest: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            serde::de::Error::invalid_length(bytes.len(), &"32 bytes of SHA-256 digest")
        })?;
        Ok(ContentHash(digest))
    }
}
