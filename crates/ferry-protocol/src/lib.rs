//! The worker protocol, shared by `ferry worker` (`ferry-worker`) and its
//! client (`ferry-remote`). `docs/protocol.md` describes it for people; this
//! crate is its one implementation.
//!
//! HTTP/2 over cleartext TCP (prior knowledge). Every request carries
//! `authorization: Bearer <token>`. Code travels by reference: the client asks
//! which hashes the worker lacks ([`MISSING`]), uploads only those
//! ([`BLOBS`]), then runs ([`RUN`]) a by-reference closure.
//!
//! ```
//! use ferry_protocol::{Payload, RunRequest, decode, encode};
//!
//! let request = RunRequest { closure: vec![1, 2, 3].into(), inputs: vec![Payload::Inline(vec![0xc0].into())], reduce: None, signatures: vec![], store_results: None };
//! let back: RunRequest = decode(&encode(&request))?;
//! assert_eq!(back.inputs.len(), 1);
//! # Ok::<(), ferry_protocol::ProtocolError>(())
//! ```

#![deny(missing_docs)]

pub mod actor;
mod body;
pub mod endpoint;
pub mod many;
pub mod signature;
pub mod tls;
pub mod watched;

pub use body::Body;

use bytes::Bytes;
use ferry_host::{CallFailure, ContentHash};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `GET`: the worker's [`Info`], as JSON.
pub const INFO: &str = "/v1/info";
/// `POST` a [`MissingRequest`]: which of these hashes the worker lacks.
pub const MISSING: &str = "/v1/missing";
/// `PUT /v1/blobs/<64 hex digits>`: upload bytes under their hash, streamed;
/// `GET` the same path to download (large results).
pub const BLOBS: &str = "/v1/blobs/";
/// `POST` a [`RunRequest`]; the answer is a [`RunResponse`].
pub const RUN: &str = "/v1/run";
/// `GET`, without a token: `ok` while the worker serves, for load
/// balancers and health checks.
pub const HEALTH: &str = "/v1/health";

/// Environment variable holding the shared token, for workers and clients.
pub const TOKEN_ENV: &str = "FERRY_TOKEN";
/// Content type of request and response bodies other than errors and info.
pub const MSGPACK: &str = "application/msgpack";
/// Inputs and results larger than this travel as blobs, not inline.
pub const INLINE_LIMIT: usize = 1 << 20;

/// Which of these content hashes the worker lacks.
#[derive(Debug, Serialize, Deserialize)]
pub struct MissingRequest {
    /// Modules and data blobs the client is about to use.
    pub hashes: Vec<ContentHash>,
}

/// The answer to a [`MissingRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub struct MissingResponse {
    /// The hashes the worker does not have; upload these.
    pub missing: Vec<ContentHash>,
}

/// Run a closure on one or more inputs (see `ferry_host::Job`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RunRequest {
    /// The closure, encoded by reference.
    pub closure: Bytes,
    /// At least one input, MessagePack, inline or uploaded as a blob.
    pub inputs: Vec<Payload>,
    /// A reducer folding the results, encoded by reference.
    pub reduce: Option<Bytes>,
    /// Signatures of the modules of `closure` and `reduce`, for a worker
    /// that runs only signed code (`ferry worker --trust`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<signature::ModuleSignature>,
    /// Where a result over a size goes: into an object store, written by
    /// the worker, instead of back in the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_results: Option<StoreResults>,
}

/// A result over `over` bytes is written by the worker, with its own
/// credentials, to the object `object`, and answered with a reference to
/// it (`ferry_host::Value::stored`). The client names the object, one per
/// task: a task run again writes it again, and a task that failed or was
/// cancelled leaves nothing the client cannot find and delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreResults {
    /// The object's URL: `s3://bucket/tmp/job-7/<name>.msgpack`.
    pub object: String,
    /// Results of at most this many bytes come back in the answer.
    pub over: u64,
}

/// Bytes, either in the message or uploaded separately under their hash.
#[derive(Debug, Serialize, Deserialize)]
pub enum Payload {
    /// The bytes themselves.
    Inline(Bytes),
    /// The hash of a blob uploaded to (or, for results, downloadable from)
    /// [`BLOBS`].
    Blob(ContentHash),
}

/// The answer to a [`RunRequest`] that was run.
#[derive(Debug, Serialize, Deserialize)]
pub enum RunResponse {
    /// The guest returned a value.
    Done {
        /// The result, MessagePack.
        value: Payload,
        /// What the guest printed to stdout.
        stdout: Bytes,
        /// What the guest printed to stderr.
        stderr: Bytes,
    },
    /// The guest failed; never retried by clients.
    Failed(CallFailure),
}

/// What `GET /v1/info` tells.
#[derive(Debug, Serialize, Deserialize)]
pub struct Info {
    /// The worker's ferry version.
    pub version: String,
    /// The guest ABI version it runs.
    pub abi: u32,
    /// Execution slots.
    pub slots: usize,
    /// Slots running a job now.
    pub running: usize,
    /// Jobs waiting for a slot.
    pub queued: usize,
    /// Modules loaded in memory, as `sha256:…`.
    pub modules: Vec<String>,
    /// Bytes in the worker's disk cache.
    pub cache_bytes: u64,
    /// The cache's size bound.
    pub cache_limit: u64,
    /// Requests to run tasks served since the worker started, `run` and
    /// `run-many` alike.
    #[serde(default)]
    pub run_requests: u64,
    /// Tasks those requests carried.
    #[serde(default)]
    pub tasks: u64,
}

/// The JSON body of every non-2xx response.
#[derive(Debug, Serialize, Deserialize)]
pub struct Problem {
    /// A stable name for the problem, e.g. `missing`, `hash_mismatch`.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// With `missing`: the hashes to upload before retrying.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<ContentHash>,
}

/// A message that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("malformed protocol message: {0}")]
pub struct ProtocolError(String);

/// Encodes a message as MessagePack.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(message).expect("protocol messages always serialize")
}

/// Decodes a MessagePack message, refusing bytes after it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let mut rest = bytes;
    // The reason may quote the sender's bytes, line breaks and all.
    let message = rmp_serde::from_read(&mut rest)
        .map_err(|e| ProtocolError(ferry_host::one_line(&e.to_string())))?;
    if !rest.is_empty() {
        return Err(ProtocolError(format!(
            "{} bytes follow the message",
            rest.len()
        )));
    }
    Ok(message)
}

/// Whether `presented` is the token. Compares digests in constant time, so
/// neither the token's content nor its length leaks through timing.
pub fn token_matches(token: &str, presented: &str) -> bool {
    let expected = Sha256::digest(token.as_bytes());
    let actual = Sha256::digest(presented.as_bytes());
    expected
        .iter()
        .zip(actual.iter())
        .fold(0u8, |diff, (a, b)| diff | (a ^ b))
        == 0
}

/// 128 random bits from the operating system, as 32 hex digits: a name
/// nobody can guess (an actor's id, say).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the operating system gives random bytes");
    hex::encode(bytes)
}

/// The `authorization` header value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The path of a blob.
pub fn blob_path(hash: &ContentHash) -> String {
    format!("{BLOBS}{}", hash.to_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message a worker or client decodes, from well-formed examples
    /// broken every which way: no panic, one-line errors.
    #[test]
    fn fuzzed_messages_are_refused_in_one_line() {
        use ferry_test_support::fuzz::fuzz;
        let hash = ContentHash::of(b"module");
        let run = encode(&RunRequest {
            closure: Bytes::from_static(b"FERRYCL1 closure bytes"),
            inputs: vec![
                Payload::Inline(Bytes::from_static(&[0x92, 1, 2])),
                Payload::Blob(hash),
            ],
            reduce: Some(Bytes::from_static(b"reducer")),
            signatures: vec![signature::SecretKey::generate().unwrap().0.sign(&hash)],
            store_results: Some(StoreResults {
                object: "s3://tmp/job/1.msgpack".into(),
                over: 1 << 20,
            }),
        });
        fuzz("run requests", &[run], |bytes| {
            decode::<RunRequest>(bytes).map(drop)
        });
        let missing = encode(&MissingRequest {
            hashes: vec![hash, hash],
        });
        fuzz("missing requests", &[missing], |bytes| {
            decode::<MissingRequest>(bytes).map(drop)
        });
        let done = encode(&RunResponse::Done {
            value: Payload::Inline(Bytes::from_static(&[0x01])),
            stdout: Bytes::from_static(b"out"),
            stderr: Bytes::new(),
        });
        let failed = encode(&RunResponse::Failed(CallFailure {
            function: "f".into(),
            kind: ferry_host::FailureKind::Panic {
                message: "boom".into(),
                location: ferry_host::Location::default(),
            },
            stdout: Vec::new(),
            stderr: b"err".to_vec(),
        }));
        fuzz("run responses", &[done, failed], |bytes| {
            decode::<RunResponse>(bytes).map(drop)
        });
        let problem = serde_json::to_vec(&Problem {
            error: "missing".into(),
            message: "upload it".into(),
            missing: vec![hash],
        })
        .unwrap();
        fuzz("problems", &[problem], |bytes| {
            serde_json::from_slice::<Problem>(bytes).map(drop)
        });
    }

    #[test]
    fn tokens_match_only_themselves() {
        assert!(token_matches("s3cret", "s3cret"));
        assert!(!token_matches("s3cret", "s3cres"));
        assert!(!token_matches("s3cret", "s3cret "));
        assert!(!token_matches("s3cret", ""));
    }
}
