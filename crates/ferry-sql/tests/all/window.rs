//! Aggregates over windows: sliding frames, with a `retract` step or
//! folded afresh, and a frame larger than the guest's memory.

use crate::support::{
    assert_agree, assert_same, column, count, functions, query, session_with_table,
};
use datafusion::arrow::array::AsArray;
use datafusion::prelude::SessionConfig;
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
    // rows enter several at a time and leave one at a time.
    let frames = [
        ("5 PRECEDING AND 1 PRECEDING", -5, -1),
        ("2 PRECEDING AND 4 FOLLOWING", -2, 4),
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
