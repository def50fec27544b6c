//! Columns as a batch function sees them: read in place from the buffers the
//! host copied into guest memory, and built into buffers the host copies out.
//! `#[ferry::udf]` generates the loop; authors who want whole columns can use
//! these types directly.

pub use ferry_abi::batch::{ColumnDescriptor, ColumnType};

/// One input column, borrowed from guest memory.
#[derive(Clone, Copy)]
pub struct Column<'a> {
    rows: usize,
    null_count: usize,
    validity: Option<&'a [u8]>,
    values: &'a [u8],
    offsets: &'a [u8],
    column_type: ColumnType,
}

impl<'a> Column<'a> {
    /// A column from a descriptor the host wrote into guest memory.
    ///
    /// # Safety
    /// The descriptor's pointers and lengths must describe live buffers of
    /// this memory, as the host guarantees for the duration of a call.
    pub unsafe fn from_descriptor(descriptor: &ColumnDescriptor) -> Option<Column<'a>> {
        let column_type = ColumnType::from_tag(descriptor.column_type)?;
        let rows = descriptor.rows as usize;
        let slice = |ptr: u32, len: usize| -> &'a [u8] {
            if ptr == 0 || len == 0 {
                &[]
            } else {
                // SAFETY: promised by the caller.
                unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len) }
            }
        };
        Some(Column {
            rows,
            null_count: descriptor.null_count as usize,
            validity: (descriptor.validity != 0)
                .then(|| slice(descriptor.validity, rows.div_ceil(8))),
            values: slice(descriptor.values, descriptor.values_len as usize),
            offsets: slice(
                descriptor.offsets,
                column_type.offset_width().map_or(0, |w| (rows + 1) * w),
            ),
            column_type,
        })
    }

    /// The descriptor of this column's buffers, with pointers into this
    /// process's memory: what the host reads an output column from.
    pub fn descriptor(&self) -> ColumnDescriptor {
        let pointer = |bytes: &[u8]| {
            if bytes.is_empty() {
                0
            } else {
                bytes.as_ptr() as usize as u32
            }
        };
        ColumnDescriptor {
            column_type: self.column_type as u32,
            rows: self.rows as u32,
            null_count: self.null_count as u32,
            validity: self.validity.map_or(0, pointer),
            values: pointer(self.values),
            values_len: self.values.len() as u32,
            offsets: pointer(self.offsets),
        }
    }

    /// A column over buffers (tests and column-level functions).
    pub fn new(
        column_type: ColumnType,
        rows: usize,
        validity: Option<&'a [u8]>,
        values: &'a [u8],
        offsets: &'a [u8],
    ) -> Column<'a> {
        let null_count = validity.map_or(0, |bits| {
            (0..rows)
                .filter(|&row| bits[row / 8] & (1 << (row % 8)) == 0)
                .count()
        });
        Column {
            rows,
            null_count,
            validity,
            values,
            offsets,
            column_type,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The column's type.
    pub fn column_type(&self) -> ColumnType {
        self.column_type
    }

    /// Number of null rows.
    pub fn null_count(&self) -> usize {
        self.null_count
    }

    /// The validity bitmap, if any row is null.
    pub fn validity(&self) -> Option<&'a [u8]> {
        self.validity
    }

    /// The values buffer (bytes, for variable-width types).
    pub fn values(&self) -> &'a [u8] {
        self.values
    }

    /// The offsets buffer of variable-width types (empty otherwise).
    pub fn offsets(&self) -> &'a [u8] {
        self.offsets
    }

    /// Whether any row is null.
    pub fn has_nulls(&self) -> bool {
        self.null_count > 0
    }

    /// Whether `row` holds a value.
    #[inline]
    pub fn is_valid(&self, row: usize) -> bool {
        match self.validity {
            Some(bits) => bits[row / 8] & (1 << (row % 8)) != 0,
            None => true,
        }
    }

    /// The value at `row`, ignoring validity.
    #[inline]
    pub fn value<T: FromColumn<'a>>(&self, row: usize) -> T {
        T::read(self, row)
    }

    /// The value at `row`, or `None` if it is null.
    #[inline]
    pub fn get<T: FromColumn<'a>>(&self, row: usize) -> Option<T> {
        self.is_valid(row).then(|| T::read(self, row))
    }

    #[inline]
    fn fixed<const N: usize>(&self, row: usize) -> [u8; N] {
        self.values[row * N..row * N + N]
            .try_into()
            .expect("N bytes")
    }

    #[inline]
    fn var(&self, row: usize) -> &'a [u8] {
        let offset = |i: usize| match self.column_type {
            ColumnType::LargeUtf8 => {
                i64::from_le_bytes(self.offsets[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
                    as usize
            }
            _ => i32::from_le_bytes(self.offsets[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
                as usize,
        };
        &self.values[offset(row)..offset(row + 1)]
    }
}

/// A Rust type a column can be read as.
pub trait FromColumn<'a>: Sized {
    /// Whether a column of this type can be read as `Self`.
    fn accepts(column_type: ColumnType) -> bool;
    /// The value at `row` (validity is the caller's business).
    fn read(column: &Column<'a>, row: usize) -> Self;

    /// Every row's value, nulls included as whatever their bytes hold:
    /// the loop for columns without nulls.
    #[inline]
    fn iter(column: Column<'a>) -> impl Iterator<Item = Self> + 'a {
        (0..column.len()).map(move |row| Self::read(&column, row))
    }
}

/// A Rust type a column can be built from.
pub trait ToColumn {
    /// The column type it builds.
    const TYPE: ColumnType;
    /// Appends the value's bytes.
    fn write(&self, builder: &mut ColumnBuilder);

    /// Appends every value of `values`, none of them null, to a builder
    /// that has no nulls.
    #[inline]
    fn extend(builder: &mut ColumnBuilder, values: impl Iterator<Item = Self>)
    where
        Self: Sized,
    {
        for value in values {
            builder.push_value(value);
        }
    }
}

macro_rules! fixed_width {
    ($($t:ty => $ty:ident),* $(,)?) => {$(
        impl<'a> FromColumn<'a> for $t {
            fn accepts(column_type: ColumnType) -> bool {
                column_type == ColumnType::$ty
            }
            #[inline]
            fn read(column: &Column<'a>, row: usize) -> Self {
                <$t>::from_le_bytes(column.fixed(row))
            }
            // Whole chunks, no per-row bounds checks: a loop the compiler
            // can keep tight.
            #[inline]
            fn iter(column: Column<'a>) -> impl Iterator<Item = Self> + 'a {
                const WIDTH: usize = size_of::<$t>();
                column.values[..column.rows * WIDTH]
                    .chunks_exact(WIDTH)
                    .map(|bytes| <$t>::from_le_bytes(bytes.try_into().expect("WIDTH bytes")))
            }
        }
        impl ToColumn for $t {
            const TYPE: ColumnType = ColumnType::$ty;
            #[inline]
            fn write(&self, builder: &mut ColumnBuilder) {
                builder.values.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn extend(builder: &mut ColumnBuilder, values: impl Iterator<Item = Self>) {
                const WIDTH: usize = size_of::<$t>();
                let start = builder.values.len();
                let (rows, _) = values.size_hint();
                builder.values.resize(start + rows * WIDTH, 0);
                let mut written = 0;
                let mut values = values;
                for (bytes, value) in builder.values[start..].chunks_exact_mut(WIDTH).zip(&mut values) {
                    bytes.copy_from_slice(&value.to_le_bytes());
                    written += 1;
                }
                builder.values.truncate(start + written * WIDTH);
                builder.rows += written;
                // Whatever the size hint did not promise.
                for value in values {
                    builder.push_value(value);
                }
            }
        }
    )*};
}

fixed_width!(i8 => Int8, i16 => Int16, i32 => Int32, i64 => Int64, u8 => UInt8, u16 => UInt16, u32 => UInt32, u64 => UInt64, f32 => Float32, f64 => Float64);

/// A SQL `DATE`: days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date32(pub i32);

/// A SQL `TIMESTAMP` without time zone: microseconds since
/// 1970-01-01 00:00:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimestampMicros(pub i64);

macro_rules! temporal {
    ($($t:ident($inner:ty) => $ty:ident),* $(,)?) => {$(
        impl<'a> FromColumn<'a> for $t {
            fn accepts(column_type: ColumnType) -> bool {
                column_type == ColumnType::$ty
            }
            #[inline]
            fn read(column: &Column<'a>, row: usize) -> Self {
                $t(<$inner>::from_le_bytes(column.fixed(row)))
            }
        }
        impl ToColumn for $t {
            const TYPE: ColumnType = ColumnType::$ty;
            #[inline]
            fn write(&self, builder: &mut ColumnBuilder) {
                self.0.write(builder)
            }
        }
    )*};
}

temporal!(Date32(i32) => Date32, TimestampMicros(i64) => TimestampMicros);

impl<'a> FromColumn<'a> for bool {
    fn accepts(column_type: ColumnType) -> bool {
        column_type == ColumnType::Boolean
    }
    #[inline]
    fn read(column: &Column<'a>, row: usize) -> Self {
        column.values[row / 8] & (1 << (row % 8)) != 0
    }
}

impl ToColumn for bool {
    const TYPE: ColumnType = ColumnType::Boolean;
    #[inline]
    fn write(&self, builder: &mut ColumnBuilder) {
        let row = builder.rows;
        if row.is_multiple_of(8) {
            builder.values.push(0);
        }
        if *self {
            *builder.values.last_mut().expect("a byte for this row") |= 1 << (row % 8);
        }
    }
}

impl<'a> FromColumn<'a> for &'a str {
    fn accepts(column_type: ColumnType) -> bool {
        matches!(column_type, ColumnType::Utf8 | ColumnType::LargeUtf8)
    }
    #[inline]
    fn read(column: &Column<'a>, row: usize) -> Self {
        // The host checked the column is valid UTF-8 when it made it.
        std::str::from_utf8(column.var(row)).unwrap_or_default()
    }
}

impl<'a> FromColumn<'a> for &'a [u8] {
    fn accepts(column_type: ColumnType) -> bool {
        column_type == ColumnType::Binary
    }
    #[inline]
    fn read(column: &Column<'a>, row: usize) -> Self {
        column.var(row)
    }
}

impl<'a> FromColumn<'a> for String {
    fn accepts(column_type: ColumnType) -> bool {
        <&str>::accepts(column_type)
    }
    fn read(column: &Column<'a>, row: usize) -> Self {
        <&str>::read(column, row).to_owned()
    }
}

impl<'a> FromColumn<'a> for Vec<u8> {
    fn accepts(column_type: ColumnType) -> bool {
        <&[u8]>::accepts(column_type)
    }
    fn read(column: &Column<'a>, row: usize) -> Self {
        <&[u8]>::read(column, row).to_vec()
    }
}

impl ToColumn for String {
    const TYPE: ColumnType = ColumnType::Utf8;
    fn write(&self, builder: &mut ColumnBuilder) {
        builder.values.extend_from_slice(self.as_bytes());
    }
}

impl ToColumn for &str {
    const TYPE: ColumnType = ColumnType::Utf8;
    fn write(&self, builder: &mut ColumnBuilder) {
        builder.values.extend_from_slice(self.as_bytes());
    }
}

impl ToColumn for Vec<u8> {
    const TYPE: ColumnType = ColumnType::Binary;
    fn write(&self, builder: &mut ColumnBuilder) {
        builder.values.extend_from_slice(self);
    }
}

/// Builds an output column, row by row.
pub struct ColumnBuilder {
    column_type: ColumnType,
    rows: usize,
    null_count: usize,
    validity: Vec<u8>,
    values: Vec<u8>,
    offsets: Vec<u8>,
}

impl ColumnBuilder {
    /// An empty column of `column_type`, with room for `rows`.
    pub fn new(column_type: ColumnType, rows: usize) -> ColumnBuilder {
        let mut offsets = Vec::new();
        if let Some(width) = column_type.offset_width() {
            offsets.reserve((rows + 1) * width);
            offsets.extend(std::iter::repeat_n(0u8, width));
        }
        ColumnBuilder {
            column_type,
            rows: 0,
            null_count: 0,
            validity: Vec::new(),
            values: Vec::with_capacity(rows * column_type.width().unwrap_or(1)),
            offsets,
        }
    }

    /// Appends a value, or a null.
    #[inline]
    pub fn push<T: ToColumn>(&mut self, value: Option<T>) {
        match value {
            Some(value) => {
                value.write(self);
                self.mark(true);
            }
            None => {
                self.write_null();
                self.mark(false);
            }
        }
    }

    /// Appends values that are never null: the fastest path, for fixed-width
    /// types a tight loop over the output buffer.
    #[inline]
    pub fn extend_values<T: ToColumn>(&mut self, values: impl Iterator<Item = T>) {
        if self.null_count == 0 {
            T::extend(self, values);
        } else {
            for value in values {
                self.push_value(value);
            }
        }
    }

    /// Appends a value that is never null: the fast path.
    #[inline]
    pub fn push_value<T: ToColumn>(&mut self, value: T) {
        value.write(self);
        self.mark(true);
    }

    /// Appends a variable-width value that `write` appends to the values
    /// buffer itself, saving a copy through a buffer of its own. Nothing is
    /// appended if `write` fails.
    #[doc(hidden)]
    pub fn push_written<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.values.len();
        if let Err(e) = write(&mut self.values) {
            self.values.truncate(start);
            return Err(e);
        }
        self.mark(true);
        Ok(())
    }

    fn write_null(&mut self) {
        match self.column_type.width() {
            Some(width) => self.values.extend(std::iter::repeat_n(0u8, width)),
            None if self.column_type == ColumnType::Boolean => false.write(self),
            None => {}
        }
    }

    #[inline]
    fn mark(&mut self, valid: bool) {
        let row = self.rows;
        if !valid {
            if self.null_count == 0 {
                // Rows so far were all valid.
                self.validity = vec![0xff; row.div_ceil(8).max(1)];
                if !row.is_multiple_of(8) {
                    let last = self.validity.len() - 1;
                    self.validity[last] = (1u8 << (row % 8)) - 1;
                }
            }
            self.null_count += 1;
        }
        if self.null_count > 0 {
            if row.is_multiple_of(8) && row / 8 >= self.validity.len() {
                self.validity.push(0);
            }
            if valid {
                self.validity[row / 8] |= 1 << (row % 8);
            } else {
                self.validity[row / 8] &= !(1 << (row % 8));
            }
        }
        match self.column_type.offset_width() {
            Some(4) => self
                .offsets
                .extend_from_slice(&(self.values.len() as i32).to_le_bytes()),
            Some(_) => self
                .offsets
                .extend_from_slice(&(self.values.len() as i64).to_le_bytes()),
            None => {}
        }
        self.rows += 1;
    }

    /// Number of rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The column built so far, to read back.
    pub fn column(&self) -> Column<'_> {
        Column {
            rows: self.rows,
            null_count: self.null_count,
            validity: (self.null_count > 0).then_some(self.validity.as_slice()),
            values: &self.values,
            offsets: &self.offsets,
            column_type: self.column_type,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_columns_read_back() {
        let mut ints = ColumnBuilder::new(ColumnType::Int64, 3);
        for value in [Some(7i64), None, Some(-1)]
            .into_iter()
            .chain((0..20).map(Some))
        {
            ints.push(value);
        }
        let column = ints.column();
        assert_eq!(column.len(), 23);
        assert!(column.has_nulls());
        assert_eq!(column.get::<i64>(0), Some(7));
        assert_eq!(column.get::<i64>(1), None);
        assert_eq!(column.get::<i64>(2), Some(-1));
        assert_eq!(column.get::<i64>(22), Some(19));

        let mut strings = ColumnBuilder::new(ColumnType::Utf8, 3);
        strings.push(Some("héllo".to_string()));
        strings.push::<String>(None);
        strings.push_value("");
        let column = strings.column();
        assert_eq!(column.get::<&str>(0), Some("héllo"));
        assert_eq!(column.get::<&str>(1), None);
        assert_eq!(column.get::<&str>(2), Some(""));

        let mut bools = ColumnBuilder::new(ColumnType::Boolean, 10);
        for i in 0..10 {
            bools.push_value(i % 3 == 0);
        }
        let column = bools.column();
        assert!((0..10).all(|i| column.value::<bool>(i) == (i % 3 == 0)));
    }
}
