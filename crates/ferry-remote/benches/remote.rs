//! Remote execution over loopback: a synchronous round trip (a stateless
//! call, and an actor's) beside the floors under it (requests to the same
//! worker that run nothing, in cleartext), pipelined throughput from one
//! client, each in cleartext and over TLS, and a worker's first result for
//! a module it has never seen and after a restart with its disk cache
//! warm. Figures are recorded in docs/perf.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferry_host::{BlobStore, Closure, Executor, ExecutorExt, LocalExecutor, Module, Value};
use ferry_protocol::tls::{ClientTls, ServerTls};
use ferry_remote::Remote;
use ferry_test_support::tls::Authority;
use ferry_worker::{Worker, WorkerConfig};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;

const TOKEN: &str = "bench";

/// A worker on its own threads in this process, listening on loopback.
struct LocalWorker {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LocalWorker {
    fn start(store: &Path) -> LocalWorker {
        LocalWorker::start_with(store, None, true)
    }

    fn start_with(store: &Path, tls: Option<ServerTls>, baseline_first: bool) -> LocalWorker {
        let mut config = WorkerConfig::new(TOKEN.into(), BlobStore::open(store).unwrap());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.tls = tls;
        config.baseline_first = baseline_first;
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let worker = Worker::bind(config).await.unwrap();
                address_tx.send(worker.local_addr()).unwrap();
                worker
                    .serve(async {
                        stopped.await.ok();
                    })
                    .await
                    .unwrap();
            });
        });
        LocalWorker {
            address: address_rx.recv().unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn client(&self) -> Remote {
        self.client_with(None)
    }

    fn client_with(&self, tls: Option<ClientTls>) -> Remote {
        let builder = Remote::builder()
            .worker(self.address.to_string())
            .token(TOKEN);
        match tls {
            Some(tls) => builder.tls(tls),
            None => builder,
        }
        .build()
        .unwrap()
    }
}

impl Drop for LocalWorker {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        let _ = self.thread.take().map(|thread| thread.join());
    }
}

/// A 1-2 MB module: the example guest at opt-level 0.
fn unoptimized_guest() -> Module {
    let root = ferry_test_support::workspace_root();
    // The same guest at opt-level 0: more, slower-to-compile code. Keep its
    // line tables and names, drop the rest of the DWARF, for a module of
    // 1-2 MB of the kind a debug build ships.
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args([
            "build",
            "--lib",
            "--target",
            "wasm32-wasip1",
            "--manifest-path",
        ])
        .arg(root.join("examples/guest/Cargo.toml"))
        .status()
        .unwrap();
    assert!(status.success());
    let debug = root.join("target/wasm32-wasip1/debug/ferry_example_guest.wasm");
    Module::from_bytes(without_most_dwarf(&std::fs::read(debug).unwrap())).unwrap()
}

/// Drops `.debug_*` custom sections other than `.debug_line`.
fn without_most_dwarf(bytes: &[u8]) -> Vec<u8> {
    fn leb(bytes: &[u8], at: &mut usize) -> usize {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = bytes[*at];
            *at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return value;
            }
        }
    }
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        at += 1;
        let size = leb(bytes, &mut at);
        let end = at + size;
        let drop = id == 0 && {
            let mut name_at = at;
            let len = leb(bytes, &mut name_at);
            let name = &bytes[name_at..name_at + len];
            name.starts_with(b".debug_") && name != b".debug_line"
        };
        if !drop {
            out.extend_from_slice(&bytes[start..end]);
        }
        at = end;
    }
    out
}

fn remote(c: &mut Criterion) {
    let add = Closure::new(&ferry_test_support::example_guest().module, "add").unwrap();
    let input = Value::encode(&(20i64, 22i64)).unwrap();
    let store = tempfile::tempdir().unwrap();
    let worker = LocalWorker::start(store.path());
    let client = worker.client();
    client.call::<_, i64>(&add, &(1, 2)).unwrap();
    let pki = tempfile::tempdir().unwrap();
    let ca = Authority::new(pki.path(), "bench");
    let (cert, key) = ca.issue(pki.path(), "worker", &["127.0.0.1"]);
    let tls_store = tempfile::tempdir().unwrap();
    let tls_worker = LocalWorker::start_with(
        tls_store.path(),
        Some(ServerTls {
            cert,
            key,
            client_ca: None,
        }),
        true,
    );
    let tls_client = tls_worker.client_with(Some(ClientTls {
        ca: ca.pem.clone(),
        identity: None,
    }));
    tls_client.call::<_, i64>(&add, &(1, 2)).unwrap();

    let mut group = c.benchmark_group("remote_round_trip");
    let local = LocalExecutor::builder().threads(2).build().unwrap();
    group.bench_function("local_executor", |b| {
        b.iter(|| local.submit(&add, input.clone()).wait().unwrap())
    });
    for (name, client) in [
        ("loopback_worker", &client),
        ("loopback_worker_tls", &tls_client),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| client.submit(&add, input.clone()).wait().unwrap())
        });
    }
    // The floor under both: the same worker's endpoints that run nothing,
    // from a client built as `Remote` is (one HTTP/2 connection driven by a
    // one-thread runtime, the caller waiting on a channel). A request with
    // a body, as a run request is, costs the client two writes: HTTP/2
    // gives a new stream room to send data only once its headers are out.
    let floor = FloorClient::connect(worker.address);
    group.bench_function("loopback_worker_health", |b| b.iter(|| floor.health()));
    group.bench_function("loopback_worker_missing", |b| b.iter(|| floor.missing()));
    // The same round trip to an actor: its instance is kept, no fresh one
    // per call.
    let counter = Closure::new(&ferry_test_support::example_guest().module, "counter")
        .unwrap()
        .with_env(&0)
        .unwrap();
    let actor = client.spawn(&counter, Default::default()).unwrap();
    group.bench_function("loopback_worker_actor", |b| {
        b.iter(|| {
            client
                .call_actor::<_, i64>(&actor, "counter_add", &1)
                .unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("remote_pipelined");
    const TASKS: u64 = 2000;
    group.throughput(Throughput::Elements(TASKS));
    group.sample_size(20);
    for (name, executor) in [
        ("local_executor", &local as &dyn Executor),
        ("loopback_worker", &client),
        ("loopback_worker_tls", &tls_client),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| executor.submit(&add, input.clone()))
                    .collect();
                for task in tasks {
                    task.wait().unwrap();
                }
            })
        });
    }
    group.finish();

    let big = unoptimized_guest();
    let big_add = Closure::new(&big, "add").unwrap();
    eprintln!("cold-start module: {} bytes", big.bytes().len());
    let mut group = c.benchmark_group("worker_first_result");
    group.sample_size(10);
    // The last iteration's store: the next waits, untimed, for the optimized
    // code compiled in the background to be kept there, so that compiling
    // it does not share the cores with the next first call.
    let optimizing: RefCell<Option<tempfile::TempDir>> = RefCell::new(None);
    for (name, baseline_first) in [
        ("unseen_module_upload_compile_run", true),
        ("unseen_module_upload_compile_run_optimized_only", false),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    if let Some(previous) = optimizing.take() {
                        wait_for_files(&previous.path().join("compiled"));
                    }
                    let dir = tempfile::tempdir().unwrap();
                    let worker = LocalWorker::start_with(dir.path(), None, baseline_first);
                    (dir, worker)
                },
                |(dir, worker)| {
                    let out = worker
                        .client()
                        .submit(&big_add, input.clone())
                        .wait()
                        .unwrap();
                    optimizing.replace(Some(dir));
                    (worker, out)
                },
                BatchSize::PerIteration,
            )
        });
    }
    let warm = tempfile::tempdir().unwrap();
    {
        let worker = LocalWorker::start(warm.path());
        worker
            .client()
            .submit(&big_add, input.clone())
            .wait()
            .unwrap();
        // The first call ran on baseline code; the optimized code the disk
        // keeps follows in the background.
        wait_for_files(&warm.path().join("compiled"));
    }
    group.bench_function("after_restart_with_warm_disk_cache", |b| {
        b.iter_batched(
            || LocalWorker::start(warm.path()),
            |worker| {
                let out = worker
                    .client()
                    .submit(&big_add, input.clone())
                    .wait()
                    .unwrap();
                (worker, out)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A bare HTTP/2 client of a worker's endpoints that run nothing.
struct FloorClient {
    runtime: tokio::runtime::Runtime,
    sender: hyper::client::conn::http2::SendRequest<ferry_protocol::Body>,
    base: String,
    /// A question about no hashes: a body to read and one to send back,
    /// without a look at the disk.
    ask_nothing: bytes::Bytes,
}

impl FloorClient {
    fn connect(address: SocketAddr) -> FloorClient {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let sender = runtime.block_on(async {
            let stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, connection) = hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(stream),
            )
            .await
            .unwrap();
            tokio::spawn(connection);
            sender
        });
        FloorClient {
            runtime,
            sender,
            base: format!("http://{address}"),
            ask_nothing: ferry_protocol::encode(&ferry_protocol::MissingRequest { hashes: vec![] })
                .into(),
        }
    }

    /// `GET /v1/health`: headers alone, both ways.
    fn health(&self) -> bytes::Bytes {
        let request = http::Request::get(format!("{}{}", self.base, ferry_protocol::HEALTH))
            .body(ferry_protocol::Body::default())
            .unwrap();
        self.exchange(request)
    }

    /// `POST /v1/missing`: a small body each way and the token checked, as
    /// for a run request.
    fn missing(&self) -> bytes::Bytes {
        let request = http::Request::post(format!("{}{}", self.base, ferry_protocol::MISSING))
            .header(http::header::AUTHORIZATION, ferry_protocol::bearer(TOKEN))
            .body(ferry_protocol::Body::new(self.ask_nothing.clone()))
            .unwrap();
        self.exchange(request)
    }

    fn exchange(&self, request: http::Request<ferry_protocol::Body>) -> bytes::Bytes {
        use http_body_util::BodyExt;
        let (done, answer) = std::sync::mpsc::channel();
        let mut sender = self.sender.clone();
        self.runtime.spawn(async move {
            sender.ready().await.unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let _ = done.send(body);
        });
        answer.recv().unwrap()
    }
}

criterion_group!(benches, remote);
criterion_main!(benches);

/// Waits until a file is under `dir`.
fn wait_for_files(dir: &Path) {
    let started = std::time::Instant::now();
    while !has_files(dir) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "nothing was kept in {}",
            dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether any file is under `dir`.
fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|entry| entry.path().is_file() || has_files(&entry.path()))
    })
}
