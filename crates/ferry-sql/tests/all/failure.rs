//! A guest that traps or returns an error.

use crate::support::{count, functions, session_with_table};
use datafusion::prelude::SessionConfig;
use ferry_sql::execute;

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
