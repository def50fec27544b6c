//! Queries on a Ballista cluster (a scheduler and two executors, in this
//! process, on 127.0.0.1) over 10M rows in 8 Parquet files, each beside its
//! comparison in the same run:
//! (a) `sum(gcd(a, b))`: ferry's wasm `gcd` against the same Rust function
//!     compiled natively into every process of the cluster;
//! (b) `geo_mean(y) ... GROUP BY k`: wasm against DataFusion's
//!     `exp(avg(ln(y)))`;
//! (c) both wasm queries in a local session: what the cluster costs on one
//!     machine;
//! and, printed before them, (d) the first query on fresh executors (fetch,
//! check, compile) against the second.
//!
//! `cargo bench -p ferry-ballista --bench cluster`

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{SessionConfig, SessionContext};
use ferry_ballista::{
    Credentials, ExecutorConfig, NativeFunctions, Scheduler, SchedulerConfig, run_executor,
};
use ferry_host::{BlobStore, Runtime, RuntimeConfig, Sandbox};
use ferry_sql::WasmFunctions;
use ferry_test_support::{native_gcd, udfs};
use ferry_worker::WorkerConfig;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROWS: u64 = 10_000_000;
const FILES: u64 = 8;
const TOKEN: &str = "bench";

const GCD: &str = "SELECT sum(gcd(a, b)) AS total FROM t";
const NATIVE_GCD: &str = "SELECT sum(native_gcd(a, b)) AS total FROM t";
const GEO_MEAN: &str = "SELECT k, geo_mean(y) FROM t GROUP BY k ORDER BY k";
const NATIVE_GEO_MEAN: &str = "SELECT k, exp(avg(ln(y))) FROM t GROUP BY k ORDER BY k";

fn native() -> NativeFunctions {
    NativeFunctions {
        scalars: vec![Arc::new(native_gcd())],
        ..Default::default()
    }
}

/// The rows, written once by a local session.
async fn write_data(dir: &Path) {
    let ctx = SessionContext::new();
    let per_file = ROWS / FILES;
    for part in 0..FILES {
        let copy = format!(
            "COPY (SELECT value * 7919 % 1000003 AS a, value * 104729 % 999983 + 1 AS b, \
             value % 10 AS k, CAST(value % 1000 + 1 AS DOUBLE) AS y \
             FROM (SELECT unnest(range({}, {})) AS value)) \
             TO '{}/part-{part}.parquet' STORED AS PARQUET",
            part * per_file + 1,
            (part + 1) * per_file + 1,
            dir.display()
        );
        ctx.sql(&copy).await.unwrap().collect().await.unwrap();
    }
}

/// A scheduler and two executors with empty stores, under `dir`; they run
/// until the process ends.
async fn start_cluster(dir: &Path) -> String {
    let store = BlobStore::open(dir.join("scheduler")).unwrap();
    let mut config = SchedulerConfig::new(WorkerConfig::new(TOKEN.into(), store));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.native = native();
    let scheduler = Scheduler::bind(config).await.unwrap();
    let address = scheduler.local_addr().to_string();
    tokio::spawn(scheduler.serve(std::future::pending()));
    for n in 0..2 {
        let flight_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        tokio::spawn(run_executor(ExecutorConfig {
            scheduler: address.clone(),
            token: TOKEN.into(),
            bind_host: "127.0.0.1".into(),
            flight_port,
            advertise: None,
            slots: 2,
            store: BlobStore::open(dir.join(format!("executor-{n}"))).unwrap(),
            work_dir: dir.join(format!("work-{n}")),
            sandbox: Sandbox::default(),
            tls: None,
            insecure: false,
            trust: None,
            native: native(),
            objects: Vec::new(),
        }));
    }
    address
}

/// A session with the example UDFs, `native_gcd` and the table: on the
/// cluster at `cluster`, or local.
async fn session(dir: &Path, data: &Path, cluster: Option<&str>) -> SessionContext {
    let store = BlobStore::open(dir.join("client")).unwrap();
    let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::with_store(store)).unwrap());
    let ctx = match cluster {
        Some(address) => ferry_ballista::connect(
            address,
            &functions,
            SessionConfig::new(),
            &Credentials::token(TOKEN),
        )
        .unwrap(),
        None => functions.session(),
    };
    functions.register_module(&ctx, &udfs().module).unwrap();
    ctx.register_udf(native_gcd());
    let table = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/'",
        data.display()
    );
    ctx.sql(&table).await.unwrap().collect().await.unwrap();
    ctx
}

async fn run(ctx: &SessionContext, query: &str) -> Vec<RecordBatch> {
    ctx.sql(query).await.unwrap().collect().await.unwrap()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn cluster(c: &mut Criterion) {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    tokio.block_on(write_data(&data));

    // (d) Fresh executors: the first query fetches, checks and compiles
    // the module; the second finds it all done. Executors are warmed up
    // with a query without ferry functions first.
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let dir = dir.path().join(format!("fresh-{round}"));
        tokio.block_on(async {
            let address = start_cluster(&dir).await;
            let ctx = session(&dir, &data, Some(&address)).await;
            run(&ctx, "SELECT count(*) FROM t").await;
            for times in [&mut first, &mut second] {
                let started = Instant::now();
                run(&ctx, GCD).await;
                times.push(started.elapsed());
            }
        });
    }
    let (first, second) = (median(first), median(second));
    println!(
        "first gcd query on fresh executors: median {first:?}; second: median {second:?}; \
         difference {:?}",
        first.saturating_sub(second)
    );

    let address = tokio.block_on(start_cluster(&dir.path().join("cluster")));
    let remote = tokio.block_on(session(dir.path(), &data, Some(&address)));
    let local = tokio.block_on(session(dir.path(), &data, None));
    // The two sides agree before they race.
    let printed = |ctx: &SessionContext, query: &str| {
        pretty_format_batches(&tokio.block_on(run(ctx, query)))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        printed(&remote, GCD).replace("gcd", "native_gcd"),
        printed(&remote, NATIVE_GCD)
    );
    assert_eq!(printed(&remote, GCD), printed(&local, GCD));
    assert_eq!(printed(&remote, GEO_MEAN), printed(&local, GEO_MEAN));

    let mut group = c.benchmark_group("cluster_10m_rows");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (name, ctx, query) in [
        ("gcd/wasm", &remote, GCD),
        ("gcd/native", &remote, NATIVE_GCD),
        ("gcd/local_wasm", &local, GCD),
        ("geo_mean/wasm", &remote, GEO_MEAN),
        ("geo_mean/native", &remote, NATIVE_GEO_MEAN),
        ("geo_mean/local_wasm", &local, GEO_MEAN),
    ] {
        group.bench_function(name, |bench| bench.iter(|| tokio.block_on(run(ctx, query))));
    }
    group.finish();
}

criterion_group!(benches, cluster);
criterion_main!(benches);
