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
use super::{Fold, ROWS_PER_CALL, concatenated, finish};
use crate::function::Function;
use datafusion::arrow::array::{ArrayRef, BinaryArray, UInt64Array};
use datafusion::arrow::compute::{interleave, take};
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
const LONG_FRAME: usize = 32;

/// At most this many frames, or rows gathered for them, are folded at
/// once, so that a partition of frames never sits in host memory as many
/// copies of itself. Blocks are made once for all of a pass's frames: at
/// most two states a row.
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
    /// DataFusion's reckoning of frames counted in rows, which needs no
    /// column of the rows.
    fn context(&self) -> WindowFrameContext {
        WindowFrameContext::Rows(self.frame.clone())
    }

    /// The frames of rows `first..` of `rows` rows of one partition.
    fn ranges(&self, first: usize, rows: usize) -> Result<Vec<Range<usize>>> {
        let mut context = self.context();
        (first..rows)
            .map(|row| context.calculate_range(&[], &(0..0), rows, row))
            .collect()
    }

    /// The results of the rows whose frames are `ranges`, over `values`,
    /// one partition's, a chunk of frames at a time.
    fn results(&self, values: &[ArrayRef], ranges: &[Range<usize>]) -> Result<ArrayRef> {
        let gathered: usize = ranges.iter().map(ExactSizeIterator::len).sum();
        // Distinct rows are the host's, kept per frame: they cannot be
        // merged from blocks.
        let blocks = if !self.distinct && gathered > LONG_FRAME * ranges.len() {
            Some(self.blocks(values, ranges)?)
        } else {
            None
        };
        let mut results = Vec::new();
        let mut start = 0;
        while start < ranges.len() {
            let mut end = start;
            let mut gathered = 0;
            while end < ranges.len()
                && end < start + CHUNK
                && (blocks.is_some() || end == start || gathered + ranges[end].len() <= CHUNK)
            {
                gathered += ranges[end].len();
                end += 1;
            }
            let frames = &ranges[start..end];
            let filled = frames.iter().filter(|frame| !frame.is_empty()).count();
            let chunk = if self.distinct {
                let (columns, group_of_row) = self.gathered(values, frames)?;
                let mut distinct = DistinctGroups::new(self.function.clone())?;
                distinct.update_batch(&columns, &group_of_row, None, filled)?;
                distinct.evaluate(EmitTo::All)?
            } else {
                let states = match &blocks {
                    Some(blocks) => self.merged(blocks, frames, filled)?,
                    None => {
                        let (columns, group_of_row) = self.gathered(values, frames)?;
                        let mut states = Groups::new(self.function.clone());
                        states.fold(Fold::Update, &columns, &group_of_row, None, filled)?;
                        states
                    }
                };
                let states = (0..filled).map(|group| states.states.get(group));
                finish(&self.function, states)?
            };
            results.push(self.with_empty(chunk, frames)?);
            start = end;
        }
        concatenated(results, &self.function.returns)
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

    /// The states of the blocks of 1, 2, 4, ... rows that `ranges` are
    /// merged from, each block aligned to its length from the first
    /// frame's start: one update call and one merge call per size (per
    /// `ROWS_PER_CALL` blocks), however many frames there are.
    fn blocks(&self, values: &[ArrayRef], ranges: &[Range<usize>]) -> Result<Blocks> {
        let base = ranges.first().map_or(0, |frame| frame.start);
        let span = ranges.iter().map(|frame| frame.end).max().unwrap_or(base) - base;
        let longest = ranges.iter().map(ExactSizeIterator::len).max().unwrap_or(0);
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
            let mut next = Groups::new(self.function.clone());
            self.merge(
                &mut next,
                (0..2 * blocks).map(|half| (half / 2, halves.states.get(half))),
                blocks,
            )?;
            sizes.push(next);
        }
        Ok(Blocks { base, sizes })
    }

    /// A state for each of `frames` that has rows, `filled` of them,
    /// merged from `blocks`: a frame of `L` rows from at most `2 log2 L`
    /// of them.
    fn merged(&self, blocks: &Blocks, frames: &[Range<usize>], filled: usize) -> Result<Groups> {
        let sizes = &blocks.sizes;
        let with_rows = frames.iter().filter(|frame| !frame.is_empty());
        let parts = with_rows.enumerate().flat_map(|(group, frame)| {
            let (mut at, end) = (frame.start - blocks.base, frame.end - blocks.base);
            std::iter::from_fn(move || {
                (at < end).then(|| {
                    let mut size = (at.trailing_zeros() as usize).min(sizes.len() - 1);
                    while at + (1 << size) > end {
                        size -= 1;
                    }
                    let part = sizes[size].states.get(at >> size);
                    at += 1 << size;
                    (group, part)
                })
            })
        });
        let mut states = Groups::new(self.function.clone());
        self.merge(&mut states, parts, filled)?;
        Ok(states)
    }

    /// Merges `parts`, each a group and a state, into `states`, of
    /// `groups` groups: a call per `ROWS_PER_CALL` parts, so that no
    /// column of states grows past what one call takes.
    fn merge<'a>(
        &self,
        states: &mut Groups,
        parts: impl Iterator<Item = (usize, Option<&'a [u8]>)>,
        groups: usize,
    ) -> Result<()> {
        let mut parts = parts.peekable();
        while parts.peek().is_some() {
            let (group_of_part, chunk): (Vec<usize>, Vec<Option<&[u8]>>) =
                parts.by_ref().take(ROWS_PER_CALL).unzip();
            let chunk = BinaryArray::from(chunk);
            states.fold(
                Fold::Merge,
                &[Arc::new(chunk)],
                &group_of_part,
                None,
                groups,
            )?;
        }
        Ok(())
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

/// The states of aligned blocks of rows: `sizes[k]` holds those of `2^k`
/// rows, block `i` starting at row `base + i 2^k`.
struct Blocks {
    base: usize,
    sizes: Vec<Groups>,
}

/// One partition's frames. A whole partition at once comes as one call;
/// a partition arriving batch by batch comes a row at a time, and the
/// first row of each pass over its rows answers for the rest.
#[derive(Debug)]
struct FramesEvaluator {
    folds: Arc<Folds>,
    /// The row DataFusion asked the frame of last, the one it asks the
    /// result of next.
    asked: Cell<usize>,
    answered: Option<Answered>,
}

/// The results of some rows of a pass over a partition's rows.
#[derive(Debug)]
struct Answered {
    /// The argument columns they were folded from. DataFusion evaluates
    /// them anew when rows arrive or leave, and holding these keeps their
    /// addresses from being reused: the same columns are the same rows.
    columns: Vec<ArrayRef>,
    first: usize,
    results: ArrayRef,
}

impl PartitionEvaluator for FramesEvaluator {
    /// The frame, which DataFusion keeps to know which rows no frame needs
    /// any more.
    fn get_range(&self, row: usize, rows: usize) -> Result<Range<usize>> {
        self.asked.set(row);
        self.folds
            .context()
            .calculate_range(&[], &(0..0), rows, row)
    }

    fn is_causal(&self) -> bool {
        self.folds.frame.is_causal()
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        self.folds.results(values, &self.folds.ranges(0, rows)?)
    }

    /// The result of the row whose frame was asked for last. DataFusion
    /// asks the rows of a pass in order, until one whose frame reaches the
    /// last row that has arrived and may reach further: that one waits
    /// for more rows, or for the partition's end. So the first row of a
    /// pass answers for the rows up to that one, and the rows from it on
    /// are answered when asked.
    fn evaluate(&mut self, values: &[ArrayRef], _range: &Range<usize>) -> Result<ScalarValue> {
        let row = self.asked.get();
        let answered = match self.answered.take() {
            Some(answered)
                if answered.columns.len() == values.len()
                    && answered
                        .columns
                        .iter()
                        .zip(values)
                        .all(|(a, b)| Arc::ptr_eq(a, b))
                    && (answered.first..answered.first + answered.results.len()).contains(&row) =>
            {
                answered
            }
            _ => {
                let rows = values.first().map_or(0, |column| column.len());
                let mut ranges = self.folds.ranges(row, rows)?;
                if !self.is_causal() && ranges.first().is_some_and(|r| r.end < rows) {
                    let safe = ranges.partition_point(|range| range.end < rows);
                    ranges.truncate(safe);
                }
                Answered {
                    columns: values.to_vec(),
                    first: row,
                    results: self.folds.results(values, &ranges)?,
                }
            }
        };
        let result = ScalarValue::try_from_array(&answered.results, row - answered.first);
        self.answered = Some(answered);
        result
    }

    fn supports_bounded_execution(&self) -> bool {
        !self.folds.frame.end_bound.is_unbounded()
    }
}
