//! Batch calls: columns in Arrow's memory layout, copied once into guest
//! memory and once out (docs/abi.md, "Batch calls"). This crate stays free of
//! Arrow itself; `ferry-sql` converts between these and Arrow arrays.

pub use ferry_abi::batch::ColumnType;

/// An input column: borrowed Arrow-layout buffers. Validity is a bitmap
/// starting at bit 0 (1 = valid); offsets have `rows + 1` entries.
#[derive(Clone, Copy, Debug)]
pub struct ColumnIn<'a> {
    /// The column's type.
    pub column_type: ColumnType,
    /// Number of rows.
    pub rows: usize,
    /// Number of null rows; `validity` may be `None` when it is 0.
    pub null_count: usize,
    /// The validity bitmap.
    pub validity: Option<&'a [u8]>,
    /// The values, or the bytes of variable-width types.
    pub values: &'a [u8],
    /// The offsets of variable-width types.
    pub offsets: Option<&'a [u8]>,
}

/// An output column, copied out of guest memory and checked to be a
/// well-formed column of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnOut {
    /// The column's type.
    pub column_type: ColumnType,
    /// Number of rows.
    pub rows: usize,
    /// Number of null rows.
    pub null_count: usize,
    /// The validity bitmap, when some row is null.
    pub validity: Option<Vec<u8>>,
    /// The values, or the bytes of variable-width types.
    pub values: Vec<u8>,
    /// The offsets of variable-width types.
    pub offsets: Option<Vec<u8>>,
}

impl ColumnOut {
    /// Checks what a guest claims about the buffers, so that no malformed
    /// column leaves the sandbox.
    pub(crate) fn check(&self) -> Result<(), String> {
        let rows = self.rows;
        if let Some(validity) = &self.validity {
            if validity.len() < rows.div_ceil(8) {
                return Err(format!(
                    "a validity bitmap of {} bytes for {rows} rows",
                    validity.len()
                ));
            }
            let nulls = (0..rows)
                .filter(|&row| validity[row / 8] & (1 << (row % 8)) == 0)
                .count();
            if nulls != self.null_count {
                return Err(format!(
                    "{} nulls claimed, {nulls} in the bitmap",
                    self.null_count
                ));
            }
        } else if self.null_count != 0 {
            return Err(format!(
                "{} nulls claimed and no validity bitmap",
                self.null_count
            ));
        }
        let needed = match (self.column_type.width(), self.column_type.offset_width()) {
            (Some(width), _) => rows * width,
            (None, None) => rows.div_ceil(8),
            (None, Some(width)) => {
                let offsets = self.offsets.as_deref().unwrap_or_default();
                if offsets.len() != (rows + 1) * width {
                    return Err(format!("{} offset bytes for {rows} rows", offsets.len()));
                }
                let offset = |bytes: &[u8]| match width {
                    4 => i32::from_le_bytes(bytes.try_into().expect("4 bytes")) as i64,
                    _ => i64::from_le_bytes(bytes.try_into().expect("8 bytes")),
                };
                let offsets: Vec<i64> = offsets.chunks_exact(width).map(offset).collect();
                if offsets[0] < 0 || offsets.windows(2).any(|pair| pair[0] > pair[1]) {
                    return Err("offsets that are negative or decrease".into());
                }
                let end = offsets[rows] as usize;
                if self.values.len() < end {
                    return Err(format!(
                        "offsets up to {end} into {} bytes",
                        self.values.len()
                    ));
                }
                let is_text = matches!(self.column_type, ColumnType::Utf8 | ColumnType::LargeUtf8);
                if is_text
                    && offsets.windows(2).any(|pair| {
                        std::str::from_utf8(&self.values[pair[0] as usize..pair[1] as usize])
                            .is_err()
                    })
                {
                    return Err("strings that are not UTF-8".into());
                }
                end
            }
        };
        if self.values.len() < needed {
            return Err(format!(
                "{} value bytes where {needed} are needed",
                self.values.len()
            ));
        }
        Ok(())
    }
}
