//! Blobs read once and shared by everyone who uses them at the same time:
//! queued requests whose closures carry one large table, and clients
//! downloading one large result, hold one copy between them, not one each.

use ferry_host::{Blob, ContentHash, Error, WeakBlob};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// One blob's place: locked while the blob is read, so that readers who
/// come meanwhile wait for that copy instead of reading their own.
type Slot = Arc<Mutex<Option<WeakBlob>>>;

/// Blobs held by someone, by hash.
#[derive(Default)]
pub(crate) struct SharedBlobs {
    slots: Mutex<HashMap<ContentHash, Slot>>,
}

impl SharedBlobs {
    /// The blob `hash` names: the copy someone holds, or else what `read`
    /// returns, kept for those who come while it is held.
    pub(crate) fn get(
        &self,
        hash: &ContentHash,
        read: impl FnOnce() -> Result<Blob, Error>,
    ) -> Result<Blob, Error> {
        let slot = {
            let mut slots = self.slots.lock();
            // A slot being read (locked) or in use stays; the rest go.
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .is_none_or(|held| held.as_ref().and_then(WeakBlob::upgrade).is_some())
            });
            slots.entry(*hash).or_default().clone()
        };
        let mut held = slot.lock();
        if let Some(blob) = held.as_ref().and_then(WeakBlob::upgrade) {
            return Ok(blob);
        }
        let blob = read()?;
        *held = Some(blob.downgrade());
        Ok(blob)
    }

    /// The copy someone holds, if it can be had without waiting.
    pub(crate) fn held(&self, hash: &ContentHash) -> Option<Blob> {
        let slot = self.slots.lock().get(hash)?.clone();
        let held = slot.try_lock()?;
        held.as_ref().and_then(WeakBlob::upgrade)
    }
}
