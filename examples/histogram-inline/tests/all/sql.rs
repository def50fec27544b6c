//! A SQL function of the embedded guest, registered through its handle.

use datafusion::arrow::array::{Array, Float64Array, Int64Array};
use ferry_example_histogram_inline::guest::{self, Binning};
use ferry_host::{Runtime, RuntimeConfig};
use ferry_sql::WasmFunctions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_udf_handle_registers_in_sql_and_agrees_with_native_code() {
    let binning = Binning {
        bins: 8,
        lo: 0.0,
        hi: 4.0,
        truth: 0.0,
        spread: 0.0,
        seed: 0,
    };
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default()).unwrap());
    let ctx = functions.session();
    let bin = guest::bin::with_env(&binning).unwrap();
    ctx.register_udf(functions.udf("bin", bin).unwrap());
    let batches = ctx
        .sql(
            "SELECT x, bin(x) FROM (SELECT (value - 100) / 37.0 AS x FROM generate_series(0, 400))",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut rows = 0;
    let mut nulls = 0;
    for batch in batches {
        let xs = batch
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let bins = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for row in 0..batch.num_rows() {
            let native = guest::bin(&binning, xs.value(row));
            let wasm = (!bins.is_null(row)).then(|| bins.value(row));
            assert_eq!(wasm, native, "x = {}", xs.value(row));
            nulls += usize::from(native.is_none());
            rows += 1;
        }
    }
    assert_eq!(rows, 401);
    assert!(
        nulls > 0 && nulls < rows,
        "both inside and outside: {nulls}"
    );
}
