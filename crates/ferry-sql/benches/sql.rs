//! SQL functions over 10M int64 rows, ferry's wasm UDFs beside their native
//! counterparts in the same process, on the same table:
//! (a) `add(a, b)` against DataFusion's own `a + b`;
//! (b) `gcd(a, b)` against the same Rust function as a native `ScalarUDF`.
//! And an aggregate by group: `geo_mean(y)` against DataFusion's
//! `exp(avg(ln(y)))` over 1M rows, with few groups and with many, and the
//! same with `DISTINCT`; and over a sliding window of 100,000 of those rows,
//! with and without `DISTINCT`, and over a frame of 256 rows.
//!
//! And `gcd` called on Arrow arrays outside a query (`ArrayFunction`, what the
//! Python package's `call_arrow` runs), 1M rows in batches of 8192.
//!
//! And `gcd` from a guest in each language ferry has an SDK for, over the
//! same 10M rows beside the Rust guest's, with the time from a new runtime
//! to a module's first result (compiling it).
//!
//! And `gcd` written in JavaScript (`ferry --js`, run by the QuickJS
//! engine guest), beside the Rust guest's and the native UDF, over the
//! same 10M rows.
//!
//! `cargo bench -p ferry-sql --bench sql` (one group: `-- grouped`)

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::cast::as_int64_array;
use datafusion::datasource::MemTable;
use ferry_host::batch::ColumnType;
use ferry_host::{Runtime, RuntimeConfig};
use ferry_sql::WasmFunctions;
use ferry_test_support::{
    assemblyscript_udfs, c_udfs, go_udfs, int64_batches, native_gcd, udfs, unseen, zig_udfs,
};
use std::cell::RefCell;
use std::sync::Arc;

const ROWS: usize = 10_000_000;
const BATCH: usize = 8192;

/// 10M rows of two int64 columns, no nulls, in DataFusion's batch size,
/// split over two partitions (this machine has two cores).
fn table() -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Int64, false),
    ]));
    let mut partitions = vec![Vec::new(), Vec::new()];
    for (i, (a, b)) in int64_batches(ROWS, BATCH).into_iter().enumerate() {
        let columns: Vec<ArrayRef> =
            vec![Arc::new(Int64Array::from(a)), Arc::new(Int64Array::from(b))];
        partitions[i % 2].push(RecordBatch::try_new(schema.clone(), columns).unwrap());
    }
    MemTable::try_new(schema, partitions).unwrap()
}

/// A session with a module's functions registered.
fn session(module: &ferry_host::Module) -> datafusion::prelude::SessionContext {
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let ctx = functions.session();
    functions.register_module(&ctx, module).unwrap();
    ctx
}

fn sql(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let ctx = session(&udfs().module);
    ctx.register_table("t", Arc::new(table())).unwrap();
    ctx.register_udf(native_gcd());

    let run = |query: &str| {
        tokio.block_on(async {
            let batches = ctx.sql(query).await.unwrap().collect().await.unwrap();
            assert_eq!(
                batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
                ROWS
            );
            batches
        })
    };
    // The two sides agree before they race.
    for (wasm, native) in [("add(a, b)", "a + b"), ("gcd(a, b)", "native_gcd(a, b)")] {
        let differ = tokio.block_on(async {
            let sql = format!("SELECT count(*) FROM t WHERE {wasm} <> {native}");
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            as_int64_array(batches[0].column(0)).unwrap().value(0)
        });
        assert_eq!(differ, 0, "{wasm} and {native} disagree");
    }

    let mut group = c.benchmark_group("sql_10m_int64_rows");
    group.sample_size(10);
    for (name, query) in [
        ("add/wasm", "SELECT add(a, b) FROM t"),
        ("add/native", "SELECT a + b FROM t"),
        ("gcd/wasm", "SELECT gcd(a, b) FROM t"),
        ("gcd/native_udf", "SELECT native_gcd(a, b) FROM t"),
    ] {
        group.bench_function(name, |bench| bench.iter(|| run(query)));
    }
    group.finish();
}

/// `gcd` on 1M rows of arrays, a call per batch, as Python's `call_arrow`
/// makes it; beside it the same Rust function in a loop over the arrays.
fn arrays(c: &mut Criterion) {
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let gcd = functions
        .array_function(ferry_host::Closure::new(&udfs().module, "gcd").unwrap())
        .unwrap();
    let batches: Vec<[ArrayRef; 2]> = int64_batches(1_000_000, BATCH)
        .into_iter()
        .map(|(a, b)| -> [ArrayRef; 2] {
            [Arc::new(Int64Array::from(a)), Arc::new(Int64Array::from(b))]
        })
        .collect();
    let native = |[a, b]: &[ArrayRef; 2]| -> Int64Array {
        let (a, b) = (as_int64_array(a).unwrap(), as_int64_array(b).unwrap());
        a.iter()
            .zip(b.iter())
            .map(|(a, b)| Some(ferry_example_udfs::gcd(a?, b?)))
            .collect()
    };
    let mut group = c.benchmark_group("array_function_1m_int64_rows");
    group.sample_size(20);
    group.bench_function("gcd/ferry", |bench| {
        bench.iter(|| {
            for batch in &batches {
                std::hint::black_box(gcd.call(batch).unwrap());
            }
        })
    });
    group.bench_function("gcd/native_loop", |bench| {
        bench.iter(|| {
            for batch in &batches {
                std::hint::black_box(native(batch));
            }
        })
    });
    group.finish();
}

const GROUPED_ROWS: usize = 1_000_000;

/// `GROUPED_ROWS` rows of a positive float64 `y` and, for each number of
/// groups, a key column `k<groups>`, over two partitions.
fn grouped_table(groups: &[i64]) -> MemTable {
    let mut fields = vec![Field::new("y", DataType::Float64, false)];
    fields.extend(
        groups
            .iter()
            .map(|g| Field::new(format!("k{g}"), DataType::Int64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let mut partitions = vec![Vec::new(), Vec::new()];
    for (i, (a, b)) in int64_batches(GROUPED_ROWS, BATCH).into_iter().enumerate() {
        let y: Float64Array = a.iter().map(|a| (a % 1000 + 1) as f64).collect();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(y)];
        for g in groups {
            let k: Int64Array = a.iter().zip(&b).map(|(a, b)| (a ^ b) % g).collect();
            columns.push(Arc::new(k));
        }
        partitions[i % 2].push(RecordBatch::try_new(schema.clone(), columns).unwrap());
    }
    MemTable::try_new(schema, partitions).unwrap()
}

fn grouped(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let ctx = session(&udfs().module);
    let groups = [10, 100_000];
    ctx.register_table("g", Arc::new(grouped_table(&groups)))
        .unwrap();
    let run = |query: &str| {
        tokio.block_on(async { ctx.sql(query).await.unwrap().collect().await.unwrap() })
    };
    let mut group = c.benchmark_group("sql_grouped_1m_rows");
    group.sample_size(10);
    for g in groups {
        // The two sides agree before they race.
        let differ = run(&format!(
            "SELECT count(*) FROM (SELECT k{g}, geo_mean(y) AS w, exp(avg(ln(y))) AS n \
             FROM g GROUP BY k{g}) WHERE abs(w - n) > 1e-9 * n"
        ));
        let differ = as_int64_array(differ[0].column(0)).unwrap().value(0);
        assert_eq!(differ, 0, "geo_mean and exp(avg(ln(y))) disagree");
        let keys = run(&format!("SELECT count(DISTINCT k{g}) FROM g"));
        let keys = as_int64_array(keys[0].column(0)).unwrap().value(0) as usize;
        assert!(keys > g as usize * 99 / 100, "{keys} of {g} keys");
        for (name, aggregate) in [
            ("wasm", "geo_mean(y)"),
            ("native", "exp(avg(ln(y)))"),
            // y takes 1,000 values. `count(*)` beside DISTINCT keeps
            // DataFusion from rewriting it into a GROUP BY, so both sides
            // run distinct accumulators.
            ("distinct_wasm", "geo_mean(DISTINCT y), count(*)"),
            ("distinct_native", "exp(avg(DISTINCT ln(y))), count(*)"),
        ] {
            let query = format!("SELECT k{g}, {aggregate} FROM g GROUP BY k{g}");
            group.bench_function(format!("{g}_groups/{name}"), |bench| {
                bench.iter(|| {
                    let batches = run(&query);
                    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                    assert_eq!(rows, keys);
                })
            });
        }
    }
    group.finish();

    // DataFusion would update, retract and evaluate a sliding window's
    // accumulator row by row; ferry folds a batch of frames at a time.
    let window = |preceding: usize| {
        format!(
            "FROM (SELECT * FROM g LIMIT 100000) WINDOW w AS
             (PARTITION BY k10 ORDER BY y ROWS BETWEEN {preceding} PRECEDING AND CURRENT ROW)"
        )
    };
    for preceding in [6, 255] {
        let differ = run(&format!(
            "SELECT count(*) FROM (SELECT geo_mean(y) OVER w AS w, exp(avg(ln(y)) OVER w) AS n {})
             WHERE abs(w - n) > 1e-9 * n",
            window(preceding)
        ));
        let differ = as_int64_array(differ[0].column(0)).unwrap().value(0);
        assert_eq!(
            differ, 0,
            "geo_mean and exp(avg(ln(y))) disagree over the window"
        );
    }
    let mut group = c.benchmark_group("sql_window_100k_rows");
    group.sample_size(10);
    // Under DISTINCT (which DataFusion's own aggregates refuse over a
    // sliding window) ferry folds each frame afresh: the tests check its
    // results against a self-join. A frame of 256 rows ferry merges from
    // blocks of rows.
    for (name, aggregate, preceding) in [
        ("sliding_wasm", "geo_mean(y) OVER w", 6),
        (
            "sliding_wasm_refold_distinct",
            "geo_mean(DISTINCT y) OVER w",
            6,
        ),
        ("sliding_native", "exp(avg(ln(y)) OVER w)", 6),
        ("long_wasm", "geo_mean(y) OVER w", 255),
        ("long_native", "exp(avg(ln(y)) OVER w)", 255),
    ] {
        let query = format!("SELECT {aggregate} {}", window(preceding));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let rows: usize = run(&query).iter().map(RecordBatch::num_rows).sum();
                assert_eq!(rows, 100_000);
            })
        });
    }
    group.finish();
}

/// The example SQL functions in each language: the Rust guest's and the
/// others', in sessions of their own (their functions share names).
fn guests() -> [(&'static str, &'static ferry_host::guest::BuiltGuest); 5] {
    [
        ("rust", udfs()),
        ("c", c_udfs()),
        ("zig", zig_udfs()),
        ("go", go_udfs()),
        ("assemblyscript", assemblyscript_udfs()),
    ]
}

/// `gcd` over the 10M rows, from each language's guest.
fn languages(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let table = Arc::new(table());
    let mut group = c.benchmark_group("gcd_10m_int64_rows_by_language");
    group.sample_size(10);
    let mut sums = Vec::new();
    for (language, guest) in guests() {
        println!("{language}: module of {} bytes", guest.module.bytes().len());
        let ctx = session(&guest.module);
        ctx.register_table("t", table.clone()).unwrap();
        let run = |query: &str| {
            tokio.block_on(async { ctx.sql(query).await.unwrap().collect().await.unwrap() })
        };
        let sum = run("SELECT sum(gcd(a, b)) FROM t");
        sums.push(as_int64_array(sum[0].column(0)).unwrap().value(0));
        group.bench_function(language, |bench| {
            bench.iter(|| run("SELECT gcd(a, b) FROM t"))
        });
    }
    assert!(
        sums.windows(2).all(|w| w[0] == w[1]),
        "the guests disagree: {sums:?}"
    );
    group.finish();
}

/// From a new runtime to a module's first `gcd` (compiling it), for each
/// language, with baseline code first and with optimized code only.
fn first_call_by_language(c: &mut Criterion) {
    let arrays: [ArrayRef; 2] = [
        Arc::new(Int64Array::from(vec![12])),
        Arc::new(Int64Array::from(vec![18])),
    ];
    let mut group = c.benchmark_group("first_gcd_of_an_unseen_module_by_language");
    group.sample_size(20);
    let mut n = 0;
    // The runtime whose optimized code is still being compiled: the next
    // iteration waits for it, untimed, so that it does not share the cores.
    let optimizing: RefCell<Option<(Runtime, ferry_host::Module)>> = RefCell::new(None);
    for (language, guest) in guests() {
        for (tiers, baseline_first) in [("baseline_first", true), ("optimized_only", false)] {
            group.bench_function(format!("{language}/{tiers}"), |bench| {
                bench.iter_batched(
                    || {
                        if let Some((runtime, module)) = optimizing.take() {
                            runtime.optimize(&module).unwrap();
                        }
                        n += 1;
                        let config = RuntimeConfig {
                            baseline_first,
                            ..RuntimeConfig::default()
                        };
                        let runtime = Runtime::new(config).unwrap();
                        let module = unseen(&guest.module, n);
                        let gcd = ferry_host::Closure::new(&module, "gcd").unwrap();
                        (runtime, gcd)
                    },
                    |(runtime, gcd)| {
                        let functions = WasmFunctions::new(runtime.clone());
                        let out = functions.array_function(gcd.clone()).unwrap().call(&arrays);
                        assert_eq!(as_int64_array(&out.unwrap()).unwrap().value(0), 6);
                        optimizing.replace(Some((runtime, gcd.module().clone())));
                        functions
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

/// The Number arithmetic a JavaScript author writes for values known to be
/// below 2^53, as the table's are (`examples/javascript/gcd.js` goes through
/// BigInt to cover all of int64).
const JAVASCRIPT_GCD: &str = "export default (a, b) => {
  a = Math.abs(a); b = Math.abs(b);
  while (b !== 0) { const r = a % b; a = b; b = r; }
  return a;
}";

/// `gcd` over the 10M rows written in JavaScript, beside the Rust guest's
/// and the same Rust function as a native UDF, in one session.
fn javascript(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let ctx = session(&udfs().module);
    ctx.register_table("t", Arc::new(table())).unwrap();
    ctx.register_udf(native_gcd());
    let engine = ferry_host::javascript::engine().unwrap();
    println!("engine: module of {} bytes", engine.bytes().len());
    let closure = ferry_host::javascript::scalar(
        &engine,
        JAVASCRIPT_GCD,
        &[ColumnType::Int64; 2],
        ColumnType::Int64,
    )
    .unwrap();
    // What a call costs beside what the function does: one that returns
    // its first argument.
    let first = ferry_host::javascript::scalar(
        &engine,
        "export default (a, b) => a",
        &[ColumnType::Int64; 2],
        ColumnType::Int64,
    )
    .unwrap();
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap());
    ctx.register_udf(functions.udf("js_gcd", closure).unwrap());
    ctx.register_udf(functions.udf("js_first", first).unwrap());
    let run = |query: &str| {
        tokio.block_on(async { ctx.sql(query).await.unwrap().collect().await.unwrap() })
    };
    let differ = run("SELECT count(*) FROM t WHERE js_gcd(a, b) <> native_gcd(a, b)");
    assert_eq!(as_int64_array(differ[0].column(0)).unwrap().value(0), 0);
    let mut group = c.benchmark_group("gcd_10m_int64_rows_javascript");
    group.sample_size(10);
    for (name, query) in [
        ("javascript", "SELECT js_gcd(a, b) FROM t"),
        ("javascript_first_argument", "SELECT js_first(a, b) FROM t"),
        ("rust_guest", "SELECT gcd(a, b) FROM t"),
        ("native_udf", "SELECT native_gcd(a, b) FROM t"),
    ] {
        group.bench_function(name, |bench| bench.iter(|| run(query)));
    }
    group.finish();
}

criterion_group!(
    benches,
    sql,
    grouped,
    arrays,
    languages,
    first_call_by_language,
    javascript
);
criterion_main!(benches);
