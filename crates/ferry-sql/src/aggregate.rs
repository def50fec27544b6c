//! Aggregate functions: the guest folds each batch into the states of the
//! groups its rows fall into, states the host keeps as bytes, so partial
//! states can move between partitions and be merged wherever DataFusion
//! chooses. One guest call per batch, however many groups it touches.

use crate::arrow::{Lent, array};
use crate::function::Function;
use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray, new_empty_array};
use datafusion::arrow::compute::{concat, filter};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, resources_err};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, Expr, GroupsAccumulator, Signature,
};
use distinct::{Distinct, DistinctGroups};
use ferry_host::batch::States;
use replay::Replay;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

mod distinct;
mod replay;

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
            Err(error) => return Err(error.into()),
        };
        Ok(WasmAggregate {
            function: Arc::new(function),
            empty,
        })
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

/// The states of an aggregate's groups, by DataFusion's group index.
#[derive(Debug)]
struct Groups {
    function: Arc<Function>,
    states: Arena,
    /// For each group, its place among the groups of the call being built
    /// (`u32::MAX` when not in it); kept between calls to save allocating.
    slots: Vec<u32>,
}

/// Group states, by group index, in one buffer. A fold rewrites thousands
/// of states at once; an allocation for each was most of the host's share
/// of a query over many groups.
#[derive(Debug, Default)]
struct Arena {
    /// Where each group's state lies in `bytes`; `None` until the group's
    /// first update or merge.
    spans: Vec<Option<Range<usize>>>,
    bytes: Vec<u8>,
    /// Bytes of `bytes` that no span covers any more.
    garbage: usize,
}

impl Arena {
    /// Makes room for groups up to `groups`.
    fn grow(&mut self, groups: usize) {
        if self.spans.len() < groups {
            self.spans.resize(groups, None);
        }
    }

    /// Reclaims the space of replaced and taken states once they are most
    /// of it. After DataFusion takes every state (to spill them, say), that
    /// is all of it.
    fn reclaim(&mut self) {
        if self.garbage > self.bytes.len() / 2 {
            let mut bytes = Vec::with_capacity(self.bytes.len() - self.garbage);
            for span in self.spans.iter_mut().flatten() {
                let start = bytes.len();
                bytes.extend_from_slice(&self.bytes[span.clone()]);
                *span = start..bytes.len();
            }
            self.bytes = bytes;
            self.garbage = 0;
        }
    }

    fn get(&self, group: usize) -> Option<&[u8]> {
        let span = self.spans.get(group)?.clone()?;
        Some(&self.bytes[span])
    }

    fn set(&mut self, group: usize, state: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(state);
        if let Some(old) = self.spans[group].replace(start..self.bytes.len()) {
            self.garbage += old.len();
        }
    }

    /// Takes the states DataFusion asks for out of the arena. Their bytes
    /// stay until the next `reclaim`, which the borrow keeps from coming
    /// first.
    fn take(&mut self, emit_to: EmitTo) -> Taken<'_> {
        let spans = emit_to.take_needed(&mut self.spans);
        let bytes = spans.iter().flatten().map(ExactSizeIterator::len).sum();
        self.garbage += bytes;
        Taken {
            spans,
            bytes,
            arena: &self.bytes,
        }
    }

    fn size(&self) -> usize {
        self.spans.capacity() * size_of::<Option<Range<usize>>>() + self.bytes.capacity()
    }
}

/// States taken out of an [`Arena`].
struct Taken<'a> {
    spans: Vec<Option<Range<usize>>>,
    /// The bytes the states hold.
    bytes: usize,
    arena: &'a [u8],
}

impl Taken<'_> {
    fn iter(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.spans
            .iter()
            .map(|span| span.clone().map(|span| &self.arena[span]))
    }
}

impl Groups {
    fn new(function: Arc<Function>) -> Groups {
        Groups {
            function,
            states: Arena::default(),
            slots: Vec::new(),
        }
    }

    /// Folds a batch into the states of the groups its rows name: one call
    /// with only those groups' states, per `ROWS_PER_CALL` rows (a window
    /// may pass a whole partition, which need not fit in guest memory).
    fn fold(
        &mut self,
        fold: Fold,
        columns: &[ArrayRef],
        group_of_row: &[usize],
        keep: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        let rows = group_of_row.len();
        if rows > ROWS_PER_CALL {
            for start in (0..rows).step_by(ROWS_PER_CALL) {
                let len = ROWS_PER_CALL.min(rows - start);
                let columns: Vec<ArrayRef> = columns
                    .iter()
                    .map(|column| column.slice(start, len))
                    .collect();
                let keep = keep.map(|keep| keep.slice(start, len));
                let groups = &group_of_row[start..start + len];
                self.fold(fold, &columns, groups, keep.as_ref(), total_groups)?;
            }
            return Ok(());
        }
        self.states.grow(total_groups);
        self.states.reclaim();
        let conformed = match fold {
            Fold::Merge => Cow::Borrowed(columns),
            Fold::Update | Fold::Retract => self.function.conform(columns)?,
        };
        let columns: &[ArrayRef] = &conformed;
        let (columns, group_of_row): (Cow<[ArrayRef]>, Cow<[usize]>) = match keep {
            Some(keep) => (
                columns
                    .iter()
                    .map(|column| filter(column, keep))
                    .collect::<std::result::Result<Vec<_>, _>>()?
                    .into(),
                group_of_row
                    .iter()
                    .zip(keep.iter())
                    .filter_map(|(group, keep)| keep.unwrap_or(false).then_some(*group))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            None => (columns.into(), group_of_row.into()),
        };
        if group_of_row.is_empty() {
            return Ok(());
        }
        let (groups, local) = self.call_groups(&group_of_row);
        let states: States = groups.iter().map(|&g| self.states.get(g)).collect();
        let lent = columns
            .iter()
            .map(|column| Lent::new(column))
            .collect::<Result<Vec<_>>>()?;
        let lent: Vec<_> = lent.iter().map(Lent::column).collect();
        let next = self.function.call(|instance, closure| match fold {
            Fold::Update => instance.aggregate_update(closure, &states, &local, &lent),
            Fold::Retract => instance.aggregate_retract(closure, &states, &local, &lent),
            Fold::Merge => instance.aggregate_merge(closure, &states, &local, lent[0]),
        })?;
        for (&group, state) in groups.iter().zip(next.iter()) {
            self.states
                .set(group, state.expect("the runtime refuses null states"));
        }
        Ok(())
    }

    /// The groups one call is about, in order of first appearance, and
    /// each row's index among them.
    fn call_groups(&mut self, group_of_row: &[usize]) -> (Vec<usize>, Vec<u32>) {
        self.slots.resize(self.states.spans.len(), u32::MAX);
        let mut groups = Vec::new();
        let local = group_of_row
            .iter()
            .map(|&group| {
                let slot = &mut self.slots[group];
                if *slot == u32::MAX {
                    *slot = groups.len() as u32;
                    groups.push(group);
                }
                *slot
            })
            .collect();
        for &group in &groups {
            self.slots[group] = u32::MAX;
        }
        (groups, local)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.states.size() + self.slots.capacity() * size_of::<u32>()
    }
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
    match results.as_slice() {
        [] => Ok(new_empty_array(&function.returns)),
        [one] => Ok(one.clone()),
        many => Ok(concat(
            &many.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        )?),
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.fold(
            Fold::Update,
            values,
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.fold(Fold::Merge, values, group_indices, None, total_num_groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let results = finish(&self.function, self.states.take(emit_to).iter());
        self.states.reclaim();
        results
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let states = self.states.take(emit_to);
        if i32::try_from(states.bytes).is_err() {
            return resources_err!(
                "`{}` has {} bytes of states to pass on, more than a binary column holds",
                self.function.name,
                states.bytes
            );
        }
        let states: BinaryArray = states.iter().collect();
        self.states.reclaim();
        Ok(vec![Arc::new(states)])
    }

    /// Each row becomes a group of its own: one update call gives every
    /// row's state. Rows the filter drops keep a null state, which merging
    /// skips.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |column| column.len());
        let mut each = Groups::new(self.function.clone());
        let row_groups: Vec<usize> = (0..rows).collect();
        each.fold(Fold::Update, values, &row_groups, opt_filter, rows)?;
        each.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        Groups::size(self)
    }
}

/// An aggregate without groups (no `GROUP BY`, or a window): one group.
#[derive(Debug)]
struct WasmAccumulator {
    groups: Groups,
    /// Group 0 for every row of a batch, kept between batches.
    zeros: Vec<usize>,
}

impl WasmAccumulator {
    fn new(function: Arc<Function>) -> WasmAccumulator {
        WasmAccumulator {
            groups: Groups::new(function),
            zeros: Vec::new(),
        }
    }

    fn fold(&mut self, fold: Fold, columns: &[ArrayRef]) -> Result<()> {
        let rows = columns.first().map_or(0, |column| column.len());
        self.zeros.resize(rows, 0);
        self.groups
            .fold(fold, columns, &self.zeros[..rows], None, 1)
    }
}

impl Accumulator for WasmAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.fold(Fold::Update, values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.fold(Fold::Merge, states)
    }

    /// Rows leaving a sliding window.
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.fold(Fold::Retract, values)
    }

    fn supports_retract_batch(&self) -> bool {
        self.groups.function.closure.record().retract
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let state = self.groups.states.get(0).map(<[u8]>::to_vec);
        Ok(vec![ScalarValue::Binary(state)])
    }

    /// Leaves the state in place: a window evaluates as it goes.
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let state = self.groups.states.get(0);
        ScalarValue::try_from_array(&finish(&self.groups.function, std::iter::once(state))?, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.groups.size() + self.zeros.capacity() * size_of::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(arena: &Arena) -> Vec<Option<&[u8]>> {
        (0..arena.spans.len()).map(|g| arena.get(g)).collect()
    }

    /// Replaced and taken states are reclaimed, and the rest keep their
    /// bytes and their group, also after the first groups are emitted.
    #[test]
    fn the_arena_reclaims_space_and_keeps_states() {
        let mut arena = Arena::default();
        arena.grow(3);
        for round in 0..10u8 {
            arena.set(0, &[round; 4]);
            arena.set(2, &[round; 2]);
            arena.reclaim();
        }
        assert!(
            arena.bytes.len() <= 2 * 6,
            "{} bytes kept",
            arena.bytes.len()
        );
        assert_eq!(contents(&arena), [Some(&[9; 4][..]), None, Some(&[9; 2])]);

        let taken = arena.take(EmitTo::First(1));
        assert_eq!(taken.bytes, 4);
        assert_eq!(taken.iter().collect::<Vec<_>>(), [Some(&[9; 4][..])]);
        arena.reclaim();
        assert_eq!(contents(&arena), [None, Some(&[9; 2][..])]);
        assert_eq!(arena.bytes, [9; 2]);

        let taken = arena.take(EmitTo::All);
        assert_eq!(taken.iter().collect::<Vec<_>>(), [None, Some(&[9; 2][..])]);
        arena.reclaim();
        assert!(arena.spans.is_empty() && arena.bytes.capacity() == 0);
    }
}
