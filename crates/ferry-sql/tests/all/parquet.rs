//! Functions over a Parquet table.

use crate::support::{count, functions, query, session_with_table};
use datafusion::prelude::SessionConfig;

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
