//! The one HTTP body type of the protocol, for requests and responses.

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Frames are at most this large, so that HTTP/2 flow control paces a large
/// transfer instead of one huge write holding up every other stream.
const FRAME: usize = 64 << 10;

/// Bytes in memory, sent in frames of at most 64 KiB. Splitting shares the
/// buffer; nothing is copied.
#[derive(Debug, Default)]
pub struct Body {
    rest: Bytes,
}

impl Body {
    /// A body of `bytes`.
    pub fn new(bytes: impl Into<Bytes>) -> Body {
        Body { rest: bytes.into() }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let len = self.rest.len().min(FRAME);
        Poll::Ready(Some(Ok(Frame::data(self.rest.split_to(len)))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}
