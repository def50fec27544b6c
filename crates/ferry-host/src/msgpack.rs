//! Checking that bytes are exactly one well-formed MessagePack value, before
//! anything decodes them: a guest's result, a closure's environment, a value
//! that came over the network.
//!
//! Decoders are lenient where ferry must not be: `rmpv` reads the reserved
//! byte `0xc1` as nil, and neither it nor `rmp_serde` notices bytes after
//! the first value. The check walks the bytes without allocating, so a
//! length prefix that claims more than is there costs nothing.

/// How deep arrays and maps may nest: half of what the decoders allow, so a
/// value that passes never reaches their limit.
pub(crate) const MAX_DEPTH: usize = 512;

/// Checks that `bytes` hold one MessagePack value and nothing after it; the
/// error says what is wrong, in a phrase that completes "the value ...".
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let mut reader = Reader { bytes, at: 0 };
    // Items still to read at each open level of nesting.
    let mut open: Vec<u64> = vec![1];
    while let Some(left) = open.last_mut() {
        if *left == 0 {
            open.pop();
            continue;
        }
        *left -= 1;
        let items = reader.item()?;
        if items > 0 {
            if open.len() > MAX_DEPTH {
                return Err(format!("nests arrays or maps deeper than {MAX_DEPTH}"));
            }
            open.push(items);
        }
    }
    match bytes.len() - reader.at {
        0 => Ok(()),
        extra => Err(format!(
            "has {extra} bytes after its end at byte {}",
            reader.at
        )),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// Reads one item's header and skips its payload; returns how many
    /// nested items follow it (elements of an array, keys and values of a
    /// map).
    fn item(&mut self) -> Result<u64, String> {
        let marker = self.take(1)?[0];
        let skip = |reader: &mut Self, len: u64| reader.take(len).map(|_| 0);
        match marker {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => Ok(0),
            0x80..=0x8f => Ok(2 * u64::from(marker & 0x0f)),
            0x90..=0x9f => Ok(u64::from(marker & 0x0f)),
            0xa0..=0xbf => self.string(u64::from(marker & 0x1f)),
            0xc1 => Err(format!(
                "uses the reserved byte 0xc1 at byte {}",
                self.at - 1
            )),
            0xc4 => {
                let len = self.uint(1)?;
                skip(self, len)
            }
            0xc5 => {
                let len = self.uint(2)?;
                skip(self, len)
            }
            0xc6 => {
                let len = self.uint(4)?;
                skip(self, len)
            }
            // Extensions: a length, a type byte, the data.
            0xc7 => {
                let len = self.uint(1)?;
                skip(self, len + 1)
            }
            0xc8 => {
                let len = self.uint(2)?;
                skip(self, len + 1)
            }
            0xc9 => {
                let len = self.uint(4)?;
                skip(self, len + 1)
            }
            0xca | 0xce | 0xd2 => skip(self, 4),
            0xcb | 0xcf | 0xd3 => skip(self, 8),
            0xcc | 0xd0 => skip(self, 1),
            0xcd | 0xd1 => skip(self, 2),
            // Fixed extensions: a type byte and 1, 2, 4, 8 or 16 bytes.
            0xd4..=0xd8 => skip(self, 1 + (1 << (marker - 0xd4))),
            0xd9 => {
                let len = self.uint(1)?;
                self.string(len)
            }
            0xda => {
                let len = self.uint(2)?;
                self.string(len)
            }
            0xdb => {
                let len = self.uint(4)?;
                self.string(len)
            }
            0xdc => self.uint(2),
            0xdd => self.uint(4),
            0xde => self.uint(2).map(|n| 2 * n),
            0xdf => self.uint(4).map(|n| 2 * n),
        }
    }

    fn string(&mut self, len: u64) -> Result<u64, String> {
        let start = self.at;
        let text = self.take(len)?;
        std::str::from_utf8(text)
            .map(|_| 0)
            .map_err(|_| format!("has a string that is not UTF-8 at byte {start}"))
    }

    /// A big-endian unsigned integer of `width` bytes.
    fn uint(&mut self, width: u64) -> Result<u64, String> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0, |n, byte| (n << 8) | u64::from(*byte)))
    }

    fn take(&mut self, len: u64) -> Result<&[u8], String> {
        let left = self.bytes.len() - self.at;
        if len > left as u64 {
            return Err(if self.bytes.is_empty() {
                "is empty".to_owned()
            } else {
                format!(
                    "is cut short: {len} bytes needed at byte {}, {left} there",
                    self.at
                )
            });
        }
        let start = self.at;
        self.at += len as usize;
        Ok(&self.bytes[start..self.at])
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_what_rmp_serde_writes() {
        let value = serde_json::json!({
            "n": [1, -1, 300, -300, 70000, -70000, 5_000_000_000u64, -5_000_000_000i64, 1.5],
            "s": ["", "short", "x".repeat(40), "y".repeat(300), "z".repeat(70000)],
            "nested": [[[[]]], {}, null, true, false],
        });
        check(&rmp_serde::to_vec(&value).unwrap()).unwrap();
        check(&rmp_serde::to_vec(&serde_bytes_like(&[7; 300])).unwrap()).unwrap();
        let many: Vec<u32> = (0..70000).collect();
        check(&rmp_serde::to_vec(&many).unwrap()).unwrap();
    }

    /// A binary value, written the way `rmp` writes one.
    fn serde_bytes_like(bytes: &[u8]) -> rmpv::Value {
        rmpv::Value::Binary(bytes.to_vec())
    }

    #[test]
    fn accepts_extensions() {
        for len in [1, 2, 4, 8, 16, 3, 300] {
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &rmpv::Value::Ext(5, vec![9; len])).unwrap();
            check(&bytes).unwrap();
        }
    }

    #[test]
    fn refuses_what_is_not_one_value() {
        let cases: [(&[u8], &str); 8] = [
            (&[], "is empty"),
            (&[0xc1, 0x00], "reserved byte 0xc1"),
            (&[0x01, 0x02, 0x03], "2 bytes after its end at byte 1"),
            (&[0x92, 0x01], "cut short"),
            (&[0xdd, 0xff, 0xff, 0xff, 0xff], "cut short"),
            (&[0xa2, 0xff, 0xfe], "not UTF-8"),
            (&[0xcb, 0, 0, 0], "cut short"),
            (&[0x81, 0x01], "cut short"),
        ];
        for (bytes, expected) in cases {
            let error = check(bytes).unwrap_err();
            assert!(error.contains(expected), "{bytes:02x?}: {error}");
        }
    }

    #[test]
    fn refuses_deep_nesting_without_recursing() {
        let deep = vec![0x91; 1_000_000];
        assert!(check(&deep).unwrap_err().contains("deeper than 512"));
        let mut ok = vec![0x91; 511];
        ok.push(0xc0);
        check(&ok).unwrap();
    }
}
