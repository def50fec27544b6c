//! Sliding windows a batch of frames at a time. DataFusion drives a sliding
//! window's accumulator row by row: it adds the rows entering the frame,
//! retracts those leaving it and asks for the value, three guest calls per
//! row. For a frame counted in rows, [`WasmFrames`] stands in for the
//! accumulator (the [`rule`](super::window_rule) puts it there) and works
//! out every frame of the rows that have arrived first. Each frame then
//! becomes a group of its own, its rows gathered from the batch: one update
//! call per `ROWS_PER_CALL` gathered rows, one finish call per
//! `ROWS_PER_CALL` frames.
//!
//! Folding each frame afresh costs its length, so longer frames, more than
//! [`LONG_FRAME`] rows on average, are merged instead from the states of
//! blocks of rows, which cost the logarithm of their length. Neither needs
//! the guest's `retract`, and the frames need not slide in step. Under
//! `DISTINCT`, each frame's distinct rows are folded, however long.

use super::distinct::DistinctGroups;
use super::groups::Groups;
use super::{Fold, finish};
use crate::function::Function;
use datafusion::arrow::array::{ArrayRef, BinaryArray, UInt64Array, new_empty_array};
use datafusion::arrow::compute::{concat, interleave, take};
use datafusion::arrow::datatypes::FieldRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::window_state::WindowFrameContext;
use datafusion::logical_expr::{
    EmitTo, GroupsAccumulator, LimitEffect, PartitionEvaluator, WindowFrame,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::window::StandardWindowFunctionExpr;
use std::any::Any;
use std::cell::Cell;
use std::ops::Range;
use std::sync::Arc;

/// Frames longer than this many rows on average are merged from blocks:
/// past it, gathering their rows costs more (docs/perf.md, "Sliding
/// windows").
pub(crate) const LONG_FRAME: usize = 32;

/// At most this many frames, or rows gathered for them, are folded at
/// once, so that a partition of long frames never sits in host memory as
/// many copies of itself.
const CHUNK: usize = 1 << 16;

/// A ferry aggregate over a sliding frame counted in rows, as a window
/// function of DataFusion's.
#[derive(Debug)]
pub(crate) struct WasmFrames {
    name: String,
    field: FieldRef,
    args: Vec<Arc<dyn PhysicalExpr>>,
    folds: Arc<Folds>,
}

impl WasmFrames {
    /// `function` over `args` (their distinct rows if `distinct`) in
    /// `frame`, which must be counted in rows; `empty` is its result over
    /// no rows.
    pub(crate) fn new(
        name: String,
        field: FieldRef,
        args: Vec<Arc<dyn PhysicalExpr>>,
        function: Arc<Function>,
        distinct: bool,
        empty: ScalarValue,
        frame: Arc<WindowFrame>,
    ) -> WasmFrames {
        WasmFrames {
            name,
            field,
            args,
            folds: Arc::new(Folds {
                function,
                distinct,
                empty,
                frame,
            }),
        }
    }
}

impl StandardWindowFunctionExpr for WasmFrames {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn field(&self) -> Result<FieldRef> {
        Ok(self.field.clone())
    }

    fn expressions(&self) -> Vec<Arc<dyn PhysicalExpr>> {
        self.args.clone()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn create_evaluator(&self) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(FramesEvaluator {
            folds: self.folds.clone(),
            asked: Cell::new(0),
            answered: None,
        }))
    }

    /// A frame may reach rows past the current one.
    fn limit_effect(&self) -> LimitEffect {
        LimitEffect::Unknown
    }
}

/// What folds frames: the function, and the frame.
#[derive(Debug)]
struct Folds {
    function: Arc<Function>,
    /// Whether the call is `f(DISTINCT ...)`.
    distinct: bool,
    /// The result over no rows, as DataFusion gives it for an empty frame.
    empty: ScalarValue,
    frame: Arc<WindowFrame>,
}

impl Folds {
    /// The frame of row `row` of `rows` rows of one partition.
    fn range(&self, row: usize, rows: usize) -> Result<Range<usize>> {
        WindowFrameContext::Rows(self.frame.clone()).calculate_range(&[], &(0..0), rows, row)
    }

    /// The results of rows `first..` of `values`, one partition's, a
    /// chunk of frames at a time.
    fn results(&self, values: &[ArrayRef], first: usize) -> Result<ArrayRef> {
        let rows = values.first().map_or(0, |column| column.len());
        let ranges = (first..rows)
            .map(|row| self.range(row, rows))
            .collect::<Result<Vec<_>>>()?;
        let gathered: usize = ranges.iter().map(ExactSizeIterator::len).sum();
        // Distinct rows are the host's, kept per frame: they cannot be
        // merged from blocks.
        let long = !self.distinct && gathered > LONG_FRAME * ranges.len();
        let mut results = Vec::new();
        let mut start = 0;
        while start < ranges.len() {
            let end = if long {
                ranges.len().min(start + CHUNK)
            } else {
                let mut end = start;
                let mut gathered = 0;
                while end < ranges.len()
                    && end < start + CHUNK
                    && (end == start || gathered + ranges[end].len() <= CHUNK)
                {
                    gathered += ranges[end].len();
                    end += 1;
                }
                end
            };
            let frames = &ranges[start..end];
            let filled = frames.iter().filter(|frame| !frame.is_empty()).count();
            let chunk = if self.distinct {
                let (columns, group_of_row) = self.gathered(values, frames)?;
                let mut distinct = DistinctGroups::new(self.function.clone())?;
                distinct.update_batch(&columns, &group_of_row, None, filled)?;
                distinct.evaluate(EmitTo::All)?
            } else {
                let states = if long {
                    self.merged(values, frames)?
                } else {
                    let (columns, group_of_row) = self.gathered(values, frames)?;
                    let mut states = Groups::new(self.function.clone());
                    states.fold(Fold::Update, &columns, &group_of_row, None, filled)?;
                    states
                };
                finish(
                    &self.function,
                    (0..filled).map(|group| states.states.get(group)),
                )?
            };
            results.push(self.with_empty(chunk, frames)?);
            start = end;
        }
        match results.as_slice() {
            [] => Ok(new_empty_array(&self.function.returns)),
            [one] => Ok(one.clone()),
            many => Ok(concat(
                &many.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            )?),
        }
    }

    /// The rows of `frames`, gathered, and the group of each: its frame's
    /// place among the frames that have rows.
    fn gathered(
        &self,
        values: &[ArrayRef],
        frames: &[Range<usize>],
    ) -> Result<(Vec<ArrayRef>, Vec<usize>)> {
        let mut rows = Vec::new();
        let mut group_of_row = Vec::new();
        for (group, frame) in frames.iter().filter(|frame| !frame.is_empty()).enumerate() {
            rows.extend(frame.clone().map(|row| row as u64));
            group_of_row.resize(rows.len(), group);
        }
        let rows = UInt64Array::from(rows);
        let columns = values
            .iter()
            .map(|column| take(column, &rows, None))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((columns, group_of_row))
    }

    /// A state for each of `frames` that has rows, merged from the states
    /// of blocks of 1, 2, 4, ... rows, each block aligned to its length: a
    /// frame of `L` rows from at most `2 log2 L` of them. The blocks take
    /// one update call and one merge call per size, however many frames
    /// there are.
    fn merged(&self, values: &[ArrayRef], frames: &[Range<usize>]) -> Result<Groups> {
        let base = frames.first().map_or(0, |frame| frame.start);
        let span = frames.iter().map(|frame| frame.end).max().unwrap_or(base) - base;
        let longest = frames.iter().map(ExactSizeIterator::len).max().unwrap_or(0);
        let columns: Vec<ArrayRef> = values
            .iter()
            .map(|column| column.slice(base, span))
            .collect();
        let mut ones = Groups::new(self.function.clone());
        let each: Vec<usize> = (0..span).collect();
        ones.fold(Fold::Update, &columns, &each, None, span)?;
        let mut sizes = vec![ones];
        while 1 << sizes.len() <= longest {
            let halves = &sizes[sizes.len() - 1];
            let blocks = span >> sizes.len();
            let states: BinaryArray = (0..2 * blocks).map(|i| halves.states.get(i)).collect();
            let pairs: Vec<usize> = (0..2 * blocks).map(|i| i / 2).collect();
            let mut next = Groups::new(self.function.clone());
            next.fold(Fold::Merge, &[Arc::new(states)], &pairs, None, blocks)?;
            sizes.push(next);
        }
        let mut parts = Vec::new();
        let mut group_of_part = Vec::new();
        let filled = frames.iter().filter(|frame| !frame.is_empty());
        for (group, frame) in filled.enumerate() {
            let (mut at, end) = (frame.start - base, frame.end - base);
            while at < end {
                let mut size = (at.trailing_zeros() as usize).min(sizes.len() - 1);
                while at + (1 << size) > end {
                    size -= 1;
                }
                parts.push(sizes[size].states.get(at >> size));
                group_of_part.push(group);
                at += 1 << size;
            }
        }
        let groups = group_of_part.last().map_or(0, |last| last + 1);
        let parts: BinaryArray = parts.into_iter().collect();
        let mut states = Groups::new(self.function.clone());
        states.fold(
            Fold::Merge,
            &[Arc::new(parts)],
            &group_of_part,
            None,
            groups,
        )?;
        Ok(states)
    }

    /// The results of `frames`, given `results` for those that have rows.
    /// An empty frame gives what DataFusion gives it: the result over no
    /// rows found when the function was made.
    fn with_empty(&self, results: ArrayRef, frames: &[Range<usize>]) -> Result<ArrayRef> {
        if results.len() == frames.len() {
            return Ok(results);
        }
        let empty = self.empty.to_array_of_size(1)?;
        let mut next = 0;
        let picks: Vec<(usize, usize)> = frames
            .iter()
            .map(|frame| {
                if frame.is_empty() {
                    (1, 0)
                } else {
                    next += 1;
                    (0, next - 1)
                }
            })
            .collect();
        Ok(interleave(&[results.as_ref(), empty.as_ref()], &picks)?)
    }
}

/// One partition's frames. A whole partition at once comes as one call;
/// a partition arriving batch by batch comes a row at a time, and the
/// first row of each pass over its rows answers for all of them.
#[derive(Debug)]
struct FramesEvaluator {
    folds: Arc<Folds>,
    /// The row DataFusion asked the frame of last, the one it asks the
    /// result of next.
    asked: Cell<usize>,
    answered: Option<Answered>,
}

/// The results of one pass over a partition's rows.
#[derive(Debug)]
struct Answered {
    /// The pass's first argument column. Each pass evaluates the arguments
    /// anew, and holding this one keeps its address from being reused.
    column: ArrayRef,
    first: usize,
    results: ArrayRef,
}

impl PartitionEvaluator for FramesEvaluator {
    /// The frame, which DataFusion keeps to know which rows no frame needs
    /// any more.
    fn get_range(&self, row: usize, rows: usize) -> Result<Range<usize>> {
        self.asked.set(row);
        self.folds.range(row, rows)
    }

    fn is_causal(&self) -> bool {
        self.folds.frame.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
        self.folds.results(values, 0)
    }

    /// The result of the row whose frame was asked for last. DataFusion
    /// asks every row of a pass in order, and leaves those whose frames
    /// reach past the rows that have arrived for a later pass: their
    /// results here, folded over the rows there were, are not given.
    fn evaluate(&mut self, values: &[ArrayRef], _range: &Range<usize>) -> Result<ScalarValue> {
        let row = self.asked.get();
        let answered = match self.answered.take() {
            Some(answered)
                if Arc::ptr_eq(&answered.column, &values[0])
                    && (answered.first..answered.first + answered.results.len()).contains(&row) =>
            {
                answered
            }
            _ => Answered {
                column: values[0].clone(),
                first: row,
                results: self.folds.results(values, row)?,
            },
        };
        let result = ScalarValue::try_from_array(&answered.results, row - answered.first);
        self.answered = Some(answered);
        result
    }

    fn supports_bounded_execution(&self) -> bool {
        !self.folds.frame.end_bound.is_unbounded()
    }
}
