//! The groups accumulator of a module with the kept steps (ABI §9): the
//! states of a `GROUP BY`'s groups stay in the memory of one instance, lent
//! to this accumulator alone, from the first batch to the last. A batch
//! then costs one call that passes its rows and their groups, and no state
//! is gathered, copied in, decoded, encoded, copied out or scattered.
//!
//! Should the instance's memory pass a quarter of the sandbox's cap, the
//! states move to the host ([`Groups`]) before the next batch, and stay
//! there; so the cap bounds memory, as it always did, not the number of
//! groups. The quarter leaves room for the guest's table to double while
//! one batch grows it.

use super::groups::{Groups, in_calls};
use super::{Fold, ROWS_PER_CALL, concatenated};
use crate::arrow::{Lent, array};
use crate::function::Function;
use crate::pool::KeptInstance;
use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, internal_err, resources_err};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use std::sync::Arc;

/// Groups whose states an instance keeps, until they move to the host.
pub(super) struct KeptGroups {
    function: Arc<Function>,
    kept: Option<KeptInstance>,
    /// How many groups DataFusion has named and not yet taken.
    groups: usize,
    /// How many groups the guest said it keeps, after its last call.
    guest_groups: usize,
    /// Where the states go when the instance's memory fills.
    host: Groups,
}

impl KeptGroups {
    /// The accumulator, keeping states in `kept`.
    pub(super) fn new(function: Arc<Function>, kept: KeptInstance) -> KeptGroups {
        KeptGroups {
            host: Groups::new(function.clone()),
            function,
            kept: Some(kept),
            groups: 0,
            guest_groups: 0,
        }
    }

    /// Folds a batch into the states the instance keeps, or, once they
    /// have moved, into the host's.
    fn fold(
        &mut self,
        fold: Fold,
        columns: &[ArrayRef],
        group_of_row: &[usize],
        keep: Option<&BooleanArray>,
        total_groups: usize,
    ) -> Result<()> {
        self.move_if_full()?;
        let Some(kept) = &mut self.kept else {
            return self
                .host
                .fold(fold, columns, group_of_row, keep, total_groups);
        };
        self.groups = self.groups.max(total_groups);
        let function = &self.function;
        let guest_groups = &mut self.guest_groups;
        in_calls(columns, group_of_row, keep, |columns, group_of_row| {
            let groups: Vec<u32> = group_of_row.iter().map(|&g| g as u32).collect();
            *guest_groups = match fold {
                Fold::Merge => {
                    let partials = Lent::new(&columns[0])?;
                    function.call_on(Some(kept), |instance, closure| {
                        instance.kept_merge(closure, &groups, partials.column())
                    })?
                }
                Fold::Retract => {
                    return internal_err!("`GROUP BY` takes no rows back out of its groups");
                }
                Fold::Update => function.call_with_arguments(
                    Some(kept),
                    columns,
                    |instance, closure, arguments| {
                        instance.kept_update(closure, &groups, arguments)
                    },
                )?,
            };
            Ok(())
        })
    }

    /// Moves every state to the host when the instance's memory has passed
    /// a quarter of the cap.
    fn move_if_full(&mut self) -> Result<()> {
        let Some(kept) = &self.kept else {
            return Ok(());
        };
        if !filling(kept) {
            return Ok(());
        }
        tracing::debug!(
            function = %self.function.name,
            groups = self.groups,
            "the guest's memory is filling; the host keeps the states from here on"
        );
        let parts = self.take(EmitTo::All, |kept, function, groups| {
            function.call_on(Some(kept), |instance, closure| {
                instance.kept_states(closure, groups)
            })
        })?;
        let mut first = 0;
        for states in &parts {
            let groups: Vec<usize> = (first..first + states.len()).collect();
            self.host.grow(first + states.len());
            self.host.adopt(&groups, states);
            first += states.len();
        }
        self.kept = None;
        Ok(())
    }

    /// Runs `step` on the groups `emit_to` names, `ROWS_PER_CALL` at a
    /// time, then has the instance drop them. Returns what each call gave.
    fn take<T>(
        &mut self,
        emit_to: EmitTo,
        mut step: impl FnMut(&mut KeptInstance, &Function, &[u32]) -> Result<T>,
    ) -> Result<Vec<T>> {
        let kept = self
            .kept
            .as_mut()
            .expect("only called while states are kept");
        let count = match emit_to {
            EmitTo::All => self.groups,
            EmitTo::First(n) => n.min(self.groups),
        };
        let groups: Vec<u32> = (0..count as u32).collect();
        let parts = groups
            .chunks(ROWS_PER_CALL)
            .map(|part| step(kept, &self.function, part))
            .collect::<Result<Vec<_>>>()?;
        self.guest_groups = self.function.call_on(Some(kept), |instance, closure| {
            instance.kept_drop(closure, count as u32)
        })?;
        self.groups -= count;
        Ok(parts)
    }
}

/// Whether the instance's memory has passed a quarter of its cap.
fn filling(kept: &KeptInstance) -> bool {
    kept.instance.memory_size() as u64 > kept.instance.memory_limit() / 4
}

/// The instance goes back to the pool if every state was taken out of it
/// (the query ran to its end) and its memory is not filling; otherwise it
/// goes with its states, or so that the next aggregate lent it does not
/// start by moving to the host.
impl Drop for KeptGroups {
    fn drop(&mut self) {
        if self.groups == 0
            && self.guest_groups == 0
            && let Some(kept) = self.kept.take()
            && !filling(&kept)
        {
            self.function.give_back(kept);
        }
    }
}

impl GroupsAccumulator for KeptGroups {
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
        if self.kept.is_none() {
            return self.host.evaluate(emit_to);
        }
        let results = self.take(emit_to, |kept, function, groups| {
            array(function.call_on(Some(kept), |instance, closure| {
                instance.kept_finish(closure, groups)
            })?)
        })?;
        concatenated(results, &self.function.returns)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        if self.kept.is_none() {
            return self.host.state(emit_to);
        }
        let parts = self.take(emit_to, |kept, function, groups| {
            let states = function.call_on(Some(kept), |instance, closure| {
                instance.kept_states(closure, groups)
            })?;
            array(states.into_column())
        })?;
        let bytes: usize = parts
            .iter()
            .map(|part| part.to_data().buffers()[1].len())
            .sum();
        if i32::try_from(bytes).is_err() {
            return resources_err!(
                "`{}` has {bytes} bytes of states to pass on, more than a binary column holds",
                self.function.name
            );
        }
        Ok(vec![concatenated(parts, &DataType::Binary)?])
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        self.host.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        let kept = self
            .kept
            .as_ref()
            .map_or(0, |kept| kept.instance.memory_size());
        size_of::<Self>() + kept + self.host.size()
    }
}
