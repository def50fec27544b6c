//! The host side of the guest ABI: per-store state, the `ferry_v1` imports,
//! bounded output capture, the memory cap, and turning a failed call into a
//! [`FailureKind`].

use super::sandbox::{Grants, Limits};
use crate::batch::{ColumnOut, ColumnType};
use crate::{Blob, Error, FailureKind, Location};
use ferry_abi::batch::ColumnDescriptor;
use ferry_abi::{IMPORT_MODULE, imports};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::{Caller, Linker, ResourceLimiter, Trap};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Everything a store carries for one instance.
pub(crate) struct HostState {
    pub wasi: WasiP1Ctx,
    pub memory_cap: MemoryCap,
    pub stdout: Capture,
    pub stderr: Capture,
    pub result_limit: u64,
    /// Set by the `result` import during a call.
    pub result: Option<Vec<u8>>,
    /// Set by the `error` import during a call.
    pub error: Option<String>,
    /// Set by the `result_column` import during a batch call.
    pub column: Option<ColumnOut>,
    /// The data blobs of the closure being run.
    pub blobs: Arc<BTreeMap<String, Blob>>,
    /// When the running call must end; waits in `poll_oneoff` stop there.
    pub deadline: Option<Instant>,
    timeout: Duration,
    clock_granted: bool,
}

impl HostState {
    pub fn new(limits: &Limits, grants: &Grants) -> Result<HostState, Error> {
        let stdout = Capture::new("stdout", limits.output);
        let stderr = Capture::new("stderr", limits.output);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .arg("ferry")
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for (key, value) in &grants.env {
            wasi.env(key, value);
        }
        for dir in &grants.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|e| Error::Io {
                    action: "cannot grant the guest the directory",
                    path: dir.host.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        if !grants.clock {
            wasi.wall_clock(FrozenClock).monotonic_clock(FrozenClock);
        }
        if !grants.random {
            // Fixed bytes make guests that seed hash maps or shuffle data
            // reproducible, which the closed sandbox promises.
            let fixed = b"ferry deterministic random bytes".to_vec();
            wasi.secure_random(wasmtime_wasi::Deterministic::new(fixed.clone()))
                .insecure_random(wasmtime_wasi::Deterministic::new(fixed))
                .insecure_random_seed(0);
        }
        Ok(HostState {
            wasi: wasi.build_p1(),
            memory_cap: MemoryCap {
                limit: usize::try_from(limits.memory).unwrap_or(usize::MAX),
                hit: false,
            },
            stdout,
            stderr,
            result_limit: limits.result,
            result: None,
            error: None,
            column: None,
            blobs: Arc::default(),
            deadline: None,
            timeout: limits.timeout,
            clock_granted: grants.clock,
        })
    }

    /// Whether the memory cap refused to grow memory.
    pub fn memory_cap_hit(&self) -> bool {
        self.memory_cap.hit
    }

    /// Clears what the previous call left behind.
    pub fn begin_call(&mut self, blobs: &Arc<BTreeMap<String, Blob>>) {
        self.result = None;
        self.error = None;
        self.column = None;
        self.memory_cap.hit = false;
        self.stdout.clear();
        self.stderr.clear();
        self.deadline = Some(Instant::now() + self.timeout);
        if !Arc::ptr_eq(&self.blobs, blobs) {
            self.blobs = blobs.clone();
        }
    }

    /// Names what went wrong when a call into the guest returned an error.
    pub fn classify(&self, error: &wasmtime::Error, limits: &Limits) -> FailureKind {
        if let Some(kind) = error.downcast_ref::<FailureKind>() {
            return kind.clone();
        }
        if self.memory_cap.hit {
            return FailureKind::MemoryLimit {
                limit: limits.memory,
            };
        }
        for capture in [&self.stdout, &self.stderr] {
            if capture.overflowed() {
                return FailureKind::OutputLimit {
                    stream: capture.stream.to_owned(),
                    limit: limits.output,
                };
            }
        }
        if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            return FailureKind::Exit { code: exit.0 };
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => FailureKind::Timeout {
                limit_ms: u64::try_from(limits.timeout.as_millis()).unwrap_or(u64::MAX),
            },
            Some(trap) => FailureKind::Trap {
                message: trap.to_string(),
            },
            None => FailureKind::Trap {
                message: format!("{error:#}"),
            },
        }
    }
}

/// Refuses memory growth past the sandbox's cap, remembering that it did so:
/// the guest usually reacts by aborting, and the abort is reported as the
/// memory limit it really is.
pub(crate) struct MemoryCap {
    limit: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|max| desired <= max))
    }
}

/// A clock stuck at zero, for guests that were not granted the real one.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        0
    }
}

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
    fn new(stream: &'static str, limit: u64) -> Capture {
        Capture {
            stream,
            inner: Arc::new(Mutex::new(CaptureBuffer {
                bytes: Vec::new(),
                limit,
                overflowed: false,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CaptureBuffer> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn append(&self, bytes: &[u8]) -> Result<(), FailureKind> {
        let mut buffer = self.lock();
        if buffer.bytes.len() as u64 + bytes.len() as u64 > buffer.limit {
            buffer.overflowed = true;
            return Err(FailureKind::OutputLimit {
                stream: self.stream.to_owned(),
                limit: buffer.limit,
            });
        }
        buffer.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    fn clear(&self) {
        let mut buffer = self.lock();
        buffer.bytes.clear();
        buffer.overflowed = false;
    }

    /// What was captured since the last call, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().bytes)
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

/// Adds WASI preview 1 and the `ferry_v1` imports to `linker`.
pub(crate) fn add_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_sync(linker, |state| &mut state.wasi)?;
    // A wait inside a host call is out of reach of epoch interruption, so
    // WASI's own `poll_oneoff` would let a guest sleep past its deadline.
    linker.allow_shadowing(true);
    linker.func_wrap("wasi_snapshot_preview1", "poll_oneoff", poll_oneoff)?;
    linker.allow_shadowing(false);

    linker.func_wrap(
        IMPORT_MODULE,
        imports::RESULT,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let limit = caller.data().result_limit;
            if u64::from(len as u32) > limit {
                return Err(wasmtime::Error::new(FailureKind::ResultTooLarge {
                    size: u64::from(len as u32),
                    limit,
                }));
            }
            let bytes = guest_bytes(&mut caller, ptr, len)?;
            caller.data_mut().result = Some(bytes);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::RESULT_COLUMN,
        |mut caller: Caller<'_, HostState>, ptr: i32| {
            let descriptor: [u8; ColumnDescriptor::SIZE] =
                guest_bytes(&mut caller, ptr, ColumnDescriptor::SIZE as i32)?
                    .try_into()
                    .expect("a descriptor's worth of bytes");
            let column = read_column(&mut caller, &ColumnDescriptor::from_bytes(&descriptor))?;
            caller.data_mut().column = Some(column);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::ERROR,
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| {
            let message =
                String::from_utf8_lossy(&guest_bytes(&mut caller, ptr, len)?).into_owned();
            caller.data_mut().error = Some(message);
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::PANIC,
        |mut caller: Caller<'_, HostState>,
         msg_ptr: i32,
         msg_len: i32,
         file_ptr: i32,
         file_len: i32,
         line: i32,
         column: i32|
         -> wasmtime::Result<()> {
            let message =
                String::from_utf8_lossy(&guest_bytes(&mut caller, msg_ptr, msg_len)?).into_owned();
            let file = String::from_utf8_lossy(&guest_bytes(&mut caller, file_ptr, file_len)?)
                .into_owned();
            Err(wasmtime::Error::new(FailureKind::Panic {
                message,
                location: Location {
                    file,
                    line: line as u32,
                    column: column as u32,
                },
            }))
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::BLOB_LEN,
        |mut caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32|
         -> wasmtime::Result<i64> {
            let name = guest_bytes(&mut caller, name_ptr, name_len)?;
            Ok(find_blob(caller.data(), &name).map_or(-1, |blob| blob.bytes().len() as i64))
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        imports::BLOB_READ,
        |mut caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         offset: i64,
         dst_ptr: i32,
         dst_len: i32|
         -> wasmtime::Result<i64> {
            let name = guest_bytes(&mut caller, name_ptr, name_len)?;
            let Some(blob) = find_blob(caller.data(), &name).map(|b| b.bytes().clone()) else {
                return Ok(-1);
            };
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(blob.len());
            let count = (dst_len as u32 as usize).min(blob.len() - start);
            let memory = guest_memory(&mut caller)?;
            let dst = guest_range(memory.data_size(&caller), dst_ptr, count as i32)?;
            memory.data_mut(&mut caller)[dst].copy_from_slice(&blob[start..start + count]);
            Ok(count as i64)
        },
    )?;
    Ok(())
}

/// WASI `poll_oneoff` that never waits past the call's deadline. File
/// descriptor subscriptions are reported ready at once (guests have no
/// sockets, and stdio never blocks here). Clock subscriptions wait for the
/// earliest timeout, or not at all when the clock is not granted and time
/// stands still; a wait that would pass the deadline ends the call as timed
/// out.
fn poll_oneoff(
    mut caller: Caller<'_, HostState>,
    subscriptions: i32,
    events: i32,
    count: i32,
    events_written: i32,
) -> wasmtime::Result<i32> {
    const SUBSCRIPTION: usize = 48;
    const EVENT: usize = 32;
    const ERRNO_INVAL: i32 = 28;
    let count = count as u32 as usize;
    if count == 0 {
        return Ok(ERRNO_INVAL);
    }
    let memory = guest_memory(&mut caller)?;
    let size = memory.data_size(&caller);
    let input = guest_range(size, subscriptions, (count * SUBSCRIPTION) as i32)?;
    let output = guest_range(size, events, (count * EVENT) as i32)?;
    let written = guest_range(size, events_written, 4)?;
    let subscriptions = memory.data(&caller)[input].to_vec();
    let u64_at = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };

    let mut ready = Vec::new();
    let mut clocks = Vec::new();
    for subscription in subscriptions.chunks_exact(SUBSCRIPTION) {
        let userdata = u64_at(subscription, 0);
        match subscription[8] {
            0 => {
                let timeout = u64_at(subscription, 24);
                let absolute = subscription[40] & 1 == 1;
                let wait = if !caller.data().clock_granted {
                    Duration::ZERO
                } else if absolute {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    Duration::from_nanos(timeout).saturating_sub(now)
                } else {
                    Duration::from_nanos(timeout)
                };
                clocks.push((userdata, wait));
            }
            kind => ready.push((
                userdata,
                if kind <= 2 { 0 } else { ERRNO_INVAL as u16 },
                kind,
            )),
        }
    }
    if ready.is_empty() {
        let wait = clocks
            .iter()
            .map(|(_, wait)| *wait)
            .min()
            .unwrap_or_default();
        let left = caller.data().deadline.map_or(wait, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        });
        if wait > left {
            std::thread::sleep(left);
            return Err(wasmtime::Error::new(Trap::Interrupt));
        }
        std::thread::sleep(wait);
        ready.extend(
            clocks
                .iter()
                .filter(|(_, w)| *w <= wait)
                .map(|(userdata, _)| (*userdata, 0, 0)),
        );
    }
    let mut out = vec![0u8; ready.len() * EVENT];
    for ((userdata, errno, kind), event) in ready.iter().zip(out.chunks_exact_mut(EVENT)) {
        event[0..8].copy_from_slice(&userdata.to_le_bytes());
        event[8..10].copy_from_slice(&errno.to_le_bytes());
        event[10] = *kind;
    }
    let data = memory.data_mut(&mut caller);
    data[output.start..output.start + out.len()].copy_from_slice(&out);
    data[written].copy_from_slice(&(ready.len() as u32).to_le_bytes());
    Ok(0)
}

/// Copies an output column out of guest memory (the one copy out), refusing
/// one over the result limit or one that is not a well-formed column.
fn read_column(
    caller: &mut Caller<'_, HostState>,
    descriptor: &ColumnDescriptor,
) -> wasmtime::Result<ColumnOut> {
    let malformed = |reason: String| {
        wasmtime::Error::new(FailureKind::Trap {
            message: format!("the guest returned a malformed column: {reason}"),
        })
    };
    let column_type = ColumnType::from_tag(descriptor.column_type)
        .ok_or_else(|| malformed(format!("unknown column type {}", descriptor.column_type)))?;
    let rows = descriptor.rows as usize;
    let offsets_len = column_type
        .offset_width()
        .map_or(0, |width| (rows + 1) * width);
    let validity_len = if descriptor.validity == 0 {
        0
    } else {
        rows.div_ceil(8)
    };
    let size = (validity_len + descriptor.values_len as usize + offsets_len) as u64;
    let limit = caller.data().result_limit;
    if size > limit {
        return Err(wasmtime::Error::new(FailureKind::ResultTooLarge {
            size,
            limit,
        }));
    }
    let mut copy = |ptr: u32, len: usize| -> wasmtime::Result<Vec<u8>> {
        if len == 0 {
            Ok(Vec::new())
        } else {
            guest_bytes(caller, ptr as i32, len as i32)
        }
    };
    let column = ColumnOut {
        column_type,
        rows,
        null_count: descriptor.null_count as usize,
        validity: (descriptor.validity != 0)
            .then(|| copy(descriptor.validity, validity_len))
            .transpose()?,
        values: copy(descriptor.values, descriptor.values_len as usize)?,
        offsets: column_type
            .offset_width()
            .map(|_| copy(descriptor.offsets, offsets_len))
            .transpose()?,
    };
    column.check().map_err(malformed)?;
    Ok(column)
}

fn find_blob<'a>(state: &'a HostState, name: &[u8]) -> Option<&'a Blob> {
    std::str::from_utf8(name)
        .ok()
        .and_then(|name| state.blobs.get(name))
}

fn guest_memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<wasmtime::Memory> {
    caller
        .get_export("memory")
        .and_then(|export| export.into_memory())
        .ok_or_else(|| wasmtime::format_err!("the guest exports no `memory`"))
}

fn guest_range(size: usize, ptr: i32, len: i32) -> wasmtime::Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .filter(|end| *end <= size);
    end.map(|end| start..end).ok_or_else(|| {
        wasmtime::format_err!("the guest passed a buffer outside its memory ({start} + {len})")
    })
}

/// Copies a buffer out of guest memory: the one copy out of the ABI.
fn guest_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let data = memory.data(&caller);
    Ok(data[guest_range(data.len(), ptr, len)?].to_vec())
}
