//! Aggregates, grouped and not, compared with DataFusion's own: partial
//! states merged across partitions, many groups, filters, sorted input, and
//! what they give over no rows.

use crate::support::{assert_agree, column, count, functions, query, session_with_table};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, col};
use ferry_host::{Closure, Limits, Sandbox};
use ferry_test_support::udfs;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_agree_with_native_ones_across_partitions() {
    let functions = functions();
    let ctx = session_with_table(&functions, SessionConfig::new()).await;
    // Grouped and ungrouped, over three partitions: partial states are
    // merged across them.
    let groups = count(&ctx, "SELECT count(DISTINCT g) FROM t").await;
    assert_eq!(groups, 4);
    assert_agree(
        &ctx,
        "SELECT g, geo_mean(y) AS wasm, exp(avg(ln(y))) AS native FROM t GROUP BY g",
        groups,
    )
    .await;

    let histogram = column(&ctx, "SELECT histogram(x) FROM t").await;
    let histogram = histogram
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(0)
        .to_owned();
    let buckets = query(
        &ctx,
        "SELECT CAST(floor(x / 10) * 10 AS BIGINT), count(x) FROM t WHERE x IS NOT NULL GROUP BY 1 ORDER BY 1",
    )
    .await;
    let mut expected = Vec::new();
    for batch in &buckets {
        let bucket = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let n = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for row in 0..batch.num_rows() {
            expected.push(format!("\"{}\":{}", bucket.value(row), n.value(row)));
        }
    }
    assert_eq!(histogram, format!("{{{}}}", expected.join(",")));
    assert!(expected.len() > 10);

    // No rows: the aggregate of nothing.
    let empty = column(&ctx, "SELECT geo_mean(y) FROM t WHERE false").await;
    assert!(empty.is_null(0));
    let empty = column(&ctx, "SELECT histogram(x) FROM t WHERE x > 1000").await;
    assert_eq!(
        empty
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(0),
        "{}"
    );

    // The environment binds the bucket width.
    let wide = Closure::new(&udfs().module, "histogram")
        .unwrap()
        .with_env(&90.0)
        .unwrap();
    functions.register(&ctx, "wide_histogram", wide).unwrap();
    let wide = column(&ctx, "SELECT wide_histogram(x) FROM t").await;
    let wide = wide
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .value(0)
        .to_owned();
    let total = count(&ctx, "SELECT count(x) FROM t").await;
    let below = count(&ctx, "SELECT count(x) FROM t WHERE x < 0").await;
    assert_eq!(wide, format!("{{\"-90\":{below},\"0\":{}}}", total - below));
}

/// DataFusion itself fills in an aggregate over no rows when it turns a
/// correlated subquery into a join, and for an empty window frame; both
/// must give what the function gives over no rows, not null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_over_no_rows_agree_wherever_datafusion_fills_them_in() {
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    let text = |array: ArrayRef| -> Vec<Option<String>> {
        let array = array.as_any().downcast_ref::<StringArray>().unwrap();
        array.iter().map(|s| s.map(str::to_owned)).collect()
    };
    let nothing = text(column(&ctx, "SELECT histogram(x) FROM t WHERE false").await);
    assert_eq!(nothing.len(), 1);
    assert!(nothing[0].is_some());

    // Keys 4 and 5 match no row of `t`.
    let correlated = text(
        column(
            &ctx,
            "SELECT (SELECT histogram(t.x) FROM t WHERE t.g = k.k) FROM (VALUES (0), (1), (2), (3), (4), (5)) AS k(k) ORDER BY k.k",
        )
        .await,
    );
    for (key, found) in correlated.iter().enumerate() {
        let alone =
            text(column(&ctx, &format!("SELECT histogram(x) FROM t WHERE g = {key}")).await);
        assert_eq!(found, &alone[0], "key {key}");
    }
    assert_eq!(correlated[4], nothing[0]);

    // The first row of each partition has an empty frame.
    let firsts = text(
        column(
            &ctx,
            "SELECT h FROM (
                 SELECT histogram(x) OVER w AS h, row_number() OVER w AS r FROM t
                 WINDOW w AS (PARTITION BY g ORDER BY a, b, x
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
             WHERE r = 1",
        )
        .await,
    );
    let groups = count(&ctx, "SELECT count(DISTINCT g) FROM t").await;
    assert_eq!(firsts, vec![nothing[0].clone(); groups as usize]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_over_many_groups_with_filters_and_without_partial_aggregation() {
    let functions = functions();
    // Every way DataFusion groups: hashing many groups, a FILTER clause
    // (rows dropped before the guest sees them), and, in the second
    // session, partial aggregation skipped at once, so that each row
    // becomes a state of its own.
    let eager = SessionConfig::new()
        .set_usize(
            "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
            1,
        )
        .set_str(
            "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
            "0.0",
        );
    let eager = session_with_table(&functions, eager).await;
    for ctx in [
        session_with_table(&functions, SessionConfig::new()).await,
        eager,
    ] {
        let groups = count(&ctx, "SELECT count(DISTINCT a % 997) FROM t").await;
        assert!(groups > 900, "{groups} groups");
        for sql in [
            "SELECT a % 997, geo_mean(y) AS wasm, exp(avg(ln(y))) AS native FROM t GROUP BY 1",
            "SELECT a % 997, geo_mean(y) FILTER (WHERE b > 50) AS wasm,
                    exp(avg(ln(y)) FILTER (WHERE b > 50)) AS native FROM t GROUP BY 1",
            // An int argument, converted to the float `geo_mean` takes.
            "SELECT a % 997, geo_mean(DISTINCT CAST(ceil(y) AS INT)) FILTER (WHERE b > 50) AS wasm,
                    exp(avg(DISTINCT ln(CAST(ceil(y) AS INT))) FILTER (WHERE b > 50)) AS native
             FROM t GROUP BY 1",
        ] {
            // One group per value, and one for null.
            assert_agree(&ctx, sql, groups + 1).await;
        }
        let nulls = count(
            &ctx,
            "SELECT count(*) FROM (SELECT a % 997, geo_mean(y) FILTER (WHERE b > 98) AS w
             FROM t GROUP BY 1) WHERE w IS NULL",
        )
        .await;
        assert!(nulls > 0, "groups whose rows are all filtered out are null");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_over_sorted_input_emit_groups_as_they_end() {
    // Input sorted on the group key lets DataFusion finish the first
    // groups while later ones still grow: states leave from the front.
    // One partition, so that nothing reshuffles the sorted rows.
    let ctx =
        session_with_table(&functions(), SessionConfig::new().with_target_partitions(1)).await;
    let sorted = query(&ctx, "SELECT a % 97 AS k, y FROM t ORDER BY k NULLS LAST").await;
    let table = MemTable::try_new(sorted[0].schema(), vec![sorted])
        .unwrap()
        .with_sort_order(vec![vec![col("k").sort(true, false)]]);
    ctx.register_table("sorted", Arc::new(table)).unwrap();
    let sql = "SELECT k, geo_mean(y) AS wasm, exp(avg(ln(y))) AS native FROM sorted GROUP BY k";
    let plan = query(&ctx, &format!("EXPLAIN {sql}")).await;
    let plan = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(plan.contains("ordering_mode=Sorted"), "{plan}");
    // Keys from -96 to 96, and null.
    assert_agree(&ctx, sql, 97 * 2).await;
    let distinct = "SELECT k, geo_mean(DISTINCT ceil(y)) AS wasm,
                           exp(avg(DISTINCT ln(ceil(y)))) AS native FROM sorted GROUP BY k";
    assert_agree(&ctx, distinct, 97 * 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_kept_in_the_guest_move_to_the_host_as_its_memory_fills() {
    // 16 MiB of guest memory, and 1.5 million groups in one partition:
    // their states (16 bytes each, in a table that doubles as it grows)
    // would not fit. They move to the host once the instance passes a
    // quarter of the cap, and the query gives what DataFusion's own does.
    let sandbox = Sandbox {
        limits: Limits {
            memory: 16 << 20,
            ..Limits::default()
        },
        ..Sandbox::default()
    };
    let functions = functions().with_sandbox(sandbox);
    let ctx = functions.session_with(SessionConfig::new().with_target_partitions(1));
    functions.register_module(&ctx, &udfs().module).unwrap();
    let groups = 1_500_000;
    let sql = format!(
        "SELECT k, geo_mean(y) AS wasm, exp(avg(ln(y))) AS native
         FROM (SELECT v % {groups} AS k, CAST(v % 1000 + 1 AS DOUBLE) AS y
               FROM generate_series(1, {}) AS s(v))
         GROUP BY k",
        2 * groups
    );
    assert_agree(&ctx, &sql, groups).await;
}
