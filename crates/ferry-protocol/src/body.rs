//! The one HTTP body type of the protocol, for requests and responses.

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Frames are at most this large, so that HTTP/2 flow control paces a large
/// transfer instead of one huge write holding up every other stream.
const FRAME: usize = 64 << 10;

/// Bytes in memory, sent in frames of at most 64 KiB (splitting shares the
/// buffer; nothing is copied), or bytes made as they are sent.
#[derive(Default)]
pub struct Body {
    rest: Bytes,
    streamed: Option<Pin<Box<dyn http_body::Body<Data = Bytes, Error = Infallible> + Send>>>,
}

impl Body {
    /// A body of `bytes`.
    pub fn new(bytes: impl Into<Bytes>) -> Body {
        Body {
            rest: bytes.into(),
            streamed: None,
        }
    }

    /// A body whose frames `body` makes as it is sent: the answer to
    /// [`RUN_MANY`](crate::many::RUN_MANY), say, one frame per task as it
    /// finishes.
    pub fn streamed(
        body: impl http_body::Body<Data = Bytes, Error = Infallible> + Send + 'static,
    ) -> Body {
        Body {
            rest: Bytes::new(),
            streamed: Some(Box::pin(body)),
        }
    }
}

impl Body {
    /// The bytes of a body held in memory; `None` for a streamed one.
    pub fn into_bytes(self) -> Option<Bytes> {
        self.streamed.is_none().then_some(self.rest)
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.streamed {
            Some(_) => f.write_str("Body(streamed)"),
            None => write!(f, "Body({} bytes)", self.rest.len()),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(streamed) = &mut self.streamed {
            return streamed.as_mut().poll_frame(cx);
        }
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let len = self.rest.len().min(FRAME);
        Poll::Ready(Some(Ok(Frame::data(self.rest.split_to(len)))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.streamed {
            Some(streamed) => streamed.is_end_stream(),
            None => self.rest.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.streamed {
            Some(streamed) => streamed.size_hint(),
            None => SizeHint::with_exact(self.rest.len() as u64),
        }
    }
}
