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
    walk(bytes, None)
}

/// [`check`], and no extension of type `reserved` anywhere in the value: a
/// guest may not forge what only the host makes.
pub(crate) fn check_without_ext(bytes: &[u8], reserved: i8) -> Result<(), String> {
    walk(bytes, Some(reserved))
}

/// The byte ranges of the elements of `bytes`, if they hold an array (of a
/// value already checked).
pub(crate) fn array_items(bytes: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut reader = Reader {
        bytes,
        at: 0,
        reserved: None,
    };
    let count = match *bytes.first()? {
        marker @ 0x90..=0x9f => {
            reader.at = 1;
            u64::from(marker & 0x0f)
        }
        0xdc | 0xdd => reader.item().ok()?,
        _ => return None,
    };
    let mut items = Vec::new();
    for _ in 0..count {
        let start = reader.at;
        let mut open = 1u64;
        while open > 0 {
            open -= 1;
            open += reader.item().ok()?;
        }
        items.push(start..reader.at);
    }
    Some(items)
}

fn walk(bytes: &[u8], reserved: Option<i8>) -> Result<(), String> {
    let mut reader = Reader {
        bytes,
        at: 0,
        reserved,
    };
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
    /// An extension type refused wherever it appears.
    reserved: Option<i8>,
}

impl Reader<'_> {
    /// Reads one item's header and skips its payload; returns how many
    /// nested items follow it (elements of an array, keys and values of a
    /// map).
    fn item(&mut self) -> Result<u64, String> {
        let start = self.at;
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
                self.ext(len, start)
            }
            0xc8 => {
                let len = self.uint(2)?;
                self.ext(len, start)
            }
            0xc9 => {
                let len = self.uint(4)?;
                self.ext(len, start)
            }
            0xca | 0xce | 0xd2 => skip(self, 4),
            0xcb | 0xcf | 0xd3 => skip(self, 8),
            0xcc | 0xd0 => skip(self, 1),
            0xcd | 0xd1 => skip(self, 2),
            // Fixed extensions: a type byte and 1, 2, 4, 8 or 16 bytes.
            0xd4..=0xd8 => self.ext(1 << (marker - 0xd4), start),
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

    /// An extension's type byte and `len` bytes of data; it starts at
    /// byte `start`.
    fn ext(&mut self, len: u64, start: usize) -> Result<u64, String> {
        let kind = self.take(1)?[0] as i8;
        if self.reserved == Some(kind) {
            return Err(format!(
                "uses extension type {kind} at byte {start}, which ferry keeps for values in stores"
            ));
        }
        self.take(len).map(|_| 0)
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
    fn refuses_the_reserved_extension_anywhere_and_says_where() {
        let stored = rmpv::Value::Ext(crate::STORED_EXT, vec![1; 300]);
        let other = rmpv::Value::Ext(5, vec![1; 300]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(
            &mut bytes,
            &rmpv::Value::Array(vec![0.into(), other.clone()]),
        )
        .unwrap();
        super::check_without_ext(&bytes, crate::STORED_EXT).unwrap();
        for (value, at) in [
            (stored.clone(), 0),
            (rmpv::Value::Array(vec![1.into(), stored.clone()]), 2),
            (
                rmpv::Value::Map(vec![("k".into(), rmpv::Value::Array(vec![stored]))]),
                4,
            ),
        ] {
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, &value).unwrap();
            check(&bytes).unwrap();
            let error = super::check_without_ext(&bytes, crate::STORED_EXT).unwrap_err();
            assert!(
                error.contains(&format!("extension type 70 at byte {at}")),
                "{error}"
            );
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
