//! Guest stdout and stderr, captured in memory up to a limit.

use crate::FailureKind;
use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Guest stdout or stderr, kept in memory up to a limit. Writing past the
/// limit stops the guest with [`FailureKind::OutputLimit`].
#[derive(Clone)]
pub(crate) struct Capture {
    stream: &'static str,
    inner: Arc<Mutex<CaptureBuffer>>,
}

struct CaptureBuffer {
    bytes: Vec<u8>,
    limit: u64,
    overflowed: bool,
}

impl Capture {
    /// A capture of `stream` (`stdout` or `stderr`) holding up to `limit`
    /// bytes.
    pub fn new(stream: &'static str, limit: u64) -> Capture {
        Capture {
            stream,
            inner: Arc::new(Mutex::new(CaptureBuffer {
                bytes: Vec::new(),
                limit,
                overflowed: false,
            })),
        }
    }

    fn append(&self, bytes: &[u8]) -> Result<(), FailureKind> {
        let mut buffer = self.inner.lock();
        if buffer.bytes.len() as u64 + bytes.len() as u64 > buffer.limit {
            buffer.overflowed = true;
            return Err(self.over_limit(buffer.limit));
        }
        buffer.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn over_limit(&self, limit: u64) -> FailureKind {
        FailureKind::OutputLimit {
            stream: self.stream.to_owned(),
            limit,
        }
    }

    /// The failure to report if the guest wrote past the limit since the
    /// last call: a guest may turn the refused write into a panic of its own,
    /// which is not what stopped it.
    pub fn overflow(&self) -> Option<FailureKind> {
        let buffer = self.inner.lock();
        buffer.overflowed.then(|| self.over_limit(buffer.limit))
    }

    /// Forgets what the previous call wrote.
    pub fn clear(&self) {
        let mut buffer = self.inner.lock();
        buffer.bytes.clear();
        buffer.overflowed = false;
    }

    /// What was captured since the last call, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.inner.lock().bytes)
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.append(&bytes)
            .map_err(|kind| StreamError::Trap(wasmtime::Error::new(kind)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always grant a large permit: the limit is enforced in `write`, which
        // can stop the guest with a precise error instead of a closed stream.
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(std::io::Error::other),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
