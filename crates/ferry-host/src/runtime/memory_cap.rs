//! The memory cap: linear memory may not grow past the sandbox's limit.

use wasmtime::ResourceLimiter;

/// Refuses memory growth past the sandbox's cap, remembering that it did so:
/// the guest usually reacts by aborting, and the abort is reported as the
/// memory limit it really is.
pub(crate) struct MemoryCap {
    limit: usize,
    hit: bool,
}

impl MemoryCap {
    /// A cap of `limit` bytes.
    pub fn new(limit: u64) -> MemoryCap {
        MemoryCap {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            hit: false,
        }
    }

    /// Whether the cap refused to grow memory since the last [`reset`](Self::reset).
    pub fn hit(&self) -> bool {
        self.hit
    }

    /// Forgets a refusal, before the next call.
    pub fn reset(&mut self) {
        self.hit = false;
    }
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
