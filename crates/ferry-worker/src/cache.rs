//! The disk cache's bound: the bytes the worker's store holds, counted as
//! they arrive, and which entries go when there are too many.
//!
//! Entries go least recently written or used first (the worker marks blobs
//! and modules as used when it reads them), so an honest client's code,
//! used a moment ago, outlives another client's stale uploads. What a job
//! in flight needs is pinned and never goes, nor do modules held in memory.

use ferry_host::{BlobStore, ContentHash};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the count is made again from the disk.
const RECOUNT_EVERY: Duration = Duration::from_secs(10);

/// The store's bound and the count kept against it.
pub(crate) struct DiskCache {
    store: BlobStore,
    limit: u64,
    used: AtomicU64,
    pinned: Mutex<HashMap<ContentHash, usize>>,
    counted: Mutex<Instant>,
}

impl DiskCache {
    /// A cache over `store`, counted once from the disk.
    pub(crate) fn new(store: BlobStore, limit: u64) -> DiskCache {
        DiskCache {
            used: AtomicU64::new(store.usage()),
            store,
            limit,
            pinned: Mutex::default(),
            counted: Mutex::new(Instant::now()),
        }
    }

    /// Bytes in the store, as last counted.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The bound.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Keeps `hashes` in the store until the guard is dropped.
    pub(crate) fn pin(self: &Arc<Self>, hashes: Vec<ContentHash>) -> Pinned {
        let mut pinned = self.pinned.lock();
        for hash in &hashes {
            *pinned.entry(*hash).or_default() += 1;
        }
        Pinned {
            cache: self.clone(),
            hashes,
        }
    }

    /// Counts `size` bytes just written and, over the bound, evicts what
    /// `spare` and the pins allow. Touches the disk: call it off the
    /// threads that serve requests.
    pub(crate) fn added(&self, size: u64, spare: impl Fn(&ContentHash) -> bool) {
        let used = self.used.fetch_add(size, Ordering::Relaxed) + size;
        if used > self.limit {
            self.evict(spare);
        }
    }

    /// Whether the count is older than [`RECOUNT_EVERY`]; if so, the
    /// caller is to [`recount`](Self::recount), and no other caller is
    /// asked to until then. Cheap: call it on the serving threads, so that
    /// only a request that has a recount to do leaves them.
    pub(crate) fn recount_due(&self) -> bool {
        let mut counted = self.counted.lock();
        if counted.elapsed() < RECOUNT_EVERY {
            return false;
        }
        *counted = Instant::now();
        true
    }

    /// Counts again from the disk, evicting if over the bound: precompiled
    /// code is written by the runtime as it compiles, out of the worker's
    /// sight. Touches the disk.
    pub(crate) fn recount(&self, spare: impl Fn(&ContentHash) -> bool) {
        self.used.store(self.store.usage(), Ordering::Relaxed);
        if self.used() > self.limit {
            self.evict(spare);
        }
    }

    fn evict(&self, spare: impl Fn(&ContentHash) -> bool) {
        let pinned = self.pinned.lock().clone();
        let left = self
            .store
            .evict(self.limit, |hash| spare(hash) || pinned.contains_key(hash));
        self.used.store(left, Ordering::Relaxed);
        *self.counted.lock() = Instant::now();
    }
}

/// Hashes kept from eviction while a job needs them.
pub(crate) struct Pinned {
    cache: Arc<DiskCache>,
    hashes: Vec<ContentHash>,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let mut pinned = self.cache.pinned.lock();
        for hash in &self.hashes {
            if let Some(count) = pinned.get_mut(hash) {
                *count -= 1;
                if *count == 0 {
                    pinned.remove(hash);
                }
            }
        }
    }
}
