//! Many tasks in one request: a client with tasks queued behind those in
//! flight sends them together, and the worker streams each task's outcome
//! back as it finishes.
//!
//! Both bodies are frames: a `u32` little-endian length, then that many
//! bytes of MessagePack. The request's frames are [`RunRequest`]s; the
//! answer's are [`RunManyItem`]s, in the order the tasks finish.
//!
//! ```
//! use ferry_protocol::encode;
//! use ferry_protocol::many::{Frames, push_frame};
//!
//! let mut body = Vec::new();
//! push_frame(&mut body, &encode(&"one"));
//! push_frame(&mut body, &encode(&2u8));
//! let mut frames = Frames::default();
//! frames.extend(&body[..3]);
//! assert!(frames.message::<String>()?.is_none());
//! frames.extend(&body[3..]);
//! assert_eq!(frames.message::<String>()?.as_deref(), Some("one"));
//! assert_eq!(frames.message::<u8>()?, Some(2));
//! assert!(frames.is_empty());
//! # Ok::<(), ferry_protocol::ProtocolError>(())
//! ```

use crate::{ProtocolError, RunResponse};
use bytes::{Buf, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// `POST` [`RunRequest`](crate::RunRequest) frames; the answer, `200 OK`,
/// streams a [`RunManyItem`] frame per task as each finishes.
pub const RUN_MANY: &str = "/v1/run-many";

/// The most tasks one request may carry.
pub const MAX_RUNS: usize = 1024;

/// One task's outcome in the answer to a [`RUN_MANY`] request.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunManyItem {
    /// The task's place among the request's frames, from 0.
    pub index: u32,
    /// How it ended.
    pub outcome: RunOutcome,
}

/// What [`RUN`](crate::RUN) would have answered for one task.
#[derive(Debug, Serialize, Deserialize)]
pub enum RunOutcome {
    /// The answer of `200 OK`.
    Ran(RunResponse),
    /// A refusal: its status and its JSON [`Problem`](crate::Problem)
    /// body, as `POST /v1/run` would have sent them.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The JSON problem.
        body: Bytes,
    },
}

/// Appends one frame holding `message`, already encoded, to `body`.
pub fn push_frame(body: &mut Vec<u8>, message: &[u8]) {
    let len = u32::try_from(message.len()).expect("frames are under 4 GiB");
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(message);
}

/// Frames as their bytes arrive, in pieces of any size.
#[derive(Debug, Default)]
pub struct Frames {
    buffer: BytesMut,
}

impl From<Bytes> for Frames {
    /// Frames of a body received whole; not copied if nothing else holds it.
    fn from(bytes: Bytes) -> Frames {
        Frames {
            buffer: bytes.into(),
        }
    }
}

impl Frames {
    /// Adds bytes received.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame's message, `None` until all of it has arrived.
    pub fn message<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ProtocolError> {
        let Some(len) = self.buffer.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(len.try_into().expect("four bytes")) as usize;
        if self.buffer.len() - 4 < len {
            return Ok(None);
        }
        self.buffer.advance(4);
        let frame = self.buffer.split_to(len);
        crate::decode(&frame).map(Some)
    }

    /// Whether no byte of a frame is left over.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }
}
