//! Aggregates over windows: sliding frames, with a `retract` step or
//! folded afresh, a batch of frames at a time, and a frame larger than the
//! guest's memory.

use crate::support::{
    assert_agree, assert_same, column, count, functions, query, session_with_table,
};
use datafusion::arrow::array::AsArray;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::physical_expr::window::StandardWindowExpr;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, WindowAggExec};
use datafusion::prelude::{SessionConfig, SessionContext};
use ferry_host::{Closure, Sandbox};
use ferry_test_support::udfs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_run_over_sliding_windows_with_retract_or_without() {
    let module = &udfs().module;
    let retracts = |name| Closure::new(module, name).unwrap().record().retract;
    assert!(retracts("geo_mean") && !retracts("histogram"));
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    let all = count(&ctx, "SELECT count(*) FROM t").await;
    // Rows leave these frames as the window moves: by count, and by value
    // with rows after the current one.
    for frame in [
        "PARTITION BY g ORDER BY a, b, x ROWS BETWEEN 6 PRECEDING AND CURRENT ROW",
        "ORDER BY a RANGE BETWEEN 10 PRECEDING AND 5 FOLLOWING",
    ] {
        assert_agree(
            &ctx,
            &format!(
                "SELECT geo_mean(y) OVER w AS wasm, exp(avg(ln(y)) OVER w) AS native FROM t
                 WINDOW w AS ({frame})"
            ),
            all,
        )
        .await;
    }
    // Without retract, and under DISTINCT, each frame is folded afresh.
    // Each row's frame as a group of a self-join must give the same: the
    // frames of the first rows of each partition are empty, and give what
    // the aggregate gives over no rows (`{}` for a histogram).
    query(
        &ctx,
        "CREATE TABLE r AS SELECT p, i, row_number() OVER (PARTITION BY p ORDER BY i) AS k, x, y FROM (
             SELECT g % 3 AS p, row_number() OVER (ORDER BY a, b, x, y, n) AS i, x, y
             FROM t ORDER BY i LIMIT 600)",
    )
    .await;
    // Whether results are strings, to compare exactly, or floats.
    let aggregates = [
        ("histogram(x)", "histogram(r2.x)", true),
        ("geo_mean(DISTINCT y)", "geo_mean(DISTINCT r2.y)", false),
        ("geo_mean(y)", "geo_mean(r2.y)", false),
    ];
    // Frames as SQL and as offsets from the current row; in the second,
    // rows enter several at a time and leave one at a time; the third is
    // long enough to be merged from blocks of rows.
    let frames = [
        ("5 PRECEDING AND 1 PRECEDING", -5, -1),
        ("2 PRECEDING AND 4 FOLLOWING", -2, 4),
        ("100 PRECEDING AND 50 FOLLOWING", -100, 50),
    ];
    for ((windowed, joined, exact), (frame, from, to)) in aggregates
        .iter()
        .flat_map(|a| frames.iter().map(move |f| (a, f)))
    {
        let sql = format!(
            "SELECT w.v AS wasm, j.v AS native FROM
                 (SELECT i, {windowed} OVER (PARTITION BY p ORDER BY i ROWS BETWEEN {frame}) AS v
                  FROM r) w
             JOIN (SELECT r1.i, {joined} AS v FROM r r1
                   LEFT JOIN r r2 ON r2.p = r1.p AND r2.k BETWEEN r1.k + {from} AND r1.k + {to}
                   GROUP BY r1.i) j
             ON w.i = j.i"
        );
        if *exact {
            assert_same(&ctx, &sql, 600).await;
        } else {
            assert_agree(&ctx, &sql, 600).await;
        }
    }
    let empty = count(
        &ctx,
        "SELECT count(*) FROM (SELECT histogram(x) OVER (PARTITION BY p ORDER BY i
                               ROWS BETWEEN 5 PRECEDING AND 1 PRECEDING) AS h FROM r) WHERE h = '{}'",
    )
    .await;
    assert!(empty >= 3, "{empty} empty frames");
}

/// A window may hand an aggregate its whole partition at once; the guest
/// still gets it in pieces, so a frame larger than the guest's memory works
/// as the same aggregate over the table does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_larger_than_guest_memory_is_folded_in_pieces() {
    let mut sandbox = Sandbox::default();
    sandbox.limits.memory = 16 << 20;
    let functions = functions().with_sandbox(sandbox);
    let ctx = functions.session();
    functions.register_module(&ctx, &udfs().module).unwrap();
    // 24 MB of float64 arguments.
    query(
        &ctx,
        "CREATE TABLE d AS SELECT CAST(value % 100 + 1 AS DOUBLE) AS x FROM range(0, 3000000)",
    )
    .await;
    let histogram = column(&ctx, "SELECT histogram(x) OVER () FROM d LIMIT 1").await;
    let expected: Vec<String> = (0..=10)
        .map(|bucket| {
            let count = match bucket {
                0 => 270_000,
                10 => 30_000,
                _ => 300_000,
            };
            format!("\"{}\":{count}", bucket * 10)
        })
        .collect();
    assert_eq!(
        histogram.as_string::<i32>().value(0),
        format!("{{{}}}", expected.join(","))
    );
    assert_agree(
        &ctx,
        "SELECT geo_mean(x) OVER () AS wasm, exp(avg(ln(x)) OVER ()) AS native FROM d LIMIT 1",
        1,
    )
    .await;
}

/// A sliding frame counted in rows is folded a batch of frames at a time,
/// by ferry's own window expression in place of DataFusion's accumulator,
/// `DISTINCT` too; other frames and `FILTER` stay with the accumulator. Both
/// agree with DataFusion's own aggregate over partitions that arrive in
/// many small batches: short frames, frames longer than the length past
/// which ferry merges blocks of rows instead, frames reaching past the rows
/// that have arrived, to the partition's end, and empty ones. And over a
/// partition whose frames are more than ferry folds at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_frames_are_folded_a_batch_of_frames_at_a_time() {
    let functions = functions();
    let ctx = functions.session_with(SessionConfig::new().with_batch_size(500));
    functions.register_module(&ctx, &udfs().module).unwrap();
    query(
        &ctx,
        "CREATE TABLE s AS SELECT value % 3 AS p, value AS i,
             CAST((value * 7919) % 1000 + 1 AS DOUBLE) AS y FROM range(0, 20000)",
    )
    .await;
    let window = |frame: &str| format!("PARTITION BY p ORDER BY i {frame}");
    for (frame, by_ferry) in [
        ("ROWS BETWEEN 6 PRECEDING AND CURRENT ROW", true),
        ("ROWS BETWEEN 300 PRECEDING AND 2 PRECEDING", true),
        ("ROWS BETWEEN 2 PRECEDING AND 40 FOLLOWING", true),
        ("ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING", true),
        ("ROWS BETWEEN 5 PRECEDING AND UNBOUNDED FOLLOWING", true),
        ("RANGE BETWEEN 20 PRECEDING AND CURRENT ROW", false),
    ] {
        let sql = format!(
            "SELECT geo_mean(y) OVER w AS wasm, exp(avg(ln(y)) OVER w) AS native FROM s
             WINDOW w AS ({})",
            window(frame)
        );
        assert_eq!(
            by_ferry_window(&ctx, &sql).await,
            [by_ferry, false],
            "{frame}"
        );
        assert_agree(&ctx, &sql, 20_000).await;
    }
    let short = window("ROWS BETWEEN 6 PRECEDING AND CURRENT ROW");
    let filtered = format!(
        "SELECT geo_mean(y) FILTER (WHERE y > 500) OVER ({short}) AS wasm,
             exp(avg(ln(y)) FILTER (WHERE y > 500) OVER ({short})) AS native FROM s"
    );
    assert_eq!(by_ferry_window(&ctx, &filtered).await, [false, false]);
    assert_agree(&ctx, &filtered, 20_000).await;
    let distinct = format!("SELECT geo_mean(DISTINCT y) OVER ({short}) FROM s");
    assert_eq!(by_ferry_window(&ctx, &distinct).await, [true]);

    let ctx = functions.session();
    functions.register_module(&ctx, &udfs().module).unwrap();
    query(
        &ctx,
        "CREATE TABLE l AS SELECT value AS i, CAST((value * 7919) % 1000 + 1 AS DOUBLE) AS y
         FROM range(0, 70000)",
    )
    .await;
    for frame in [
        "31 PRECEDING AND CURRENT ROW",
        "5 PRECEDING AND UNBOUNDED FOLLOWING",
    ] {
        let sql = format!(
            "SELECT geo_mean(y) OVER w AS wasm, exp(avg(ln(y)) OVER w) AS native FROM l
             WINDOW w AS (ORDER BY i ROWS BETWEEN {frame})"
        );
        assert_eq!(by_ferry_window(&ctx, &sql).await, [true, false], "{frame}");
        assert_agree(&ctx, &sql, 70_000).await;
    }
}

/// For each window expression of the query's plan, whether ferry's own
/// window expression evaluates it.
async fn by_ferry_window(ctx: &SessionContext, sql: &str) -> Vec<bool> {
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let mut found = Vec::new();
    plan.apply(|plan| {
        let exprs = if let Some(window) = plan.downcast_ref::<BoundedWindowAggExec>() {
            window.window_expr()
        } else if let Some(window) = plan.downcast_ref::<WindowAggExec>() {
            window.window_expr()
        } else {
            return Ok(TreeNodeRecursion::Continue);
        };
        found.extend(
            exprs
                .iter()
                .map(|expr| expr.as_any().is::<StandardWindowExpr>()),
        );
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    found
}
