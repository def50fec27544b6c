//! The physical optimizer rule that hands sliding window frames over ferry
//! aggregates to [`WasmFrames`], a batch of frames at a time, where
//! DataFusion would slide an accumulator row by row.

use super::WasmAggregate;
use super::window::WasmFrames;
use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::WindowFrameUnits;
use datafusion::physical_expr::window::{
    SlidingAggregateWindowExpr, StandardWindowExpr, WindowExpr,
};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use std::sync::Arc;

/// Puts [`WasmFrames`] in place of DataFusion's sliding window
/// expressions over ferry aggregates, where the frame is counted in rows
/// and the call has no `FILTER`. It runs after
/// DataFusion's own rules, which have by then settled the plan's order.
#[derive(Debug, Default)]
pub(crate) struct WindowRule;

impl PhysicalOptimizerRule for WindowRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            Ok(match with_frames(&plan)? {
                Some(replaced) => Transformed::yes(replaced),
                None => Transformed::no(plan),
            })
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "ferry_sliding_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with [`WasmFrames`] in it, if it is a window whose expressions
/// can have them. (DataFusion lets a state observer watch only frames that
/// start at the partition's first row, which are not sliding ones.)
fn with_frames(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if let Some(window) = plan.downcast_ref::<BoundedWindowAggExec>() {
        let Some(exprs) = replaced(window.window_expr()) else {
            return Ok(None);
        };
        return Ok(Some(Arc::new(BoundedWindowAggExec::try_new(
            exprs,
            window.input().clone(),
            window.input_order_mode.clone(),
            !window.partition_keys().is_empty(),
        )?)));
    }
    if let Some(window) = plan.downcast_ref::<WindowAggExec>() {
        let Some(exprs) = replaced(window.window_expr()) else {
            return Ok(None);
        };
        return Ok(Some(Arc::new(WindowAggExec::try_new(
            exprs,
            window.input().clone(),
            !window.partition_keys().is_empty(),
        )?)));
    }
    Ok(None)
}

/// `exprs` with [`WasmFrames`] in place of those that can have them;
/// `None` if none can.
fn replaced(exprs: &[Arc<dyn WindowExpr>]) -> Option<Vec<Arc<dyn WindowExpr>>> {
    let mut any = false;
    let exprs = exprs
        .iter()
        .map(|expr| match frames(expr.as_ref()) {
            Some(frames) => {
                any = true;
                frames
            }
            None => expr.clone(),
        })
        .collect();
    any.then_some(exprs)
}

fn frames(expr: &dyn WindowExpr) -> Option<Arc<dyn WindowExpr>> {
    let sliding: &SlidingAggregateWindowExpr = expr.as_any().downcast_ref()?;
    let aggregate = sliding.get_aggregate_expr();
    let wasm: &WasmAggregate = aggregate.fun().inner().downcast_ref()?;
    let frame = sliding.get_window_frame();
    // DataFusion keeps a window's FILTER to itself: its debug form is the
    // one place it shows. Should that form change, nothing is replaced.
    let unfiltered = format!("{sliding:?}").ends_with("filter: None }");
    if frame.units != WindowFrameUnits::Rows || !unfiltered {
        return None;
    }
    let frames = WasmFrames::new(
        aggregate.name().to_string(),
        aggregate.field(),
        aggregate.expressions(),
        wasm.function.clone(),
        aggregate.is_distinct(),
        wasm.empty.clone(),
        frame.clone(),
    );
    Some(Arc::new(StandardWindowExpr::new(
        Arc::new(frames),
        sliding.partition_by(),
        sliding.order_by(),
        frame.clone(),
    )))
}
