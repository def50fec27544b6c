//! Calling actors from inside a function: a task given an actor's handle
//! (in its environment or its input) calls it as its client would, on the
//! worker where both run.
//!
//! ```
//! use ferry::actor::{self, ActorHandle};
//!
//! /// Adds `n` to the counter actor `env` names.
//! #[ferry::function]
//! fn tally(env: ActorHandle, n: i64) -> Result<i64, actor::ActorCallError> {
//!     actor::call(&env, "counter_add", &n)
//! }
//! ```

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// An actor, as the host's `ActorHandle` serializes: its worker, its id
/// there, and its module's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorHandle {
    /// The worker, as `host:port`.
    pub worker: String,
    /// The actor's id on it.
    pub id: String,
    /// The SHA-256 of its module.
    pub module: ModuleHash,
}

/// A module's SHA-256, as MessagePack `bin` (how the host encodes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleHash(pub [u8; 32]);

impl Serialize for ModuleHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ModuleHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Digest;
        impl<'de> Visitor<'de> for Digest {
            type Value = ModuleHash;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("32 bytes of SHA-256")
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<ModuleHash, E> {
                bytes
                    .try_into()
                    .map(ModuleHash)
                    .map_err(|_| E::invalid_length(bytes.len(), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ModuleHash, A::Error> {
                let mut digest = [0u8; 32];
                for (i, byte) in digest.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(ModuleHash(digest))
            }
        }
        d.deserialize_bytes(Digest)
    }
}

/// Why an actor call gave no result: the actor's function failed or
/// trapped, the actor is gone, or the host reaches no actors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorCallError {
    /// Whether the host running this function reaches actors at all.
    pub granted: bool,
    /// What the host said.
    pub message: String,
}

impl fmt::Display for ActorCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActorCallError {}

/// Calls `function` of `actor`'s module on the actor with `input`, and
/// waits for its result: one call in the actor's mailbox, like a client's.
/// The wait counts against this function's own deadline.
pub fn call<I: Serialize + ?Sized, O: DeserializeOwned>(
    actor: &ActorHandle,
    function: &str,
    input: &I,
) -> Result<O, ActorCallError> {
    let failed = |granted: bool, message: String| ActorCallError { granted, message };
    let handle = rmp_serde::to_vec_named(actor)
        .map_err(|e| failed(true, format!("cannot encode the handle: {e}")))?;
    let input = rmp_serde::to_vec_named(input)
        .map_err(|e| failed(true, format!("cannot encode the input: {e}")))?;
    let (status, reply) = crate::host::actor_call(&handle, function, &input);
    match ferry_abi::ActorCallStatus::from_code(status) {
        Some(ferry_abi::ActorCallStatus::Done) => rmp_serde::from_slice(&reply).map_err(|e| {
            failed(
                true,
                format!("the result of {function} did not decode as expected: {e}"),
            )
        }),
        Some(ferry_abi::ActorCallStatus::NotGranted) => {
            Err(failed(false, String::from_utf8_lossy(&reply).into_owned()))
        }
        _ => Err(failed(true, String::from_utf8_lossy(&reply).into_owned())),
    }
}
