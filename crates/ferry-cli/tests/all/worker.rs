//! Remote execution against real `ferry worker` processes on 127.0.0.1.

use crate::support::{ferry_without_aws, listening_address};
use ferry_example_guest::{HistSpec, Histogram, Range};
use ferry_host::{
    BlobStore, Closure, Error, ExecutorExt, FailureKind, LocalExecutor, Module, Value,
};
use ferry_remote::Remote;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const TOKEN: &str = "correct horse battery staple";

/// The `authorization` header that carries the token.
fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

pub(crate) fn guest() -> Module {
    ferry_test_support::example_guest().module.clone()
}

/// A `ferry worker` process; killed when dropped.
pub(crate) struct Worker {
    child: Child,
    pub address: String,
}

impl Worker {
    pub fn start(store: &Path, args: &[&str]) -> Worker {
        Worker::start_with_env(store, args, &[])
    }

    /// A worker with `env` (an S3 server's, say) and none of the `AWS_*`
    /// variables of whoever runs the tests.
    pub fn start_with_env(store: &Path, args: &[&str], env: &[(&str, String)]) -> Worker {
        let mut child = ferry_without_aws()
            .args(["worker", "--listen", "127.0.0.1:0", "--store"])
            .arg(store)
            .args(args)
            .env("FERRY_TOKEN", TOKEN)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let address = listening_address(&mut child, "ferry worker listening on ")
            .expect("the worker says where it listens");
        Worker { child, address }
    }

    /// SIGKILL, at once.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: the worker finishes what it is doing, then exits.
    fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn remote(workers: &[&Worker]) -> Remote {
    let mut builder = Remote::builder()
        .token(TOKEN)
        .backoff(Duration::from_millis(20));
    for worker in workers {
        builder = builder.worker(worker.address.clone());
    }
    builder.build().unwrap()
}

/// One raw HTTP/2 request, for what the client library would never send.
pub(crate) fn raw(
    address: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let (status, body) = raw_bytes(address, method, path, authorization, body);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// [`raw`], with the answer's body as bytes.
fn raw_bytes(
    address: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let runtime = client_runtime();
    runtime.block_on(async {
        let mut sender = connect(address).await;
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{address}{path}"));
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let response = sender
            .send_request(request.body(ferry_protocol::Body::new(body)).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    })
}

/// A runtime for a test's own HTTP/2 client.
fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One HTTP/2 connection to `address`, driven in the background.
async fn connect<B>(address: &str) -> hyper::client::conn::http2::SendRequest<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    sender
}

pub(crate) fn spec() -> HistSpec {
    HistSpec {
        bins: 24,
        lo: 60.0,
        hi: 120.0,
        peak: 91.2,
        width: 2.5,
        seed: 11,
    }
}

pub(crate) fn fill() -> Closure {
    Closure::new(&guest(), "fill")
        .unwrap()
        .with_env(&spec())
        .unwrap()
}

pub(crate) fn ranges(n: u64, events: u64) -> Vec<Range> {
    (0..n)
        .map(|i| Range {
            start: i * events,
            end: (i + 1) * events,
        })
        .collect()
}

fn stored_blobs(store: &Path) -> usize {
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(&store.join("blobs"))
}

#[test]
fn code_is_uploaded_once_and_only_what_is_missing() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &[]);
    let add = Closure::new(&guest(), "add").unwrap();

    let client = remote(&[&worker]);
    assert_eq!(client.call::<_, i64>(&add, &(1, 2)).unwrap().value, 3);
    let module_size = guest().bytes().len() as u64;
    assert_eq!(
        client.uploaded_bytes(),
        module_size,
        "the module went up once"
    );
    for i in 0..20 {
        assert_eq!(client.call::<_, i64>(&add, &(i, i)).unwrap().value, 2 * i);
    }
    assert_eq!(
        client.uploaded_bytes(),
        module_size,
        "later calls upload no code"
    );

    // A new client asks first, and the worker already has the module.
    let fresh = remote(&[&worker]);
    assert_eq!(fresh.call::<_, i64>(&add, &(5, 5)).unwrap().value, 10);
    assert_eq!(fresh.uploaded_bytes(), 0);

    // A closure of the same module with a new blob uploads the blob alone.
    let with_blob = Closure::new(&guest(), "blob_size")
        .unwrap()
        .with_blob("table", vec![3u8; 5000]);
    assert_eq!(
        fresh
            .call::<_, Option<u64>>(&with_blob, &"table")
            .unwrap()
            .value,
        Some(5000)
    );
    assert_eq!(fresh.uploaded_bytes(), 5000);
}

#[test]
fn without_the_token_nothing_is_stored_or_run() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &[]);
    let add = Closure::new(&guest(), "add").unwrap();

    let intruder = Remote::builder()
        .worker(worker.address.clone())
        .token("guess")
        .build()
        .unwrap();
    let err = intruder.call::<_, i64>(&add, &(1, 2)).unwrap_err();
    assert!(
        matches!(
            ferry_remote::RemoteError::of(&err),
            Some(ferry_remote::RemoteError::Rejected { status: 401, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("token"), "{err}");
    assert_eq!(intruder.uploaded_bytes(), 0);

    let module = guest();
    let path = ferry_protocol::blob_path(&module.id());
    assert_eq!(
        raw(&worker.address, "PUT", &path, None, module.bytes().to_vec()).0,
        401
    );
    assert_eq!(
        raw(
            &worker.address,
            "PUT",
            &path,
            Some("Bearer guess"),
            module.bytes().to_vec()
        )
        .0,
        401
    );
    assert_eq!(
        raw(
            &worker.address,
            "GET",
            ferry_protocol::INFO,
            None,
            Vec::new()
        )
        .0,
        401
    );
    assert_eq!(stored_blobs(store.path()), 0, "nothing was stored");

    let info = info(&worker);
    assert!(info.modules.is_empty(), "nothing was run: {info:?}");
}

#[test]
fn a_blob_whose_bytes_do_not_match_its_hash_is_refused() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &[]);
    let claimed = ferry_host::ContentHash::of(b"what the client claims");
    let (status, body) = raw(
        &worker.address,
        "PUT",
        &ferry_protocol::blob_path(&claimed),
        Some(&bearer()),
        b"something else".to_vec(),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("hash_mismatch") && body.contains(&claimed.to_string()),
        "{body}"
    );
    assert_eq!(stored_blobs(store.path()), 0);
    // The right bytes under the same name are taken.
    let (status, _) = raw(
        &worker.address,
        "PUT",
        &ferry_protocol::blob_path(&claimed),
        Some(&bearer()),
        b"what the client claims".to_vec(),
    );
    assert_eq!(status, 201);
    assert_eq!(
        BlobStore::open(store.path())
            .unwrap()
            .get(&claimed)
            .unwrap()
            .unwrap(),
        b"what the client claims"
    );
}

#[test]
fn an_oversized_request_is_refused_and_the_worker_serves_on() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--max-request", "1"]);
    let (status, body) = raw(
        &worker.address,
        "POST",
        ferry_protocol::RUN,
        Some(&bearer()),
        vec![0u8; 3 << 20],
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit of 1048576 bytes"), "{body}");
    // Large inputs travel as blobs, so the client is not held to that limit.
    let sum = Closure::new(&guest(), "sum").unwrap();
    let client = remote(&[&worker]);
    let values = vec![0.5f64; 300_000];
    assert_eq!(
        client.call::<_, f64>(&sum, &values).unwrap().value,
        150_000.0
    );
}

#[test]
fn a_worker_killed_in_the_middle_of_a_map_loses_nothing() {
    let stores: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut workers: Vec<Worker> = stores
        .iter()
        .map(|s| Worker::start(s.path(), &[]))
        .collect();
    let client = remote(&workers.iter().collect::<Vec<_>>());
    let inputs = ranges(48, 150_000);
    let expected: Vec<Histogram> = LocalExecutor::new()
        .unwrap()
        .map(&fill(), &inputs)
        .map(|r| r.unwrap().value)
        .collect();

    let mut results = Vec::new();
    for (i, result) in client.map::<_, Histogram, _>(&fill(), &inputs).enumerate() {
        results.push(result.unwrap().value);
        if i == 8 {
            workers[1].kill();
        }
    }
    assert_eq!(
        results.len(),
        inputs.len(),
        "every input has exactly one result"
    );
    assert_eq!(results, expected);
}

#[test]
fn a_restarted_worker_reuses_its_disk_cache() {
    let store = tempfile::tempdir().unwrap();
    let add = Closure::new(&guest(), "add").unwrap();
    let mut first = Worker::start(store.path(), &[]);
    let client = remote(&[&first]);
    assert_eq!(client.call::<_, i64>(&add, &(2, 2)).unwrap().value, 4);
    assert!(client.uploaded_bytes() > 0);
    // The call ran on baseline code; the optimized code the disk keeps
    // follows in the background.
    wait_for_compiled(store.path(), &guest());
    assert!(first.terminate().success());

    let compiled = |dir: &Path| -> Vec<(PathBuf, std::time::SystemTime)> {
        let mut found = Vec::new();
        for engine in std::fs::read_dir(dir.join("compiled")).unwrap().flatten() {
            for file in std::fs::read_dir(engine.path()).unwrap().flatten() {
                found.push((file.path(), file.metadata().unwrap().modified().unwrap()));
            }
        }
        found
    };
    let before = compiled(store.path());
    assert_eq!(before.len(), 1, "{before:?}");

    let second = Worker::start(store.path(), &[]);
    let client = remote(&[&second]);
    assert_eq!(client.call::<_, i64>(&add, &(3, 3)).unwrap().value, 6);
    assert_eq!(client.uploaded_bytes(), 0, "no re-upload");
    assert_eq!(compiled(store.path()), before, "no recompile");
}

#[test]
fn sixty_four_concurrent_clients_get_their_own_results() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--slots", "2"]);
    let add = Closure::new(&guest(), "add").unwrap();
    std::thread::scope(|scope| {
        for client_number in 0..64i64 {
            let (worker, add) = (&worker, &add);
            scope.spawn(move || {
                let client = remote(&[worker]);
                // All 25 in flight at once, then collected.
                let tasks: Vec<_> = (0..25i64)
                    .map(|i| {
                        ferry_host::Executor::submit(
                            &client,
                            add,
                            Value::encode(&(client_number * 1000, i)).unwrap(),
                        )
                    })
                    .collect();
                for (i, task) in tasks.into_iter().enumerate() {
                    let value: i64 = task.wait().unwrap().value.decode().unwrap();
                    assert_eq!(value, client_number * 1000 + i as i64);
                }
            });
        }
    });
}

#[test]
fn the_histogram_map_reduce_is_byte_identical_locally_and_on_workers() {
    let stores: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let workers: Vec<Worker> = stores
        .iter()
        .map(|s| Worker::start(s.path(), &[]))
        .collect();
    let client = remote(&workers.iter().collect::<Vec<_>>());
    let merge = Closure::new(&guest(), "merge").unwrap();
    let inputs = ranges(40, 20_000);
    let local = LocalExecutor::new().unwrap();
    let here: serde_json::Value = local
        .map_reduce(&fill(), &merge, &inputs)
        .chunk_size(3)
        .run()
        .unwrap()
        .unwrap();
    let there: serde_json::Value = client
        .map_reduce(&fill(), &merge, &inputs)
        .chunk_size(3)
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::encode(&here).unwrap(),
        Value::encode(&there).unwrap()
    );
    let histogram: Histogram = serde_json::from_value(there).unwrap();
    assert_eq!(histogram.entries(), 40 * 20_000);
}

#[test]
fn guest_failures_come_back_whole_and_are_not_retried() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--timeout", "2"]);
    let client = remote(&[&worker]);
    let boom = Closure::new(&guest(), "boom").unwrap();
    let err = client.call::<_, u32>(&boom, &"far away").unwrap_err();
    let failure = err.failure().expect("a guest failure");
    assert!(
        matches!(&failure.kind, FailureKind::Panic { message, location } if message == "far away" && location.file.ends_with("lib.rs")),
        "{err}"
    );

    let chatter = Closure::new(&guest(), "chatter").unwrap();
    let out = client.call::<_, u64>(&chatter, &2u64).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        2,
        "output comes back with the result"
    );

    // A result that breaks the ABI is refused on the worker as it is
    // locally, in one line.
    let text = ferry_test_support::workspace_root().join("examples/wat/malformed.wat");
    let malformed = Module::from_bytes(wat::parse_file(text).unwrap()).unwrap();
    for (function, expected) in [
        ("trailing_bytes", "the value has 2 bytes after its end"),
        (
            "outside",
            "the buffer passed to `result` lies outside the guest's memory",
        ),
    ] {
        let closure = Closure::new(&malformed, function).unwrap();
        let err = client.call::<_, u32>(&closure, &()).unwrap_err();
        assert!(err.failure().is_some(), "{function}: {err}");
        let message = err.to_string();
        assert!(
            message.contains(expected) && !message.contains('\n'),
            "{message}"
        );
    }

    let spin = Closure::new(&guest(), "spin").unwrap();
    let err = client.call::<_, u64>(&spin, &()).unwrap_err();
    assert!(
        matches!(
            err.failure().unwrap().kind,
            FailureKind::Timeout { limit_ms: 2000 }
        ),
        "{err}"
    );
}

#[test]
fn tasks_time_out_and_cancel_on_the_client() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--timeout", "5"]);
    let client = Remote::builder()
        .worker(worker.address.clone())
        .token(TOKEN)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    let spin = Closure::new(&guest(), "spin").unwrap();
    let err = client.call::<_, u64>(&spin, &()).unwrap_err();
    assert!(
        matches!(
            ferry_remote::RemoteError::of(&err),
            Some(ferry_remote::RemoteError::TimedOut { limit_ms: 300 })
        ),
        "{err}"
    );

    let task = ferry_host::Executor::submit(&client, &spin, Value::nil());
    task.cancel();
    assert!(matches!(task.wait(), Err(Error::Cancelled)));
}

#[test]
fn an_unreachable_worker_is_skipped_and_graceful_shutdown_finishes_work() {
    let store = tempfile::tempdir().unwrap();
    let mut worker = Worker::start(store.path(), &[]);
    // A worker that is not there (a port just freed), beside one that is.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = Remote::builder()
        .worker(gone.to_string())
        .worker(worker.address.clone())
        .token(TOKEN)
        .backoff(Duration::from_millis(10))
        .build()
        .unwrap();
    let results: Vec<i64> = client
        .map(
            &Closure::new(&guest(), "add").unwrap(),
            (0..20i64).map(|i| (i, 1)),
        )
        .map(|r| r.unwrap().value)
        .collect();
    assert_eq!(results, (1..21).collect::<Vec<_>>());

    // A slow task in flight when the worker is told to stop still completes.
    let events = 20_000_000;
    let slow = ferry_host::Executor::submit(
        &client,
        &fill(),
        Value::encode(&Range {
            start: 0,
            end: events,
        })
        .unwrap(),
    );
    let waiting = std::time::Instant::now();
    while info(&worker).running == 0 {
        assert!(
            !slow.is_done(),
            "the slow task ended before it was seen running"
        );
        assert!(
            waiting.elapsed() < Duration::from_secs(120),
            "the worker never ran the slow task"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(worker.terminate().success());
    // Had the worker dropped the task, the retries would find no worker.
    let histogram: Histogram = slow.wait().unwrap().value.decode().unwrap();
    assert_eq!(histogram.entries(), events);
}

/// What the worker's info endpoint says.
fn info(worker: &Worker) -> ferry_protocol::Info {
    let (status, info) = raw(
        &worker.address,
        "GET",
        ferry_protocol::INFO,
        Some(&bearer()),
        Vec::new(),
    );
    assert_eq!(status, 200, "{info}");
    serde_json::from_str(&info).unwrap()
}

#[test]
fn the_disk_cache_stays_within_its_bound_and_evicted_code_is_sent_again() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--cache-size", "1"]);
    let client = remote(&[&worker]);
    let closures: Vec<Closure> = (0..4u8)
        .map(|i| {
            Closure::new(&guest(), "blob_size")
                .unwrap()
                .with_blob("table", vec![i; 400_000])
        })
        .collect();
    for closure in &closures {
        assert_eq!(
            client
                .call::<_, Option<u64>>(closure, &"table")
                .unwrap()
                .value,
            Some(400_000)
        );
    }
    assert_eq!(info(&worker).cache_limit, 1 << 20);
    // Over the bound, everything but the module in use (and its compiled
    // code) and the newest upload is evicted.
    let on_disk = BlobStore::open(store.path()).unwrap();
    assert!(on_disk.contains(&guest().id()));
    let blob = |closure: &Closure| closure.blobs()["table"].id();
    assert!(on_disk.contains(&blob(&closures[3])));
    for evicted in &closures[..3] {
        assert!(!on_disk.contains(&blob(evicted)));
    }

    // The client still thinks the worker has the first blob; the worker says
    // it is missing, and the client sends it again.
    let before = client.uploaded_bytes();
    assert_eq!(
        client
            .call::<_, Option<u64>>(&closures[0], &"table")
            .unwrap()
            .value,
        Some(400_000)
    );
    assert_eq!(client.uploaded_bytes() - before, 400_000);
}

#[test]
fn a_guest_whose_poll_oneoff_sizes_wrap_gets_einval_and_its_slot_serves_on() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--slots", "1", "--memory", "2048"]);
    let client = remote(&[&worker]);
    let text = ferry_test_support::workspace_root().join("examples/wat/malformed.wat");
    let module = Module::from_bytes(wat::parse_file(text).unwrap()).unwrap();
    let bomb = Closure::new(&module, "poll_bomb").unwrap();
    const EINVAL: u32 = 28;
    for _ in 0..3 {
        assert_eq!(client.call::<_, u32>(&bomb, &()).unwrap().value, EINVAL);
    }
    // The one slot is still there.
    let add = Closure::new(&guest(), "add").unwrap();
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);
}

/// Reads from `stream` until the worker closes it; fails if it is still
/// open after `within`.
fn assert_closed_by_worker(mut stream: std::net::TcpStream, within: Duration) {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            // The worker's own SETTINGS frame comes before the close.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("a connection that sent nothing is still open after {within:?}")
            }
            Err(_) => return,
        }
    }
}

#[test]
fn connections_that_never_speak_neither_starve_clients_nor_hold_up_a_shutdown() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(
        store.path(),
        &["--max-connections", "4", "--handshake-timeout", "1"],
    );
    // Twice as many silent connections as there are places for them.
    let silent: Vec<_> = (0..8)
        .map(|_| std::net::TcpStream::connect(&worker.address).unwrap())
        .collect();
    let client = Remote::builder()
        .worker(worker.address.clone())
        .token(TOKEN)
        .task_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let add = Closure::new(&guest(), "add").unwrap();
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);
    for stream in silent {
        assert_closed_by_worker(stream, Duration::from_secs(30));
    }

    // A drain closes a silent connection at once, and an idle client's.
    let store = tempfile::tempdir().unwrap();
    let mut worker = Worker::start(store.path(), &["--handshake-timeout", "300"]);
    let client = remote(&[&worker]);
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);
    let silent = std::net::TcpStream::connect(&worker.address).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let asked = std::time::Instant::now();
    assert!(worker.terminate().success());
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "the drain waited for a connection that sent nothing"
    );
    assert_closed_by_worker(silent, Duration::from_secs(5));
}

#[test]
fn the_token_scheme_is_case_insensitive_and_a_409_names_hashes_as_text() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &[]);
    let status = |authorization: &str| {
        raw(
            &worker.address,
            "GET",
            ferry_protocol::INFO,
            Some(authorization),
            Vec::new(),
        )
        .0
    };
    assert_eq!(status(&format!("bearer {TOKEN}")), 200);
    assert_eq!(status(&format!("BEARER   {TOKEN}")), 200);
    assert_eq!(status(&format!("Basic {TOKEN}")), 401);
    assert_eq!(status(&format!("Bearer{TOKEN}")), 401);

    // A closure by reference to a module the worker lacks: the answer names
    // the module as docs/protocol.md says, `sha256:<hex>`.
    let add = Closure::new(&guest(), "add").unwrap();
    let by_reference = add.to_bytes(ferry_host::Encoding::ByReference);
    let (status, body) = post_run(&worker, by_reference, vec![inline(&(1, 2))]);
    assert_eq!(status, 409);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "missing");
    assert_eq!(
        body["missing"],
        serde_json::json!([add.module().id().to_string()])
    );
}

/// A request body that never sends a byte and never ends.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Files the process `pid` has open.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn idle_uploads_hold_no_files_and_are_cut_off() {
    let store = tempfile::tempdir().unwrap();
    // A temporary file a crashed worker left behind (no process has this id).
    let orphan = store.path().join("tmp/4194304999-0");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"half an upload").unwrap();
    let worker = Worker::start(store.path(), &["--body-timeout", "3"]);
    assert!(
        !orphan.exists(),
        "the orphaned temporary file is still there"
    );
    let pid = worker.child.id();
    let before = open_files(pid);

    const UPLOADS: usize = 500;
    let runtime = client_runtime();
    let address = worker.address.clone();
    let answers = runtime.block_on(async move {
        let sender = connect(&address).await;
        let uploads: Vec<_> = (0..UPLOADS)
            .map(|i| {
                let mut sender = sender.clone();
                let hash = ferry_host::ContentHash::of(&i.to_le_bytes()).to_hex();
                let request = http::Request::put(format!("http://{address}/v1/blobs/{hash}"))
                    .header("authorization", bearer())
                    .body(Stalled)
                    .unwrap();
                tokio::spawn(async move { sender.send_request(request).await })
            })
            .collect();
        // While they all wait: few files open, and a client is served.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let during = open_files(pid);
        let served = tokio::task::spawn_blocking({
            let address = address.clone();
            move || {
                let client = Remote::builder()
                    .worker(address)
                    .token(TOKEN)
                    .build()
                    .unwrap();
                let add = Closure::new(&guest(), "add").unwrap();
                client.call::<_, i64>(&add, &(2, 3)).unwrap().value
            }
        })
        .await
        .unwrap();
        let mut answers = Vec::new();
        for upload in uploads {
            let response = upload.await.unwrap().unwrap();
            let status = response.status().as_u16();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            answers.push((status, String::from_utf8_lossy(&body).into_owned()));
        }
        (during, served, answers)
    });
    let (during, served, answers) = answers;
    eprintln!("{UPLOADS} idle uploads: {before} files open before, {during} during");
    assert!(
        during < before + 50,
        "{UPLOADS} idle uploads hold {} more files open",
        during - before
    );
    assert_eq!(served, 5);
    assert_eq!(answers.len(), UPLOADS);
    for (status, body) in answers {
        assert_eq!(status, 408, "{body}");
        assert!(
            body.contains("timed_out") && body.contains("sent nothing"),
            "{body}"
        );
    }
    let left = std::fs::read_dir(store.path().join("tmp")).unwrap().count();
    assert_eq!(
        left, 0,
        "temporary files left after the uploads were cut off"
    );
}

/// The by-hand guest, with its answer (the MessagePack byte at 1024)
/// changed to `answer` and `bulk` more functions of arithmetic that
/// Cranelift takes time and memory in proportion to compile.
fn by_hand(answer: u8, bulk: usize) -> Module {
    let text = std::fs::read_to_string(
        ferry_test_support::workspace_root().join("examples/wat/by-hand.wat"),
    )
    .unwrap();
    let mut text = text.replace(
        r#"(data (i32.const 1024) "\2a")"#,
        &format!(r#"(data (i32.const 1024) "\{answer:02x}")"#),
    );
    // Many values live at once, so the register allocator has work to do.
    let body = format!(
        "(func (param i32) (result i32) {} {})\n",
        "local.get 0 i32.const 3 i32.mul ".repeat(BULK_VALUES),
        "i32.add ".repeat(BULK_VALUES - 1)
    );
    let at = text.find("(@custom").unwrap();
    text.insert_str(at, &body.repeat(bulk));
    Module::from_bytes(wat::parse_str(text).unwrap()).unwrap()
}

/// Values each bulk function keeps live.
const BULK_VALUES: usize = 200;

#[test]
fn compiling_stops_at_the_workers_time_and_memory_limits_and_it_serves_on() {
    let store = tempfile::tempdir().unwrap();
    // About 10 MB: 1.8 s and 140 MB to compile on a 2-core machine.
    let (bulky, small) = (by_hand(42, 8000), by_hand(7, 0));
    let answer = |client: &Remote, module: &Module| {
        client.call::<_, u8>(&Closure::new(module, "answer").unwrap(), &())
    };
    // With optimized code only: the baseline compiler is quick enough to
    // meet these limits, and its code would answer.
    for (limit, said) in [
        ("--compile-timeout=0.2", "compiling took longer than 200ms"),
        ("--compile-memory=64", "compiling needed more than 64 MiB"),
    ] {
        let worker = Worker::start(store.path(), &[limit, "--optimized-only"]);
        let client = remote(&[&worker]);
        let err = answer(&client, &bulky).unwrap_err().to_string();
        assert!(err.contains(said) && !err.contains('\n'), "{limit}: {err}");
        assert_eq!(answer(&client, &small).unwrap().value, 7, "{limit}");
    }
    // Within the default limits the same module compiles and runs, and
    // what compiling took is the child's, not the worker's.
    let worker = Worker::start(store.path(), &["--optimized-only"]);
    let before = peak_memory(worker.child.id());
    assert_eq!(answer(&remote(&[&worker]), &bulky).unwrap().value, 42);
    let grown = peak_memory(worker.child.id()) - before;
    eprintln!(
        "a 10 MB module compiled in a child: worker peak +{} MiB",
        grown >> 20
    );
    assert!(grown < 96 << 20, "the worker grew by {} MiB", grown >> 20);
}

#[test]
fn precompiled_code_moved_under_another_modules_name_is_not_run() {
    let store = tempfile::tempdir().unwrap();
    let (honest, other) = (by_hand(42, 0), by_hand(7, 0));
    let answer = |worker: &Worker, module: &Module| {
        let closure = Closure::new(module, "answer").unwrap();
        remote(&[worker])
            .call::<_, u8>(&closure, &())
            .unwrap()
            .value
    };
    {
        let worker = Worker::start(store.path(), &[]);
        assert_eq!(answer(&worker, &honest), 42);
        assert_eq!(answer(&worker, &other), 7);
        wait_for_compiled(store.path(), &honest);
        wait_for_compiled(store.path(), &other);
    }
    let compiled = |module: &Module| {
        let name = format!("{}.cwasm", module.id().to_hex());
        let engines = std::fs::read_dir(store.path().join("compiled")).unwrap();
        engines
            .flatten()
            .map(|engine| engine.path().join(&name))
            .find(|path| path.is_file())
            .expect("the worker kept precompiled code")
    };
    // Someone with write access to the store swaps the code.
    std::fs::copy(compiled(&other), compiled(&honest)).unwrap();

    let worker = Worker::start(store.path(), &[]);
    assert_eq!(answer(&worker, &honest), 42);
    assert_eq!(answer(&worker, &other), 7);
}

#[test]
fn a_module_over_the_compile_limit_is_refused_before_compiling() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--max-module", "1"]);
    // The by-hand guest padded past 1 MiB with a custom section of its own.
    let mut bytes =
        wat::parse_file(ferry_test_support::workspace_root().join("examples/wat/by-hand.wat"))
            .unwrap();
    let name = b"padding";
    let payload = vec![0u8; 3 << 19];
    let mut size = (1 + name.len() + payload.len()) as u32;
    bytes.push(0);
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        bytes.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    let big = Module::from_bytes(bytes).unwrap();

    let client = remote(&[&worker]);
    let err = client
        .call::<_, u8>(&Closure::new(&big, "answer").unwrap(), &())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("over the limit of 1048576 bytes for compiling") && !err.contains('\n'),
        "{err}"
    );
    let add = Closure::new(&guest(), "add").unwrap();
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);
}

/// Bytes of blobs and precompiled code in a worker's store.
fn store_usage(store: &Path) -> u64 {
    fn walk(dir: &Path) -> u64 {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(meta) if meta.is_dir() => walk(&e.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
    }
    walk(&store.join("blobs")) + walk(&store.join("compiled"))
}

#[test]
fn results_count_against_the_disk_bound_and_recent_code_outlives_other_uploads() {
    const MIB: u64 = 1 << 20;
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--cache-size", "8"]);
    let client = remote(&[&worker]);

    // Results over 1 MiB are stored for the client to download: 30 MiB of
    // them against an 8 MiB bound.
    let bytes = Closure::new(&guest(), "bytes").unwrap();
    let mut most = 0;
    for i in 0..10 {
        client
            .call::<_, serde::de::IgnoredAny>(&bytes, &(3 * MIB + i))
            .unwrap();
        let used = store_usage(store.path());
        most = most.max(used);
        assert!(used <= 8 * MIB, "{used} bytes stored against 8 MiB");
    }
    eprintln!(
        "30 MiB of results, 8 MiB bound: at most {} KiB stored",
        most >> 10
    );

    // One client uses its 2 MiB table again and again while another
    // uploads 3 MiB blobs: the table, used a moment ago, is never the one
    // evicted, so it is uploaded once.
    let table = Closure::new(&guest(), "blob_size")
        .unwrap()
        .with_blob("table", vec![1u8; 2 << 20]);
    let before = client.uploaded_bytes();
    for i in 0..6u8 {
        assert_eq!(
            client
                .call::<_, Option<u64>>(&table, &"table")
                .unwrap()
                .value,
            Some(2 << 20)
        );
        let other = vec![i; 3 << 20];
        let hash = ferry_host::ContentHash::of(&other).to_hex();
        let (status, body) = raw(
            &worker.address,
            "PUT",
            &format!("/v1/blobs/{hash}"),
            Some(&bearer()),
            other,
        );
        assert_eq!(status, 201, "{body}");
        assert!(store_usage(store.path()) <= 8 * MIB);
    }
    assert_eq!(client.uploaded_bytes() - before, 2 << 20);

    // A blob larger than the whole cache is refused before it is read.
    let (status, body) = raw(
        &worker.address,
        "PUT",
        &format!("/v1/blobs/{}", "ab".repeat(32)),
        Some(&bearer()),
        vec![0; 9 << 20],
    );
    assert_eq!(status, 413, "{body}");
}

/// The most memory the process `pid` has held, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// Posts a run request for the closure `closure` encodes, as a client
/// would, and returns the answer's status and body.
fn post_run(
    worker: &Worker,
    closure: Vec<u8>,
    inputs: Vec<ferry_protocol::Payload>,
) -> (u16, Vec<u8>) {
    let request = ferry_protocol::encode(&ferry_protocol::RunRequest {
        closure: closure.into(),
        inputs,
        reduce: None,
        signatures: Vec::new(),
        store_results: None,
    });
    let run = ferry_protocol::RUN;
    raw_bytes(&worker.address, "POST", run, Some(&bearer()), request)
}

/// An input sent inline.
fn inline(value: &impl serde::Serialize) -> ferry_protocol::Payload {
    ferry_protocol::Payload::Inline(Value::encode(value).unwrap().into_bytes().into())
}

fn put_blob(worker: &Worker, bytes: Vec<u8>) -> ferry_host::ContentHash {
    let hash = ferry_host::ContentHash::of(&bytes);
    let path = format!("/v1/blobs/{}", hash.to_hex());
    let (status, body) = raw(&worker.address, "PUT", &path, Some(&bearer()), bytes);
    assert!(status == 201 || status == 200, "{body}");
    hash
}

#[test]
fn what_one_request_names_many_times_is_held_once_and_a_job_is_bounded_as_a_call() {
    const MIB: usize = 1 << 20;
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--cache-size", "64"]);
    let pid = worker.child.id();
    let client = remote(&[&worker]);
    let add = Closure::new(&guest(), "add").unwrap();
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);

    // One 40 MiB blob, downloaded by 16 clients at once: held once.
    let blob = put_blob(&worker, vec![9u8; 40 * MIB]);
    let before = peak_memory(pid);
    let downloads: Vec<_> = (0..16)
        .map(|_| {
            let address = worker.address.clone();
            std::thread::spawn(move || {
                let path = format!("/v1/blobs/{}", blob.to_hex());
                raw_bytes(&address, "GET", &path, Some(&bearer()), Vec::new())
            })
        })
        .collect();
    for download in downloads {
        let (status, bytes) = download.join().unwrap();
        assert_eq!((status, bytes.len()), (200, 40 * MIB));
    }
    let grew = peak_memory(pid).saturating_sub(before);
    // Shown with --nocapture, for docs/perf.md.
    eprintln!("16 downloads of a 40 MiB blob: peak +{} MiB", grew >> 20);
    assert!(
        grew < 200 * MIB as u64,
        "16 downloads of 40 MiB took {} MiB more",
        grew >> 20
    );

    // A 24 MiB input named three times is more than one blob may be.
    let input = put_blob(
        &worker,
        Value::encode(&"x".repeat(24 * MIB)).unwrap().into_bytes(),
    );
    let concat = Closure::new(&guest(), "concat").unwrap();
    client.call::<_, String>(&concat, &("a", "b")).unwrap();
    let blobs = (0..3)
        .map(|_| ferry_protocol::Payload::Blob(input))
        .collect();
    let (status, body) = post_run(
        &worker,
        concat.to_bytes(ferry_host::Encoding::ByReference),
        blobs,
    );
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("inputs come to more than"), "{body}");

    // Thirty results of 3 MiB in one job are more than one call's 64 MiB.
    let bytes = Closure::new(&guest(), "bytes").unwrap();
    client.call::<_, serde::de::IgnoredAny>(&bytes, &1).unwrap();
    let inputs = (0..30).map(|i| inline(&(3 * MIB + i))).collect();
    let (status, body) = post_run(
        &worker,
        bytes.to_bytes(ferry_host::Encoding::ByReference),
        inputs,
    );
    assert_eq!(status, 200);
    match ferry_protocol::decode::<ferry_protocol::RunResponse>(&body).unwrap() {
        ferry_protocol::RunResponse::Failed(failure) => assert!(
            matches!(failure.kind, FailureKind::ResultTooLarge { limit, .. } if limit == 64 << 20),
            "{failure:?}"
        ),
        other => panic!("a job of 90 MiB of results was not refused: {other:?}"),
    }
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);
}

/// A request body that sends `first` and then nothing, never ending.
struct SendsThenStalls(Option<bytes::Bytes>);

impl http_body::Body for SendsThenStalls {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(first) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(first)))),
            None => std::task::Poll::Pending,
        }
    }
}

#[test]
fn request_bodies_trickling_in_on_many_streams_hold_a_bounded_total() {
    let store = tempfile::tempdir().unwrap();
    // 32 requests of at most 1 MiB may be received at once.
    let worker = Worker::start(store.path(), &["--max-request", "1", "--body-timeout", "5"]);
    let runtime = client_runtime();
    let address = worker.address.clone();
    let statuses = runtime.block_on(async move {
        let sender = connect(&address).await;
        let requests: Vec<_> = (0..48)
            .map(|_| {
                let mut sender = sender.clone();
                let body = SendsThenStalls(Some(vec![0x91; 1000 << 10].into()));
                let request =
                    http::Request::post(format!("http://{address}{}", ferry_protocol::RUN))
                        .header("authorization", bearer())
                        .body(body)
                        .unwrap();
                tokio::spawn(async move {
                    sender
                        .send_request(request)
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for request in requests {
            statuses.push(request.await.unwrap());
        }
        statuses
    });
    let busy = statuses.iter().filter(|&&s| s == 503).count();
    let cut_off = statuses.iter().filter(|&&s| s == 408).count();
    assert!(busy >= 48 - 32, "{statuses:?}");
    assert_eq!(busy + cut_off, 48, "{statuses:?}");
    let client = remote(&[&worker]);
    let add = Closure::new(&guest(), "add").unwrap();
    assert_eq!(client.call::<_, i64>(&add, &(2, 3)).unwrap().value, 5);
}

#[test]
fn queued_requests_for_a_closure_with_a_large_blob_share_one_copy() {
    const MIB: u64 = 1 << 20;
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--slots", "2", "--grant-clock"]);
    let pid = worker.child.id();
    let nap = Closure::new(&guest(), "nap")
        .unwrap()
        .with_blob("table", vec![3u8; 40 << 20]);
    // Upload once, so that what follows measures requests, not uploads.
    let client = remote(&[&worker]);
    assert_eq!(client.call::<_, u64>(&nap, &0).unwrap().value, 0);
    let before = peak_memory(pid);
    // Twelve clients, two slots: most requests wait in the queue, each
    // holding its closure, blob and all.
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let (client, nap) = (remote(&[&worker]), nap.clone());
            std::thread::spawn(move || client.call::<_, u64>(&nap, &1).unwrap().value)
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 1);
    }
    let grew = peak_memory(pid).saturating_sub(before);
    eprintln!(
        "12 queued requests, a 40 MiB blob: peak +{} MiB",
        grew >> 20
    );
    assert!(
        grew < 160 * MIB,
        "12 queued requests for a 40 MiB blob took {} MiB more",
        grew >> 20
    );
}

/// Bytes of memory the process `pid` holds now.
fn resident_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// One client's share of the soak: good calls checked, evil ones refused
/// the way they should be.
fn soak_client(worker: &Worker, client: usize, rounds: usize) {
    let remote = remote(&[worker]);
    let module = guest();
    let closure = |name: &str| Closure::new(&module, name).unwrap();
    let (add, spin, hog, boom, chatter) = (
        closure("add"),
        closure("spin"),
        closure("hog"),
        closure("boom"),
        closure("chatter"),
    );
    let failure = |result: Result<ferry_host::Output<u64>, Error>| {
        result
            .unwrap_err()
            .failure()
            .expect("a guest failure")
            .kind
            .clone()
    };
    // The module is on the worker, so a corrupted closure is refused for
    // what it is, not for naming something missing.
    assert_eq!(remote.call::<_, i64>(&add, &(0, 0)).unwrap().value, 0);
    for round in 0..rounds {
        let n = (client * rounds + round) as i64;
        match (client + round) % 7 {
            0 => assert!(matches!(
                failure(remote.call(&spin, &())),
                FailureKind::Timeout { .. }
            )),
            1 => assert!(matches!(
                failure(remote.call(&hog, &())),
                // On a loaded machine the deadline may come first.
                FailureKind::MemoryLimit { .. } | FailureKind::Timeout { .. }
            )),
            2 => assert!(matches!(
                failure(remote.call(&boom, &"evil")),
                FailureKind::Panic { .. }
            )),
            3 => assert!(matches!(
                failure(remote.call(&chatter, &1_000_000u64)),
                FailureKind::OutputLimit { .. } | FailureKind::Timeout { .. }
            )),
            4 => {
                let mut bytes = add.to_bytes(ferry_host::Encoding::ByReference);
                let last = bytes.len() - 1;
                bytes[last] ^= 0xff;
                let (status, body) = post_run(worker, bytes, vec![inline(&(1, 2))]);
                assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
            }
            5 => {
                let (status, _) = raw(
                    &worker.address,
                    "GET",
                    ferry_protocol::INFO,
                    Some("Bearer wrong"),
                    Vec::new(),
                );
                assert_eq!(status, 401);
            }
            _ => {}
        }
        // Every round, whatever came before, a good call answered right.
        assert_eq!(remote.call::<_, i64>(&add, &(n, 1)).unwrap().value, n + 1);
    }
}

#[test]
fn a_soak_of_good_and_evil_calls_from_32_clients_leaves_the_worker_as_it_was() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(
        store.path(),
        &["--slots", "2", "--timeout", "0.2", "--memory", "64"],
    );
    let pid = worker.child.id();
    let soak = |rounds: usize| {
        std::thread::scope(|scope| {
            for client in 0..32 {
                let worker = &worker;
                scope.spawn(move || soak_client(worker, client, rounds));
            }
        });
    };
    // A first pass warms what is kept on purpose (compiled code, pooled
    // instances, buffers); the second must not add to it.
    soak(7);
    let (memory, files) = (resident_memory(pid), open_files(pid));
    let started = std::time::Instant::now();
    soak(21);
    let (memory_after, files_after) = (resident_memory(pid), open_files(pid));
    eprintln!(
        "soak: 32 clients x 21 rounds in {:.1?}: {} -> {} MiB resident, {files} -> {files_after} files open",
        started.elapsed(),
        memory >> 20,
        memory_after >> 20
    );
    assert!(
        files_after <= files + 4,
        "{files} -> {files_after} files open"
    );
    assert!(
        memory_after <= memory + (64 << 20),
        "{} -> {} MiB resident",
        memory >> 20,
        memory_after >> 20
    );
}

/// Waits until the worker with `store` kept optimized code for `module`.
fn wait_for_compiled(store: &Path, module: &Module) {
    let name = format!("{}.cwasm", module.id().to_hex());
    let kept = || {
        std::fs::read_dir(store.join("compiled")).is_ok_and(|engines| {
            engines
                .flatten()
                .any(|engine| engine.path().join(&name).is_file())
        })
    };
    let started = std::time::Instant::now();
    while !kept() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no optimized code was kept for {}",
            module.id()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The worker's info once `until` holds for it; `what` names the wait if
/// it never does.
fn wait_for_info(
    worker: &Worker,
    what: &str,
    until: impl Fn(&ferry_protocol::Info) -> bool,
) -> ferry_protocol::Info {
    let started = std::time::Instant::now();
    loop {
        let now = info(worker);
        if until(&now) {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The run requests and tasks `worker` served while `work` ran.
fn served(worker: &Worker, work: impl FnOnce()) -> (u64, u64) {
    let before = info(worker);
    work();
    let after = info(worker);
    (
        after.run_requests - before.run_requests,
        after.tasks - before.tasks,
    )
}

#[test]
fn tasks_queued_behind_those_in_flight_go_together_and_each_gets_its_own_outcome() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--slots", "1", "--timeout", "2"]);
    let client = remote(&[&worker]);
    let add = Closure::new(&guest(), "add").unwrap();
    let boom = Closure::new(&guest(), "boom").unwrap();
    // The code goes up first: every request counted below runs tasks.
    client.call::<_, i64>(&add, &(0, 0)).unwrap();
    const TASKS: i64 = 600;
    let fails = |i: i64| i % 97 == 5;
    let (requests, tasks) = served(&worker, || {
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let submit = ferry_host::Executor::submit;
                if fails(i) {
                    submit(&client, &boom, Value::encode(&format!("task {i}")).unwrap())
                } else {
                    submit(&client, &add, Value::encode(&(i, 1000 * i)).unwrap())
                }
            })
            .collect();
        for (i, task) in (0..).zip(tasks) {
            let result = task.wait();
            if fails(i) {
                let err = result.unwrap_err();
                let expected = format!("task {i}");
                assert!(
                    matches!(&err.failure().expect("a guest failure").kind, FailureKind::Panic { message, .. } if *message == expected),
                    "{err}"
                );
            } else {
                assert_eq!(result.unwrap().value.decode::<i64>().unwrap(), 1001 * i);
            }
        }
    });
    assert_eq!(tasks, TASKS as u64, "each task ran once");
    assert!(requests * 10 < tasks, "{requests} requests carried {tasks}");

    // With both places in flight held by tasks that spin to their
    // deadline, the tasks behind them wait in the client; cancelled there,
    // they never reach the worker.
    let spin = Closure::new(&guest(), "spin").unwrap();
    let spinning: Vec<_> = (0..2)
        .map(|_| ferry_host::Executor::submit(&client, &spin, Value::nil()))
        .collect();
    let before = wait_for_info(&worker, "one running, one queued", |info| {
        (info.running, info.queued) == (1, 1)
    });
    for i in 0..50i64 {
        ferry_host::Executor::submit(&client, &add, Value::encode(&(i, i)).unwrap()).cancel();
    }
    for task in spinning {
        let err = task.wait().unwrap_err();
        assert!(
            matches!(err.failure().unwrap().kind, FailureKind::Timeout { .. }),
            "{err}"
        );
    }
    assert_eq!(client.call::<_, i64>(&add, &(40, 2)).unwrap().value, 42);
    let after = info(&worker);
    assert_eq!(after.tasks - before.tasks, 1, "only the last call ran");
}

#[test]
fn a_run_many_request_answers_each_task_as_run_would_and_bad_ones_are_refused() {
    use ferry_protocol::many::{Frames, MAX_RUNS, RUN_MANY, RunManyItem, RunOutcome, push_frame};
    use ferry_protocol::{Payload, RunRequest, RunResponse};
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &[]);
    let add = Closure::new(&guest(), "add").unwrap();
    remote(&[&worker]).call::<_, i64>(&add, &(0, 0)).unwrap();
    let unseen = Closure::new(&by_hand(7, 0), "answer").unwrap();
    let frame = |closure: &Closure, input: Payload| {
        ferry_protocol::encode(&RunRequest {
            closure: closure.to_bytes(ferry_host::Encoding::ByReference).into(),
            inputs: vec![input],
            reduce: None,
            signatures: Vec::new(),
            store_results: None,
        })
    };
    let mut body = Vec::new();
    push_frame(&mut body, &frame(&add, inline(&(1, 2))));
    push_frame(&mut body, &frame(&unseen, inline(&())));
    push_frame(&mut body, &frame(&add, inline(&(5, 5))));
    let (status, answer) = raw_bytes(
        &worker.address,
        "POST",
        RUN_MANY,
        Some(&bearer()),
        body.clone(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let mut frames = Frames::default();
    frames.extend(&answer);
    let mut outcomes: Vec<Option<RunOutcome>> = vec![None, None, None];
    while let Some(RunManyItem { index, outcome }) = frames.message().unwrap() {
        assert!(
            outcomes[index as usize].replace(outcome).is_none(),
            "task {index} twice"
        );
    }
    assert!(frames.is_empty());
    let sum = |outcome: &Option<RunOutcome>| match outcome {
        Some(RunOutcome::Ran(RunResponse::Done {
            value: Payload::Inline(bytes),
            ..
        })) => Value::from_msgpack(bytes.to_vec()).decode::<i64>().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!((sum(&outcomes[0]), sum(&outcomes[2])), (3, 10));
    match &outcomes[1] {
        Some(RunOutcome::Refused { status: 409, body }) => {
            let text = String::from_utf8_lossy(body);
            assert!(text.contains(&unseen.module().id().to_string()), "{text}");
        }
        other => panic!("{other:?}"),
    }

    let (status, text) = raw(
        &worker.address,
        "POST",
        RUN_MANY,
        Some(&bearer()),
        body[..body.len() - 1].to_vec(),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("the request ends inside a frame"), "{text}");
    let mut many = Vec::new();
    for i in 0..=MAX_RUNS as i64 {
        push_frame(&mut many, &frame(&add, inline(&(i, i))));
    }
    let (status, text) = raw(&worker.address, "POST", RUN_MANY, Some(&bearer()), many);
    assert_eq!(status, 413, "{text}");
    assert!(
        text.contains(&format!("at most {MAX_RUNS} tasks")),
        "{text}"
    );
    let (status, _) = raw(&worker.address, "POST", RUN_MANY, None, body);
    assert_eq!(status, 401);
    let mut garbage = Vec::new();
    push_frame(&mut garbage, b"\xc1 is never MessagePack");
    for (body, expected) in [
        (garbage, "malformed protocol message"),
        (Vec::new(), "the request carries no task"),
    ] {
        let (status, text) = raw(&worker.address, "POST", RUN_MANY, Some(&bearer()), body);
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(
        remote(&[&worker])
            .call::<_, i64>(&add, &(2, 2))
            .unwrap()
            .value,
        4
    );
}

#[test]
fn a_worker_without_run_many_gets_every_task_alone() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let store = tempfile::tempdir().unwrap();
    let mut config =
        ferry_worker::WorkerConfig::new(TOKEN.into(), BlobStore::open(store.path()).unwrap());
    config.slots = 1;
    let service = ferry_worker::WorkerService::new(config).unwrap();
    // A worker of the protocol's first version: its endpoints, but no
    // `run-many`.
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = refused.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (service, counted) = (service.clone(), counted.clone());
            let serve =
                hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (service, counted) = (service.clone(), counted.clone());
                    async move {
                        if request.uri().path() == ferry_protocol::many::RUN_MANY {
                            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let mut gone = http::Response::new(ferry_protocol::Body::default());
                            *gone.status_mut() = http::StatusCode::NOT_FOUND;
                            return Ok::<_, std::convert::Infallible>(gone);
                        }
                        Ok(service.handle(request).await)
                    }
                });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), serve),
            );
        }
    });
    let client = Remote::builder()
        .worker(address.to_string())
        .token(TOKEN)
        .build()
        .unwrap();
    let add = Closure::new(&guest(), "add").unwrap();
    let tasks: Vec<_> = (0..300i64)
        .map(|i| ferry_host::Executor::submit(&client, &add, Value::encode(&(i, i)).unwrap()))
        .collect();
    for (i, task) in (0..).zip(tasks) {
        assert_eq!(task.wait().unwrap().value.decode::<i64>().unwrap(), 2 * i);
    }
    // One refusal, or one per batch sent before the first came back.
    let refused = refused.load(std::sync::atomic::Ordering::Relaxed);
    assert!((1..=2).contains(&refused), "{refused} batches refused");
}

#[test]
fn a_worker_with_a_lower_request_limit_gets_smaller_batches() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--slots", "1", "--max-request", "1"]);
    let client = remote(&[&worker]);
    let concat = Closure::new(&guest(), "concat").unwrap();
    client.call::<_, String>(&concat, &("a", "b")).unwrap();
    // 8 KB a task: a full batch of 256 is 2 MiB, twice the worker's limit.
    let long = "x".repeat(8000);
    let (requests, tasks) = served(&worker, || {
        let tasks: Vec<_> = (0..600)
            .map(|i| {
                let input = Value::encode(&(&long, i.to_string())).unwrap();
                ferry_host::Executor::submit(&client, &concat, input)
            })
            .collect();
        for (i, task) in (0..).zip(tasks) {
            let joined: String = task.wait().unwrap().value.decode().unwrap();
            assert_eq!(joined, format!("{long}{i}"));
        }
    });
    assert_eq!(tasks, 600);
    assert!(requests * 4 < tasks, "{requests} requests carried {tasks}");
}

#[test]
fn tasks_given_up_on_after_their_batch_went_are_cancelled_on_the_worker() {
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &["--slots", "1", "--timeout", "2"]);
    let client = remote(&[&worker]);
    let spin = Closure::new(&guest(), "spin").unwrap();
    let submit = || ferry_host::Executor::submit(&client, &spin, Value::nil());
    // Two tasks hold the client's two places; fifty more wait behind them
    // and go as one batch when the first ends, behind the second.
    let (first, second) = (submit(), submit());
    wait_for_info(&worker, "both places taken", |info| {
        info.running + info.queued == 2
    });
    let waiting: Vec<_> = (0..50).map(|_| submit()).collect();
    wait_for_info(&worker, "the batch sent", |info| info.tasks == 52);
    for task in &waiting {
        task.cancel();
    }
    assert!(first.wait().is_err() && second.wait().is_err());
    // Run, they would take 100 s; cancelled, at most the one started when
    // the first place was given up runs.
    wait_for_info(&worker, "the batch skipped", |info| {
        info.running + info.queued == 0
    });
}
