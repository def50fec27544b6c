//! Aggregate functions: the guest folds each batch into the states of the
//! groups its rows fall into, states the host keeps as bytes, so partial
//! states can move between partitions and be merged wherever DataFusion
//! chooses. One guest call per batch, however many groups it touches.
//!
//! Here is the UDF DataFusion plans with; it hands the rows to one of
//! these: [`kept`] (under `GROUP BY`, states kept in the guest, when its
//! module can), [`groups`] (under `GROUP BY`, states kept in an [`arena`]),
//! [`accumulator`] (one group: no `GROUP BY`, or a window), [`distinct`]
//! (`f(DISTINCT ...)`) and [`replay`] (sliding windows that cannot retract).
//! Sliding frames counted in rows go to [`window`] instead, put there by
//! [`WindowRule`].

use crate::arrow::array;
use crate::function::Function;
use accumulator::WasmAccumulator;
use datafusion::arrow::array::{ArrayRef, new_empty_array};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, Signature,
};
use distinct::{Distinct, DistinctGroups};
use ferry_host::batch::States;
use groups::Groups;
use kept::KeptGroups;
use replay::Replay;
use std::sync::Arc;

mod accumulator;
mod arena;
mod distinct;
mod groups;
mod kept;
mod replay;
mod window;
mod window_rule;

pub(crate) use window_rule::WindowRule;

/// At most this many groups are finished, or distinct rows folded, in one
/// guest call, so that millions of them never sit in guest memory at once.
const ROWS_PER_CALL: usize = 8192;

/// A ferry aggregate function as a DataFusion UDAF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct WasmAggregate {
    function: Arc<Function>,
    /// The result over no rows, `finish` of a fresh state. DataFusion asks
    /// for it while planning (a correlated subquery turned into a join
    /// fills groups with no rows with it), when ferry runs no wasm, and for
    /// empty window frames; so it is found once, when the function is made.
    empty: ScalarValue,
}

impl WasmAggregate {
    /// Makes the aggregate, running `finish` once on a fresh state. Should
    /// the guest fail there, the result over no rows is taken to be null,
    /// with a warning: the failure will show again in any query over no
    /// rows that calls the function itself. A failure of the host's (no
    /// instance to be had, say) is returned, so that a null is never kept
    /// for good because of a busy moment.
    pub(crate) fn new(function: Function) -> Result<WasmAggregate, crate::Error> {
        let empty = match finish(&function, std::iter::once(None))
            .and_then(|results| ScalarValue::try_from_array(&results, 0))
        {
            Ok(empty) => empty,
            Err(error) if guest_failed(&error) => {
                tracing::warn!(
                    function = %function.name,
                    %error,
                    "the aggregate fails over no rows; subqueries and empty window frames \
                     will give null"
                );
                ScalarValue::try_from(&function.returns)?
            }
            // Ours, without DataFusion's "External error: " in front.
            Err(DataFusionError::External(error)) => {
                return Err(match error.downcast::<crate::Error>() {
                    Ok(error) => *error,
                    Err(other) => DataFusionError::External(other).into(),
                });
            }
            Err(error) => return Err(error.into()),
        };
        Self::with_empty(function, empty)
    }

    /// Makes the aggregate with its result over no rows given, which must
    /// be of the function's result type.
    pub(crate) fn with_empty(
        function: Function,
        empty: ScalarValue,
    ) -> Result<WasmAggregate, crate::Error> {
        if empty.data_type() != function.returns {
            return Err(crate::Error::DataFusion(DataFusionError::Plan(format!(
                "`{}` returns {}, but its result over no rows was given as {}",
                function.name,
                function.returns,
                empty.data_type()
            ))));
        }
        Ok(WasmAggregate {
            function: Arc::new(function),
            empty,
        })
    }

    /// The closure, and the result over no rows.
    pub(crate) fn parts(&self) -> (&ferry_host::Closure, &ScalarValue) {
        (&self.function.closure, &self.empty)
    }
}

/// Whether `error` is the guest's: a trap, an error it returned, a limit
/// it ran into.
fn guest_failed(error: &DataFusionError) -> bool {
    let DataFusionError::External(error) = error else {
        return false;
    };
    matches!(error.downcast_ref(), Some(crate::Error::Call { source, .. }) if source.failure().is_some())
}

impl AggregateUDFImpl for WasmAggregate {
    fn name(&self) -> &str {
        &self.function.name
    }

    fn signature(&self) -> &Signature {
        &self.function.signature
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.function.documentation)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.function.check(args)?;
        Ok(self.function.returns.clone())
    }

    /// Puts the arguments' conversions into the plan as casts, so that
    /// DataFusion's rewrite of a lone `f(DISTINCT x)` into a `GROUP BY x`
    /// groups converted values, as ferry's own `DISTINCT` does: two
    /// integers past 2^53 that become one float are one value.
    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let function = self.function.clone();
        Some(Box::new(move |mut aggregate, context| {
            for (arg, to) in aggregate.params.args.iter_mut().zip(&function.args) {
                if context.get_data_type(arg)? != *to {
                    *arg = Expr::Cast(Cast::new(Box::new(arg.clone()), to.clone()));
                }
            }
            Ok(Expr::AggregateFunction(aggregate))
        }))
    }

    /// States merge in any order (ABI §9), so `ORDER BY` inside the call
    /// has nothing to order.
    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(self.empty.clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return Ok(Box::new(Distinct::new(self.function.clone())?));
        }
        Ok(Box::new(WasmAccumulator::new(self.function.clone())))
    }

    /// Rows leave a sliding window through the guest's `retract`; where
    /// there is none, or under `DISTINCT`, the frame is folded afresh for
    /// each result.
    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct || !self.function.closure.record().retract {
            return Ok(Box::new(Replay::new(
                self.function.clone(),
                args.is_distinct,
            )));
        }
        self.accumulator(args)
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if args.is_distinct {
            return Ok(Box::new(DistinctGroups::new(self.function.clone())?));
        }
        if let Some(kept) = self.function.lend() {
            return Ok(Box::new(KeptGroups::new(self.function.clone(), kept)));
        }
        Ok(Box::new(Groups::new(self.function.clone())))
    }

    /// The state is the guest's own encoding, opaque to the host; under
    /// `DISTINCT`, the distinct arguments themselves, a list per argument.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        if args.is_distinct {
            return Ok(self
                .function
                .args
                .iter()
                .enumerate()
                .map(|(i, data_type)| {
                    Arc::new(Field::new_list(
                        format_state_name(args.name, &format!("distinct {i}")),
                        Field::new_list_field(data_type.clone(), true),
                        true,
                    ))
                })
                .collect());
        }
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "state"),
            DataType::Binary,
            true,
        ))])
    }
}

/// Which fold a call makes.
#[derive(Clone, Copy)]
enum Fold {
    /// Argument rows into states.
    Update,
    /// Argument rows back out of states.
    Retract,
    /// Partial states into states.
    Merge,
}

/// The results of `states`, in order.
fn finish<'a>(
    function: &Function,
    states: impl Iterator<Item = Option<&'a [u8]>>,
) -> Result<ArrayRef> {
    let mut states = states.peekable();
    let mut results = Vec::new();
    while states.peek().is_some() {
        let chunk: States = states.by_ref().take(ROWS_PER_CALL).collect();
        let out = function.call(|instance, closure| instance.aggregate_finish(closure, &chunk))?;
        results.push(array(out)?);
    }
    concatenated(results, &function.returns)
}

/// `results` as one column of type `returns`.
fn concatenated(results: Vec<ArrayRef>, returns: &DataType) -> Result<ArrayRef> {
    match results.as_slice() {
        [] => Ok(new_empty_array(returns)),
        [one] => Ok(one.clone()),
        many => Ok(concat(
            &many.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        )?),
    }
}
