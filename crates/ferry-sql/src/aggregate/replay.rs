//! Sliding windows for aggregates that cannot take rows back out of a
//! state: those without a `retract` step, and `DISTINCT` (its distinct
//! rows are only ever added to). The host keeps the frame's rows, and each
//! result folds them afresh into a new state: one guest call over the
//! whole frame, so a result costs the frame's length rather than one row.

use super::accumulator::WasmAccumulator;
use super::distinct::Distinct;
use crate::function::Function;
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::concat;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::Accumulator;
use std::collections::VecDeque;
use std::sync::Arc;

/// A window's frame of argument rows, folded when a result is asked for.
#[derive(Debug)]
pub(super) struct Replay {
    function: Arc<Function>,
    distinct: bool,
    /// The frame's rows, oldest first, in the batches they came in.
    frame: VecDeque<Vec<ArrayRef>>,
}

impl Replay {
    pub(super) fn new(function: Arc<Function>, distinct: bool) -> Replay {
        Replay {
            function,
            distinct,
            frame: VecDeque::new(),
        }
    }

    /// A new accumulator that has folded the frame's rows. The rows are
    /// copied into one batch on the way, which then stands for the frame:
    /// the slices DataFusion passes in each keep a whole batch of the
    /// partition alive.
    fn folded(&mut self) -> Result<Box<dyn Accumulator>> {
        let mut fresh: Box<dyn Accumulator> = if self.distinct {
            Box::new(Distinct::new(self.function.clone())?)
        } else {
            Box::new(WasmAccumulator::new(self.function.clone()))
        };
        if let Some(first) = self.frame.front() {
            let columns = (0..first.len())
                .map(|i| {
                    let parts: Vec<&dyn Array> =
                        self.frame.iter().map(|batch| batch[i].as_ref()).collect();
                    concat(&parts)
                })
                .collect::<Result<Vec<_>, _>>()?;
            fresh.update_batch(&columns)?;
            self.frame = VecDeque::from([columns]);
        }
        Ok(fresh)
    }
}

impl Accumulator for Replay {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values.first().is_some_and(|column| !column.is_empty()) {
            self.frame.push_back(values.to_vec());
        }
        Ok(())
    }

    /// Rows leave a frame from its start, in the order they entered.
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let mut leaving = values.first().map_or(0, |column| column.len());
        while leaving > 0 {
            let Some(oldest) = self.frame.front_mut() else {
                return internal_err!("more rows left the window than entered it");
            };
            let rows = oldest[0].len();
            if rows <= leaving {
                self.frame.pop_front();
                leaving -= rows;
            } else {
                for column in oldest.iter_mut() {
                    *column = column.slice(leaving, rows - leaving);
                }
                leaving = 0;
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.folded()?.evaluate()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.folded()?.state()
    }

    /// Windows do not merge partial states: each partition of a window is
    /// evaluated whole, in one place.
    fn merge_batch(&mut self, _states: &[ArrayRef]) -> Result<()> {
        internal_err!(
            "`{}` over a sliding window was asked to merge partial states",
            self.function.name
        )
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self
                .frame
                .iter()
                .flatten()
                .map(|column| column.get_array_memory_size())
                .sum::<usize>()
    }
}
