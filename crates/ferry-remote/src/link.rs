//! One worker as the client sees it: an HTTP/2 connection (made on demand,
//! remade after a failure), what the worker is known to hold, and its load.

use crate::RemoteError;
use crate::batches::{Answer, Batches};
use bytes::Bytes;
use ferry_host::executor::Job;
use ferry_host::{Closure, ContentHash, Encoding, Error, Output, Value};
use ferry_protocol::signature::ModuleSignature;
use ferry_protocol::tls::ClientTls;
use ferry_protocol::{
    Body, INFO, INLINE_LIMIT, Info, MISSING, MSGPACK, MissingRequest, MissingResponse, Payload,
    Problem, RunRequest, RunResponse, StoreResults,
};
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How one attempt at a job ended, if not with a result.
pub(crate) enum Attempt {
    /// Retrying cannot help: the guest failed, or the worker refused.
    Final(Error),
    /// The worker could not be reached or failed; another may succeed.
    Retry(Error),
}

impl From<Attempt> for Error {
    fn from(attempt: Attempt) -> Error {
        match attempt {
            Attempt::Final(error) | Attempt::Retry(error) => error,
        }
    }
}

/// Slots assumed for a worker until its info says otherwise.
const DEFAULT_SLOTS: usize = 2;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Link {
    address: String,
    base: String,
    authorization: HeaderValue,
    sender: Mutex<Option<SendRequest<Body>>>,
    /// The task driving the connection, which says why it ended if it
    /// failed: requests on it see only that it was closed.
    driver: Mutex<Option<tokio::task::JoinHandle<Option<String>>>>,
    /// Held while connecting, so that one connection is made at a time.
    connecting: tokio::sync::Mutex<()>,
    /// Held while uploading code, so that concurrent first tasks upload once.
    uploading: tokio::sync::Mutex<()>,
    known: Mutex<HashSet<ContentHash>>,
    down: Mutex<Option<(Instant, Instant)>>,
    in_flight: AtomicUsize,
    /// Run requests in flight, and tasks waiting to go together.
    pub(crate) batches: Batches,
    slots: AtomicUsize,
    /// Signatures of modules, sent with the jobs that use them.
    signatures: Arc<HashMap<ContentHash, Vec<ModuleSignature>>>,
    /// How to speak TLS to the worker, and the name its certificate has.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl Link {
    /// The rustls settings of `tls`, as links take them.
    pub fn tls_config(tls: Option<&ClientTls>) -> Result<Option<Arc<rustls::ClientConfig>>, Error> {
        tls.map(ClientTls::config)
            .transpose()
            .map_err(|e| Error::Engine(e.to_string()))
    }

    pub fn new(
        address: &str,
        token: &str,
        signatures: Arc<HashMap<ContentHash, Vec<ModuleSignature>>>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Link, Error> {
        let secure = address.starts_with("https://");
        let authority = address
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let bad = |reason: String| {
            Error::Engine(format!(
                "`{address}` is not a worker address (host:port): {reason}"
            ))
        };
        let parsed: http::uri::Authority = authority
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        if parsed.port_u16().is_none() {
            return Err(bad("it has no port".into()));
        }
        let tls = match tls {
            Some(config) => {
                let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| bad(format!("`{host}` cannot name a TLS server: {e}")))?;
                Some((tokio_rustls::TlsConnector::from(config), name))
            }
            None if secure => {
                return Err(bad(
                    "it is https, but no CA to check its certificate against was given (--tls-ca, RemoteBuilder::tls)"
                        .into(),
                ));
            }
            None => None,
        };
        let authorization =
            HeaderValue::from_str(&ferry_protocol::bearer(token)).map_err(|_| {
                Error::Engine("the token contains characters a header cannot carry".into())
            })?;
        Ok(Link {
            address: authority.to_owned(),
            base: format!(
                "{}://{authority}",
                if tls.is_some() { "https" } else { "http" }
            ),
            authorization,
            sender: Mutex::default(),
            driver: Mutex::default(),
            connecting: tokio::sync::Mutex::default(),
            uploading: tokio::sync::Mutex::default(),
            known: Mutex::default(),
            down: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            batches: Batches::default(),
            slots: AtomicUsize::new(DEFAULT_SLOTS),
            signatures,
            tls,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn slots(&self) -> usize {
        self.slots.load(Ordering::Relaxed)
    }

    pub fn load_per_slot(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed) * 1024 / self.slots().max(1)
    }

    pub fn is_down(&self) -> bool {
        self.down
            .lock()
            .is_some_and(|(_, until)| Instant::now() < until)
    }

    /// Since when the worker has been unreachable, while it is.
    pub fn down_since(&self) -> Option<Instant> {
        self.down
            .lock()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(since, _)| since)
    }

    pub fn mark_down(&self, for_at_least: Duration) {
        let now = Instant::now();
        let mut down = self.down.lock();
        let since = down
            .filter(|(_, until)| now < *until)
            .map_or(now, |(since, _)| since);
        *down = Some((since, now + for_at_least));
        self.sender.lock().take();
    }

    /// Asks the worker how many slots it has, to weigh the load.
    pub async fn learn_slots(self: Arc<Self>) {
        if let Ok((StatusCode::OK, body)) = self.send(Method::GET, INFO, Body::default()).await
            && let Ok(info) = serde_json::from_slice::<Info>(&body)
        {
            self.slots.store(info.slots.max(1), Ordering::Relaxed);
        }
    }

    /// One attempt at `job` on this worker.
    pub async fn run(
        self: &Arc<Self>,
        job: &Job,
        uploaded: &AtomicU64,
        store_results: Option<&StoreResults>,
    ) -> Result<Output, Attempt> {
        // A guard, so that an attempt dropped by a timeout or a cancellation
        // still leaves the count right.
        struct InFlight<'a>(&'a AtomicUsize);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight(&self.in_flight);
        let result = self.run_counted(job, uploaded, store_results).await;
        if result.is_ok() {
            self.down.lock().take();
        }
        result
    }

    async fn run_counted(
        self: &Arc<Self>,
        job: &Job,
        uploaded: &AtomicU64,
        store_results: Option<&StoreResults>,
    ) -> Result<Output, Attempt> {
        let mut request = RunRequest {
            closure: job.closure.to_bytes(Encoding::ByReference).into(),
            inputs: Vec::new(),
            reduce: job
                .reduce
                .as_ref()
                .map(|r| r.to_bytes(Encoding::ByReference).into()),
            signatures: self.signatures_of(job.closures()),
            store_results: store_results.cloned(),
        };
        // Another round only if the worker lost code it was thought to have
        // (evicted from its cache, or restarted on an empty disk): then all of
        // the job's code is checked again, and what is missing sent at once.
        let mut rounds = 0;
        loop {
            self.ensure_code(job.closures(), uploaded).await?;
            request.inputs = self.inputs(job, uploaded).await?;
            let answer = self
                .run_request(
                    ferry_protocol::encode(&request).into(),
                    request.store_results.is_none(),
                )
                .await?;
            match answer {
                Answer::Ran(RunResponse::Done {
                    value,
                    stdout,
                    stderr,
                }) => {
                    return Ok(Output {
                        value: self.fetch(value).await?,
                        stdout: stdout.into(),
                        stderr: stderr.into(),
                    });
                }
                Answer::Ran(RunResponse::Failed(failure)) => {
                    return Err(Attempt::Final(Error::Call(Box::new(failure))));
                }
                Answer::Refused(StatusCode::CONFLICT, _) if rounds < 2 => {
                    rounds += 1;
                    self.forget_code(job.closures());
                }
                Answer::Refused(status, body) => return Err(self.rejection(status, &body)),
            }
        }
    }

    /// The signatures known for the modules of `closures`.
    pub fn signatures_of<'a>(
        &self,
        closures: impl IntoIterator<Item = &'a Closure>,
    ) -> Vec<ModuleSignature> {
        closures
            .into_iter()
            .filter_map(|closure| self.signatures.get(&closure.module().id()))
            .flatten()
            .cloned()
            .collect()
    }

    /// Uploads whatever modules and blobs of `closures` the worker lacks.
    pub async fn ensure_code<'a>(
        &self,
        closures: impl IntoIterator<Item = &'a Closure>,
        uploaded: &AtomicU64,
    ) -> Result<(), Attempt> {
        let closures: Vec<&Closure> = closures.into_iter().collect();
        if self.knows_code_of(&closures) {
            return Ok(());
        }
        // Boxed, as every path a task rarely takes: a task's future is moved
        // whole when it is spawned, and these would make it several times
        // larger.
        Box::pin(self.upload_unknown(&closures, uploaded)).await
    }

    /// Whether the worker is known to hold every module and blob of
    /// `closures`: the usual case, checked on every request.
    fn knows_code_of(&self, closures: &[&Closure]) -> bool {
        let known = self.known.lock();
        closures
            .iter()
            .flat_map(|closure| hashes_of(closure))
            .all(|hash| known.contains(&hash))
    }

    /// Asks the worker which modules and blobs of `closures` it lacks, and
    /// uploads those.
    async fn upload_unknown(
        &self,
        closures: &[&Closure],
        uploaded: &AtomicU64,
    ) -> Result<(), Attempt> {
        let _one_at_a_time = self.uploading.lock().await;
        let mut unknown: Vec<(ContentHash, Bytes)> = {
            let known = self.known.lock();
            closures
                .iter()
                .flat_map(|closure| code_of(closure))
                .filter(|(hash, _)| !known.contains(hash))
                .collect()
        };
        // A mapper and its reducer share their module: it goes up once.
        let mut seen = std::collections::HashSet::new();
        unknown.retain(|(hash, _)| seen.insert(*hash));
        if unknown.is_empty() {
            return Ok(());
        }
        let missing = self
            .missing(unknown.iter().map(|(hash, _)| *hash).collect())
            .await?;
        for (hash, bytes) in &unknown {
            if missing.contains(hash) {
                self.upload(hash, bytes.clone(), uploaded).await?;
            }
        }
        self.known
            .lock()
            .extend(unknown.into_iter().map(|(hash, _)| hash));
        Ok(())
    }

    /// Which of `hashes` the worker lacks. Asked for none, it shows that the
    /// worker can be reached and takes the token.
    pub async fn missing(&self, hashes: Vec<ContentHash>) -> Result<Vec<ContentHash>, Attempt> {
        let asked = MissingRequest { hashes };
        let (status, body) = self
            .send(
                Method::POST,
                MISSING,
                Body::new(ferry_protocol::encode(&asked)),
            )
            .await?;
        if status != StatusCode::OK {
            return Err(self.rejection(status, &body));
        }
        let missing: MissingResponse = self.decode(&body)?;
        Ok(missing.missing)
    }

    /// Forgets that the worker holds the code of `closures`, so that the
    /// next [`ensure_code`](Self::ensure_code) asks again.
    pub fn forget_code<'a>(&self, closures: impl IntoIterator<Item = &'a Closure>) {
        let mut known = self.known.lock();
        for hash in closures.into_iter().flat_map(hashes_of) {
            known.remove(&hash);
        }
    }

    /// Inputs inline, or uploaded first when they are large.
    async fn inputs(&self, job: &Job, uploaded: &AtomicU64) -> Result<Vec<Payload>, Attempt> {
        let mut inputs = Vec::with_capacity(job.inputs.len());
        for input in &job.inputs {
            let bytes = Bytes::copy_from_slice(input.as_bytes());
            if bytes.len() <= INLINE_LIMIT {
                inputs.push(Payload::Inline(bytes));
            } else {
                // Hashed off the client's one thread, which every task shares.
                let (hash, bytes) =
                    tokio::task::spawn_blocking(move || (ContentHash::of(&bytes), bytes))
                        .await
                        .map_err(|e| Attempt::Final(Error::Internal(e.to_string())))?;
                self.upload(&hash, bytes, uploaded).await?;
                inputs.push(Payload::Blob(hash));
            }
        }
        Ok(inputs)
    }

    pub async fn upload(
        &self,
        hash: &ContentHash,
        bytes: Bytes,
        uploaded: &AtomicU64,
    ) -> Result<(), Attempt> {
        let len = bytes.len() as u64;
        let (status, body) = self
            .send(
                Method::PUT,
                &ferry_protocol::blob_path(hash),
                Body::new(bytes),
            )
            .await?;
        if !status.is_success() {
            return Err(self.rejection(status, &body));
        }
        uploaded.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// A result's bytes, downloading it if it came as a blob.
    async fn fetch(&self, payload: Payload) -> Result<Value, Attempt> {
        let hash = match payload {
            Payload::Inline(bytes) => return Ok(Value::from_msgpack(bytes.into())),
            Payload::Blob(hash) => hash,
        };
        let body = Box::pin(self.download(&hash, "downloaded result")).await?;
        Ok(Value::from_msgpack(body.into()))
    }

    /// The blob `hash` names, checked against it: `what` names it in the
    /// error if the bytes do not match.
    pub async fn download(&self, hash: &ContentHash, what: &'static str) -> Result<Bytes, Attempt> {
        let (status, body) = self
            .send(
                Method::GET,
                &ferry_protocol::blob_path(hash),
                Body::default(),
            )
            .await?;
        if status != StatusCode::OK {
            return Err(self.rejection(status, &body));
        }
        let actual = ContentHash::of(&body);
        if actual != *hash {
            return Err(Attempt::Retry(Error::HashMismatch {
                what,
                expected: *hash,
                actual,
            }));
        }
        Ok(body)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<(StatusCode, Bytes), Attempt> {
        let response = self.request(method, path, body).await?;
        let status = response.status();
        match response.into_body().collect().await {
            Ok(body) => Ok((status, body.to_bytes())),
            Err(e) => Err(self.failed(e).await),
        }
    }

    /// A request's answer, its body still to come.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<http::Response<hyper::body::Incoming>, Attempt> {
        let mut sender = self.sender().await?;
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::CONTENT_TYPE, MSGPACK)
            .body(body)
            .map_err(|e| Attempt::Final(Error::Engine(e.to_string())))?;
        let exchange = async {
            sender.ready().await?;
            sender.send_request(request).await
        };
        match exchange.await {
            Ok(response) => Ok(response),
            Err(e) => Err(self.failed(e).await),
        }
    }

    /// What an attempt comes to when its connection failed under it: the
    /// connection is remade for the next request.
    pub async fn failed(&self, e: hyper::Error) -> Attempt {
        self.sender.lock().take();
        let mut reason = with_causes(&e);
        if (e.is_canceled() || e.is_closed())
            && let Some(why) = Box::pin(self.why_ended()).await
        {
            reason = format!("{reason}; the connection ended: {why}");
        }
        Attempt::Retry(self.transport(reason))
    }

    /// Why the connection ended, if its driver says so soon: it may still
    /// be reading the last bytes (a TLS alert, say) when a request fails.
    async fn why_ended(&self) -> Option<String> {
        let driver = self.driver.lock().take()?;
        let soon = tokio::time::timeout(Duration::from_millis(200), driver).await;
        soon.ok()?.ok()?
    }

    /// The connection, made if there is none or the last one failed.
    async fn sender(&self) -> Result<SendRequest<Body>, Attempt> {
        if let Some(sender) = self.sender.lock().as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        Box::pin(self.connect()).await
    }

    /// A new connection; one is made at a time.
    async fn connect(&self) -> Result<SendRequest<Body>, Attempt> {
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(sender) = self.sender.lock().as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let retry = |reason: String| Attempt::Retry(self.transport(reason));
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect(&self.address),
        )
        .await
        .map_err(|_| retry(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| retry(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let sender = match &self.tls {
            None => self.handshake(stream).await,
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), stream).await.map_err(|e| {
                    let reason = format!("TLS handshake failed: {e}");
                    // A certificate the client cannot trust will not
                    // become trustworthy on the next attempt.
                    match e.kind() {
                        std::io::ErrorKind::InvalidData => Attempt::Final(self.transport(reason)),
                        _ => retry(reason),
                    }
                })?;
                self.handshake(stream).await
            }
        }
        .map_err(|e| retry(with_causes(&e)))?;
        *self.sender.lock() = Some(sender.clone());
        Ok(sender)
    }

    /// HTTP/2 over `stream`, its connection driven in the background.
    async fn handshake<S>(&self, stream: S) -> Result<SendRequest<Body>, hyper::Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await?;
        let address = self.address.clone();
        let driver = tokio::spawn(async move {
            let error = connection.await.err()?;
            tracing::debug!(worker = address, error = %error, "connection ended");
            Some(with_causes(&error))
        });
        *self.driver.lock() = Some(driver);
        Ok(sender)
    }

    /// A reply's message; one that does not decode is a transport failure,
    /// worth trying elsewhere.
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T, Attempt> {
        ferry_protocol::decode(body).map_err(|e| Attempt::Retry(self.transport(e.to_string())))
    }

    pub(crate) fn transport(&self, reason: String) -> Error {
        self.transport_error(reason).into()
    }

    pub(crate) fn transport_error(&self, reason: String) -> RemoteError {
        RemoteError::Transport {
            worker: self.address.clone(),
            reason,
        }
    }

    fn rejected(&self, status: StatusCode, reason: String) -> Error {
        RemoteError::Rejected {
            worker: self.address.clone(),
            status: status.as_u16(),
            reason,
        }
        .into()
    }

    /// A non-success answer: worth retrying elsewhere only if the worker
    /// itself is in trouble.
    pub fn rejection(&self, status: StatusCode, body: &[u8]) -> Attempt {
        let reason = serde_json::from_slice::<Problem>(body)
            .map(|problem| problem.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
        let error = self.rejected(status, reason);
        if status.is_server_error() {
            Attempt::Retry(error)
        } else {
            Attempt::Final(error)
        }
    }
}

/// An error and what caused it, on one line: hyper's own message is often
/// just "connection error", and the reason (a TLS alert, say) is a cause.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let more = next.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = next.source();
    }
    text
}

/// The hashes of a closure's module and of the blobs it carries.
fn hashes_of(closure: &Closure) -> impl Iterator<Item = ContentHash> + '_ {
    std::iter::once(closure.module().id()).chain(closure.carried_blobs().map(|(_, blob)| blob.id()))
}

/// A closure's module and blobs, by hash, ready to upload without copying.
fn code_of(closure: &Closure) -> Vec<(ContentHash, Bytes)> {
    let module = closure.module();
    std::iter::once((module.id(), Bytes::from_owner(module.bytes().clone())))
        .chain(
            closure
                .carried_blobs()
                .map(|(_, blob)| (blob.id(), Bytes::from_owner(blob.bytes().clone()))),
        )
        .collect()
}
