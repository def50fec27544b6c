//! Object stores against a real S3 server (SeaweedFS) on loopback: tables
//! (`ferry sql -t NAME=s3://...`, beside the same files read from disk),
//! blobs that are objects, and maps over ranges of objects, read by the
//! workers from the store and never sent by the client.

use crate::support::ferry_without_aws as without_aws;
use crate::worker::{TOKEN, Worker, guest, remote};
use datafusion::object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use ferry_example_guest::{HistSpec, Histogram};
use ferry_host::{BlobStore, Closure, ContentHash, Encoding, Executor, ExecutorExt, ObjectRef};
use ferry_test_support::Random;
use ferry_test_support::s3::S3Server;
use std::process::Output;

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `ferry sql` over `table`, with `env`.
fn query(store: &std::path::Path, table: &str, env: &[(&str, String)]) -> Output {
    without_aws()
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
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();

    // Three generated parts, on disk and in the bucket.
    let mut random = Random::new(15);
    let mut parts = Vec::new();
    let mut by_key = [0; 4];
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
            by_key[a as usize % 4] += 1;
        }
        parts.push(sum);
        let name = format!("part-{part}.csv");
        std::fs::write(local.join(&name), &csv).unwrap();
        put(&server, "trips", &format!("data/{name}"), csv.into_bytes());
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

    // A function whose lookup table is an object, read where the function
    // runs (here) with this process's credentials.
    let labels = ["zero", "one", "two"];
    put(
        &server,
        "trips",
        "labels.txt",
        labels.join("\n").into_bytes(),
    );
    let closure = dir.path().join("label.closure");
    let pickled = without_aws()
        .envs(server.env())
        .env("FERRY_STORE", &store)
        .args(["pickle", "examples/udfs", "label", "--output"])
        .arg(&closure)
        .args(["--blob", "labels=s3://trips/labels.txt"])
        .output()
        .unwrap();
    stdout(&pickled);
    let labelled = without_aws()
        .envs(server.env())
        .env("FERRY_STORE", &store)
        .args(["sql", "-t", "trips=s3://trips/data/", "--format", "csv", "-c"])
        .arg(format!(
            "CREATE FUNCTION label AS '{}' LANGUAGE wasm; \
             SELECT a % 4 AS k, label(a % 4) AS l, count(*) AS n FROM trips GROUP BY k, l ORDER BY k",
            closure.display()
        ))
        .output()
        .unwrap();
    let mut expected = String::from("k,l,n\n");
    for (key, n) in by_key.iter().enumerate() {
        let label = labels.get(key).copied().unwrap_or_default();
        expected.push_str(&format!("{key},{label},{n}\n"));
    }
    assert_eq!(stdout(&labelled), expected);

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

/// `work` run to its end on a runtime of its own.
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// Puts `bytes` at `key` in `bucket`.
fn put(server: &S3Server, bucket: &str, key: &str, bytes: Vec<u8>) {
    block_on(
        server
            .bucket(bucket)
            .put(&ObjectPath::from(key), PutPayload::from(bytes)),
    )
    .unwrap();
}

#[test]
fn a_blob_in_a_bucket_goes_from_the_store_to_the_worker_never_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3"), &["lookups"]);
    let mut random = Random::new(21);
    let table: Vec<u8> = (0..4 << 20).map(|_| random.draw() as u8).collect();
    let hash = ContentHash::of(&table);
    put(&server, "lookups", "table.bin", table.clone());
    put(&server, "lookups", "other.bin", b"not the table".to_vec());
    let worker_store = dir.path().join("worker");
    let allowed = dir.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not for clients").unwrap();
    let prefixes = format!("s3://lookups/,file://{}/", allowed.display());
    let worker = Worker::start_with_env(&worker_store, &["--objects", &prefixes], &server.env());
    // The client has no credentials at all: only the worker reads the store.
    let client = remote(&[&worker]);
    let blob_size = Closure::new(&guest(), "blob_size").unwrap();
    let at_hash = |key: &str, hash| {
        blob_size.clone().with_object(
            "table",
            ObjectRef::new(format!("s3://lookups/{key}")).hash(hash),
        )
    };
    let at = |key: &str| at_hash(key, hash);

    for _ in 0..2 {
        let size: Option<u64> = client.call(&at("table.bin"), &"table").unwrap().value;
        assert_eq!(size, Some(table.len() as u64));
    }
    assert!(
        client.uploaded_bytes() <= guest().bytes().len() as u64,
        "the client sent {} bytes: more than the module",
        client.uploaded_bytes()
    );
    // The worker keeps it by hash.
    assert!(BlobStore::open(&worker_store).unwrap().contains(&hash));

    // The hash names the bytes: a worker holding them reads no store; one
    // that must read them checks what it read.
    let other = ContentHash::of(b"what the closure expects");
    let wrong = client
        .call::<_, Option<u64>>(&at_hash("other.bin", other), &"table")
        .unwrap_err()
        .to_string();
    assert!(
        wrong.contains(&format!(
            "cannot read s3://lookups/other.bin: its bytes do not hash to the {other}"
        )) && !wrong.contains(&ContentHash::of(b"not the table").to_string()),
        "{wrong}"
    );
    let missing = client
        .call::<_, Option<u64>>(&at_hash("nope.bin", other), &"table")
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("cannot read s3://lookups/nope.bin: there is no such object"),
        "{missing}"
    );
    let size: Option<u64> = client.call(&at("table.bin"), &"table").unwrap().value;
    assert_eq!(size, Some(table.len() as u64), "the worker serves on");

    // Only objects under the prefixes its operator allows, however named;
    // a worker allowed none reads none.
    let elsewhere = |url: &str| {
        let closure = blob_size
            .clone()
            .with_object("table", ObjectRef::new(url).hash(hash));
        client
            .call::<_, Option<u64>>(&closure, &"table")
            .unwrap_err()
            .to_string()
    };
    for url in [
        "s3://lookups-too/table.bin".to_owned(),
        "file:///etc/hostname".to_owned(),
        format!("file://{}/../secret.txt", allowed.display()),
    ] {
        let refused = elsewhere(&url);
        assert!(
            refused.contains("reads and writes objects only under s3://lookups/, file://"),
            "{url}: {refused}"
        );
    }
    let closed = Worker::start_with_env(&dir.path().join("closed"), &[], &server.env());
    let refused = remote(&[&closed])
        .call::<_, Option<u64>>(&at("table.bin"), &"table")
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("this server reads and writes no objects")
            && refused.contains("--objects"),
        "{refused}"
    );

    // Made by the command line, which pins the object's version: neither
    // the access key nor the secret is in the closure's bytes.
    let pickled = dir.path().join("sized.ferry");
    let output = without_aws()
        .envs(server.env())
        .env("FERRY_STORE", dir.path().join("store"))
        .args(["pickle", "examples/guest", "blob_size", "--output"])
        .arg(&pickled)
        .args(["--blob", "table=s3://lookups/table.bin"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&pickled).unwrap();
    for (key, value) in server.env() {
        if key.ends_with("_KEY") || key.ends_with("_KEY_ID") {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{key} is in the closure"
            );
        }
    }
    let pinned = Closure::from_bytes(&bytes, None).unwrap();
    assert!(pinned.objects()["table"].version.is_some());
    assert_eq!(pinned.to_bytes(Encoding::ByValue), bytes);
    let size: Option<u64> = client.call(&pinned, &"table").unwrap().value;
    assert_eq!(size, Some(table.len() as u64));
    // Once the object changes, the pinned closure reads it no more.
    put(&server, "lookups", "table.bin", b"a new table".to_vec());
    let changed = client
        .call::<_, Option<u64>>(&pinned, &"table")
        .unwrap_err()
        .to_string();
    assert!(
        changed.contains("cannot read s3://lookups/table.bin: the object has changed since"),
        "{changed}"
    );
}

fn spec() -> HistSpec {
    HistSpec {
        bins: 10,
        lo: 0.0,
        hi: 100.0,
        peak: 0.0,
        width: 1.0,
        seed: 0,
    }
}

#[test]
fn a_map_over_objects_in_a_bucket_runs_ranges_on_two_workers_and_equals_a_count_made_apart() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3"), &["events"]);
    let mut random = Random::new(5);
    let mut expected = Histogram {
        lo: 0.0,
        hi: 100.0,
        counts: vec![0; 10],
        underflow: 0,
        overflow: 0,
    };
    let mut objects = Vec::new();
    for part in 0..3 {
        let mut text = String::new();
        for _ in 0..100_000 {
            let mass = (random.draw() % 120_000) as f64 / 1000.0 - 10.0;
            text.push_str(&format!("{mass}\n"));
            match mass {
                m if m < 0.0 => expected.underflow += 1,
                m if m >= 100.0 => expected.overflow += 1,
                m => expected.counts[(m / 10.0) as usize] += 1,
            }
        }
        let key = format!("run-7/part-{part}.txt");
        objects.push((format!("s3://events/{key}"), text.len() as u64));
        put(&server, "events", &key, text.into_bytes());
    }
    let total: u64 = objects.iter().map(|(_, size)| size).sum();
    let workers: Vec<Worker> = (0..2)
        .map(|i| {
            Worker::start_with_env(
                &dir.path().join(format!("worker-{i}")),
                &["--objects", "s3://events/"],
                &server.env(),
            )
        })
        .collect();

    // Through the library, with ranges made by hand: the client sends the
    // module, and nothing of the data.
    let client = remote(&workers.iter().collect::<Vec<_>>());
    let chunks: Vec<ObjectRef> = objects
        .iter()
        .flat_map(|(url, size)| {
            (0..*size).step_by(200_000).map(move |start| {
                ObjectRef::new(url)
                    .range(start, (start + 200_000).min(*size))
                    .whole_lines()
            })
        })
        .collect();
    let fill = Closure::new(&guest(), "fill_lines")
        .unwrap()
        .with_env(&spec())
        .unwrap();
    let merge = Closure::new(&guest(), "merge").unwrap();
    let histogram: Histogram = client
        .map_reduce_objects(&fill, &merge, chunks.clone())
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(histogram, expected);

    // A worker killed in the middle loses and duplicates nothing: each
    // range's histogram comes back once.
    let mut third = Worker::start_with_env(
        &dir.path().join("worker-2"),
        &["--objects", "s3://events/"],
        &server.env(),
    );
    let three = remote(&[&workers[0], &workers[1], &third]);
    let mut merged = Histogram {
        counts: vec![0; 10],
        underflow: 0,
        overflow: 0,
        ..expected.clone()
    };
    let mut results = 0;
    for (i, result) in three.map_objects(&fill, chunks.clone()).enumerate() {
        let part: Histogram = result.unwrap().value.decode().unwrap();
        merged
            .counts
            .iter_mut()
            .zip(&part.counts)
            .for_each(|(sum, n)| *sum += n);
        merged.underflow += part.underflow;
        merged.overflow += part.overflow;
        results += 1;
        if i == 2 {
            third.kill();
        }
    }
    assert_eq!((results, merged), (chunks.len(), expected.clone()));
    assert!(
        client.uploaded_bytes() <= 2 * guest().bytes().len() as u64,
        "the client sent {} bytes: more than the module ({}), to each worker ({total} bytes of events)",
        client.uploaded_bytes(),
        guest().bytes().len()
    );

    // From the command line, which lists the prefix and splits it; on the
    // two workers, and on a local pool.
    let addresses = workers
        .iter()
        .map(|w| w.address.clone())
        .collect::<Vec<_>>()
        .join(",");
    let env = serde_json::to_string(&spec()).unwrap();
    for workers in [Some(addresses.as_str()), None] {
        let mut command = without_aws();
        command
            .envs(server.env())
            .env("FERRY_TOKEN", TOKEN)
            .env("FERRY_STORE", dir.path().join("store"))
            .args(["map", "examples/guest", "fill_lines", "--env", &env])
            .args(["--over", "s3://events/run-7/", "--chunk-bytes", "256KiB"])
            .args(["--reduce", "merge"]);
        if let Some(workers) = workers {
            command.args(["--workers", workers]);
        }
        let output = command.output().unwrap();
        let histogram: Histogram = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(histogram, expected, "{workers:?}");
    }
    let missing = stderr(
        &without_aws()
            .envs(server.env())
            .env("FERRY_STORE", dir.path().join("store"))
            .args(["map", "examples/guest", "fill_lines", "--env", &env])
            .args(["--over", "s3://events/run-8/"])
            .output()
            .unwrap(),
    );
    assert!(
        missing.contains("there are no objects at s3://events/run-8/"),
        "{missing}"
    );
}

/// The keys under `prefix` in `bucket`.
fn keys(server: &S3Server, bucket: &str, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    block_on(
        server
            .bucket(bucket)
            .list(Some(&ObjectPath::from(prefix)))
            .map_ok(|meta| meta.location.to_string())
            .try_collect(),
    )
    .unwrap()
}

#[test]
fn results_kept_in_a_bucket_are_reduced_there_and_none_is_left_after_success_or_failure() {
    let dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&dir.path().join("s3"), &["scratch", "events"]);
    let workers: Vec<Worker> = (0..2)
        .map(|i| {
            let allowed = ["--objects", "s3://scratch/,s3://events/"];
            Worker::start_with_env(&dir.path().join(format!("w{i}")), &allowed, &server.env())
        })
        .collect();
    let fill = crate::worker::fill();
    let merge = Closure::new(&guest(), "merge").unwrap();
    let ranges = crate::worker::ranges(24, 2_000);
    let expected: Histogram = ferry_host::LocalExecutor::new()
        .unwrap()
        .map_reduce(&fill, &merge, &ranges)
        .run()
        .unwrap()
        .unwrap();

    // Every result over 0 bytes is kept: all of them.
    let mut builder = ferry_remote::Remote::builder().token(TOKEN);
    for worker in &workers {
        builder = builder.worker(worker.address.clone());
    }
    // The client would read and delete what it is given with credentials
    // from its environment, which a test cannot set for itself: here it
    // only submits, and the workers write and read; the command line
    // below reads and deletes.
    let client = builder
        .store_results("s3://scratch/job-1", 0)
        .build()
        .unwrap();
    let stored = client
        .submit(&fill, ferry_host::Value::encode(&ranges[0]).unwrap())
        .wait()
        .unwrap()
        .value;
    let object = stored.stored_object().expect("a result kept in the bucket");
    assert!(object.url.starts_with("s3://scratch/job-1/") && object.hash.is_some());
    assert_eq!(keys(&server, "scratch", "job-1").len(), 1);

    // A reducer given two kept results reads them where it runs.
    let pair = ferry_host::Value::array(&[stored.clone(), stored]);
    let doubled = client.submit(&merge, pair).wait().unwrap().value;
    assert!(doubled.stored_object().is_some());
    assert_eq!(keys(&server, "scratch", "job-1").len(), 2);

    // From the command line (whose environment has the credentials): a
    // map-reduce whose every partial result is kept, then deleted.
    let addresses = workers
        .iter()
        .map(|w| w.address.clone())
        .collect::<Vec<_>>()
        .join(",");
    let inputs = dir.path().join("ranges.jsonl");
    let lines: Vec<String> = ranges
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    std::fs::write(&inputs, lines.join("\n")).unwrap();
    let env = serde_json::to_string(&crate::worker::spec()).unwrap();
    let map_reduce = |mapper: &str, prefix: &str| {
        without_aws()
            .envs(server.env())
            .env("FERRY_TOKEN", TOKEN)
            .env("FERRY_STORE", dir.path().join("store"))
            .args(["map", "examples/guest", mapper, "--env", &env, "--inputs"])
            .arg(&inputs)
            .args(["--reduce", "merge", "--workers", &addresses])
            .args(["--results-to", prefix, "--results-over", "0"])
            .output()
            .unwrap()
    };
    let output = map_reduce("fill", "s3://scratch/job-2/");
    let histogram: Histogram = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(histogram, expected);
    assert_eq!(keys(&server, "scratch", "job-2"), Vec::<String>::new());

    // A job that fails part way (a mapper over lines that are not numbers)
    // leaves nothing behind either.
    put(
        &server,
        "events",
        "bad/part-0.txt",
        "1.5\n2.5\n".repeat(20_000).into_bytes(),
    );
    put(
        &server,
        "events",
        "bad/part-1.txt",
        b"not a number\n".to_vec(),
    );
    let failed = stderr(
        &without_aws()
            .envs(server.env())
            .env("FERRY_TOKEN", TOKEN)
            .env("FERRY_STORE", dir.path().join("store"))
            .args(["map", "examples/guest", "fill_lines", "--env", &env])
            .args(["--over", "s3://events/bad/", "--chunk-bytes", "4KiB"])
            .args(["--reduce", "merge", "--workers", &addresses])
            .args(["--results-to", "s3://scratch/job-3/", "--results-over", "0"])
            .output()
            .unwrap(),
    );
    assert!(failed.contains("is not a number"), "{failed}");
    assert_eq!(keys(&server, "scratch", "job-3"), Vec::<String>::new());

    // --output writes each result as an object, and prints where.
    let output = without_aws()
        .envs(server.env())
        .env("FERRY_TOKEN", TOKEN)
        .env("FERRY_STORE", dir.path().join("store"))
        .args(["map", "examples/guest", "fill", "--env", &env, "--inputs"])
        .arg(&inputs)
        .args(["--workers", &addresses, "--output", "s3://scratch/results"])
        .output()
        .unwrap();
    let printed: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(printed.len(), ranges.len());
    assert!(
        printed.iter().all(|line| line["stored"]
            .as_str()
            .unwrap()
            .starts_with("s3://scratch/results/")),
        "{printed:?}"
    );
    assert_eq!(keys(&server, "scratch", "results").len(), ranges.len());
}
