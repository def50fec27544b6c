//! SQL functions over 10M int64 rows, ferry's wasm UDFs beside their native
//! counterparts in the same process, on the same table:
//! (a) `add(a, b)` against DataFusion's own `a + b`;
//! (b) `gcd(a, b)` against the same Rust function as a native `ScalarUDF`.
//!
//! `cargo bench -p ferry-sql --bench sql`

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::compute::binary;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::cast::as_int64_array;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use ferry_host::{Runtime, RuntimeConfig};
use ferry_sql::WasmFunctions;
use std::path::PathBuf;
use std::sync::Arc;

#[path = "../../../benches/int64_pairs.rs"]
mod data;
use data::int64_batches;

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

fn sql(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let module = ferry_host::guest::build_crate(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/udfs"),
    )
    .expect("the UDF examples build")
    .module;
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let ctx = functions.session();
    ctx.register_table("t", Arc::new(table())).unwrap();
    functions.register_module(&ctx, &module).unwrap();
    // The same gcd, compiled natively into a vectorized UDF.
    ctx.register_udf(create_udf(
        "native_gcd",
        vec![DataType::Int64, DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let (a, b) = (as_int64_array(&arrays[0])?, as_int64_array(&arrays[1])?);
            let out: Int64Array = binary(a, b, ferry_example_udfs::gcd)?;
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    ));

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

criterion_group!(benches, sql);
criterion_main!(benches);
