//! A Ballista cluster of real processes on 127.0.0.1: `ferry scheduler`,
//! `ferry executor`s with empty stores, and `ferry sql --cluster`, each
//! result compared with the same query run by a local `ferry sql`.

use crate::support::{ferry, ferry_without_aws, listening_address};
use datafusion::object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};
use ferry_test_support::s3::S3Server;
use ferry_test_support::tls::Authority;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

const TOKEN: &str = "a cluster's shared secret";

/// A process of the cluster, killed when dropped; its standard error goes
/// to a file, for the test to read.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scheduler and its executors, each with a store of its own.
struct Cluster {
    dir: tempfile::TempDir,
    address: String,
    scheduler: Process,
    executors: Vec<Process>,
    /// What every process of the cluster is given (its TLS files).
    tls: Vec<OsString>,
    /// The environment every process is given (an S3 server's).
    env: Vec<(&'static str, String)>,
}

impl Cluster {
    fn start(executors: usize) -> Cluster {
        Cluster::start_with(executors, |_| Vec::new())
    }

    /// A cluster whose processes all get the arguments `tls` makes in the
    /// cluster's directory.
    fn start_with(executors: usize, tls: impl FnOnce(&Path) -> Vec<OsString>) -> Cluster {
        Cluster::start_full(executors, tls, Vec::new())
    }

    /// A cluster whose processes all get `env`, and none of the `AWS_*`
    /// variables of whoever runs the tests.
    fn start_full(
        executors: usize,
        tls: impl FnOnce(&Path) -> Vec<OsString>,
        env: Vec<(&'static str, String)>,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let tls = tls(dir.path());
        let log = dir.path().join("scheduler.log");
        let mut child = ferry_without_aws()
            .args([
                "scheduler",
                "--listen",
                "127.0.0.1:0",
                "--executor-timeout",
                "5",
            ])
            .arg("--store")
            .arg(dir.path().join("scheduler"))
            .args(&tls)
            .env("FERRY_TOKEN", TOKEN)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let address = listening_address(&mut child, "ferry scheduler listening on ");
        let scheduler = Process { child, log };
        let address = address.unwrap_or_else(|| panic!("no address: {}", scheduler.log()));
        let mut cluster = Cluster {
            dir,
            address,
            scheduler,
            executors: Vec::new(),
            tls,
            env,
        };
        for _ in 0..executors {
            cluster.add_executor(&[], |_| {});
        }
        cluster
    }

    /// Starts an executor with `extra` arguments; `prepare` may put things
    /// in its store first.
    fn add_executor(&mut self, extra: &[&OsStr], prepare: impl FnOnce(&Path)) {
        let n = self.executors.len();
        let store = self.executor_store(n);
        std::fs::create_dir_all(&store).unwrap();
        prepare(&store);
        let log = self.dir.path().join(format!("executor-{n}.log"));
        let child = ferry_without_aws()
            .args(["executor", "--scheduler", &self.address, "--slots", "2"])
            .args(["--flight-port", &free_port().to_string(), "--store"])
            .arg(&store)
            .args(&self.tls)
            .args(extra)
            .env("FERRY_TOKEN", TOKEN)
            .env("FERRY_LOG", "ferry_ballista=info,warn")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.executors.push(Process { child, log });
    }

    fn executor_store(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("executor-{n}"))
    }

    fn kill_executor(&mut self, n: usize) {
        let executor = &mut self.executors[n].child;
        executor.kill().unwrap();
        executor.wait().unwrap();
    }

    /// How many times each executor fetched a module.
    fn fetches(&self) -> Vec<usize> {
        self.executors
            .iter()
            .map(|executor| executor.log().matches("fetched module").count())
            .collect()
    }

    fn logs(&self) -> String {
        std::iter::once(&self.scheduler)
            .chain(&self.executors)
            .map(Process::log)
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

/// A port nobody listens on now (executors advertise the port they are
/// given, so it cannot be 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ferry sql` printing CSV: on the cluster at `cluster` (with its
/// environment), or locally.
fn sql(cluster: Option<&Cluster>, statements: &str) -> std::process::Output {
    let mut command = ferry_without_aws();
    command.args(["sql", "--format", "csv", "-c", statements]);
    if let Some(cluster) = cluster {
        command
            .args(["--cluster", &format!("df://{}", cluster.address)])
            .env("FERRY_TOKEN", TOKEN)
            .envs(cluster.env.iter().cloned());
    }
    command.output().unwrap()
}

fn stdout_of(output: &std::process::Output, what: &str, cluster: &Cluster) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        cluster.logs()
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// 20,000 rows in four Parquet files, so that the scan has several
/// partitions and aggregates shuffle between stages.
fn table(dir: &Path) -> String {
    table_of(dir, 4, 5000)
}

/// `parts` Parquet files of `rows` rows each, as table `t`.
fn table_of(dir: &Path, parts: usize, rows: usize) -> String {
    let data = dir.join("numbers");
    std::fs::create_dir_all(&data).unwrap();
    for part in 0..parts {
        let copy = format!(
            "COPY (SELECT value AS id, value * 7919 % 1000 AS a, value * 104729 % 600 + 1 AS b, \
             value % 7 AS g, 1.0 + (value * 31 % 97) / 10.0 AS x \
             FROM generate_series({}, {})) TO '{}/part-{part}.parquet' STORED AS PARQUET",
            part * rows + 1,
            (part + 1) * rows,
            data.display()
        );
        assert!(sql(None, &copy).status.success(), "{copy}");
    }
    format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}/';",
        data.display()
    )
}

/// The setup's table statement alone.
fn table_setup(setup: &str) -> &str {
    &setup[..=setup.find(';').unwrap()]
}

const FUNCTIONS: &str = "CREATE FUNCTION gcd AS 'examples/udfs' LANGUAGE wasm; \
     CREATE FUNCTION geo_mean AS 'examples/udfs' LANGUAGE wasm;";

#[test]
fn sql_on_a_cluster_gives_the_local_answers_and_ships_each_module_once() {
    let cluster = Cluster::start(2);
    let setup = format!("{} {FUNCTIONS}", table(cluster.dir.path()));
    let queries = [
        // A scalar function over every row.
        "SELECT id, gcd(a, b) FROM t ORDER BY id",
        // Partial states on each executor, merged after the shuffle.
        "SELECT g, round(geo_mean(x), 9), count(*) FROM t GROUP BY g ORDER BY g",
        "SELECT g, round(geo_mean(DISTINCT x), 9), count(DISTINCT a) FROM t GROUP BY g ORDER BY g",
        "SELECT round(geo_mean(DISTINCT x), 9) FROM t",
        // A window whose frame slides: the aggregate retracts.
        "SELECT id, round(geo_mean(x) OVER (PARTITION BY g ORDER BY id \
         ROWS BETWEEN 3 PRECEDING AND CURRENT ROW), 9) FROM t ORDER BY id",
        "SELECT g, sum(gcd(a, b)) FROM t WHERE gcd(a, b) > 1 GROUP BY g ORDER BY g",
    ];
    for query in queries {
        let statements = format!("{setup} {query}");
        let local = sql(None, &statements);
        let local = stdout_of(&local, query, &cluster);
        let remote = sql(Some(&cluster), &statements);
        let remote = stdout_of(&remote, query, &cluster);
        assert!(local.lines().count() > 1, "{query}: {local}");
        assert_eq!(remote, local, "{query}");
    }
    // Functions registered with --functions travel the same way.
    let query = "SELECT g, max(haversine(x, x, 0, 0)) FROM t GROUP BY g ORDER BY g";
    let with_flag = |cluster: Option<&Cluster>| {
        let mut command = ferry();
        command.args(["sql", "--format", "csv", "--functions", "examples/udfs"]);
        command.args(["-c", &format!("{} {query}", table_setup(&setup))]);
        if let Some(cluster) = cluster {
            command
                .args(["--cluster", &format!("df://{}", cluster.address)])
                .env("FERRY_TOKEN", TOKEN);
        }
        command.output().unwrap()
    };
    assert_eq!(
        stdout_of(&with_flag(Some(&cluster)), query, &cluster),
        stdout_of(&with_flag(None), query, &cluster)
    );

    // The scheduler serves code, and runs none itself.
    let (status, body) = crate::services::request(
        "POST",
        &cluster.address,
        ferry_protocol::RUN,
        Some(TOKEN),
        "",
    );
    assert_eq!(status, 404, "{body}");

    // The module reached each executor at most once, and some executor ran
    // it: fetched, checked and kept, never sent again.
    let fetches = cluster.fetches();
    assert!(
        fetches.iter().all(|&n| n <= 1) && fetches.iter().sum::<usize>() >= 1,
        "{fetches:?}\n{}",
        cluster.logs()
    );

    // A guest that traps fails the query, naming the function; the cluster
    // serves the next one.
    let trap = format!(
        "{setup} CREATE FUNCTION div AS 'examples/udfs' LANGUAGE wasm; \
         SELECT sum(div(a, g)) FROM t"
    );
    let failed = sql(Some(&cluster), &trap);
    let message = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{message}");
    assert!(
        message.contains("wasm function `div` failed") && message.contains("divide by zero"),
        "{message}"
    );
    let after = sql(
        Some(&cluster),
        &format!("{setup} SELECT count(*), sum(gcd(a, b)) FROM t"),
    );
    let local = sql(
        None,
        &format!("{setup} SELECT count(*), sum(gcd(a, b)) FROM t"),
    );
    assert_eq!(
        stdout_of(&after, "after a trap", &cluster),
        stdout_of(&local, "locally", &cluster)
    );
}

#[test]
fn an_executor_refuses_a_module_whose_bytes_do_not_match_its_hash() {
    let mut cluster = Cluster::start(0);
    let module = &ferry_test_support::udfs().module;
    let hex = module.id().to_hex();
    // The executor's store holds something else under the module's hash.
    cluster.add_executor(&[], |store| {
        let path = store.join("blobs").join(&hex[..2]);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join(&hex), b"not the module").unwrap();
    });
    let setup = format!("{} {FUNCTIONS}", table(cluster.dir.path()));
    let query = format!("{setup} SELECT g, sum(gcd(a, b)) FROM t GROUP BY g ORDER BY g");
    let remote = sql(Some(&cluster), &query);
    let log = cluster.executors[0].log();
    assert!(log.contains("deleting a damaged blob"), "{log}");
    // Refused, then fetched from the scheduler and checked: the answer is
    // the local one, never one computed by other code.
    let local = sql(None, &query);
    assert_eq!(
        stdout_of(&remote, "after the damaged copy", &cluster),
        stdout_of(&local, "locally", &cluster)
    );
    assert_eq!(cluster.fetches(), [1], "{}", cluster.logs());
}

#[test]
fn an_executor_that_trusts_a_key_runs_only_functions_whose_module_it_signed() {
    let mut cluster = Cluster::start(0);
    let dir = cluster.dir.path().to_owned();
    let ferry_ok = |args: &[&OsStr]| {
        let out = ferry().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
    for key in [&ours, &theirs] {
        ferry_ok(&["keygen".as_ref(), key.as_os_str()]);
    }
    cluster.add_executor(
        &["--trust".as_ref(), dir.join("ours.pub").as_os_str()],
        |_| {},
    );
    let module = &ferry_test_support::udfs().module;
    let module_file = dir.join("udfs.wasm");
    std::fs::write(&module_file, module.bytes()).unwrap();
    let sign = |key: &Path, out: &Path| {
        ferry_ok(&[
            "sign".as_ref(),
            module_file.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
    };
    let query = format!(
        "{} SELECT g, sum(gcd(a, b)) FROM t GROUP BY g ORDER BY g",
        table(&dir)
    );
    let run = |cluster: Option<&Cluster>, extra: &[&OsStr]| {
        let mut command = ferry();
        command
            .args(["sql", "--format", "csv", "-c", &query, "--functions"])
            .arg(&module_file)
            .args(extra);
        if let Some(cluster) = cluster {
            command
                .args(["--cluster", &format!("df://{}", cluster.address)])
                .env("FERRY_TOKEN", TOKEN);
        }
        command.output().unwrap()
    };
    let on_cluster = |extra: &[&OsStr]| run(Some(&cluster), extra);
    let refused = |output: std::process::Output, what: &str| {
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: {message}");
        let says = format!(
            "function `gcd`: module {} is not signed by a key this executor trusts",
            module.id()
        );
        assert!(message.contains(&says), "{what}: {message}");
    };

    // Unsigned, then signed by a key the executor does not trust (sent
    // with --signatures): refused, naming the function and the module.
    refused(on_cluster(&[]), "unsigned");
    let theirs_sig = dir.join("theirs.sig");
    sign(&theirs, &theirs_sig);
    refused(
        on_cluster(&["--signatures".as_ref(), theirs_sig.as_os_str()]),
        "signed by another key",
    );
    // Signed by the trusted key, in `MODULE.sig` beside --functions: runs,
    // with the local answer.
    sign(&ours, &dir.join("udfs.wasm.sig"));
    assert_eq!(
        stdout_of(&on_cluster(&[]), "signed", &cluster),
        stdout_of(&run(None, &[]), "locally", &cluster)
    );
}

#[test]
fn a_cluster_speaks_mutual_tls_to_clients_and_between_its_processes() {
    let (mut ca, mut client_cert) = (None, None);
    let cluster = Cluster::start_with(2, |dir| {
        let authority = Authority::new(dir, "cluster");
        let (cert, key) = authority.issue(dir, "node", &["127.0.0.1", "localhost"]);
        client_cert = Some(authority.issue(dir, "client", &["client"]));
        ca = Some(authority.pem.clone());
        let ca = authority.pem.as_os_str();
        [
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ]
        .into_iter()
        .chain(["--tls-ca".as_ref(), ca, "--tls-mutual".as_ref()])
        .map(OsString::from)
        .collect()
    });
    let (ca, (cert, key)) = (ca.unwrap(), client_cert.unwrap());
    let setup = format!("{} {FUNCTIONS}", table(cluster.dir.path()));
    // Partial aggregates on both executors, merged after a shuffle: the
    // client, the scheduler and both executors all speak to each other.
    let query = format!("{setup} SELECT g, sum(gcd(a, b)) FROM t GROUP BY g ORDER BY g");
    let on_cluster = |tls: &[&OsStr]| {
        ferry()
            .args(["sql", "--format", "csv", "-c", &query])
            .args(["--cluster", &format!("df://{}", cluster.address)])
            .args(tls)
            .env("FERRY_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let with_certificate = on_cluster(&[
        "--tls-ca".as_ref(),
        ca.as_os_str(),
        "--tls-client-cert".as_ref(),
        cert.as_os_str(),
        "--tls-client-key".as_ref(),
        key.as_os_str(),
    ]);
    assert_eq!(
        stdout_of(&with_certificate, "over mutual TLS", &cluster),
        stdout_of(&sql(None, &query), "locally", &cluster)
    );
    assert!(
        cluster.fetches().iter().sum::<usize>() >= 1,
        "{}",
        cluster.logs()
    );

    // Without the client certificate, and in cleartext: refused, saying
    // why.
    for (tls, says) in [
        (
            &["--tls-ca".as_ref(), ca.as_os_str()][..],
            "CertificateRequired",
        ),
        (&[][..], "if the cluster speaks TLS, give its CA: --tls-ca"),
    ] {
        let refused = on_cluster(tls);
        let message = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{message}");
        let scheduler = format!("cannot use the scheduler at {}", cluster.address);
        assert!(
            message.contains(&scheduler) && message.contains(says),
            "{message}"
        );
    }
}

#[test]
fn a_scheduler_off_loopback_refuses_cleartext_unless_told_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let refused = ferry()
        .args(["scheduler", "--listen", "0.0.0.0:0", "--store"])
        .arg(dir.path())
        .env("FERRY_TOKEN", TOKEN)
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{message}");
    assert!(
        message.contains("refusing to serve cleartext on 0.0.0.0")
            && message.contains("--insecure"),
        "{message}"
    );
}

#[test]
fn an_executor_killed_in_the_middle_of_a_query_leaves_the_right_answer() {
    let mut cluster = Cluster::start(2);
    let setup = format!("{} {FUNCTIONS}", table_of(cluster.dir.path(), 8, 100_000));
    let query = format!(
        "{setup} SELECT g, sum(gcd(a, b)), round(geo_mean(DISTINCT x), 9) FROM t GROUP BY g ORDER BY g"
    );
    let local = sql(None, &query);
    let local = stdout_of(&local, "locally", &cluster);
    let remote = ferry()
        .args(["sql", "--format", "csv", "-c", &query])
        .args(["--cluster", &format!("df://{}", cluster.address)])
        .env("FERRY_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first executor to start on the query's tasks (it fetches the
    // module to decode them) dies, its work and shuffle output with it.
    let started = std::time::Instant::now();
    let victim = loop {
        if let Some(n) = cluster.fetches().iter().position(|&n| n > 0) {
            break n;
        }
        assert!(started.elapsed().as_secs() < 60, "{}", cluster.logs());
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    cluster.kill_executor(victim);
    let remote = remote.wait_with_output().unwrap();
    // Ballista gives the lost tasks to the executor left: the answer is the
    // local one.
    assert_eq!(
        stdout_of(&remote, "with an executor killed", &cluster),
        local
    );
    // It did die in the middle: the scheduler gave its tasks to the other.
    let log = cluster.scheduler.log();
    assert!(log.contains("on lost Executor"), "{log}");
    let again = sql(Some(&cluster), &query);
    assert_eq!(stdout_of(&again, "the next query", &cluster), local);
}

#[test]
fn a_cluster_reads_tables_in_a_bucket_where_the_executors_are() {
    let s3_dir = tempfile::tempdir().unwrap();
    let server = S3Server::start(&s3_dir.path().join("s3"), &["numbers"]);
    let mut cluster = Cluster::start_full(0, |_| Vec::new(), server.env());
    for _ in 0..2 {
        let objects = ["--objects", "s3://numbers/labels/"].map(OsStr::new);
        cluster.add_executor(&objects, |_| {});
    }
    // Parquet files written locally, then put in the bucket.
    let setup = table(cluster.dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bucket = server.bucket("numbers");
    let local = cluster.dir.path().join("numbers");
    for file in std::fs::read_dir(&local).unwrap() {
        let file = file.unwrap();
        let key = ObjectPath::from(format!("t/{}", file.file_name().to_string_lossy()));
        let bytes = std::fs::read(file.path()).unwrap();
        runtime
            .block_on(bucket.put(&key, PutPayload::from(bytes)))
            .unwrap();
    }
    let query = "SELECT g, count(*), sum(gcd(a, b)) FROM t GROUP BY g ORDER BY g";
    let on_disk = sql(None, &format!("{setup} {FUNCTIONS} {query}"));
    let on_disk = stdout_of(&on_disk, query, &cluster);
    assert_eq!(on_disk.lines().count(), 8, "{on_disk}");
    let in_bucket = sql(
        Some(&cluster),
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://numbers/t/'; {FUNCTIONS} {query}"
        ),
    );
    assert_eq!(stdout_of(&in_bucket, query, &cluster), on_disk);

    // A function whose lookup table is an object: the executors read it,
    // the client only names it.
    let labels = ["zero", "one", "two", "three", "four"];
    runtime
        .block_on(bucket.put(
            &ObjectPath::from("labels/g.txt"),
            PutPayload::from(labels.join("\n")),
        ))
        .unwrap();
    let closure = cluster.dir.path().join("label.closure");
    let pickled = ferry_without_aws()
        .envs(cluster.env.iter().cloned())
        .args(["pickle", "examples/udfs", "label", "--output"])
        .arg(&closure)
        .args(["--blob", "labels=s3://numbers/labels/g.txt"])
        .output()
        .unwrap();
    stdout_of(&pickled, "pickle", &cluster);
    let query = "SELECT g, label(g) AS l, count(*) AS n FROM t GROUP BY g ORDER BY g";
    let labelled = sql(
        Some(&cluster),
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://numbers/t/'; \
             CREATE FUNCTION label AS '{}' LANGUAGE wasm; {query}",
            closure.display()
        ),
    );
    let mut expected = String::from("g,l,n\n");
    for line in on_disk.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let label = labels.get(fields[0].parse::<usize>().unwrap());
        let label = label.copied().unwrap_or_default();
        expected.push_str(&format!("{},{label},{}\n", fields[0], fields[1]));
    }
    assert_eq!(stdout_of(&labelled, query, &cluster), expected);
}
