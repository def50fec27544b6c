//! Actors: one instance of a module per actor, kept between calls, so that
//! what the guest keeps in its memory is the actor's state.
//!
//! Each actor is a task that owns its instance and reads a bounded mailbox:
//! calls run one at a time, in the order they arrive, and a caller whose
//! call finds the mailbox full waits (backpressure). A call that traps
//! leaves the instance unusable: the actor starts again from its closure, up
//! to its `max_restarts`, and then dies. An actor not called for its idle
//! time-out stops, so forgotten actors do not hold memory for ever.

use crate::State;
use crate::call_order::Turns;
use crate::handler::{
    Reply, RequestBody, blocking, closure_to_keep, json, msgpack, problem, read_message, refusal,
};
use ferry_host::runtime::{ActorAccess, ActorCallFailure, ActorCalls};
use ferry_host::{
    CallFailure, Closure, ContentHash, Error, FailureKind, Instance, InstanceState, Output,
    Resolve, Value,
};
use ferry_protocol::actor::{
    ActorCall, ActorHandle, ActorInfo, ActorReply, Snapshot, SnapshotInfo, SpawnRequest,
};
use http::{Request, StatusCode};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Calls waiting for an actor beyond the one it is running.
const MAILBOX: usize = 64;
/// How long an actor lives without calls, unless it was spawned with a time-out
/// of its own.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Live actors a worker keeps at most; spawning more is refused (503) until
/// some end.
const MAX_ACTORS: usize = 1024;
/// The shortest and the longest idle time-out a spawn may ask for.
const IDLE_BOUNDS: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(24 * 3600));

/// The worker's live actors.
pub(crate) struct Actors {
    live: Mutex<HashMap<String, Arc<Actor>>>,
    /// Held while a named actor is looked up and, if missing, made, so
    /// that two spawns of one name make one actor.
    naming: tokio::sync::Mutex<()>,
    /// Actor calls running at once: as many as the worker has slots, so
    /// that actors cannot take every blocking thread the worker's disk work
    /// needs.
    running: tokio::sync::Semaphore,
}

impl Actors {
    pub fn new(slots: usize) -> Actors {
        Actors {
            live: Mutex::default(),
            naming: tokio::sync::Mutex::new(()),
            running: tokio::sync::Semaphore::new(slots.max(1)),
        }
    }
}

/// A live actor, as the worker finds it by id: its mailbox, and what it
/// shares with its task (which alone holds the instance). Dropping the last
/// mailbox sender, once the actor is stopped and its last caller is done,
/// ends the task.
struct Actor {
    shared: Arc<Shared>,
    mailbox: mpsc::Sender<Message>,
    /// The runtime its task runs on, which a guest's call waits on.
    runtime: tokio::runtime::Handle,
    /// The order of each caller's calls.
    turns: Turns,
}

struct Shared {
    info: Mutex<ActorInfo>,
    closure: Closure,
    /// The state it was restored from, taken again on each restart.
    restored: Option<Arc<InstanceState>>,
}

/// What an actor's mailbox carries.
enum Message {
    Call {
        function: String,
        input: Value,
        reply: oneshot::Sender<ActorReply>,
        /// Made by a guest, which holds a slot while it waits: the call
        /// runs in that slot's stead, or a worker whose slots all wait on
        /// actors would wait for ever.
        lent_slot: bool,
    },
    Snapshot(oneshot::Sender<Result<InstanceState, Error>>),
}

/// `POST /v1/actors`: a new actor, or the live one of that name.
pub(crate) async fn spawn(state: Arc<State>, request: Request<impl RequestBody>) -> Reply {
    let spawn: SpawnRequest = match read_message(&state, request).await {
        Ok(spawn) => spawn,
        Err(reply) => return reply,
    };
    if let Some(name) = &spawn.name
        && let Err(message) = ferry_protocol::endpoint::valid_name(name)
    {
        return problem(StatusCode::BAD_REQUEST, "bad_name", message);
    }
    let idle = spawn
        .idle_timeout_ms
        .map_or(IDLE_TIMEOUT, Duration::from_millis);
    if idle < IDLE_BOUNDS.0 || idle > IDLE_BOUNDS.1 {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_idle_timeout",
            format!(
                "an idle time-out of {idle:?} is outside {:?} to {:?}",
                IDLE_BOUNDS.0, IDLE_BOUNDS.1
            ),
        );
    }
    let closure = match closure_to_keep(&state, spawn.closure.clone(), &spawn.signatures).await {
        Ok(closure) => closure,
        Err(reply) => return reply,
    };
    let _naming = match spawn.name {
        Some(_) => Some(state.actors.naming.lock().await),
        None => None,
    };
    if let Some(name) = &spawn.name
        && let Some(actor) = state.actors.named(name)
    {
        if actor.closure.id() != closure.id() {
            return problem(
                StatusCode::CONFLICT,
                "name_taken",
                format!("actor {name:?} exists with another closure; stop it first"),
            );
        }
        return json(StatusCode::OK, &*actor.info.lock());
    }
    let restored = match spawn.snapshot {
        Some(hash) => {
            let reading = state.clone();
            match blocking(move || snapshot_state(&reading, &hash)).await {
                Ok(snapshot) if snapshot.module == closure.module().id() => {
                    Some(Arc::new(snapshot.state))
                }
                Ok(snapshot) => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        "wrong_snapshot",
                        format!(
                            "the snapshot is of module {}, the closure's is {}",
                            snapshot.module,
                            closure.module().id()
                        ),
                    );
                }
                Err(e) => return refusal(e),
            }
        }
        None => None,
    };
    if state.actors.live.lock().len() >= MAX_ACTORS {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_actors",
            format!("this worker keeps at most {MAX_ACTORS} actors; stop some, or spawn elsewhere"),
        );
    }
    // The first call, the closure itself, makes the initial state, unless
    // it comes from a snapshot.
    let starting = (state.clone(), closure.clone(), restored.clone());
    let instance =
        match blocking(move || start(&starting.0, &starting.1, starting.2.as_deref())).await {
            Ok(instance) => instance,
            Err(Error::Call(failure)) => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "start_failed",
                    format!("the actor could not start: {failure}"),
                );
            }
            Err(e) => return refusal(e),
        };
    // Unguessable, and never the same twice: an old handle cannot reach an
    // actor spawned after a restart.
    let id = ferry_protocol::random_id();
    let info = ActorInfo {
        id: id.clone(),
        name: spawn.name.clone(),
        module: closure.module().id().to_string(),
        function: closure.function().to_owned(),
        restarts: 0,
        created: false,
    };
    let (mailbox, calls) = mpsc::channel(MAILBOX);
    let shared = Arc::new(Shared {
        info: Mutex::new(info.clone()),
        closure,
        restored,
    });
    let actor = Arc::new(Actor {
        shared: shared.clone(),
        mailbox,
        runtime: tokio::runtime::Handle::current(),
        turns: Turns::new(),
    });
    state.actors.live.lock().insert(id.clone(), actor);
    tokio::spawn(run(
        state.clone(),
        id,
        shared,
        instance,
        calls,
        Policy {
            max_restarts: spawn.max_restarts,
            max_task_retries: spawn.max_task_retries,
            idle,
        },
    ));
    json(
        StatusCode::OK,
        &ActorInfo {
            created: true,
            ..info
        },
    )
}

/// An instance of the actor's module, started by its closure, or given
/// the `restored` state instead.
fn start(
    state: &State,
    closure: &Closure,
    restored: Option<&InstanceState>,
) -> Result<Instance, Error> {
    // An actor's own code reaches no actors: a call from one actor to
    // another holds the first while it waits, so a cycle of them (an actor
    // calling itself, say) would wait until the deadline and then kill them.
    let mut sandbox = state.config.sandbox.clone();
    sandbox.grants.actors = None;
    let mut instance = state.runtime.instantiate(closure.module(), &sandbox)?;
    match restored {
        Some(restored) => instance.set_state(restored)?,
        None => drop(instance.call_closure(closure, &Value::nil())?),
    }
    Ok(instance)
}

/// The snapshot blob `hash`, from the store.
fn snapshot_state(state: &State, hash: &ContentHash) -> Result<Snapshot, Error> {
    let blob = Resolve::blob(state, hash)?;
    ferry_protocol::decode(blob.bytes()).map_err(|e| Error::Decode {
        what: "snapshot",
        reason: e.to_string(),
    })
}

/// What an actor was spawned with.
struct Policy {
    max_restarts: u32,
    max_task_retries: u32,
    idle: Duration,
}

/// The actor's life: its calls, one at a time, until it is stopped, sits
/// idle past its time-out, or dies.
async fn run(
    state: Arc<State>,
    id: String,
    actor: Arc<Shared>,
    mut instance: Instance,
    mut calls: mpsc::Receiver<Message>,
    policy: Policy,
) {
    let end = loop {
        let message = match tokio::time::timeout(policy.idle, calls.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => break "stopped",
            Err(_) => break "idle",
        };
        let (function, mut input, reply, lent_slot) = match message {
            // A guest's call whose caller gave up waiting (its deadline
            // passed) is not run: it was told the call timed out.
            Message::Call {
                reply, lent_slot, ..
            } if lent_slot && reply.is_closed() => continue,
            Message::Call {
                function,
                input,
                reply,
                lent_slot,
            } => (function, input, reply, lent_slot),
            Message::Snapshot(reply) => {
                let (returned, taken) = blocking(move || {
                    let taken = instance.state();
                    (instance, taken)
                })
                .await;
                instance = returned;
                let _ = reply.send(taken);
                continue;
            }
        };
        let mut retries = policy.max_task_retries;
        let next = loop {
            let permit = match lent_slot {
                true => None,
                false => Some(state.actors.running.acquire().await),
            };
            let called = function.clone();
            let (returned, given, result) = blocking(move || {
                let result = instance.call(&called, &Value::nil(), &input);
                (instance, input, result)
            })
            .await;
            drop(permit);
            input = given;
            let (answer, next) = outcome(
                &state,
                &actor,
                &function,
                returned,
                result,
                policy.max_restarts,
            )
            .await;
            match (answer, next) {
                (ActorReply::Restarted { .. }, Some(fresh)) if retries > 0 => {
                    retries -= 1;
                    instance = fresh;
                }
                (answer, next) => {
                    let _ = reply.send(answer);
                    break next;
                }
            }
        };
        match next {
            Some(next) => instance = next,
            None => break "died",
        }
    };
    state.actors.live.lock().remove(&id);
    tracing::info!(actor = id, end, "actor ended");
}

/// What a call's caller is told, and the instance the actor goes on with
/// (`None`: it died).
async fn outcome(
    state: &Arc<State>,
    actor: &Arc<Shared>,
    function: &str,
    instance: Instance,
    result: Result<Output, Error>,
    max_restarts: u32,
) -> (ActorReply, Option<Instance>) {
    let failure = match result {
        Ok(output) => {
            let done = ActorReply::Done {
                value: output.value.into_bytes().into(),
                stdout: output.stdout.into(),
                stderr: output.stderr.into(),
            };
            return (done, Some(instance));
        }
        Err(Error::Call(failure)) => *failure,
        // Not the guest's doing (no such function, say): the instance is
        // as it was.
        Err(other) => CallFailure {
            function: function.to_owned(),
            kind: FailureKind::Error {
                message: other.to_string(),
            },
            stdout: Vec::new(),
            stderr: Vec::new(),
        },
    };
    if !instance.is_poisoned() {
        return (ActorReply::Failed(failure), Some(instance));
    }
    drop(instance);
    let restarts = actor.info.lock().restarts + 1;
    if restarts > max_restarts {
        return (ActorReply::Died(failure), None);
    }
    let starting = (state.clone(), actor.clone());
    match blocking(move || {
        start(
            &starting.0,
            &starting.1.closure,
            starting.1.restored.as_deref(),
        )
    })
    .await
    {
        Ok(fresh) => {
            actor.info.lock().restarts = restarts;
            (ActorReply::Restarted { failure, restarts }, Some(fresh))
        }
        Err(e) => {
            tracing::warn!(error = %e, "an actor could not start again");
            (ActorReply::Died(failure), None)
        }
    }
}

/// `POST /v1/actors/<id>/call`.
pub(crate) async fn call(state: Arc<State>, id: &str, request: Request<impl RequestBody>) -> Reply {
    let Some(actor) = state.actors.live.lock().get(id).cloned() else {
        return gone(id);
    };
    let mut call: ActorCall = match read_message(&state, request).await {
        Ok(call) => call,
        Err(reply) => return reply,
    };
    if let Some(order) = &call.order
        && order.caller.len() > crate::call_order::MAX_CALLER
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!(
                "a caller id is at most {} bytes",
                crate::call_order::MAX_CALLER
            ),
        );
    }
    // Taken before anything can refuse the call, so that a refusal, too,
    // lets the caller's next call go.
    let turn = match call.order.take() {
        Some(order) => Some(actor.turns.turn(order).await),
        None => None,
    };
    if call
        .module
        .is_some_and(|module| module != actor.shared.closure.module().id())
    {
        return gone(id);
    }
    let input = Value::from_msgpack(call.input.to_vec());
    if let Err(e) = input.check() {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed",
            format!("the input: {e}"),
        );
    }
    let (reply, answer) = oneshot::channel();
    let call = Message::Call {
        function: call.function,
        input,
        reply,
        lent_slot: false,
    };
    let sent = actor.mailbox.send(call).await;
    // In the mailbox: the caller's next call may follow, while this one
    // runs.
    drop(turn);
    if sent.is_err() {
        return gone(id);
    }
    match answer.await {
        Ok(answer) => msgpack(&answer),
        Err(_) => gone(id),
    }
}

/// `POST /v1/actors/<id>/snapshot`: the actor's state, taken after the
/// calls before it in the mailbox and before those after, stored as a
/// blob.
pub(crate) async fn snapshot(state: Arc<State>, id: &str) -> Reply {
    let Some(actor) = state.actors.live.lock().get(id).cloned() else {
        return gone(id);
    };
    let (reply, answer) = oneshot::channel();
    if actor.mailbox.send(Message::Snapshot(reply)).await.is_err() {
        return gone(id);
    }
    let taken = match answer.await {
        Ok(Ok(taken)) => taken,
        Ok(Err(e)) => return refusal(e),
        Err(_) => return gone(id),
    };
    let snapshot = Snapshot {
        module: actor.shared.closure.module().id(),
        state: taken,
    };
    let storing = state.clone();
    let stored = blocking(move || {
        let bytes = ferry_protocol::encode(&snapshot);
        let hash = storing.config.store.put(&bytes)?;
        storing.cache.added(bytes.len() as u64, |kept| {
            *kept == hash || storing.in_memory(kept)
        });
        Ok::<_, Error>(SnapshotInfo {
            snapshot: hash.to_string(),
            bytes: bytes.len() as u64,
        })
    })
    .await;
    match stored {
        Ok(info) => json(StatusCode::OK, &info),
        Err(e) => refusal(e),
    }
}

/// `DELETE /v1/actors/<id>`: the actor finishes the calls in its mailbox,
/// takes no more, and ends.
pub(crate) fn stop(state: &State, id: &str) -> Reply {
    match state.actors.live.lock().remove(id) {
        Some(actor) => json(StatusCode::OK, &*actor.shared.info.lock()),
        None => gone(id),
    }
}

/// `GET /v1/actors`.
pub(crate) fn list(state: &State) -> Reply {
    let live = state.actors.live.lock();
    let infos: Vec<ActorInfo> = live
        .values()
        .map(|actor| actor.shared.info.lock().clone())
        .collect();
    json(StatusCode::OK, &infos)
}

/// What a guest's `actor_call` reaches on this worker: the worker's own
/// actors.
pub(crate) fn reach(actors: &Arc<Actors>, max_input: usize) -> ActorAccess {
    ActorAccess::new(Reach {
        actors: Arc::downgrade(actors),
        max_input,
    })
}

struct Reach {
    /// Weak, so that the sandbox the worker's own state holds does not
    /// keep that state alive.
    actors: std::sync::Weak<Actors>,
    /// The largest input, as for a client's call.
    max_input: usize,
}

impl ActorCalls for Reach {
    fn call(
        &self,
        handle: &[u8],
        function: &str,
        input: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, ActorCallFailure> {
        let failed = |message: String| Err(ActorCallFailure::Failed(message));
        let handle: ActorHandle = match ferry_protocol::decode(handle) {
            Ok(handle) => handle,
            Err(e) => return failed(format!("not an actor handle: {e}")),
        };
        if input.as_bytes().len() > self.max_input {
            return failed(format!(
                "the input of {} bytes is over the worker's {} for a request",
                input.as_bytes().len(),
                self.max_input
            ));
        }
        let actor = self.actors.upgrade().and_then(|actors| {
            let live = actors.live.lock();
            live.get(&handle.id)
                .filter(|actor| actor.shared.closure.module().id() == handle.module)
                .cloned()
        });
        let Some(actor) = actor else {
            return failed(format!(
                "actor {:?} is not on the worker running this task (its handle names {}); \
                 a task calls only actors of its own worker, and this one may have ended",
                handle.id, handle.worker
            ));
        };
        let (reply, answer) = oneshot::channel();
        let message = Message::Call {
            function: function.to_owned(),
            input,
            reply,
            lent_slot: true,
        };
        let asked = async {
            actor.mailbox.send(message).await.ok()?;
            answer.await.ok()
        };
        // Made inside `block_on`: a timer needs the runtime it waits on.
        let answer = actor
            .runtime
            .block_on(async {
                match deadline {
                    Some(deadline) => tokio::time::timeout_at(deadline.into(), asked).await,
                    None => Ok(asked.await),
                }
            })
            .map_err(|_| ActorCallFailure::TimedOut)?;
        match answer {
            Some(ActorReply::Done { value, .. }) => Ok(Value::from_msgpack(value.to_vec())),
            Some(ActorReply::Failed(failure)) => failed(failure.to_string()),
            Some(ActorReply::Restarted { failure, restarts }) => failed(format!(
                "the actor started again ({restarts} restarts so far): {failure}"
            )),
            Some(ActorReply::Died(failure)) => failed(format!("the actor died: {failure}")),
            None => failed(format!("actor {:?} ended before it answered", handle.id)),
        }
    }
}

impl Actors {
    fn named(&self, name: &str) -> Option<Arc<Shared>> {
        let live = self.live.lock();
        live.values()
            .find(|actor| actor.shared.info.lock().name.as_deref() == Some(name))
            .map(|actor| actor.shared.clone())
    }
}

fn gone(id: &str) -> Reply {
    problem(
        StatusCode::GONE,
        "gone",
        format!(
            "actor {id:?} is not on this worker: stopped, idle past its time-out, died, or never spawned here"
        ),
    )
}
