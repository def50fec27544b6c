//! Calling an actor from inside a guest (`docs/abi.md` §4, `actor_call`).
//! Only a host that keeps actors can answer, so the runtime asks whatever
//! the sandbox was granted ([`Grants::actors`](super::Grants::actors)).

use super::guest_memory::{guest_bytes, guest_memory, guest_range, stop};
use super::host_state::HostState;
use crate::{FailureKind, Value};
use ferry_abi::{ActorCallStatus, EXPORT_ALLOC, IMPORT_MODULE, imports};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{Caller, Linker, Trap};

/// The actors a guest's `actor_call` reaches, provided by the host that
/// keeps them (a `ferry worker` grants its own). A handle is a capability:
/// a guest reaches only actors whose handles it was given.
///
/// ```
/// use ferry_host::runtime::{ActorAccess, ActorCallFailure, ActorCalls};
/// use ferry_host::{Sandbox, Value};
/// use std::time::Instant;
///
/// struct Nobody;
/// impl ActorCalls for Nobody {
///     fn call(&self, _: &[u8], _: &str, _: Value, _: Option<Instant>) -> Result<Value, ActorCallFailure> {
///         Err(ActorCallFailure::Failed("no actor lives here".into()))
///     }
/// }
/// let mut sandbox = Sandbox::default();
/// sandbox.grants.actors = Some(ActorAccess::new(Nobody));
/// ```
pub trait ActorCalls: Send + Sync {
    /// Calls `function` of the actor that `handle` (MessagePack, as the
    /// guest passed it) names, with `input`; waits no later than
    /// `deadline`, the calling guest's own.
    fn call(
        &self,
        handle: &[u8],
        function: &str,
        input: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, ActorCallFailure>;
}

/// Why an actor call from a guest has no result.
#[derive(Debug)]
pub enum ActorCallFailure {
    /// The call failed, for the reason given; the guest sees it.
    Failed(String),
    /// The calling guest's deadline passed first; its call ends as timed
    /// out.
    TimedOut,
}

/// A grant of [`ActorCalls`], as a sandbox carries it.
#[derive(Clone)]
pub struct ActorAccess(Arc<dyn ActorCalls>);

impl ActorAccess {
    /// Grants `calls` to the guests of a sandbox.
    pub fn new(calls: impl ActorCalls + 'static) -> ActorAccess {
        ActorAccess(Arc::new(calls))
    }
}

impl fmt::Debug for ActorAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActorAccess")
    }
}

const REPLY_PLACE: &str = "the reply pointer passed to `actor_call`";

/// Adds `actor_call` to `linker`.
pub(crate) fn add_import(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        imports::ACTOR_CALL,
        |mut caller: Caller<'_, HostState>,
         handle_ptr: i32,
         handle_len: i32,
         function_ptr: i32,
         function_len: i32,
         input_ptr: i32,
         input_len: i32,
         reply_ptr: i32|
         -> wasmtime::Result<i32> {
            let mut read = |what: &str, ptr: i32, len: i32| {
                let what = format!("the {what} passed to `actor_call`");
                guest_bytes(&mut caller, &what, ptr as u32, u64::from(len as u32))
            };
            let handle = read("handle", handle_ptr, handle_len)?;
            let function = String::from_utf8(read("function name", function_ptr, function_len)?)
                .map_err(|_| stop("the function name passed to `actor_call` is not UTF-8".into()))?;
            let input = read("input", input_ptr, input_len)?;
            crate::msgpack::check(&input).map_err(|reason| {
                stop(format!(
                    "the input passed to `actor_call` is not one MessagePack value: it {reason}"
                ))
            })?;
            // Checked before the actor runs: memory only grows, so a place
            // that fits now fits after.
            let size = guest_memory(&mut caller)?.data_size(&caller);
            guest_range(size, REPLY_PLACE, reply_ptr as u32, 8)?;
            let (status, reply) = match caller.data().actors.clone() {
                None => (
                    ActorCallStatus::NotGranted,
                    "this host reaches no actors: actors are called from tasks on the worker they live on"
                        .as_bytes()
                        .to_vec(),
                ),
                Some(ActorAccess(actors)) => {
                    let deadline = caller.data().deadline;
                    match actors.call(&handle, &function, Value::from_msgpack(input), deadline) {
                        Ok(value) => (ActorCallStatus::Done, value.into_bytes()),
                        Err(ActorCallFailure::Failed(message)) => {
                            (ActorCallStatus::Failed, message.into_bytes())
                        }
                        Err(ActorCallFailure::TimedOut) => {
                            return Err(wasmtime::Error::new(Trap::Interrupt));
                        }
                    }
                }
            };
            hand_over(&mut caller, &reply, reply_ptr as u32)?;
            Ok(status as i32)
        },
    )?;
    Ok(())
}

/// Copies `reply` into a buffer the guest allocates, and writes where it is
/// at `out`: the reply's one copy in, its ownership passed to the guest.
fn hand_over(caller: &mut Caller<'_, HostState>, reply: &[u8], out: u32) -> wasmtime::Result<()> {
    let len = u32::try_from(reply.len()).map_err(|_| {
        wasmtime::Error::new(FailureKind::ResultTooLarge {
            size: reply.len() as u64,
            limit: u64::from(u32::MAX),
        })
    })?;
    let alloc = caller
        .get_export(EXPORT_ALLOC)
        .and_then(|export| export.into_func())
        .ok_or_else(|| stop(format!("the guest exports no `{EXPORT_ALLOC}`")))?
        .typed::<(i32, i32), i32>(&*caller)?;
    let ptr = alloc.call(&mut *caller, (len as i32, 1))? as u32;
    let memory = guest_memory(caller)?;
    let size = memory.data_size(&*caller);
    let buffer = guest_range(
        size,
        "the buffer `ferry_alloc` gave for an actor's reply",
        ptr,
        u64::from(len),
    )?;
    let place = guest_range(size, REPLY_PLACE, out, 8)?;
    let data = memory.data_mut(&mut *caller);
    data[buffer].copy_from_slice(reply);
    data[place.start..place.start + 4].copy_from_slice(&ptr.to_le_bytes());
    data[place.start + 4..place.end].copy_from_slice(&len.to_le_bytes());
    Ok(())
}
