//! What a task of a map over objects is given: a range of an object as
//! the blob [`CHUNK_BLOB`], and where that range is as its input.

use serde::{Deserialize, Serialize};

/// The name of the blob holding a task's range of an object.
pub const CHUNK_BLOB: &str = "chunk";

/// The input of a task of a map over objects: which range of which object
/// the blob [`CHUNK_BLOB`] holds. With records kept whole, the blob starts
/// at the first record starting at or after `start` and ends with the
/// record holding byte `end - 1`.
///
/// ```
/// let chunk = ferry_abi::Chunk { url: "s3://events/run-1.jsonl".into(), start: 0, end: Some(1 << 20) };
/// assert_eq!(chunk.end, Some(1048576));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The object's URL.
    pub url: String,
    /// Where the range starts in the object.
    pub start: u64,
    /// Where it ends; `None` for the rest of the object.
    pub end: Option<u64>,
}
