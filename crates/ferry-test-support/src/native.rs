//! Native counterparts of the example guests' functions, to compare with.

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::compute::binary;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_int64_array;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use std::sync::Arc;

/// `native_gcd(a, b)`: `examples/udfs`' `gcd`, the same Rust function,
/// compiled natively into a vectorized UDF.
pub fn native_gcd() -> ScalarUDF {
    create_udf(
        "native_gcd",
        vec![DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (a, b) = (as_int64_array(&arrays[0])?, as_int64_array(&arrays[1])?);
            let out: Int64Array = binary(a, b, ferry_example_udfs::gcd)?;
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}
