//! Request handling: authentication, then one function per endpoint.

use crate::tokens::Scope;
use crate::{State, actors, endpoints};
use bytes::Bytes;
use ferry_host::{Blob, Closure, ContentHash, Error, Executor, Job, Resolve, Task, Value};
use ferry_protocol::actor::{ACTORS, SNAPSHOT};
use ferry_protocol::endpoint::{ENDPOINTS, FUNCTIONS};
use ferry_protocol::many::{Frames, MAX_RUNS, RUN_MANY, RunManyItem, RunOutcome, push_frame};
use ferry_protocol::signature::ModuleSignature;
use ferry_protocol::{
    BLOBS, Body, HEALTH, INFO, INLINE_LIMIT, Info, MISSING, MSGPACK, MissingRequest,
    MissingResponse, Payload, Problem, RUN, RunRequest, RunResponse, StoreResults,
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

pub(crate) type Reply = Response<Body>;

/// What a request's body may be: hyper's own, or that of a server the
/// worker's endpoints are mounted in (see `WorkerService`).
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static> + Send + Unpin
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: std::error::Error + Send + Sync + 'static>
        + Send
        + Unpin
{
}

pub(crate) async fn handle(
    state: Arc<State>,
    request: Request<impl RequestBody>,
) -> Result<Reply, Infallible> {
    let path = request.uri().path().to_owned();
    if path == HEALTH && request.method() == Method::GET {
        return Ok(Response::new(Body::new(b"ok".to_vec())));
    }
    // A deployed function has its own callers, not the worker's.
    if let Some(name) = path.strip_prefix(FUNCTIONS) {
        return Ok(match *request.method() {
            Method::POST => endpoints::invoke(state, name, request).await,
            _ => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("call a function with POST {path}"),
            ),
        });
    }
    // `/v1/endpoints/<name>`.
    let endpoint = path
        .strip_prefix(ENDPOINTS)
        .and_then(|rest| rest.strip_prefix('/'));
    let deployment = path == ENDPOINTS || endpoint.is_some();
    // `/v1/actors/<id>` and `/v1/actors/<id>/call`.
    let actor = path
        .strip_prefix(ACTORS)
        .and_then(|rest| rest.strip_prefix('/'));
    let actor_call = actor.and_then(|rest| rest.strip_suffix("/call"));
    let actor_snapshot = actor.and_then(|rest| rest.strip_suffix(&format!("/{SNAPSHOT}")));
    let needs = match (request.method(), path.as_str()) {
        (&Method::GET, INFO) => [Scope::Run, Scope::Admin].as_slice(),
        (&Method::GET, ENDPOINTS | ACTORS) => &[Scope::Deploy, Scope::Admin],
        _ if deployment => &[Scope::Deploy],
        (&Method::POST, ACTORS) => &[Scope::Deploy],
        _ if actor_call.is_some() => &[Scope::Run],
        _ if actor.is_some() => &[Scope::Deploy],
        // Code is uploaded to run it or to deploy it.
        (_, MISSING) => &[Scope::Run, Scope::Deploy],
        (_, path) if path.starts_with(BLOBS) => &[Scope::Run, Scope::Deploy],
        _ => &[Scope::Run],
    };
    let Some(scopes) =
        presented_token(&request).and_then(|token| state.config.tokens.scopes(token))
    else {
        return Ok(problem(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong token: send `authorization: Bearer <token>`".into(),
        ));
    };
    if !needs.iter().any(|&scope| scopes.contains(scope)) {
        let names: Vec<_> = needs.iter().map(|scope| scope.name()).collect();
        return Ok(problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} {path} needs a token with the `{}` scope, which this token lacks",
                request.method(),
                names.join("` or `")
            ),
        ));
    }
    let reply = match (request.method(), path.as_str()) {
        (&Method::GET, INFO) => info(&state),
        (&Method::POST, MISSING) => missing(&state, request).await,
        (&Method::POST, RUN) => run(state.clone(), request).await,
        (&Method::POST, RUN_MANY) => run_many(state.clone(), request).await,
        (&Method::PUT, path) if path.starts_with(BLOBS) => {
            upload(&state, &path[BLOBS.len()..], request).await
        }
        (&Method::GET, path) if path.starts_with(BLOBS) => {
            let hex = path[BLOBS.len()..].to_owned();
            let state = state.clone();
            blocking(move || download(&state, &hex)).await
        }
        (&Method::GET, ENDPOINTS) => endpoints::list(&state),
        (&Method::GET, ACTORS) => actors::list(&state),
        (&Method::POST, ACTORS) => actors::spawn(state.clone(), request).await,
        (&Method::POST, _) if actor_call.is_some() => {
            let id = actor_call.unwrap_or_default().to_owned();
            actors::call(state.clone(), &id, request).await
        }
        (&Method::POST, _) if actor_snapshot.is_some() => {
            actors::snapshot(state.clone(), actor_snapshot.unwrap_or_default()).await
        }
        (&Method::DELETE, _) if actor.is_some() && actor_call.is_none() => {
            actors::stop(&state, actor.unwrap_or_default())
        }
        (&Method::PUT, _) if endpoint.is_some() => {
            let name = endpoint.unwrap_or_default().to_owned();
            endpoints::deploy(state.clone(), &name, request).await
        }
        (&Method::DELETE, _) if endpoint.is_some() => {
            endpoints::undeploy(&state, endpoint.unwrap_or_default())
        }
        (method, path) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint {method} {path}"),
        ),
    };
    Ok(reply)
}

/// The bearer token of `request`, if it has one.
pub(crate) fn presented_token<B>(request: &Request<B>) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        // The scheme is case-insensitive (RFC 9110, 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start_matches(' '))
}

/// The refusal for a job with a module no trusted key signed, if the worker
/// runs only signed code. A module's signature is checked once; later jobs
/// of it need not carry it.
pub(crate) fn untrusted<'a>(
    state: &State,
    closures: impl IntoIterator<Item = &'a Closure>,
    signatures: &[ModuleSignature],
) -> Option<Reply> {
    let trust = state.config.trust.as_ref()?;
    let mut modules = closures.into_iter().map(|c| c.module().id());
    let unsigned = modules.find(|module| {
        if state.signed.lock().contains(module) {
            return false;
        }
        let admitted = trust.admits(module, signatures);
        if admitted {
            state.signed.lock().insert(*module);
        }
        !admitted
    })?;
    Some(problem(
        StatusCode::FORBIDDEN,
        "untrusted_module",
        format!(
            "module {unsigned} is not signed by a key this worker trusts; sign it with `ferry sign` and send its signature with the job"
        ),
    ))
}

/// The closure `bytes` encode by reference, resolved from the store (off
/// the serving threads), if the worker may run its module: what deploying
/// a function and spawning an actor start from.
pub(crate) async fn closure_to_keep(
    state: &Arc<State>,
    bytes: Bytes,
    signatures: &[ModuleSignature],
) -> Result<Closure, Reply> {
    let resolving = state.clone();
    let closure = blocking(move || Closure::from_bytes_with(&bytes, Some(&*resolving)))
        .await
        .map_err(refusal)?;
    if let Some(refused) = untrusted(state, [&closure], signatures) {
        return Err(refused);
    }
    // Kept closures run outside the executor, which reads objects for the
    // jobs it runs: theirs are read once, here.
    let reading = state.clone();
    blocking(move || closure.read_objects(&*reading.objects))
        .await
        .map_err(refusal)
}

fn info(state: &State) -> Reply {
    let (queued, running) = state.executor.load();
    let info = Info {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        abi: ferry_host::ABI_VERSION,
        slots: state.config.slots,
        running,
        queued,
        modules: state
            .modules
            .lock()
            .keys()
            .map(ContentHash::to_string)
            .collect(),
        cache_bytes: state.cache.used(),
        cache_limit: state.cache.limit(),
        run_requests: state.served.requests.load(Ordering::Relaxed),
        tasks: state.served.tasks.load(Ordering::Relaxed),
    };
    json(StatusCode::OK, &info)
}

async fn missing(state: &State, request: Request<impl RequestBody>) -> Reply {
    let asked: MissingRequest = match read_message(state, request).await {
        Ok(asked) => asked,
        Err(reply) => return reply,
    };
    let missing = asked
        .hashes
        .into_iter()
        .filter(|hash| !state.config.store.contains(hash))
        .collect();
    msgpack(&MissingResponse { missing })
}

async fn run(state: Arc<State>, request: Request<impl RequestBody>) -> Reply {
    let run: RunRequest = match read_message(&state, request).await {
        Ok(run) => run,
        Err(reply) => return reply,
    };
    state.served.count(1);
    match run_one(state, run).await {
        Ok(response) => msgpack(&response),
        Err(refused) => refused,
    }
}

/// Many tasks of one client: each runs as if sent alone, and its outcome
/// goes back as soon as it is known, whatever the others are doing.
async fn run_many(state: Arc<State>, request: Request<impl RequestBody>) -> Reply {
    let body = match read_body(&state, &state.bodies, request).await {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    let mut frames = Frames::from(Bytes::from(body));
    let mut runs = Vec::new();
    loop {
        match frames.message::<RunRequest>() {
            Ok(Some(run)) if runs.len() < MAX_RUNS => runs.push(run),
            Ok(Some(_)) => {
                return problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("a request may carry at most {MAX_RUNS} tasks"),
                );
            }
            Ok(None) if frames.is_empty() && runs.is_empty() => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    "the request carries no task".into(),
                );
            }
            Ok(None) if frames.is_empty() => break,
            Ok(None) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "malformed",
                    "the request ends inside a frame".into(),
                );
            }
            Err(e) => return problem(StatusCode::BAD_REQUEST, "malformed", e.to_string()),
        }
    }
    state.served.count(runs.len() as u64);
    let running: FuturesUnordered<_> = runs
        .into_iter()
        .zip(0u32..)
        .map(|(run, index)| {
            let state = state.clone();
            async move {
                let outcome = match run_one(state, run).await {
                    Ok(response) => RunOutcome::Ran(response),
                    Err(refused) => RunOutcome::Refused {
                        status: refused.status().as_u16(),
                        body: refused.into_body().into_bytes().unwrap_or_default(),
                    },
                };
                RunManyItem { index, outcome }
            }
        })
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, MSGPACK)
        .body(Body::streamed(Outcomes(running)))
        .expect("a valid response")
}

/// The answer to a `run-many` request: a frame per task as each finishes.
/// Dropped with its connection, it drops the tasks, which cancels those
/// still queued.
struct Outcomes<F>(FuturesUnordered<F>);

impl<F: Future<Output = RunManyItem>> http_body::Body for Outcomes<F> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        // Every outcome ready now goes in one frame.
        let mut frames = Vec::new();
        while let Poll::Ready(Some(item)) = self.0.poll_next_unpin(cx) {
            push_frame(&mut frames, &ferry_protocol::encode(&item));
        }
        if !frames.is_empty() {
            Poll::Ready(Some(Ok(http_body::Frame::data(frames.into()))))
        } else if self.0.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// One task, answered as `POST /v1/run` answers it.
async fn run_one(state: Arc<State>, mut run: RunRequest) -> Result<RunResponse, Reply> {
    let signatures = std::mem::take(&mut run.signatures);
    let store_results = run.store_results.take();
    let input_blobs: Vec<ContentHash> = run
        .inputs
        .iter()
        .filter_map(|input| match input {
            Payload::Blob(hash) => Some(*hash),
            Payload::Inline(_) => None,
        })
        .collect();
    // Usually every module is in memory and no blob is involved; only when
    // something must be read and hashed from disk does resolving move off
    // the threads that serve requests.
    let in_memory = InMemory {
        state: &state,
        missed: Cell::new(false),
    };
    let max_inputs = state.config.max_blob.min(state.cache.limit());
    let resolved = match job(&in_memory, &run, max_inputs) {
        Err(_) if in_memory.missed.get() => {
            let state = state.clone();
            blocking(move || job(&*state, &run, max_inputs)).await
        }
        resolved => resolved,
    };
    let job = resolved.map_err(refusal)?;
    if let Some(refused) = untrusted(&state, job.closures(), &signatures) {
        return Err(refused);
    }
    let _pinned = state.cache.pin(needs(&job, input_blobs));
    // If the client goes away, the job is cancelled: skipped if still queued.
    let outcome = CancelOnDrop(Some(state.executor.submit_job(job))).await;
    let response = match outcome {
        Ok(output) => RunResponse::Done {
            value: payload(&state, output.value, store_results.as_ref())
                .await
                .map_err(refusal)?,
            stdout: output.stdout.into(),
            stderr: output.stderr.into(),
        },
        Err(Error::Call(failure)) => RunResponse::Failed(*failure),
        Err(e) => return Err(refusal(e)),
    };
    if state.cache.recount_due() {
        let recount = state.clone();
        blocking(move || recount.cache.recount(|hash| recount.in_memory(hash))).await;
    }
    Ok(response)
}

/// What a job reads from the store: its modules, its blobs and the blobs
/// its inputs came in.
pub(crate) fn needs(job: &Job, input_blobs: Vec<ContentHash>) -> Vec<ContentHash> {
    let closures = std::iter::once(&job.closure).chain(&job.reduce);
    let code = closures.flat_map(|closure| {
        std::iter::once(closure.module().id()).chain(closure.blobs().values().map(|b| b.id()))
    });
    code.chain(input_blobs).collect()
}

/// Resolves a run request into a job; a reference the store cannot resolve
/// becomes a `missing` answer naming it.
/// Inputs held in memory for one job come to at most `max_inputs` bytes.
fn job(resolver: &dyn Resolve, run: &RunRequest, max_inputs: u64) -> Result<Job, Error> {
    let closure = Closure::from_bytes_with(&run.closure, Some(resolver))?;
    let reduce = run
        .reduce
        .as_ref()
        .map(|bytes| Closure::from_bytes_with(bytes, Some(resolver)))
        .transpose()?;
    let mut held = 0;
    let inputs = run
        .inputs
        .iter()
        .map(|input| {
            let value = match input {
                Payload::Inline(bytes) => Value::from_msgpack(bytes.to_vec()),
                Payload::Blob(hash) => Value::from_msgpack(resolver.blob(hash)?.bytes().to_vec()),
            };
            held += value.as_bytes().len() as u64;
            if held > max_inputs {
                return Err(Error::Decode {
                    what: "run request",
                    reason: format!(
                        "its inputs come to more than {max_inputs} bytes, the most one blob may have"
                    ),
                });
            }
            Ok(value)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if inputs.is_empty() {
        return Err(Error::Decode {
            what: "run request",
            reason: "it has no inputs".into(),
        });
    }
    Ok(Job {
        closure,
        inputs,
        reduce,
    })
}

/// A result small enough travels inline; a larger one goes to the object
/// the client named, or else is stored here (off the serving threads) for
/// the client to download.
async fn payload(
    state: &Arc<State>,
    value: Value,
    store_results: Option<&StoreResults>,
) -> Result<Payload, Error> {
    if let Some(to) = store_results
        && value.as_bytes().len() as u64 > to.over
    {
        let stored = state.objects.put_value(&to.object, &value).await?;
        return Ok(Payload::Inline(stored.into_bytes().into()));
    }
    if value.as_bytes().len() <= INLINE_LIMIT {
        return Ok(Payload::Inline(value.into_bytes().into()));
    }
    let state = state.clone();
    blocking(move || {
        let hash = state.config.store.put(value.as_bytes())?;
        // Kept until the next eviction, which takes it last: the client
        // downloads it at once.
        state.cache.added(value.as_bytes().len() as u64, |stored| {
            *stored == hash || state.in_memory(stored)
        });
        Ok(Payload::Blob(hash))
    })
    .await
}

/// Resolves from the modules in memory alone, noting whether anything would
/// have needed the disk.
struct InMemory<'a> {
    state: &'a State,
    missed: Cell<bool>,
}

impl InMemory<'_> {
    fn miss(&self, what: &'static str, hash: &ContentHash) -> Error {
        self.missed.set(true);
        Error::NotInStore {
            what,
            hash: *hash,
            store: self.state.config.store.root().to_owned(),
        }
    }
}

impl Resolve for InMemory<'_> {
    fn module(&self, hash: &ContentHash) -> Result<ferry_host::Module, Error> {
        let cached = self.state.modules.lock().get(hash);
        cached.ok_or_else(|| self.miss("module", hash))
    }

    fn blob(&self, hash: &ContentHash) -> Result<Blob, Error> {
        let held = self.state.blobs.held(hash);
        held.ok_or_else(|| self.miss("blob", hash))
    }
}

async fn upload(state: &Arc<State>, hex: &str, request: Request<impl RequestBody>) -> Reply {
    let Ok(expected) = hex.parse::<ContentHash>() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_hash",
            format!("`{hex}` is not a SHA-256 in hex"),
        );
    };
    // A blob the cache could not hold is refused before it is read.
    let limit = state.config.max_blob.min(state.cache.limit());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return too_large("blob", limit);
    }
    if state.config.store.contains(&expected) {
        return Response::new(Body::default());
    }
    let mut writer = state.config.store.writer();
    let mut body = request.into_body();
    loop {
        let data = match next_data(state, &mut body).await {
            Ok(Some(data)) => data,
            Ok(None) => break,
            Err(reply) => return reply,
        };
        if writer.len() + data.len() as u64 > limit {
            return too_large("blob", limit);
        }
        writer = match blocking(move || writer.write(&data).map(|()| writer)).await {
            Ok(writer) => writer,
            Err(e) => return refusal(e),
        };
    }
    let size = writer.len();
    if let Err(e) = blocking(move || writer.finish(&expected)).await {
        return refusal(e);
    }
    let counted = state.clone();
    blocking(move || {
        counted
            .cache
            .added(size, |hash| *hash == expected || counted.in_memory(hash))
    })
    .await;
    let mut reply = Response::new(Body::default());
    *reply.status_mut() = StatusCode::CREATED;
    reply
}

fn download(state: &State, hex: &str) -> Reply {
    let Ok(hash) = hex.parse::<ContentHash>() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_hash",
            format!("`{hex}` is not a SHA-256 in hex"),
        );
    };
    // Clients downloading one blob at once share one copy of it.
    match Resolve::blob(state, &hash) {
        Ok(blob) => Response::new(Body::new(Bytes::from_owner(BlobBytes(blob)))),
        Err(Error::NotInStore { .. }) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no blob {hash}"),
        ),
        Err(e) => refusal(e),
    }
}

/// A blob, owned by every response that sends it.
struct BlobBytes(Blob);

impl AsRef<[u8]> for BlobBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}

/// Runs disk work (reading, hashing, writing, scanning) off the threads that
/// serve requests.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work)
        .await
        .expect("blocking work does not panic")
}

/// How large one kind of request body may be, and how many bytes of such
/// bodies are received at once, across every connection.
pub(crate) struct Bodies {
    limit: usize,
    /// [`RECEIVING_REQUESTS`](crate::RECEIVING_REQUESTS) bodies of the
    /// largest size.
    receiving: tokio::sync::Semaphore,
}

impl Bodies {
    pub fn new(limit: usize) -> Bodies {
        let receiving = limit
            .saturating_mul(crate::RECEIVING_REQUESTS)
            .min(tokio::sync::Semaphore::MAX_PERMITS);
        Bodies {
            limit,
            receiving: tokio::sync::Semaphore::new(receiving),
        }
    }
}

/// Reads a MessagePack request body of at most `max_request` bytes.
pub(crate) async fn read_message<T: serde::de::DeserializeOwned>(
    state: &State,
    request: Request<impl RequestBody>,
) -> Result<T, Reply> {
    let bytes = read_body(state, &state.bodies, request).await?;
    ferry_protocol::decode(&bytes)
        .map_err(|e| problem(StatusCode::BAD_REQUEST, "malformed", e.to_string()))
}

/// Reads a request body within `bounds`.
pub(crate) async fn read_body(
    state: &State,
    bounds: &Bodies,
    request: Request<impl RequestBody>,
) -> Result<Vec<u8>, Reply> {
    let limit = bounds.limit;
    let mut body = request.into_body();
    let mut bytes = Vec::new();
    // Held while the body comes in: bodies trickling in on many streams
    // hold at most the worker's receiving budget between them.
    let mut held = Vec::new();
    while let Some(data) = next_data(state, &mut body).await? {
        if bytes.len() + data.len() > limit {
            return Err(too_large("request", limit as u64));
        }
        let Ok(permit) = bounds.receiving.try_acquire_many(data.len() as u32) else {
            return Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!(
                    "busy receiving {} requests' worth of bodies; retry",
                    crate::RECEIVING_REQUESTS
                ),
            ));
        };
        held.push(permit);
        bytes.extend_from_slice(&data);
    }
    Ok(bytes)
}

/// The next piece of a request body, `None` at its end. A body that sends
/// nothing for the worker's body time-out is cut off, so stalled uploads
/// and requests do not hold memory, files or streams.
async fn next_data(state: &State, body: &mut impl RequestBody) -> Result<Option<Bytes>, Reply> {
    let idle = state.config.body_timeout;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "interrupted",
                    format!("the request body broke off: {e}"),
                ));
            }
            Err(_) => {
                return Err(problem(
                    StatusCode::REQUEST_TIMEOUT,
                    "timed_out",
                    format!(
                        "the request body sent nothing for {} s; send bodies without pausing",
                        idle.as_secs_f64()
                    ),
                ));
            }
        };
        // Trailers carry nothing the worker reads.
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
}

/// The answer to an error that is not the guest's.
pub(crate) fn refusal(error: Error) -> Reply {
    match error {
        Error::NotInStore { hash, .. } => Response::builder()
            .status(StatusCode::CONFLICT)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::new(
                serde_json::to_vec(&Problem {
                    error: "missing".into(),
                    message: format!("{hash} is not on this worker; upload it and retry"),
                    missing: vec![hash],
                })
                .expect("problems serialize"),
            ))
            .expect("a valid response"),
        // The store deleted the damaged copy: the client can send it again.
        Error::HashMismatch {
            what: "stored blob",
            expected,
            ..
        } => refusal(Error::NotInStore {
            what: "blob",
            hash: expected,
            store: std::path::PathBuf::new(),
        }),
        Error::HashMismatch { .. } => {
            problem(StatusCode::BAD_REQUEST, "hash_mismatch", error.to_string())
        }
        Error::Io { .. } | Error::Engine(_) | Error::ShutDown => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            error.to_string(),
        ),
        other => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            other.to_string(),
        ),
    }
}

fn too_large(what: &str, limit: u64) -> Reply {
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "the {what} is over this worker's limit of {limit} bytes; inputs over {INLINE_LIMIT} bytes travel as blobs"
        ),
    )
}

pub(crate) fn problem(status: StatusCode, error: &str, message: String) -> Reply {
    json(
        status,
        &Problem {
            error: error.into(),
            message,
            missing: Vec::new(),
        },
    )
}

pub(crate) fn json(status: StatusCode, body: &impl serde::Serialize) -> Reply {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::new(
            serde_json::to_vec(body).expect("replies serialize"),
        ))
        .expect("a valid response")
}

pub(crate) fn msgpack(body: &impl serde::Serialize) -> Reply {
    Response::builder()
        .header(header::CONTENT_TYPE, MSGPACK)
        .body(Body::new(ferry_protocol::encode(body)))
        .expect("a valid response")
}

/// A task that is cancelled if it is dropped before it finishes, which is
/// what happens to a request whose client disconnects.
pub(crate) struct CancelOnDrop(pub Option<Task>);

impl Future for CancelOnDrop {
    type Output = Result<ferry_host::Output, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = self.0.as_mut().expect("polled after completion");
        let polled = Pin::new(task).poll(cx);
        if polled.is_ready() {
            self.0 = None;
        }
        polled
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.cancel();
        }
    }
}
