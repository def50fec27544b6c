//! Scalar functions: one guest call per batch.

use crate::arrow::array;
use crate::function::Function;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
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
        let out = array(
            self.0
                .call_with_arguments(&arrays, |instance, closure, columns| {
                    instance.call_batch(closure, columns)
                })?,
        )?;
        if constant {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}
