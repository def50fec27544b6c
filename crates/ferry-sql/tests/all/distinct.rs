//! `f(DISTINCT ...)`, grouped, ungrouped and over a running window.

use crate::support::{assert_agree, count, functions, session_with_table};
use datafusion::prelude::SessionConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_aggregates_fold_each_value_once() {
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    let rows = count(&ctx, "SELECT count(y) FROM t").await;
    let values = count(&ctx, "SELECT count(DISTINCT ceil(y)) FROM t").await;
    assert!(
        rows > 5 * values,
        "{rows} rows, {values} values: too few repeats"
    );
    // Two different DISTINCT arguments keep DataFusion from rewriting the
    // query into a GROUP BY, so the wasm aggregate sees DISTINCT itself,
    // and merges the values that three partitions saw.
    for (sql, results) in [
        (
            "SELECT g, geo_mean(DISTINCT ceil(y)) AS wasm,
                    exp(avg(DISTINCT ln(ceil(y)))) AS native FROM t GROUP BY g",
            4,
        ),
        (
            "SELECT geo_mean(DISTINCT ceil(y)) AS wasm,
                    exp(avg(DISTINCT ln(ceil(y)))) AS native FROM t",
            1,
        ),
    ] {
        assert_agree(&ctx, sql, results).await;
    }
    // A running window evaluates after every row.
    let all = count(&ctx, "SELECT count(*) FROM t").await;
    assert_agree(
        &ctx,
        "SELECT geo_mean(DISTINCT ceil(y)) OVER w AS wasm,
                exp(avg(DISTINCT ln(ceil(y))) OVER w) AS native FROM t
         WINDOW w AS (ORDER BY a, b, x ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
        all,
    )
    .await;
    let repeated = count(
        &ctx,
        "SELECT count(*) FROM (SELECT g FROM t GROUP BY g
         HAVING geo_mean(DISTINCT ceil(y)) = geo_mean(ceil(y)))",
    )
    .await;
    assert_eq!(repeated, 0, "DISTINCT made no difference");
}
