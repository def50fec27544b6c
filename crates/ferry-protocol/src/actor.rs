//! Actors: one instance of a module kept on a worker, its memory carried
//! from call to call, called in order through a bounded mailbox.
//!
//! ```
//! use ferry_protocol::actor::{ActorCall, SpawnRequest};
//!
//! let spawn = SpawnRequest { closure: vec![1].into(), name: Some("counter".into()), max_restarts: 3, max_task_retries: 0, idle_timeout_ms: None, signatures: vec![], snapshot: None };
//! let back: SpawnRequest = ferry_protocol::decode(&ferry_protocol::encode(&spawn))?;
//! assert_eq!(back.max_restarts, 3);
//! let call = ActorCall { function: "counter_add".into(), input: vec![0x01].into(), module: None, order: None };
//! let back: ActorCall = ferry_protocol::decode(&ferry_protocol::encode(&call))?;
//! assert_eq!(back.function, "counter_add");
//! # Ok::<(), ferry_protocol::ProtocolError>(())
//! ```

use crate::signature::ModuleSignature;
use bytes::Bytes;
use ferry_host::{CallFailure, ContentHash, InstanceState};
use serde::{Deserialize, Serialize};

/// `POST` a [`SpawnRequest`] (scope `deploy`) to start an actor, or find
/// the one of that name; `GET` lists them. `POST /v1/actors/<id>/call` an
/// [`ActorCall`] (scope `run`); `DELETE /v1/actors/<id>` stops it (scope
/// `deploy`).
pub const ACTORS: &str = "/v1/actors";

/// Start an actor: its closure runs first, its environment the actor's
/// initial state, and the instance is kept for the calls that follow.
#[derive(Debug, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// The closure that starts the actor, by reference; its code uploaded
    /// first, as for a run.
    pub closure: Bytes,
    /// With a name: the live actor of that name if there is one (its
    /// closure must be the same), else a new one under it.
    pub name: Option<String>,
    /// How many times a call that traps may start the actor again from its
    /// initial state before the actor dies.
    pub max_restarts: u32,
    /// How many times a call that traps is run again on the restarted
    /// actor before its caller is told; 0, at most once, unless asked.
    #[serde(default)]
    pub max_task_retries: u32,
    /// An actor not called for this long is stopped; the worker's default
    /// without it. At least 100 ms and at most a day.
    pub idle_timeout_ms: Option<u64>,
    /// Signatures of its module, for a worker that runs only signed code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<ModuleSignature>,
    /// A [`Snapshot`] blob to continue from, in the worker's store: the
    /// actor takes the snapshot's state instead of calling its closure (and
    /// takes it again on each restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<ContentHash>,
}

/// `POST /v1/actors/<id>/snapshot` (scope `deploy`): the actor's state,
/// taken between two calls, stored as a blob; the answer is JSON
/// [`SnapshotInfo`]. Download it (`GET /v1/blobs/<hex>`) to move it.
pub const SNAPSHOT: &str = "snapshot";

/// A stored actor state: MessagePack, the blob a snapshot is.
#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The module whose instance it was taken from.
    pub module: ContentHash,
    /// The instance's memory and globals.
    pub state: InstanceState,
}

/// Where a snapshot was stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The snapshot blob's hash, `sha256:…`.
    pub snapshot: String,
    /// Its size.
    pub bytes: u64,
}

/// Where an actor lives: enough to call it from any client that reaches
/// its worker. It serializes, so it can travel in a closure's environment
/// or a task's input, and a task given it calls the actor from inside
/// its guest (`actor_call`, `docs/abi.md` §4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorHandle {
    /// The worker, as `host:port`.
    pub worker: String,
    /// The actor's id there.
    pub id: String,
    /// Its module.
    pub module: ContentHash,
}

/// An actor, as spawning and listing report it (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorInfo {
    /// Its id on the worker.
    pub id: String,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// Its module's hash, `sha256:…`.
    pub module: String,
    /// The function that started it.
    pub function: String,
    /// Restarts so far.
    pub restarts: u32,
    /// Whether spawning made it (rather than finding it by name).
    #[serde(default)]
    pub created: bool,
}

/// Call one of the actor's module's functions on its instance.
#[derive(Debug, Serialize, Deserialize)]
pub struct ActorCall {
    /// The function.
    pub function: String,
    /// Its input, MessagePack.
    pub input: Bytes,
    /// The module the caller's handle names: an actor of another module
    /// under the id is not the one meant, and the call finds it gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<ContentHash>,
    /// Where the call stands among its caller's calls to this actor: the
    /// worker puts a caller's calls in the mailbox in this order, however
    /// their requests overtook each other on the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<CallOrder>,
}

/// A call's place among one caller's calls to one actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOrder {
    /// The caller, a random id it keeps for its life.
    pub caller: String,
    /// The call's number: 0 for its first call to the actor, then 1, 2, ...
    pub seq: u64,
}

/// The answer to an [`ActorCall`] that reached the actor.
#[derive(Debug, Serialize, Deserialize)]
pub enum ActorReply {
    /// The function returned.
    Done {
        /// The result, MessagePack.
        value: Bytes,
        /// What the guest printed to stdout.
        stdout: Bytes,
        /// What the guest printed to stderr.
        stderr: Bytes,
    },
    /// The function failed without harming the instance (it returned an
    /// error, say): the actor keeps its state.
    Failed(CallFailure),
    /// The function trapped: the actor started again from its initial
    /// state, `restarts` times so far.
    Restarted {
        /// The failure.
        failure: CallFailure,
        /// Restarts so far.
        restarts: u32,
    },
    /// The function trapped once more than the actor may restart: it is
    /// gone.
    Died(CallFailure),
}
