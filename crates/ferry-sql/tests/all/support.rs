//! What the tests share: a table of random rows, a session with the
//! example functions and that table, queries, and comparisons of a wasm
//! column with a native one.

use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use ferry_host::{Runtime, RuntimeConfig};
use ferry_sql::{WasmFunctions, execute};
use ferry_test_support::{Random, udfs};
use std::sync::Arc;

/// Functions on a default runtime, in a sandbox that grants nothing.
pub fn functions() -> WasmFunctions {
    WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap())
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
    let mut random = Random::new(7);
    let words = ["Hello", "  wide   World ", "ÉTÉ", "", "a\tb"];
    let batch = |rows: usize, random: &mut Random| -> RecordBatch {
        // About one value in five is null.
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(
                random.column(rows, 5, |v| v as i64 % 1_000_000 - 500_000),
            )),
            Arc::new(Int64Array::from(random.column(rows, 5, |v| v as i64 % 100))),
            Arc::new(Float64Array::from(
                random.column(rows, 5, |v| (v % 180_000) as f64 / 1000.0 - 90.0),
            )),
            Arc::new(Float64Array::from(
                random.column(rows, 5, |v| (v % 100_000) as f64 / 100.0 + 0.01),
            )),
            Arc::new(Int32Array::from(
                random.column(rows, 5, |v| v as i32 - (1 << 30)),
            )),
            Arc::new(StringArray::from(random.column(rows, 5, |v| {
                words[v as usize % words.len()].repeat(1 + v as usize % 3)
            }))),
            Arc::new(Date32Array::from(
                random.column(rows, 5, |v| (v % 40_000) as i32 - 10_000),
            )),
            Arc::new(TimestampMicrosecondArray::from(random.column(
                rows,
                5,
                |v| (v as i64) * 1_000_003 - (1 << 40),
            ))),
            Arc::new(Int32Array::from_iter_values(
                (0..rows).map(|_| (random.draw() % 4) as i32),
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

/// A session with every function of the examples and `t`, a [`table`] of
/// three partitions.
pub async fn session_with_table(
    functions: &WasmFunctions,
    config: SessionConfig,
) -> SessionContext {
    let ctx = functions.session_with(config);
    let (schema, partitions) = table(3);
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, partitions).unwrap()),
    )
    .unwrap();
    functions.register_module(&ctx, &udfs().module).unwrap();
    ctx
}

/// A query's result; the test fails, naming the query, if it does.
pub async fn query(ctx: &SessionContext, sql: &str) -> Vec<RecordBatch> {
    execute(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// One column of a query's result, concatenated across batches.
pub async fn column(ctx: &SessionContext, sql: &str) -> ArrayRef {
    let batches = query(ctx, sql).await;
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
    datafusion::arrow::compute::concat(&arrays).unwrap()
}

/// The first value of a query's first column, an int64: a count.
pub async fn count(ctx: &SessionContext, sql: &str) -> i64 {
    let result = column(ctx, sql).await;
    result
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

/// Checks that the `wasm` and `native` columns of a query's `rows` rows
/// agree, nulls included, floats to within 1e-9 of each other.
pub async fn assert_agree(ctx: &SessionContext, sql: &str, rows: i64) {
    let differ = "(wasm IS NULL) <> (native IS NULL) OR abs(wasm - native) > 1e-9 * native";
    assert_no_row_differs(ctx, sql, rows, differ).await;
}

/// Checks that the `wasm` and `native` columns of a query's `rows` rows
/// are equal, nulls included.
pub async fn assert_same(ctx: &SessionContext, sql: &str, rows: i64) {
    assert_no_row_differs(ctx, sql, rows, "wasm IS DISTINCT FROM native").await;
}

async fn assert_no_row_differs(ctx: &SessionContext, sql: &str, rows: i64, differ: &str) {
    let all = count(ctx, &format!("SELECT count(*) FROM ({sql})")).await;
    assert_eq!(all, rows, "{sql}");
    let differing = count(ctx, &format!("SELECT count(*) FROM ({sql}) WHERE {differ}")).await;
    assert_eq!(differing, 0, "{differing} rows differ: {sql}");
}
