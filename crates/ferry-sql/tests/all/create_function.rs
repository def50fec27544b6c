//! `CREATE FUNCTION ... LANGUAGE wasm` and `DROP FUNCTION`.

use crate::support::{column, query};
use datafusion::arrow::array::Int64Array;
use ferry_host::{BlobStore, Closure, Encoding, Runtime, RuntimeConfig};
use ferry_sql::{WasmFunctions, execute};
use ferry_test_support::udfs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_function_resolves_paths_hashes_and_closures() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(store_dir.path()).unwrap();
    let functions =
        WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(store.clone())).unwrap());
    let ctx = functions.session();
    let udfs = udfs();
    let (module, path) = (&udfs.module, udfs.path.display());

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
    ] {
        let err = execute(&ctx, &sql).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{sql}: {err}");
    }

    // SQL builds nothing, reads no device without end, and cannot tell a
    // missing path from a directory, a crate or a device.
    let udfs_crate = ferry_test_support::workspace_root().join("examples/udfs");
    let udfs_crate = udfs_crate.display();
    for target in [
        "/no/such/file.wasm".to_owned(),
        "/dev/zero".to_owned(),
        "/tmp".to_owned(),
        udfs_crate.to_string(),
    ] {
        let sql = format!("CREATE FUNCTION probe AS '{target}' LANGUAGE wasm");
        let err = execute(&ctx, &sql).await.unwrap_err().to_string();
        assert_eq!(
            err.replace(&target, "PATH"),
            "External error: cannot create function `probe`: 'PATH' is not a .wasm or closure \
             file this session may load; name a module or closure file, or sha256:<hash> from the store",
            "{sql}"
        );
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
