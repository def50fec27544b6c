//! The batch (Arrow) calling convention: column types and the descriptor
//! through which columns cross the boundary.

/// Prefix of the export that implements a scalar function.
pub const EXPORT_PREFIX: &str = "ferry_udf_";

/// Prefix of the exports that implement an aggregate function: the
/// record's `export` is this and the name, and each [`AggregateStep`]
/// appends its suffix.
pub const AGGREGATE_PREFIX: &str = "ferry_udaf_";

/// The calls an aggregate function answers. All take the batch call's
/// arguments and work on groups: the first column is always the states
/// of `G` groups, a binary column of `G` rows (null for a group with no
/// state yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateStep {
    /// States, a `uint32` group index per row, and the argument columns
    /// in; the `G` new states out.
    Update,
    /// States, a `uint32` group index per partial state, and a binary
    /// column of partial states in; the `G` merged states out. Null
    /// partial states are skipped.
    Merge,
    /// States in; `G` rows of the result type out.
    Finish,
    /// As `Update`, but takes each row back out of its group's state:
    /// what a sliding window needs as rows leave it. Optional; a record
    /// says whether the module has it.
    Retract,
    /// The kept steps (optional; a record's `kept` says whether the module
    /// has them) work on states the guest keeps in its own memory, by the
    /// host's group index, from one call to the next. This one: a `uint32`
    /// group index per row and the argument columns in; a `uint32` column
    /// of one row out, how many groups the guest keeps.
    KeptUpdate,
    /// A `uint32` group index per partial state and a binary column of
    /// partial states in; the number of groups kept out.
    KeptMerge,
    /// A `uint32` column of groups in; their results out, and those groups
    /// start again from the initial state.
    KeptFinish,
    /// A `uint32` column of groups in; their states out, a binary column
    /// without nulls that `Merge` takes.
    KeptStates,
    /// A `uint32` column of one row, `n`, in: the first `n` groups are
    /// dropped, and group `n + i` becomes group `i`. The number of groups
    /// kept out.
    KeptDrop,
}

impl AggregateStep {
    /// What the step's export name ends with.
    pub fn suffix(self) -> &'static str {
        match self {
            AggregateStep::Update => "_update",
            AggregateStep::Merge => "_merge",
            AggregateStep::Finish => "_finish",
            AggregateStep::Retract => "_retract",
            AggregateStep::KeptUpdate => "_kept_update",
            AggregateStep::KeptMerge => "_kept_merge",
            AggregateStep::KeptFinish => "_kept_finish",
            AggregateStep::KeptStates => "_kept_states",
            AggregateStep::KeptDrop => "_kept_drop",
        }
    }

    /// The steps every aggregate function has.
    pub const REQUIRED: [AggregateStep; 3] = [
        AggregateStep::Update,
        AggregateStep::Merge,
        AggregateStep::Finish,
    ];

    /// The steps a module whose record has `kept` exports.
    pub const KEPT: [AggregateStep; 5] = [
        AggregateStep::KeptUpdate,
        AggregateStep::KeptMerge,
        AggregateStep::KeptFinish,
        AggregateStep::KeptStates,
        AggregateStep::KeptDrop,
    ];
}

/// A column's type. The numbers are the ABI; the names are what records
/// carry in `args` and `returns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ColumnType {
    /// Bit-packed booleans.
    Boolean = 1,
    /// Signed 8-bit integers. Every integer and float is little-endian.
    Int8 = 2,
    /// Signed 16-bit integers.
    Int16 = 3,
    /// Signed 32-bit integers.
    Int32 = 4,
    /// Signed 64-bit integers.
    Int64 = 5,
    /// Unsigned 8-bit integers.
    UInt8 = 6,
    /// Unsigned 16-bit integers.
    UInt16 = 7,
    /// Unsigned 32-bit integers.
    UInt32 = 8,
    /// Unsigned 64-bit integers.
    UInt64 = 9,
    /// IEEE 754 single precision.
    Float32 = 10,
    /// IEEE 754 double precision.
    Float64 = 11,
    /// UTF-8 strings: i32 offsets and bytes.
    Utf8 = 12,
    /// UTF-8 strings: i64 offsets and bytes.
    LargeUtf8 = 13,
    /// Byte strings: i32 offsets and bytes.
    Binary = 14,
    /// Days since the Unix epoch, i32.
    Date32 = 15,
    /// Microseconds since the Unix epoch, i64, no time zone.
    TimestampMicros = 16,
}

impl ColumnType {
    /// Every type, in tag order.
    pub const ALL: [ColumnType; 16] = [
        ColumnType::Boolean,
        ColumnType::Int8,
        ColumnType::Int16,
        ColumnType::Int32,
        ColumnType::Int64,
        ColumnType::UInt8,
        ColumnType::UInt16,
        ColumnType::UInt32,
        ColumnType::UInt64,
        ColumnType::Float32,
        ColumnType::Float64,
        ColumnType::Utf8,
        ColumnType::LargeUtf8,
        ColumnType::Binary,
        ColumnType::Date32,
        ColumnType::TimestampMicros,
    ];

    /// The type with this tag.
    pub fn from_tag(tag: u32) -> Option<ColumnType> {
        Self::ALL.get((tag as usize).wrapping_sub(1)).copied()
    }

    /// The name records use.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Boolean => "boolean",
            ColumnType::Int8 => "int8",
            ColumnType::Int16 => "int16",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::UInt8 => "uint8",
            ColumnType::UInt16 => "uint16",
            ColumnType::UInt32 => "uint32",
            ColumnType::UInt64 => "uint64",
            ColumnType::Float32 => "float32",
            ColumnType::Float64 => "float64",
            ColumnType::Utf8 => "utf8",
            ColumnType::LargeUtf8 => "large_utf8",
            ColumnType::Binary => "binary",
            ColumnType::Date32 => "date32",
            ColumnType::TimestampMicros => "timestamp_us",
        }
    }

    /// The type a record names.
    pub fn from_name(name: &str) -> Option<ColumnType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Bytes per value for fixed-width types; `None` for booleans
    /// (bits) and variable-width types (offsets).
    pub fn width(self) -> Option<usize> {
        match self {
            ColumnType::Boolean | ColumnType::Utf8 | ColumnType::LargeUtf8 | ColumnType::Binary => {
                None
            }
            ColumnType::Int8 | ColumnType::UInt8 => Some(1),
            ColumnType::Int16 | ColumnType::UInt16 => Some(2),
            ColumnType::Int32 | ColumnType::UInt32 | ColumnType::Float32 | ColumnType::Date32 => {
                Some(4)
            }
            ColumnType::Int64
            | ColumnType::UInt64
            | ColumnType::Float64
            | ColumnType::TimestampMicros => Some(8),
        }
    }

    /// Bytes per offset for variable-width types.
    pub fn offset_width(self) -> Option<usize> {
        match self {
            ColumnType::Utf8 | ColumnType::Binary => Some(4),
            ColumnType::LargeUtf8 => Some(8),
            _ => None,
        }
    }
}

/// How a column is laid out in guest memory: seven little-endian `u32`s.
/// Buffers follow Arrow's format with no offset: validity is a bitmap, one
/// bit per row, least significant bit first, 1 meaning valid; offsets
/// have `rows + 1` entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ColumnDescriptor {
    /// A [`ColumnType`] tag.
    pub column_type: u32,
    /// Number of rows.
    pub rows: u32,
    /// Number of null rows.
    pub null_count: u32,
    /// Pointer to the validity bitmap, or 0 when no row is null.
    pub validity: u32,
    /// Pointer to the values (or bytes, for variable-width types).
    pub values: u32,
    /// Length of the values buffer in bytes.
    pub values_len: u32,
    /// Pointer to the offsets of variable-width types, else 0.
    pub offsets: u32,
}

impl ColumnDescriptor {
    /// Size in guest memory.
    pub const SIZE: usize = 28;

    /// The descriptor as it is stored in guest memory.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let fields = [
            self.column_type,
            self.rows,
            self.null_count,
            self.validity,
            self.values,
            self.values_len,
            self.offsets,
        ];
        let mut out = [0u8; Self::SIZE];
        for (chunk, field) in out.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        out
    }

    /// Reads a descriptor stored in guest memory.
    pub fn from_bytes(bytes: &[u8; Self::SIZE]) -> ColumnDescriptor {
        let field = |i: usize| {
            u32::from_le_bytes([
                bytes[i * 4],
                bytes[i * 4 + 1],
                bytes[i * 4 + 2],
                bytes[i * 4 + 3],
            ])
        };
        ColumnDescriptor {
            column_type: field(0),
            rows: field(1),
            null_count: field(2),
            validity: field(3),
            values: field(4),
            values_len: field(5),
            offsets: field(6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_and_descriptors_round_trip() {
        for t in ColumnType::ALL {
            assert_eq!(ColumnType::from_tag(t as u32), Some(t));
            assert_eq!(ColumnType::from_name(t.name()), Some(t));
        }
        assert_eq!(ColumnType::from_tag(0), None);
        let d = ColumnDescriptor {
            column_type: 5,
            rows: 3,
            null_count: 1,
            validity: 8,
            values: 16,
            values_len: 24,
            offsets: 0,
        };
        assert_eq!(ColumnDescriptor::from_bytes(&d.to_bytes()), d);
    }
}
