//! Arrow arrays as ferry columns and back. Buffers are borrowed on the way
//! in (the runtime copies them into guest memory: the one copy in) and
//! adopted on the way out (the runtime copied them out of guest memory: the
//! one copy out), so nothing here copies values except to realign a bitmap
//! that starts mid-byte.

use datafusion::arrow::array::{Array, ArrayData, ArrayRef, make_array};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result};
use ferry_host::batch::{ColumnIn, ColumnOut, ColumnType};

/// The Arrow type of a ferry column type.
pub fn data_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Int8 => DataType::Int8,
        ColumnType::Int16 => DataType::Int16,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::UInt8 => DataType::UInt8,
        ColumnType::UInt16 => DataType::UInt16,
        ColumnType::UInt32 => DataType::UInt32,
        ColumnType::UInt64 => DataType::UInt64,
        ColumnType::Float32 => DataType::Float32,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::LargeUtf8 => DataType::LargeUtf8,
        ColumnType::Binary => DataType::Binary,
        ColumnType::Date32 => DataType::Date32,
        ColumnType::TimestampMicros => DataType::Timestamp(TimeUnit::Microsecond, None),
    }
}

/// The ferry column type of an Arrow type, if it has one.
pub fn column_type(data_type: &DataType) -> Option<ColumnType> {
    ColumnType::ALL
        .into_iter()
        .find(|t| &self::data_type(*t) == data_type)
}

/// An array's buffers, trimmed to the array's rows, ready to lend as a
/// [`ColumnIn`].
pub(crate) struct Lent {
    column_type: ColumnType,
    rows: usize,
    null_count: usize,
    validity: Option<Buffer>,
    values: Buffer,
    offsets: Option<Buffer>,
}

impl Lent {
    pub(crate) fn new(array: &dyn Array) -> Result<Lent> {
        let column_type = column_type(array.data_type()).ok_or_else(|| {
            DataFusionError::Plan(format!(
                "ferry functions cannot take {} columns",
                array.data_type()
            ))
        })?;
        let data = array.to_data();
        let (offset, rows) = (data.offset(), data.len());
        let validity = data
            .nulls()
            .filter(|nulls| nulls.null_count() > 0)
            .map(|nulls| nulls.inner().sliced());
        let first = &data.buffers()[0];
        let (values, offsets) = match (column_type.width(), column_type.offset_width()) {
            (Some(width), _) => (first.slice_with_length(offset * width, rows * width), None),
            (None, Some(width)) => {
                let offsets = first.slice_with_length(offset * width, (rows + 1) * width);
                let bytes = &data.buffers()[1];
                // Only the slice's own bytes cross: a slice of a large array
                // (DataFusion slices batches per group) must not drag the
                // rest along. Its offsets then start at 0: rebased, a copy
                // of the offsets alone.
                let (values, offsets) = match width {
                    4 => rebase::<i32>(bytes, offsets),
                    _ => rebase::<i64>(bytes, offsets),
                };
                (values, Some(offsets))
            }
            (None, None) => (
                BooleanBuffer::new(first.clone(), offset, rows).sliced(),
                None,
            ),
        };
        Ok(Lent {
            column_type,
            rows,
            null_count: data.null_count(),
            validity,
            values,
            offsets,
        })
    }

    pub(crate) fn column(&self) -> ColumnIn<'_> {
        ColumnIn {
            column_type: self.column_type,
            rows: self.rows,
            null_count: self.null_count,
            validity: self.validity.as_deref(),
            values: &self.values,
            offsets: self.offsets.as_deref(),
        }
    }
}

/// The bytes a slice's offsets cover, and the offsets made to start at 0
/// (the same buffers when they already do).
fn rebase<T>(bytes: &Buffer, offsets: Buffer) -> (Buffer, Buffer)
where
    T: datafusion::arrow::datatypes::ArrowNativeType + std::ops::Sub<Output = T>,
{
    let typed = offsets.typed_data::<T>();
    let (first, last) = (typed[0], typed[typed.len() - 1]);
    let (start, end) = (first.as_usize(), last.as_usize());
    let values = bytes.slice_with_length(start, end - start);
    if start == 0 {
        return (values, offsets);
    }
    let rebased = Buffer::from_iter(typed.iter().map(|&offset| offset - first));
    (values, rebased)
}

/// An output column as an Arrow array. The runtime has already checked the
/// buffers; Arrow checks them again as it builds the array.
pub(crate) fn array(column: ColumnOut) -> Result<ArrayRef> {
    let column_type = column.column_type;
    let mut buffers = Vec::with_capacity(2);
    if let Some(offsets) = column.offsets {
        buffers.push(adopt(offsets, column_type.offset_width().unwrap_or(1)));
    }
    buffers.push(adopt(column.values, column_type.width().unwrap_or(1)));
    let data = ArrayData::builder(data_type(column_type))
        .len(column.rows)
        .null_bit_buffer(column.validity.map(|bits| adopt(bits, 1)))
        .buffers(buffers)
        .build()?;
    Ok(make_array(data))
}

/// Takes over a buffer copied out of the guest; copies it only in the
/// unlikely case that the allocator placed it off the alignment Arrow
/// requires for its values.
fn adopt(bytes: Vec<u8>, align: usize) -> Buffer {
    if bytes.as_ptr().align_offset(align) == 0 {
        Buffer::from_vec(bytes)
    } else {
        Buffer::from_slice_ref(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Int64Array, StringArray};

    /// A column lent and returned unchanged is the same array, sliced or not.
    fn round_trip(input: ArrayRef) {
        let lent = Lent::new(&input).unwrap();
        let column = lent.column();
        let out = ColumnOut {
            column_type: column.column_type,
            rows: column.rows,
            null_count: column.null_count,
            validity: column.validity.map(<[u8]>::to_vec),
            values: column.values.to_vec(),
            offsets: column.offsets.map(<[u8]>::to_vec),
        };
        assert_eq!(&array(out).unwrap(), &input, "{input:?}");
    }

    #[test]
    fn arrays_round_trip_whole_and_sliced() {
        let ints: ArrayRef = std::sync::Arc::new(Int64Array::from_iter(
            (0..20).map(|i| (i % 3 != 0).then_some(i)),
        ));
        let texts: ArrayRef = std::sync::Arc::new(StringArray::from_iter(
            (0..20).map(|i| (i % 4 != 0).then(|| "x".repeat(i))),
        ));
        let bools: ArrayRef = std::sync::Arc::new(BooleanArray::from_iter(
            (0..20).map(|i| (i % 5 != 0).then_some(i % 2 == 0)),
        ));
        // A slice of strings lends its own bytes only.
        let slice = texts.slice(13, 2);
        let lent = Lent::new(&slice).unwrap();
        assert_eq!(lent.column().values, "x".repeat(13 + 14).as_bytes());
        for input in [ints, texts, bools] {
            round_trip(input.clone());
            round_trip(input.slice(3, 11));
            round_trip(input.slice(8, 0));
        }
    }
}
