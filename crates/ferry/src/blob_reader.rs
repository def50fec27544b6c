//! Blobs read a piece at a time: an object range of hundreds of megabytes
//! goes through a small buffer, never into the guest's memory whole.

/// Reads the blob `name` in pieces, as [`std::io::Read`]; `None` if the
/// closure has no blob of that name (or this is not running under ferry).
/// Wrap it in a [`std::io::BufReader`] to read lines.
///
/// ```
/// use std::io::BufRead;
///
/// fn count_lines() -> Option<usize> {
///     let chunk = ferry::blob_reader("chunk")?;
///     Some(std::io::BufReader::new(chunk).lines().count())
/// }
/// // Natively there are no blobs.
/// assert_eq!(count_lines(), None);
/// ```
pub fn blob_reader(name: &str) -> Option<BlobReader> {
    let len = crate::host::blob_len(name)?;
    Some(BlobReader {
        name: name.to_owned(),
        len,
        at: 0,
    })
}

/// A blob being read from its start; see [`blob_reader`].
#[derive(Debug)]
pub struct BlobReader {
    name: String,
    len: u64,
    at: u64,
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the blob has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::io::Read for BlobReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.len || buffer.is_empty() {
            return Ok(0);
        }
        let read = crate::host::blob_read_at(&self.name, self.at, buffer).ok_or_else(|| {
            std::io::Error::other(format!("the blob `{}` cannot be read", self.name))
        })?;
        self.at += read as u64;
        Ok(read)
    }
}

/// The range of an object a task of a map over objects was given (the
/// blob [`CHUNK_BLOB`](crate::CHUNK_BLOB)), to read a piece at a time;
/// the task's input, a [`Chunk`](crate::Chunk), says where it is from.
///
/// ```
/// use std::io::BufRead;
///
/// #[ferry::function]
/// fn longest_line(chunk: ferry::Chunk) -> Result<usize, String> {
///     let mut longest = 0;
///     for line in std::io::BufReader::new(ferry::chunk().ok_or("no chunk")?).lines() {
///         longest = longest.max(line.map_err(|e| format!("{}: {e}", chunk.url))?.len());
///     }
///     Ok(longest)
/// }
/// ```
pub fn chunk() -> Option<BlobReader> {
    blob_reader(crate::CHUNK_BLOB)
}
