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
    /// column leaves the sandbox. The error completes "the column ...".
    pub(crate) fn check(&self) -> Result<(), String> {
        let rows = self.rows;
        if let Some(validity) = &self.validity {
            if validity.len() < rows.div_ceil(8) {
                return Err(format!(
                    "has a validity bitmap of {} bytes for {rows} rows",
                    validity.len()
                ));
            }
            let nulls = (0..rows)
                .filter(|&row| validity[row / 8] & (1 << (row % 8)) == 0)
                .count();
            if nulls != self.null_count {
                return Err(format!(
                    "claims {} nulls, and its bitmap has {nulls}",
                    self.null_count
                ));
            }
        } else if self.null_count != 0 {
            return Err(format!(
                "claims {} nulls and has no validity bitmap",
                self.null_count
            ));
        }
        let needed = match (self.column_type.width(), self.column_type.offset_width()) {
            (Some(width), _) => rows * width,
            (None, None) => rows.div_ceil(8),
            (None, Some(width)) => {
                let offsets = self.offsets.as_deref().unwrap_or_default();
                if offsets.len() != (rows + 1) * width {
                    return Err(format!(
                        "has {} offset bytes for {rows} rows",
                        offsets.len()
                    ));
                }
                let offset = |bytes: &[u8]| match width {
                    4 => i32::from_le_bytes(bytes.try_into().expect("4 bytes")) as i64,
                    _ => i64::from_le_bytes(bytes.try_into().expect("8 bytes")),
                };
                let offsets: Vec<i64> = offsets.chunks_exact(width).map(offset).collect();
                if offsets[0] < 0 || offsets.windows(2).any(|pair| pair[0] > pair[1]) {
                    return Err("has offsets that are negative or decrease".into());
                }
                let end = offsets[rows] as usize;
                if self.values.len() < end {
                    return Err(format!(
                        "has offsets up to {end} into {} bytes",
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
                    return Err("has strings that are not UTF-8".into());
                }
                end
            }
        };
        if self.values.len() < needed {
            return Err(format!(
                "has {} value bytes where {needed} are needed",
                self.values.len()
            ));
        }
        Ok(())
    }
}

/// The states of an aggregate's groups, one row each: the binary column an
/// aggregate call takes first and its update and merge steps return. A
/// group without a state yet is a null row (the guest starts it fresh).
///
/// ```
/// use ferry_host::batch::States;
///
/// let states: States = [Some(&b"\x01"[..]), None].into_iter().collect();
/// assert_eq!(states.len(), 2);
/// assert_eq!(states.get(1), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct States {
    rows: usize,
    null_count: usize,
    validity: Vec<u8>,
    values: Vec<u8>,
    /// `i32` offsets, little-endian, `rows + 1` of them.
    offsets: Vec<u8>,
}

impl Default for States {
    fn default() -> Self {
        States {
            rows: 0,
            null_count: 0,
            validity: Vec::new(),
            values: Vec::new(),
            offsets: 0i32.to_le_bytes().to_vec(),
        }
    }
}

impl States {
    /// Appends a group's state.
    pub fn push(&mut self, state: Option<&[u8]>) {
        if self.rows.is_multiple_of(8) {
            self.validity.push(0);
        }
        let (byte, bit) = (self.rows / 8, 1 << (self.rows % 8));
        match state {
            Some(bytes) => {
                self.validity[byte] |= bit;
                self.values.extend_from_slice(bytes);
            }
            None => {
                self.validity[byte] &= !bit;
                self.null_count += 1;
            }
        }
        let end = i32::try_from(self.values.len())
            .expect("aggregate states of more than 2 GiB in one column");
        self.offsets.extend_from_slice(&end.to_le_bytes());
        self.rows += 1;
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no groups.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The state of `group`, if it has one.
    pub fn get(&self, group: usize) -> Option<&[u8]> {
        if group >= self.rows || self.validity[group / 8] & (1 << (group % 8)) == 0 {
            return None;
        }
        let offset = |i: usize| {
            i32::from_le_bytes(self.offsets[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as usize
        };
        Some(&self.values[offset(group)..offset(group + 1)])
    }

    /// Each group's state in order.
    pub fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> {
        (0..self.rows).map(|group| self.get(group))
    }

    /// The states as a column to lend to a call.
    pub fn column(&self) -> ColumnIn<'_> {
        ColumnIn {
            column_type: ColumnType::Binary,
            rows: self.rows,
            null_count: self.null_count,
            validity: (self.null_count > 0).then_some(&self.validity[..]),
            values: &self.values,
            offsets: Some(&self.offsets),
        }
    }

    /// The states as a binary column, their buffers moved, not copied.
    pub fn into_column(self) -> ColumnOut {
        ColumnOut {
            column_type: ColumnType::Binary,
            rows: self.rows,
            null_count: self.null_count,
            validity: (self.null_count > 0).then_some(self.validity),
            values: self.values,
            offsets: Some(self.offsets),
        }
    }

    /// The states a guest returned: a checked binary column.
    pub(crate) fn from_column(column: ColumnOut) -> States {
        let rows = column.rows;
        let mut states = States {
            rows,
            null_count: column.null_count,
            validity: column
                .validity
                .unwrap_or_else(|| vec![0xff; rows.div_ceil(8)]),
            values: column.values,
            offsets: column.offsets.unwrap_or_default(),
        };
        // Nothing past the last row, so that pushing goes on from there.
        states.validity.truncate(rows.div_ceil(8));
        let end = states.offsets.len() - 4;
        let end = i32::from_le_bytes(states.offsets[end..].try_into().expect("4 bytes"));
        states.values.truncate(end as usize);
        states
    }
}

impl<'a> FromIterator<Option<&'a [u8]>> for States {
    fn from_iter<I: IntoIterator<Item = Option<&'a [u8]>>>(iter: I) -> States {
        let mut states = States::default();
        for state in iter {
            states.push(state);
        }
        states
    }
}
