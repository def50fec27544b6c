//! Scalar functions, compared row by row with native SQL and with the same
//! Rust functions run natively.

use crate::support::{assert_same, count, functions, query, session_with_table};
use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
use datafusion::prelude::SessionConfig;
use ferry_example_udfs as native;

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
