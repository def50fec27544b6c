//! The groups accumulator: the states of every group of a `GROUP BY`, one
//! guest call per batch however many groups its rows fall into.

use super::arena::Arena;
use super::{Fold, ROWS_PER_CALL, finish};
use crate::arrow::Lent;
use crate::function::Function;
use datafusion::arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray};
use datafusion::arrow::compute::filter;
use datafusion::common::{Result, resources_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use ferry_host::batch::States;
use std::borrow::Cow;
use std::sync::Arc;

/// The states of an aggregate's groups, by DataFusion's group index.
#[derive(Debug)]
pub(super) struct Groups {
    pub(super) function: Arc<Function>,
    pub(super) states: Arena,
    /// For each group, its place among the groups of the call being built
    /// (`u32::MAX` when not in it); kept between calls to save allocating.
    slots: Vec<u32>,
}

impl Groups {
    pub(super) fn new(function: Arc<Function>) -> Groups {
        Groups {
            function,
            states: Arena::default(),
            slots: Vec::new(),
        }
    }

    /// Folds a batch into the states of the groups its rows name: one call
    /// with only those groups' states, per `ROWS_PER_CALL` rows (see
    /// [`in_calls`]).
    pub(super) fn fold(
        &mut self,
        fold: Fold,
        columns: &[ArrayRef],
        group_of_row: &[usize],
        keep: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        self.states.grow(total_groups);
        in_calls(columns, group_of_row, keep, |columns, group_of_row| {
            self.states.reclaim();
            self.fold_call(fold, columns, group_of_row)
        })
    }

    fn fold_call(
        &mut self,
        fold: Fold,
        columns: &[ArrayRef],
        group_of_row: &[usize],
    ) -> Result<()> {
        let (groups, local) = self.call_groups(group_of_row);
        let states: States = groups.iter().map(|&g| self.states.get(g)).collect();
        let next = match fold {
            // Partial states are the guest's own bytes, lent as they are.
            Fold::Merge => {
                let partials = Lent::new(&columns[0])?;
                self.function.call(|instance, closure| {
                    instance.aggregate_merge(closure, &states, &local, partials.column())
                })
            }
            Fold::Update | Fold::Retract => {
                self.function
                    .call_with_arguments(None, columns, |instance, closure, arguments| {
                        if let Fold::Retract = fold {
                            instance.aggregate_retract(closure, &states, &local, arguments)
                        } else {
                            instance.aggregate_update(closure, &states, &local, arguments)
                        }
                    })
            }
        }?;
        self.adopt(&groups, &next);
        Ok(())
    }

    /// Makes room for groups up to `groups`.
    pub(super) fn grow(&mut self, groups: usize) {
        self.states.grow(groups);
    }

    /// Takes `states` as those of `groups`, one for each.
    pub(super) fn adopt(&mut self, groups: &[usize], states: &States) {
        for (&group, state) in groups.iter().zip(states.iter()) {
            self.states
                .set(group, state.expect("the runtime refuses null states"));
        }
    }

    /// The groups one call is about, in order of first appearance, and
    /// each row's index among them.
    fn call_groups(&mut self, group_of_row: &[usize]) -> (Vec<usize>, Vec<u32>) {
        self.slots.resize(self.states.groups(), u32::MAX);
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

    pub(super) fn size(&self) -> usize {
        size_of::<Self>() + self.states.size() + self.slots.capacity() * size_of::<u32>()
    }
}

/// Hands a batch to `call` in parts of at most `ROWS_PER_CALL` rows (a
/// window may pass a whole partition, which need not fit in guest
/// memory), without the rows `keep` drops, which never reach the guest.
/// Parts left with no rows are not handed on.
pub(super) fn in_calls(
    columns: &[ArrayRef],
    group_of_row: &[usize],
    keep: Option<&BooleanArray>,
    mut call: impl FnMut(&[ArrayRef], &[usize]) -> Result<()>,
) -> Result<()> {
    for start in (0..group_of_row.len()).step_by(ROWS_PER_CALL) {
        let len = ROWS_PER_CALL.min(group_of_row.len() - start);
        let part: Vec<ArrayRef> = columns.iter().map(|c| c.slice(start, len)).collect();
        let groups = &group_of_row[start..start + len];
        let (part, groups): (Cow<[ArrayRef]>, Cow<[usize]>) = match keep {
            Some(keep) => {
                let keep = keep.slice(start, len);
                (
                    part.iter()
                        .map(|column| filter(column, &keep))
                        .collect::<std::result::Result<Vec<_>, _>>()?
                        .into(),
                    groups
                        .iter()
                        .zip(keep.iter())
                        .filter_map(|(group, keep)| keep.unwrap_or(false).then_some(*group))
                        .collect::<Vec<_>>()
                        .into(),
                )
            }
            None => (part.into(), groups.into()),
        };
        if !groups.is_empty() {
            call(&part, &groups)?;
        }
    }
    Ok(())
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
