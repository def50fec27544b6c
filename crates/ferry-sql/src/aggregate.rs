//! Aggregate functions: the guest folds each batch into a state that the
//! host keeps as bytes, so partial states can move between partitions and
//! be merged wherever DataFusion chooses.

use crate::arrow::{Lent, array};
use crate::function::Function;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, not_impl_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature};
use std::sync::Arc;

/// A ferry aggregate function as a DataFusion UDAF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WasmAggregate(pub(crate) Arc<Function>);

impl AggregateUDFImpl for WasmAggregate {
    fn name(&self) -> &str {
        &self.0.name
    }

    fn signature(&self) -> &Signature {
        &self.0.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce(args)
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.0.returns.clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return not_impl_err!(
                "{}(DISTINCT ...) is not supported for wasm aggregates",
                self.0.name
            );
        }
        Ok(Box::new(WasmAccumulator {
            function: self.0.clone(),
            state: None,
        }))
    }

    /// The state is the guest's own encoding, opaque to the host.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "state"),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
struct WasmAccumulator {
    function: Arc<Function>,
    /// `None` until the first update or merge.
    state: Option<Vec<u8>>,
}

impl Accumulator for WasmAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values.first().is_some_and(|column| column.is_empty()) {
            return Ok(());
        }
        let lent = values
            .iter()
            .map(|array| Lent::new(array))
            .collect::<Result<Vec<_>>>()?;
        let columns: Vec<_> = lent.iter().map(Lent::column).collect();
        let state = self.state.as_deref();
        let next = self
            .function
            .call(|instance, closure| instance.aggregate_update(closure, state, &columns))?;
        self.state = Some(next);
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(partials) = states.first() else {
            return Ok(());
        };
        let lent = Lent::new(partials)?;
        let state = self.state.as_deref();
        let next = self
            .function
            .call(|instance, closure| instance.aggregate_merge(closure, state, lent.column()))?;
        self.state = Some(next);
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(self.state.clone())])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let state = self.state.as_deref();
        let out = self
            .function
            .call(|instance, closure| instance.aggregate_finish(closure, state))?;
        ScalarValue::try_from_array(&array(out)?, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.state.as_ref().map_or(0, Vec::capacity)
    }
}
