//! Tables in object stores: `ferry sql -t NAME=s3://...` against a real S3
//! server (SeaweedFS) on loopback, beside the same files read from disk.

use crate::support::ferry;
use datafusion::object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use ferry_test_support::Random;
use ferry_test_support::s3::S3Server;
use std::process::Output;

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `ferry sql` over `table`, with `env` and none of the `AWS_*` variables
/// of whoever runs the test.
fn query(store: &std::path::Path, table: &str, env: &[(&str, String)]) -> Output {
    let mut command = ferry();
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    command
        .env("FERRY_STORE", store)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .args(["sql", "--functions", "examples/udfs", "-t", table])
        .args(["--format", "csv", "-c"])
        .arg("SELECT count(*) AS n, sum(gcd(a, b)) AS g FROM trips")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    assert!(!output.status.success(), "should have failed");
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn sql_reads_a_table_from_an_s3_bucket_as_from_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3"), &["trips"]);
    let bucket = server.bucket("trips");
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();

    // Three generated parts, on disk and in the bucket.
    let mut random = Random::new(15);
    let mut parts = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for part in 0..3 {
        let mut csv = String::from("a,b\n");
        let mut sum = 0;
        for _ in 0..1000 {
            let (a, b) = (
                (random.draw() % 10_000) as i64,
                (random.draw() % 10_000) as i64,
            );
            csv.push_str(&format!("{a},{b}\n"));
            sum += gcd(a, b);
        }
        parts.push(sum);
        let name = format!("part-{part}.csv");
        std::fs::write(local.join(&name), &csv).unwrap();
        let key = ObjectPath::from(format!("data/{name}"));
        runtime
            .block_on(bucket.put(&key, PutPayload::from(csv.into_bytes())))
            .unwrap();
    }

    let store = dir.path().join("store");
    let expected = format!("n,g\n3000,{}\n", parts.iter().sum::<i64>());
    let from_disk = query(&store, &format!("trips={}", local.display()), &[]);
    assert_eq!(stdout(&from_disk), expected);
    let from_s3 = query(&store, "trips=s3://trips/data/", &server.env());
    assert_eq!(stdout(&from_s3), expected);
    // One object is a table too, named after it.
    let one = query(&store, "trips=s3://trips/data/part-1.csv", &server.env());
    assert_eq!(stdout(&one), format!("n,g\n1000,{}\n", parts[1]));

    // What goes wrong is said in a line, with what to do.
    let mut cleartext = server.env();
    cleartext.retain(|(key, _)| *key != "AWS_ALLOW_HTTP");
    let refused = stderr(&query(&store, "trips=s3://trips/data/", &cleartext));
    assert!(refused.contains("AWS_ALLOW_HTTP=true"), "{refused}");
    let mut wrong = server.env();
    wrong.retain(|(key, _)| *key != "AWS_SECRET_ACCESS_KEY");
    wrong.push(("AWS_SECRET_ACCESS_KEY", "not-the-secret".into()));
    let refused = stderr(&query(&store, "trips=s3://trips/data/", &wrong));
    assert!(
        refused.contains("cannot list s3://trips/data/")
            && refused.contains("SignatureDoesNotMatch")
            && refused.contains("check AWS_ACCESS_KEY_ID")
            && !refused.contains("<?xml")
            && !refused.contains("because"),
        "{refused}"
    );
    let empty = stderr(&query(&store, "trips=s3://trips/nothing/", &server.env()));
    assert!(empty.contains("has no objects"), "{empty}");
    let scheme = stderr(&query(&store, "trips=ftp://example.com/x/", &[]));
    assert!(scheme.contains("not ftp://"), "{scheme}");
}
