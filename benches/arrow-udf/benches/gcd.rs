//! gcd and add over 10M int64 rows in batches of 8192, one thread: ferry's batch
//! call (Arrow buffers in, an Arrow array out) beside arrow-udf-runtime's
//! wasm runtime (a RecordBatch in and out through Arrow IPC), each on its
//! own guest built from the same Rust function.

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema};
use criterion::{Criterion, criterion_group, criterion_main};
use ferry_host::batch::{ColumnIn, ColumnType};
use ferry_host::{Closure, Runtime, RuntimeConfig, Sandbox};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ferry_test_support::{int64_batches, workspace_root};

const ROWS: usize = 10_000_000;
const BATCH: usize = 8192;

fn batches() -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Int64, false),
    ]));
    int64_batches(ROWS, BATCH)
        .into_iter()
        .map(|(a, b)| {
            let columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(a)), Arc::new(Int64Array::from(b))];
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        })
        .collect()
}

/// The arrow-udf guest, built with cargo like any wasm32-wasip1 crate.
fn arrow_udf_guest() -> Vec<u8> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/Cargo.toml");
    let target = workspace_root().join("target");
    let status = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip1", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "the arrow-udf guest builds");
    std::fs::read(target.join("wasm32-wasip1/release/arrow_udf_gcd.wasm")).unwrap()
}

fn int64(array: &ArrayRef) -> ColumnIn<'_> {
    let array = array.as_any().downcast_ref::<Int64Array>().unwrap();
    ColumnIn {
        column_type: ColumnType::Int64,
        rows: array.len(),
        null_count: 0,
        validity: None,
        values: array.values().inner().as_slice(),
        offsets: None,
    }
}

fn gcd(c: &mut Criterion) {
    let batches = batches();

    let module = ferry_test_support::udfs().module.clone();
    let mut instance = Runtime::new(RuntimeConfig::default())
        .unwrap()
        .instantiate(&module, &Sandbox::default())
        .unwrap();
    let runtime = arrow_udf_runtime::wasm::Runtime::new(&arrow_udf_guest()).unwrap();

    let mut group = c.benchmark_group("10m_int64_rows");
    group.sample_size(10);
    for name in ["gcd", "add"] {
        let closure = Closure::new(&module, name).unwrap();
        let mut ferry = |batch: &RecordBatch| -> ArrayRef {
            let columns = [int64(batch.column(0)), int64(batch.column(1))];
            let out = instance.call_batch(&closure, &columns).unwrap().value;
            let rows = out.rows;
            Arc::new(Int64Array::new(ScalarBuffer::new(Buffer::from_vec(out.values), 0, rows), None))
        };
        let function = runtime
            .find_function(name, vec![DataType::Int64, DataType::Int64], DataType::Int64)
            .unwrap();
        let arrow_udf = |batch: &RecordBatch| -> ArrayRef {
            runtime.call(&function, batch).unwrap().column(0).clone()
        };
        // Both give the same answers before they race.
        for batch in batches.iter().step_by(97) {
            assert_eq!(ferry(batch).as_ref(), arrow_udf(batch).as_ref());
        }
        group.bench_function(format!("{name}/ferry"), |bench| {
            bench.iter(|| batches.iter().map(&mut ferry).count())
        });
        group.bench_function(format!("{name}/arrow_udf_runtime"), |bench| {
            bench.iter(|| batches.iter().map(arrow_udf).count())
        });
    }
    group.finish();
}

criterion_group!(benches, gcd);
criterion_main!(benches);
