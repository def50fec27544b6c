//! Argument types: conversions as in SQL, calls refused while planning,
//! and the signatures `SHOW FUNCTIONS` lists.

use crate::support::{
    assert_agree, assert_same, column, count, functions, query, session_with_table,
};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionConfig;
use ferry_sql::execute;
use ferry_test_support::udfs;

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
    let module = udfs().module.id();
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
