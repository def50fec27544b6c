//! The plain accumulator: an aggregate without groups (no `GROUP BY`, or a
//! window), kept as the one group of a groups accumulator.

use super::groups::Groups;
use super::{Fold, finish};
use crate::function::Function;
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Accumulator;
use std::sync::Arc;

/// An aggregate without groups (no `GROUP BY`, or a window): one group.
#[derive(Debug)]
pub(super) struct WasmAccumulator {
    pub(super) groups: Groups,
    /// Group 0 for every row of a batch, kept between batches.
    zeros: Vec<usize>,
}

impl WasmAccumulator {
    pub(super) fn new(function: Arc<Function>) -> WasmAccumulator {
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
