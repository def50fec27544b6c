//! Scalar functions: one guest call per batch.

use crate::Error;
use crate::arrow::array;
use crate::function::Function;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// A ferry scalar function as a DataFusion UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WasmScalar(pub(crate) Function);

impl ScalarUDFImpl for WasmScalar {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.0.documentation)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.0.check(args)?;
        Ok(self.0.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Constant arguments are evaluated once, on one row, unless the
        // function may give a different value each time.
        let constant = self.0.signature.volatility != Volatility::Volatile
            && args
                .args
                .iter()
                .all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let rows = if constant { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|arg| arg.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let out = call_arrays(&self.0, &arrays)?;
        if constant {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// One guest call on `arrays`, the function's arguments.
fn call_arrays(function: &Function, arrays: &[ArrayRef]) -> Result<ArrayRef> {
    array(
        function.call_with_arguments(None, arrays, |instance, closure, columns| {
            instance.call_batch(closure, columns)
        })?,
    )
}

/// A scalar function called on Arrow arrays directly, outside any query:
/// for engines that hand over batches themselves (Spark's `mapInArrow`,
/// Polars, DuckDB). One guest call per call, arguments converted as SQL
/// would convert them. Made by [`WasmFunctions::array_function`](crate::WasmFunctions::array_function).
///
/// ```no_run
/// use datafusion::arrow::array::{ArrayRef, Int64Array};
/// use ferry_host::{Closure, Module, Runtime, RuntimeConfig};
/// use ferry_sql::WasmFunctions;
/// use std::sync::Arc;
///
/// let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default())?);
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_udfs.wasm")?;
/// let gcd = functions.array_function(Closure::new(&module, "gcd")?)?;
/// let a: ArrayRef = Arc::new(Int64Array::from(vec![12, 7]));
/// let b: ArrayRef = Arc::new(Int64Array::from(vec![18, 21]));
/// let out = gcd.call(&[a, b])?;
/// assert_eq!(out.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ArrayFunction(pub(crate) Function);

impl ArrayFunction {
    /// Runs the function on `arrays`, one per argument, of equal length.
    pub fn call(&self, arrays: &[ArrayRef]) -> Result<ArrayRef, Error> {
        let function = &self.0;
        if arrays.len() != function.args.len() {
            return Err(Error::Arguments {
                function: function.name.clone(),
                reason: format!(
                    "it takes {} columns ({}), not {}",
                    function.args.len(),
                    crate::function::list(&function.args),
                    arrays.len()
                ),
            });
        }
        call_arrays(function, arrays).map_err(|error| match error {
            // Errors of ferry's own travel through DataFusion boxed.
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(error) => *error,
                Err(other) => Error::DataFusion(DataFusionError::External(other)),
            },
            other => Error::DataFusion(other),
        })
    }

    /// The argument types the module declares; others are converted.
    pub fn arguments(&self) -> &[DataType] {
        &self.0.args
    }

    /// The result's type.
    pub fn returns(&self) -> &DataType {
        &self.0.returns
    }
}
