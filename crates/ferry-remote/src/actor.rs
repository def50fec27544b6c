//! Actors on workers: spawned from a closure, called by handle, stopped
//! (`docs/protocol.md`, "Actors").

use crate::link::{Attempt, Link};
use crate::{ActorError, Remote};
use ferry_host::executor::Task;
use ferry_host::{Closure, ContentHash, Encoding, Error, Output, Value};
use ferry_protocol::Body;
use ferry_protocol::actor::{
    ACTORS, ActorCall, ActorHandle, ActorInfo, ActorReply, CallOrder, SNAPSHOT, SnapshotInfo,
    SpawnRequest,
};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// An actor's state, stored on the worker it was taken on: memory and
/// globals, as a blob named by its hash. It serializes, so it can be kept
/// and restored later, on any worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorSnapshot {
    /// The blob.
    pub hash: ContentHash,
    /// The worker that holds it, as `host:port`.
    pub worker: String,
}

/// How an actor is spawned.
#[derive(Clone, Debug, Default)]
pub struct ActorOptions {
    /// With a name, spawning finds the live actor of that name instead of
    /// making another (named get-or-create).
    pub name: Option<String>,
    /// Calls that trap restart the actor from its initial state this many
    /// times; the next one kills it.
    pub max_restarts: u32,
    /// A call that traps runs again on the restarted actor, up to this
    /// many times, before its caller hears of it: at least once instead of
    /// at most once. Only for calls that may run twice.
    pub max_task_retries: u32,
    /// Stop the actor after this long without calls; the worker's default
    /// (10 minutes) otherwise.
    pub idle_timeout: Option<Duration>,
    /// The worker to spawn on, as `host:port`; the least loaded otherwise.
    pub worker: Option<String>,
    /// Continue from this state (of the same module) rather than from the
    /// closure's; restarts go back to it too. Its blob moves to the
    /// worker if that lacks it.
    pub snapshot: Option<ActorSnapshot>,
}

impl Remote {
    /// Spawns an actor on the least loaded worker: one instance of the
    /// closure's module, started by calling the closure (whose environment
    /// is the initial state) and kept for the calls that follow, which see
    /// whatever the guest kept in its memory. Needs the `deploy` scope.
    ///
    /// ```no_run
    /// use ferry_host::{Closure, Module};
    /// use ferry_remote::{ActorOptions, Remote};
    ///
    /// # fn demo() -> Result<(), ferry_host::Error> {
    /// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
    /// let remote = Remote::builder().worker("127.0.0.1:7878").token("s3cret").build()?;
    /// let counter = remote.spawn(&Closure::new(&module, "counter")?.with_env(&10)?, ActorOptions::default())?;
    /// assert_eq!(remote.call_actor::<_, i64>(&counter, "counter_add", &5)?.value, 15);
    /// assert_eq!(remote.call_actor::<_, i64>(&counter, "counter_add", &1)?.value, 16);
    /// remote.stop(&counter)?;
    /// # Ok(()) }
    /// ```
    pub fn spawn(&self, closure: &Closure, options: ActorOptions) -> Result<ActorHandle, Error> {
        let link = match &options.worker {
            Some(worker) => self.link_to(worker)?,
            None => self.shared.pick(),
        };
        let worker = link.address().to_owned();
        let source = options
            .snapshot
            .as_ref()
            .map(|snapshot| Ok::<_, Error>((snapshot.hash, self.link_to(&snapshot.worker)?)))
            .transpose()?;
        let shared = self.shared.clone();
        let closure = closure.clone();
        let info = self.wait(async move {
            if let Some((hash, source)) = &source
                && !link.missing(vec![*hash]).await?.is_empty()
            {
                let bytes = source.download(hash, "snapshot").await?;
                link.upload(hash, bytes, &shared.uploaded).await?;
            }
            let request = SpawnRequest {
                snapshot: source.map(|(hash, _)| hash),
                closure: closure.to_bytes(Encoding::ByReference).into(),
                name: options.name,
                max_restarts: options.max_restarts,
                max_task_retries: options.max_task_retries,
                idle_timeout_ms: options
                    .idle_timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
                signatures: link.signatures_of([&closure]),
            };
            let mut retried = false;
            loop {
                link.ensure_code([&closure], &shared.uploaded).await?;
                let body = Body::new(ferry_protocol::encode(&request));
                let (status, body) = link.send(Method::POST, ACTORS, body).await?;
                match status {
                    StatusCode::OK => return json::<ActorInfo>(&link, &body),
                    StatusCode::CONFLICT if !retried && is_missing(&body) => {
                        retried = true;
                        link.forget_code([&closure]);
                    }
                    status => return Err(link.rejection(status, &body)),
                }
            }
        })?;
        let module = info.module.parse().map_err(|e| {
            Error::Engine(format!("the worker named the actor's module oddly: {e}"))
        })?;
        Ok(ActorHandle {
            worker,
            id: info.id,
            module,
        })
    }

    /// Calls `function` of the actor's module on the actor, with `input`,
    /// and waits for its result. Calls run one at a time on the actor; this
    /// client's calls to it run in the order it made them, from however
    /// many threads (see [`submit_actor`](Remote::submit_actor) to make
    /// many without waiting). At most once: a call that fails is not sent
    /// again, nor run again unless the actor was spawned with
    /// [`ActorOptions::max_task_retries`].
    pub fn call_actor<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        actor: &ActorHandle,
        function: &str,
        input: &I,
    ) -> Result<Output<O>, Error> {
        let output = self.call_actor_value(actor, function, Value::encode(input)?)?;
        Ok(Output {
            value: output.value.decode()?,
            stdout: output.stdout,
            stderr: output.stderr,
        })
    }

    /// [`call_actor`](Remote::call_actor) with the input and result as
    /// MessagePack values.
    pub fn call_actor_value(
        &self,
        actor: &ActorHandle,
        function: &str,
        input: Value,
    ) -> Result<Output, Error> {
        self.submit_actor(actor, function, input).wait()
    }

    /// Sends a call to the actor without waiting for it: the calls this
    /// client submits to one actor run in the order they were submitted,
    /// as Ray's actor calls do, while their requests travel side by side.
    ///
    /// ```no_run
    /// # use ferry_remote::{ActorHandle, Remote};
    /// # use ferry_host::Value;
    /// # fn demo(remote: &Remote, counter: &ActorHandle) -> Result<(), ferry_host::Error> {
    /// let one = Value::encode(&1)?;
    /// let calls: Vec<_> = (0..100)
    ///     .map(|_| remote.submit_actor(counter, "counter_add", one.clone()))
    ///     .collect();
    /// let mut last = i64::MIN;
    /// for call in calls {
    ///     // Each call saw the ones submitted before it.
    ///     let count: i64 = call.wait()?.value.decode()?;
    ///     assert!(count > last);
    ///     last = count;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn submit_actor(&self, actor: &ActorHandle, function: &str, input: Value) -> Task {
        let (task, done) = Task::pending();
        let (link, runtime) = match (self.link_for(actor), &self.runtime) {
            (Ok(link), Some(runtime)) => (link, runtime),
            (Err(e), _) => {
                done.complete(Err(e));
                return task;
            }
            // Dropping `done` ends the task as shut down.
            (_, None) => return task,
        };
        let seq = {
            let mut calls = self.shared.calls_to.lock();
            let count = calls.entry(actor.id.clone()).or_default();
            *count += 1;
            *count - 1
        };
        let request = ActorCall {
            function: function.to_owned(),
            input: input.into_bytes().into(),
            module: Some(actor.module),
            order: Some(CallOrder {
                caller: self.shared.caller.clone(),
                seq,
            }),
        };
        let id = actor.id.clone();
        runtime.spawn(async move {
            done.complete(call(&link, id, request).await.map_err(Error::from));
        });
        task
    }

    /// Takes the actor's state between two of its calls and stores it on
    /// its worker: spawn with [`ActorOptions::snapshot`] to continue from
    /// it, there or on another worker. Needs the `deploy` scope.
    pub fn snapshot(&self, actor: &ActorHandle) -> Result<ActorSnapshot, Error> {
        let link = self.link_for(actor)?;
        let path = format!("{ACTORS}/{}/{SNAPSHOT}", actor.id);
        let id = actor.id.clone();
        let info: SnapshotInfo = self.wait(async move {
            let (status, body) = link.send(Method::POST, &path, Body::default()).await?;
            match status {
                StatusCode::OK => json(&link, &body),
                StatusCode::GONE => Err(gone(id, &body)),
                status => Err(link.rejection(status, &body)),
            }
        })?;
        Ok(ActorSnapshot {
            hash: info
                .snapshot
                .parse()
                .map_err(|e| Error::Engine(format!("the worker named the snapshot oddly: {e}")))?,
            worker: actor.worker.clone(),
        })
    }

    /// Stops the actor: calls already in its mailbox finish, later ones
    /// find it gone.
    pub fn stop(&self, actor: &ActorHandle) -> Result<(), Error> {
        let link = self.link_for(actor)?;
        let path = format!("{ACTORS}/{}", actor.id);
        let id = actor.id.clone();
        self.wait(async move {
            let (status, body) = link.send(Method::DELETE, &path, Body::default()).await?;
            match status {
                StatusCode::OK => Ok(()),
                StatusCode::GONE => Err(gone(id, &body)),
                status => Err(link.rejection(status, &body)),
            }
        })
    }

    /// The connection to the actor's worker.
    fn link_for(&self, actor: &ActorHandle) -> Result<Arc<Link>, Error> {
        self.link_to(&actor.worker)
    }

    /// The connection to `worker`, which must be one of this client's.
    fn link_to(&self, worker: &str) -> Result<Arc<Link>, Error> {
        self.shared
            .links
            .iter()
            .find(|link| link.address() == worker)
            .cloned()
            .ok_or_else(|| {
                Error::Engine(format!(
                    "worker {worker} is not one this client reaches: add it with RemoteBuilder::worker"
                ))
            })
    }
}

/// One call of an actor, and what its reply means.
async fn call(link: &Link, id: String, request: ActorCall) -> Result<Output, Attempt> {
    let path = format!("{ACTORS}/{id}/call");
    let body = Body::new(ferry_protocol::encode(&request));
    let (status, body) = link.send(Method::POST, &path, body).await?;
    let reply = match status {
        StatusCode::OK => ferry_protocol::decode::<ActorReply>(&body)
            .map_err(|e| Attempt::Final(Error::Engine(format!("a malformed actor reply: {e}"))))?,
        StatusCode::GONE => return Err(gone(id, &body)),
        status => return Err(link.rejection(status, &body)),
    };
    let failed = |error: Error| Err(Attempt::Final(error));
    let output = match reply {
        ActorReply::Done {
            value,
            stdout,
            stderr,
        } => Output {
            value: Value::from_msgpack(value.to_vec()),
            stdout: stdout.into(),
            stderr: stderr.into(),
        },
        ActorReply::Failed(failure) => return failed(Error::Call(Box::new(failure))),
        ActorReply::Restarted { failure, restarts } => {
            return failed(
                ActorError::Restarted {
                    actor: id,
                    failure,
                    restarts,
                }
                .into(),
            );
        }
        ActorReply::Died(failure) => {
            return failed(ActorError::Died { actor: id, failure }.into());
        }
    };
    output.value.check().map_err(Attempt::Final)?;
    Ok(output)
}

fn json<T: DeserializeOwned>(link: &Link, body: &[u8]) -> Result<T, Attempt> {
    serde_json::from_slice(body).map_err(|e| {
        Attempt::Final(Error::Engine(format!(
            "worker {} answered with something else: {e}",
            link.address()
        )))
    })
}

fn is_missing(body: &[u8]) -> bool {
    serde_json::from_slice::<ferry_protocol::Problem>(body).is_ok_and(|p| p.error == "missing")
}

/// The actor is not on its worker, which says why in `body`.
fn gone(actor: String, body: &[u8]) -> Attempt {
    let reason = serde_json::from_slice::<ferry_protocol::Problem>(body).map_or_else(
        |_| String::from_utf8_lossy(body).into_owned(),
        |p| p.message,
    );
    Attempt::Final(ActorError::Gone { actor, reason }.into())
}
