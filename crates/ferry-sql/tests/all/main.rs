//! ferry functions in real DataFusion queries, compared with native SQL or
//! the same Rust functions run natively, over random data with nulls,
//! empty batches and several partitions.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext, col};
use ferry_example_udfs as native;
use ferry_host::{BlobStore, Closure, Encoding, Module, Runtime, RuntimeConfig, Sandbox};
use ferry_sql::{WasmFunctions, execute};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The SQL function examples (`examples/udfs`), built from source once.
fn udfs() -> &'static (Module, PathBuf) {
    static UDFS: OnceLock<(Module, PathBuf)> = OnceLock::new();
    UDFS.get_or_init(|| {
        let built = ferry_host::guest::build_crate(workspace_root().join("examples/udfs"))
            .expect("the UDF examples build");
        (built.module, built.path)
    })
}

fn functions() -> WasmFunctions {
    WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap())
}

/// Pseudo-random numbers, the same on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// About one value in five is null.
    fn maybe<T>(&mut self, value: impl FnOnce(u64) -> T) -> Option<T> {
        (!self.next().is_multiple_of(5)).then(|| value(self.next()))
    }
}

/// A table of random rows in `partitions` partitions of batches of uneven
/// sizes, an empty batch among them.
fn table(partitions: usize) -> (Arc<Schema>, Vec<Vec<RecordBatch>>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("y", DataType::Float64, true),
        Field::new("n", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("g", DataType::Int32, false),
    ]));
    let mut random = Random(7);
    let words = ["Hello", "  wide   World ", "ÉTÉ", "", "a\tb"];
    let batch = |rows: usize, random: &mut Random| -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter(
                (0..rows).map(|_| random.maybe(|v| v as i64 % 1_000_000 - 500_000)),
            )),
            Arc::new(Int64Array::from_iter(
                (0..rows).map(|_| random.maybe(|v| v as i64 % 100)),
            )),
            Arc::new(Float64Array::from_iter(
                (0..rows).map(|_| random.maybe(|v| (v % 180_000) as f64 / 1000.0 - 90.0)),
            )),
            Arc::new(Float64Array::from_iter(
                (0..rows).map(|_| random.maybe(|v| (v % 100_000) as f64 / 100.0 + 0.01)),
            )),
            Arc::new(Int32Array::from_iter(
                (0..rows).map(|_| random.maybe(|v| v as i32 - (1 << 30))),
            )),
            Arc::new(StringArray::from_iter((0..rows).map(|_| {
                random.maybe(|v| words[v as usize % words.len()].repeat(1 + v as usize % 3))
            }))),
            Arc::new(Date32Array::from_iter(
                (0..rows).map(|_| random.maybe(|v| (v % 40_000) as i32 - 10_000)),
            )),
            Arc::new(TimestampMicrosecondArray::from_iter(
                (0..rows).map(|_| random.maybe(|v| (v as i64) * 1_000_003 - (1 << 40))),
            )),
            Arc::new(Int32Array::from_iter_values(
                (0..rows).map(|_| (random.next() % 4) as i32),
            )),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    let partitions = (0..partitions)
        .map(|p| {
            [1000, 0, 1, 4097, 333 * (p + 1)]
                .into_iter()
                .map(|rows| batch(rows, &mut random))
                .collect()
        })
        .collect();
    (schema, partitions)
}

async fn session_with_table(functions: &WasmFunctions, config: SessionConfig) -> SessionContext {
    let ctx = functions.session_with(config);
    let (schema, partitions) = table(3);
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, partitions).unwrap()),
    )
    .unwrap();
    functions.register_module(&ctx, &udfs().0).unwrap();
    ctx
}

async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    execute(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// One column of a query's result, concatenated across batches.
async fn column(ctx: &SessionContext, sql: &str) -> ArrayRef {
    let batches = query(ctx, sql).await;
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
    datafusion::arrow::compute::concat(&arrays).unwrap()
}

async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let result = column(ctx, sql).await;
    result
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalar_functions_agree_with_native_sql() {
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    let total = count(&ctx, "SELECT count(*) FROM t").await;
    assert!(total > 15_000, "{total} rows");
    // Each pair must agree on every row, nulls included.
    for (wasm, native) in [
        ("add(a, b)", "a + b"),
        ("is_even(n)", "n % 2 = 0"),
        ("weekday(d)", "CAST(date_part('dow', d) AS INT)"),
        ("hour(t)", "CAST(date_part('hour', t) AS INT)"),
        (
            "sum_present(a, b)",
            "CASE WHEN a IS NULL AND b IS NULL THEN NULL ELSE coalesce(a, 0) + coalesce(b, 0) END",
        ),
    ] {
        let sql = format!("SELECT {wasm} AS wasm, {native} AS native FROM t");
        assert_same(&ctx, &sql, total).await;
    }
    // Nulls did reach the functions, and results are not all null.
    let nulls = count(&ctx, "SELECT count(*) FROM t WHERE add(a, b) IS NULL").await;
    assert!(nulls > 0 && nulls < total, "{nulls} null sums of {total}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalar_functions_agree_with_native_rust() {
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    let batches = query(
        &ctx,
        "SELECT a, b, x, y, s, gcd(a, b), haversine(x, y, y - 90, x), normalize(s) FROM t",
    )
    .await;
    let mut rows = 0;
    for batch in &batches {
        let int = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        let float = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone()
        };
        let (a, b, x, y, gcd, dist) = (int(0), int(1), float(2), float(3), int(5), float(6));
        let s = batch
            .column(4)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let normal = batch
            .column(7)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for row in 0..batch.num_rows() {
            let get = |array: &Int64Array| array.is_valid(row).then(|| array.value(row));
            let getf = |array: &Float64Array| array.is_valid(row).then(|| array.value(row));
            let expected = get(&a).zip(get(&b)).map(|(a, b)| native::gcd(a, b));
            assert_eq!(get(&gcd), expected, "gcd, row {row}");
            let expected = match (getf(&x), getf(&y)) {
                (Some(x), Some(y)) => Some(native::haversine(x, y, y - 90.0, x)),
                _ => None,
            };
            match (getf(&dist), expected) {
                (Some(got), Some(want)) => assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "{got} vs {want}"
                ),
                (got, want) => assert_eq!(got, want),
            }
            let expected = s.is_valid(row).then(|| native::normalize(s.value(row)));
            assert_eq!(
                normal.is_valid(row).then(|| normal.value(row).to_owned()),
                expected
            );
            rows += 1;
        }
    }
    assert!(rows > 15_000);
}

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
    let wide = Closure::new(&udfs().0, "histogram")
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

/// Checks that the `wasm` and `native` columns of a query's `rows` rows
/// agree, nulls included, floats to within 1e-9 of each other.
async fn assert_agree(ctx: &SessionContext, sql: &str, rows: i64) {
    let differ = "(wasm IS NULL) <> (native IS NULL) OR abs(wasm - native) > 1e-9 * native";
    assert_no_row_differs(ctx, sql, rows, differ).await;
}

/// Checks that the `wasm` and `native` columns of a query's `rows` rows
/// are equal, nulls included.
async fn assert_same(ctx: &SessionContext, sql: &str, rows: i64) {
    assert_no_row_differs(ctx, sql, rows, "wasm IS DISTINCT FROM native").await;
}

async fn assert_no_row_differs(ctx: &SessionContext, sql: &str, rows: i64, differ: &str) {
    let all = count(ctx, &format!("SELECT count(*) FROM ({sql})")).await;
    assert_eq!(all, rows, "{sql}");
    let differing = count(ctx, &format!("SELECT count(*) FROM ({sql}) WHERE {differ}")).await;
    assert_eq!(differing, 0, "{differing} rows differ: {sql}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_run_over_sliding_windows_with_retract_or_without() {
    let (module, _) = udfs();
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
    functions.register_module(&ctx, &udfs().0).unwrap();
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

/// Arguments of other types convert as SQL converts them, in scalar
/// functions, aggregates (their partial states included), `DISTINCT` and
/// sliding windows; a call that cannot convert is refused while planning,
/// with one message that names the function; and `SHOW FUNCTIONS` lists
/// the module's signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_convert_as_in_sql_and_signatures_are_listed() {
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = session_with_table(&functions(), config).await;
    let total = count(&ctx, "SELECT count(*) FROM t").await;
    // Each call agrees on every row with the same call on the values cast
    // by hand to the module's types.
    for (converted, cast) in [
        ("gcd(n, g)", "gcd(CAST(n AS BIGINT), CAST(g AS BIGINT))"),
        (
            "haversine(n, 0, g, 1)",
            "haversine(CAST(n AS DOUBLE), 0.0, CAST(g AS DOUBLE), 1.0)",
        ),
        ("gcd(NULL, a)", "CAST(NULL AS BIGINT)"),
        (
            "normalize(arrow_cast(s, 'Dictionary(Int32, Utf8)'))",
            "normalize(s)",
        ),
        ("normalize(arrow_cast(s, 'Utf8View'))", "normalize(s)"),
        (
            "byte_length(arrow_cast(CAST(s AS BYTEA), 'BinaryView'))",
            "byte_length(CAST(s AS BYTEA))",
        ),
        (
            "hour(arrow_cast(t, 'Timestamp(Nanosecond, None)'))",
            "hour(t)",
        ),
    ] {
        let sql = format!("SELECT {converted} AS wasm, {cast} AS native FROM t");
        assert_same(&ctx, &sql, total).await;
    }
    let present = count(&ctx, "SELECT count(gcd(n, g)) FROM t").await;
    assert!(present > 1000, "{present} results");

    // `n` is an int32 column; `geo_mean` takes float64.
    let groups = count(&ctx, "SELECT count(DISTINCT g % 7) FROM t WHERE n > 0").await;
    for (wasm, native) in [
        ("geo_mean(n)", "exp(avg(ln(n)))"),
        ("geo_mean(DISTINCT n)", "exp(avg(DISTINCT ln(n)))"),
    ] {
        assert_agree(
            &ctx,
            &format!(
                "SELECT g % 7 AS k, {wasm} AS wasm, {native} AS native FROM t WHERE n > 0 GROUP BY k"
            ),
            groups,
        )
        .await;
    }
    let rows = count(&ctx, "SELECT count(*) FROM t WHERE n > 0").await;
    let frame =
        "OVER (PARTITION BY g % 7 ORDER BY a, b, n ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)";
    assert_agree(
        &ctx,
        &format!(
            "SELECT geo_mean(n) {frame} AS wasm, exp(avg(ln(n)) {frame}) AS native FROM t WHERE n > 0"
        ),
        rows,
    )
    .await;

    for (sql, expected) in [
        (
            "SELECT gcd(s, a) FROM t",
            "wasm function `gcd` takes (Int64, Int64), not (Utf8, Int64)",
        ),
        (
            "SELECT gcd(x, a) FROM t",
            "wasm function `gcd` takes (Int64, Int64), not (Float64, Int64)",
        ),
        (
            "SELECT gcd(a) FROM t",
            "wasm function `gcd` takes (Int64, Int64), not (Int64)",
        ),
        (
            "SELECT geo_mean(s) FROM t",
            "wasm function `geo_mean` takes (Float64), not (Utf8)",
        ),
    ] {
        let Err(error) = execute(&ctx, sql).await else {
            panic!("{sql} was accepted");
        };
        let message = error.to_string();
        assert!(message.contains(expected), "{sql}: {message}");
        assert!(!message.contains("Candidate"), "{sql}: {message}");
    }
    assert!(count(&ctx, "SELECT count(gcd(a, b)) FROM t").await > 0);

    // A value out of the module's type's range fails the query, as a CAST
    // would, rather than becoming null.
    let sql = "SELECT hour(arrow_cast(100000000000000, 'Timestamp(Second, None)'))";
    let message = match execute(&ctx, sql).await {
        Ok(frame) => frame.collect().await.unwrap_err().to_string(),
        Err(error) => error.to_string(),
    };
    assert!(
        message.contains("wasm function `hour`: argument 1 does not convert")
            && message.contains("overflow"),
        "{message}"
    );

    // Two integers past 2^53 are one float: one value under DISTINCT,
    // whether DataFusion rewrites the call into a GROUP BY (alone) or
    // ferry keeps the distinct values (with a FILTER).
    let values = "FROM (VALUES (9007199254740992), (9007199254740993)) v(x)";
    for sql in [
        format!("SELECT histogram(DISTINCT x) {values}"),
        format!("SELECT histogram(DISTINCT x) FILTER (WHERE x > 0) {values}"),
    ] {
        let histogram = column(&ctx, &sql).await;
        assert_eq!(
            histogram.as_string::<i32>().value(0),
            "{\"9007199254740990\":1}",
            "{sql}"
        );
    }

    // Merging takes states in any order, so ORDER BY inside an aggregate's
    // call orders nothing, and its column does not reach the guest.
    for (wasm, native) in [
        ("geo_mean(x ORDER BY a)", "exp(avg(ln(x)))"),
        (
            "geo_mean(DISTINCT x ORDER BY x)",
            "exp(avg(DISTINCT ln(x)))",
        ),
    ] {
        let sql = format!("SELECT {wasm} AS wasm, {native} AS native FROM t WHERE x > 0");
        assert_agree(&ctx, &sql, 1).await;
    }

    // `gcd` is one of DataFusion's own functions too; the module's took
    // its place.
    let module = udfs().0.id();
    for (function, expected) in [
        ("gcd", ["gcd", "Int64", "[Int64, Int64]", "SCALAR"]),
        (
            "geo_mean",
            ["geo_mean", "Float64", "[Float64]", "AGGREGATE"],
        ),
        ("hour", ["hour", "Int32", "[Timestamp(µs)]", "SCALAR"]),
    ] {
        let listed = query(&ctx, &format!("SHOW FUNCTIONS LIKE '{function}'")).await;
        let batch = &listed[0];
        assert_eq!((listed.len(), batch.num_rows()), (1, 1), "{function}");
        let cell =
            |name: &str| array_value_to_string(batch.column_by_name(name).unwrap(), 0).unwrap();
        let shown = [
            "function_name",
            "return_type",
            "parameter_types",
            "function_type",
        ]
        .map(cell);
        assert_eq!(shown, expected);
        assert_eq!(
            cell("description"),
            format!("`{function}` of wasm module {module}")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_guest_fails_the_query_and_the_session_goes_on() {
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    // `b` is zero on some rows, well into the table: `div` panics there
    // (a trap) and `checked_div` returns an error naming the row.
    assert!(count(&ctx, "SELECT count(*) FROM t WHERE b = 0").await > 0);
    for (function, sql, expected, after) in [
        (
            "div",
            "SELECT div(a, b) FROM t",
            "panicked",
            "SELECT count(div(a, b)) FROM t WHERE b <> 0",
        ),
        (
            "checked_div",
            "SELECT checked_div(a, b) FROM t",
            "cannot divide",
            "SELECT count(checked_div(a, b)) FROM t WHERE b <> 0",
        ),
        (
            "geo_mean",
            "SELECT geo_mean(x) FROM t",
            "values must be positive",
            "SELECT count(*) FROM (SELECT geo_mean(x) FROM t WHERE x > 0)",
        ),
    ] {
        let err = match execute(&ctx, sql).await {
            Ok(frame) => frame.collect().await.unwrap_err(),
            Err(e) => e,
        };
        let message = err.to_string();
        assert!(
            message.contains(&format!("wasm function `{function}` failed"))
                && message.contains(expected),
            "{message}"
        );
        if function != "div" {
            assert!(message.contains("row "), "{message}");
        }
        // The same function serves the next query.
        assert!(count(&ctx, after).await > 0, "{after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_function_resolves_paths_hashes_and_closures() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(store_dir.path()).unwrap();
    let functions =
        WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(store.clone())).unwrap());
    let ctx = functions.session();
    let (module, path) = udfs();
    let path = path.display();

    // The short form: types from the module.
    query(
        &ctx,
        &format!("CREATE FUNCTION gcd AS '{path}' LANGUAGE wasm"),
    )
    .await;
    let out = column(&ctx, "SELECT gcd(CAST(12 AS BIGINT), CAST(18 AS BIGINT))").await;
    assert_eq!(
        out.as_any().downcast_ref::<Int64Array>().unwrap().value(0),
        6
    );
    // Another name for a function of the module; declared types that match.
    query(
        &ctx,
        &format!(
            "CREATE FUNCTION plus(BIGINT, BIGINT) RETURNS BIGINT LANGUAGE wasm AS '{path}#add'"
        ),
    )
    .await;
    // SQL's own spellings: VARCHAR is a string view, TIMESTAMP nanoseconds.
    query(
        &ctx,
        &format!(
            "CREATE FUNCTION tidy(VARCHAR) RETURNS VARCHAR LANGUAGE wasm AS '{path}#normalize'"
        ),
    )
    .await;
    query(
        &ctx,
        &format!("CREATE FUNCTION hour_of(TIMESTAMP) RETURNS INT LANGUAGE wasm AS '{path}#hour'"),
    )
    .await;
    let out = query(
        &ctx,
        "SELECT tidy('  A  b ') AS t, hour_of(TIMESTAMP '2024-05-06T07:08:09') AS h",
    )
    .await;
    let row = datafusion::arrow::util::pretty::pretty_format_batches(&out)
        .unwrap()
        .to_string();
    assert!(row.contains("| a b | 7 |"), "{row}");
    // By hash: the module went into the store when it was first created.
    query(
        &ctx,
        &format!(
            "CREATE FUNCTION is_even AS 'sha256:{}' LANGUAGE wasm",
            module.id().to_hex()
        ),
    )
    .await;
    // A closure file, environment included.
    let closure = Closure::new(module, "scale")
        .unwrap()
        .with_env(&1.8)
        .unwrap();
    let closure_path = store_dir.path().join("f.closure");
    std::fs::write(&closure_path, closure.to_bytes(Encoding::ByValue)).unwrap();
    query(
        &ctx,
        &format!(
            "CREATE FUNCTION fahrenheit AS '{}' LANGUAGE wasm",
            closure_path.display()
        ),
    )
    .await;
    let out = query(
        &ctx,
        "SELECT plus(1, 2), is_even(CAST(4 AS INT)), fahrenheit(100.0) + 32",
    )
    .await;
    let row = datafusion::arrow::util::pretty::pretty_format_batches(&out)
        .unwrap()
        .to_string();
    assert!(
        row.contains("| 3 ") && row.contains("| true ") && row.contains("| 212.0"),
        "{row}"
    );

    // Wrong declared types are refused when the function is created.
    for (sql, expected) in [
        (format!("CREATE FUNCTION gcd2(VARCHAR, BIGINT) RETURNS BIGINT LANGUAGE wasm AS '{path}#gcd'"), "declared as taking (Utf8View, Int64), but `gcd` takes (Int64, Int64)"),
        (format!("CREATE FUNCTION gcd2(BIGINT) RETURNS BIGINT LANGUAGE wasm AS '{path}#gcd'"), "declared as taking (Int64), but `gcd` takes (Int64, Int64)"),
        (format!("CREATE FUNCTION gcd2(BIGINT, BIGINT) RETURNS DOUBLE LANGUAGE wasm AS '{path}#gcd'"), "declared as returning Float64, but `gcd` returns Int64"),
        (format!("CREATE FUNCTION nope AS '{path}' LANGUAGE wasm"), "has no function `nope`"),
        (format!("CREATE FUNCTION gcd2 AS '{path}#gcd' LANGUAGE python"), "LANGUAGE wasm, not python"),
        ("CREATE FUNCTION gcd2 AS 'sha256:00000000000000000000000000000000000000000000000000000000000000aa' LANGUAGE wasm".into(), "is not in the store"),
        ("CREATE FUNCTION gcd2 AS '/no/such/file.wasm' LANGUAGE wasm".into(), "cannot read /no/such/file.wasm"),
    ] {
        let err = execute(&ctx, &sql).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{sql}: {err}");
    }
    assert!(execute(&ctx, "SELECT gcd2(1, 2)").await.is_err());

    // DROP FUNCTION removes it.
    query(&ctx, "DROP FUNCTION gcd").await;
    let err = execute(&ctx, "SELECT gcd(1, 2)")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("gcd"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_run_over_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = session_with_table(&functions(), SessionConfig::new()).await;
    let file = dir.path().join("t.parquet");
    query(
        &ctx,
        &format!(
            "COPY (SELECT * FROM t) TO '{}' STORED AS PARQUET",
            file.display()
        ),
    )
    .await;
    query(
        &ctx,
        &format!(
            "CREATE EXTERNAL TABLE p STORED AS PARQUET LOCATION '{}'",
            file.display()
        ),
    )
    .await;
    // Parquet strings arrive as views; they are coerced to the function's
    // utf8 argument.
    let differ = count(
        &ctx,
        "SELECT count(*) FROM (SELECT normalize(s) AS n FROM p) p FULL JOIN (SELECT normalize(s) AS n FROM t) t ON p.n = t.n WHERE p.n IS NULL AND t.n IS NOT NULL",
    )
    .await;
    assert_eq!(differ, 0);
    let same = count(&ctx, "SELECT count(*) FROM p WHERE gcd(a, b) = gcd(b, a)").await;
    assert!(same > 10_000);
}
