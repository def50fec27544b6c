//! `f(DISTINCT ...)`: the host keeps each group's distinct rows of
//! arguments, in the order first seen, and the guest folds them when the
//! results are asked for. Partial states are the rows themselves, a list
//! per argument, so a value that two partitions both saw is folded once.
//! The guest needs nothing for it.

use super::accumulator::WasmAccumulator;
use super::groups::Groups;
use super::{Fold, ROWS_PER_CALL};
use crate::function::Function;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, ListArray};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::arrow::row::{RowConverter, RowParser, SortField};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{Result, ScalarValue, internal_err, resources_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};
use indexmap::{Equivalent, IndexSet};
use std::sync::Arc;

/// A kept row: its group, and its bytes in arrow's row format, where equal
/// values are equal bytes.
type Kept = (usize, Box<[u8]>);

/// Distinct rows of arguments, each in a group, in the order first seen.
#[derive(Debug)]
struct DistinctRows {
    /// The function's name, for errors.
    function: String,
    converter: RowConverter,
    parser: RowParser,
    /// Hashed with foldhash: every input row is looked up, and with the
    /// standard SipHash those lookups were half of a `DISTINCT` query over
    /// few groups.
    rows: IndexSet<Kept, foldhash::fast::RandomState>,
    /// The bytes the rows hold.
    bytes: usize,
}

/// A group and row to look up without copying the row; it hashes as a
/// `Kept` does.
#[derive(Hash)]
struct GroupRow<'a>(usize, &'a [u8]);

impl Equivalent<Kept> for GroupRow<'_> {
    fn equivalent(&self, key: &Kept) -> bool {
        self.0 == key.0 && self.1 == &*key.1
    }
}

impl DistinctRows {
    fn new(function: &str, types: &[DataType]) -> Result<DistinctRows> {
        let fields = types
            .iter()
            .map(|data_type| SortField::new(data_type.clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        Ok(DistinctRows {
            function: function.to_owned(),
            parser: converter.parser(),
            converter,
            rows: IndexSet::default(),
            bytes: 0,
        })
    }

    /// Adds each row of `columns` to the group `group_of` gives it, unless
    /// that is none.
    fn insert(
        &mut self,
        columns: &[ArrayRef],
        group_of: impl Fn(usize) -> Option<usize>,
    ) -> Result<()> {
        for (i, row) in self.converter.convert_columns(columns)?.iter().enumerate() {
            let Some(group) = group_of(i) else { continue };
            // Most rows repeat one already kept: look before copying.
            let row = row.as_ref();
            if !self.rows.contains(&GroupRow(group, row)) {
                self.bytes += row.len();
                self.rows.insert((group, row.into()));
            }
        }
        Ok(())
    }

    /// Adds the rows of partial states, a list per argument for each state,
    /// to the group `group_of` gives each state.
    fn merge(&mut self, states: &[ArrayRef], group_of: impl Fn(usize) -> usize) -> Result<()> {
        let Some(lists) = states
            .iter()
            .map(|state| state.as_list_opt::<i32>())
            .collect::<Option<Vec<_>>>()
        else {
            return internal_err!("`{}`: DISTINCT states are not lists", self.function);
        };
        let Some(first) = lists.first() else {
            return Ok(());
        };
        if lists
            .iter()
            .any(|list| list.value_offsets() != first.value_offsets())
        {
            return internal_err!("`{}`: DISTINCT states of different lengths", self.function);
        }
        // The lists' values, all at once: each state is a range of them.
        let offsets = first.value_offsets();
        let start = offsets[0] as usize;
        let end = offsets[offsets.len() - 1] as usize;
        let values: Vec<ArrayRef> = lists
            .iter()
            .map(|list| list.values().slice(start, end - start))
            .collect();
        let state_of_value = |value: usize| {
            let state = offsets.partition_point(|&offset| offset as usize <= start + value) - 1;
            (!lists.iter().any(|list| list.is_null(state))).then(|| group_of(state))
        };
        self.insert(&values, state_of_value)
    }

    /// Rows as argument columns.
    fn columns<'a>(&self, rows: impl Iterator<Item = &'a [u8]>) -> Result<Vec<ArrayRef>> {
        let rows: Vec<&[u8]> = rows.collect();
        // A row is never shorter than its values, and a column holds at
        // most 2 GiB of them.
        let bytes: usize = rows.iter().map(|row| row.len()).sum();
        if i32::try_from(bytes).is_err() || i32::try_from(rows.len()).is_err() {
            return resources_err!(
                "`{}` has {} DISTINCT rows of {bytes} bytes to pass on, more than a column holds",
                self.function,
                rows.len()
            );
        }
        let rows = rows.into_iter().map(|row| self.parser.parse(row));
        Ok(self.converter.convert_rows(rows)?)
    }

    /// Folds `rows` into the states of their groups in `into`, of `groups`
    /// groups: a guest call per `ROWS_PER_CALL` rows, whatever groups they
    /// fall into.
    fn fold<'a>(
        &self,
        rows: impl Iterator<Item = &'a Kept>,
        into: &mut Groups,
        groups: usize,
    ) -> Result<()> {
        let mut rows = rows.peekable();
        while rows.peek().is_some() {
            let chunk: Vec<&Kept> = rows.by_ref().take(ROWS_PER_CALL).collect();
            let columns = self.columns(chunk.iter().map(|(_, row)| &**row))?;
            let group_of_row: Vec<usize> = chunk.iter().map(|(group, _)| *group).collect();
            into.fold(Fold::Update, &columns, &group_of_row, None, groups)?;
        }
        Ok(())
    }

    /// Takes out the rows of the first `emitted` groups; the groups left
    /// are numbered from 0 again.
    fn take(&mut self, emitted: usize) -> Vec<Kept> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.rows)
            .into_iter()
            .partition(|(group, _)| *group < emitted);
        self.rows = kept
            .into_iter()
            .map(|(group, row)| (group - emitted, row))
            .collect();
        self.bytes = self.rows.iter().map(|(_, row)| row.len()).sum();
        taken
    }

    fn size(&self) -> usize {
        self.converter.size()
            + self.rows.capacity() * (size_of::<Kept>() + size_of::<u64>())
            + self.bytes
    }
}

/// One group's distinct rows: an aggregate without `GROUP BY`, or a window.
#[derive(Debug)]
pub(super) struct Distinct {
    rows: DistinctRows,
    /// The guest's state over the first `folded` rows. Rows are only ever
    /// added, at the end, so a window that evaluates after every row
    /// folds each row once, not once per evaluation.
    fold: WasmAccumulator,
    folded: usize,
}

impl Distinct {
    pub(super) fn new(function: Arc<Function>) -> Result<Distinct> {
        Ok(Distinct {
            rows: DistinctRows::new(&function.name, &function.args)?,
            fold: WasmAccumulator::new(function),
            folded: 0,
        })
    }
}

impl Accumulator for Distinct {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = self.fold.groups.function.conform(values)?;
        self.rows.insert(&values, |_| Some(0))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.rows.merge(states, |_| 0)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let rows = self.rows.rows.iter().map(|(_, row)| &**row);
        Ok(self
            .rows
            .columns(rows)?
            .into_iter()
            .map(|column| SingleRowListArrayBuilder::new(column).build_list_scalar())
            .collect())
    }

    /// Folds the rows that came since the last evaluation.
    fn evaluate(&mut self) -> Result<ScalarValue> {
        let new = self.rows.rows.iter().skip(self.folded);
        self.rows.fold(new, &mut self.fold.groups, 1)?;
        self.folded = self.rows.rows.len();
        self.fold.evaluate()
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.fold.size() + self.rows.size()
    }
}

/// The distinct rows of many groups: when the results are asked for, the
/// guest folds every group's rows in calls of `ROWS_PER_CALL` rows, however
/// many groups they fall into, and finishes them the same way.
#[derive(Debug)]
pub(super) struct DistinctGroups {
    function: Arc<Function>,
    rows: DistinctRows,
    /// How many groups DataFusion has numbered.
    groups: usize,
}

impl DistinctGroups {
    pub(super) fn new(function: Arc<Function>) -> Result<DistinctGroups> {
        Ok(DistinctGroups {
            rows: DistinctRows::new(&function.name, &function.args)?,
            function,
            groups: 0,
        })
    }

    /// Takes out the rows of the groups DataFusion asks for, with how many
    /// groups those are.
    fn take(&mut self, emit_to: EmitTo) -> (usize, Vec<Kept>) {
        let emitted = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n,
        };
        let taken = self.rows.take(emitted);
        self.groups -= emitted;
        (emitted, taken)
    }
}

impl GroupsAccumulator for DistinctGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        let kept = |row| opt_filter.is_none_or(|keep| keep.is_valid(row) && keep.value(row));
        let values = self.function.conform(values)?;
        self.rows
            .insert(&values, |row| kept(row).then(|| group_indices[row]))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups = self.groups.max(total_num_groups);
        self.rows.merge(values, |state| group_indices[state])
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (groups, rows) = self.take(emit_to);
        let mut fold = Groups::new(self.function.clone());
        self.rows.fold(rows.iter(), &mut fold, groups)?;
        // Groups without rows finish from their initial state.
        fold.states.grow(groups);
        fold.evaluate(EmitTo::All)
    }

    /// Each group's rows, a list per argument.
    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (groups, mut rows) = self.take(emit_to);
        rows.sort_by_key(|(group, _)| *group);
        let mut lengths = vec![0; groups];
        for (group, _) in &rows {
            lengths[*group] += 1;
        }
        let columns = self.rows.columns(rows.iter().map(|(_, row)| &**row))?;
        Ok(lists(columns, OffsetBuffer::from_lengths(lengths), None))
    }

    /// Each row becomes the state of a group of its own: lists of one row;
    /// rows the filter drops have a null state, which merging skips.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows = values.first().map_or(0, |column| column.len());
        let kept = opt_filter
            .map(|keep| NullBuffer::from(keep.iter().map(|k| k == Some(true)).collect::<Vec<_>>()));
        Ok(lists(
            self.function.conform(values)?.into_owned(),
            OffsetBuffer::from_lengths(std::iter::repeat_n(1, rows)),
            kept,
        ))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.rows.size()
    }
}

/// DISTINCT states: a list column per argument, each list the rows of one
/// group, as `state_fields` declares them.
fn lists(
    columns: Vec<ArrayRef>,
    offsets: OffsetBuffer<i32>,
    nulls: Option<NullBuffer>,
) -> Vec<ArrayRef> {
    columns
        .into_iter()
        .map(|column| {
            let field = Arc::new(Field::new_list_field(column.data_type().clone(), true));
            Arc::new(ListArray::new(
                field,
                offsets.clone(),
                column,
                nulls.clone(),
            )) as ArrayRef
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, Int64Array};
    use datafusion::arrow::datatypes::Int64Type;

    /// The kept rows, as (group, value).
    fn kept(rows: &DistinctRows) -> Vec<(usize, i64)> {
        let columns = rows
            .columns(rows.rows.iter().map(|(_, row)| &**row))
            .unwrap();
        let values = columns[0].as_primitive::<Int64Type>();
        rows.rows
            .iter()
            .zip(values.values())
            .map(|((group, _), value)| (*group, *value))
            .collect()
    }

    /// Partial states may be a slice of a list column, with empty and null
    /// lists: each value goes to its own state's group, null states to
    /// none.
    #[test]
    fn merging_finds_each_values_state() {
        let states = ListArray::new(
            Arc::new(Field::new_list_field(DataType::Int64, true)),
            OffsetBuffer::from_lengths([2, 0, 3, 1]),
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])),
            Some(NullBuffer::from(vec![true, true, false, true])),
        );
        let mut rows = DistinctRows::new("f", &[DataType::Int64]).unwrap();
        rows.merge(&[Arc::new(states.clone())], |state| 10 + state)
            .unwrap();
        assert_eq!(kept(&rows), [(10, 1), (10, 2), (13, 6)]);

        let mut rows = DistinctRows::new("f", &[DataType::Int64]).unwrap();
        let sliced: ArrayRef = Arc::new(states.slice(1, 3));
        rows.merge(&[sliced], |state| 10 + state).unwrap();
        assert_eq!(kept(&rows), [(12, 6)]);
    }
}
