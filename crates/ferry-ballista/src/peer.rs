//! The other end of the code's journey: the scheduler, to which a client
//! uploads what the cluster lacks and from which an executor fetches it.
//!
//! Codecs are called synchronously, on threads of whatever async runtime
//! runs the plan, so the network calls run on a small runtime of the peer's
//! own and the calling thread waits for them.

use ferry_host::{Blob, BlobStore, Closure, ContentHash, Error, Module, Resolve};
use ferry_protocol::tls::ClientTls;
use ferry_remote::Blobs;
use parking_lot::Mutex;
use std::future::Future;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// A scheduler's blob endpoints, reachable from synchronous code.
pub(crate) struct Peer {
    blobs: Blobs,
    runtime: SideRuntime,
    /// Held while fetching, so that tasks decoding at once fetch a module
    /// once.
    fetching: Mutex<()>,
}

impl Peer {
    pub fn new(address: &str, token: &str, tls: Option<&ClientTls>) -> Result<Peer, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferry-code")
            .enable_all()
            .build()
            .map_err(|e| Error::Engine(format!("cannot start the code fetcher's thread: {e}")))?;
        Ok(Peer {
            blobs: Blobs::with_tls(address, token, tls)?,
            runtime: SideRuntime(Some(runtime)),
            fetching: Mutex::new(()),
        })
    }

    pub fn address(&self) -> &str {
        self.blobs.address()
    }

    /// Fails, saying why, unless the peer can be reached and takes the
    /// token.
    pub fn check(&self) -> Result<(), Error> {
        self.runtime.wait(self.blobs.check())
    }

    /// Uploads the closure's module and blobs unless the peer has them.
    pub fn upload(&self, closure: &Closure) -> Result<(), Error> {
        self.runtime.wait(self.blobs.ensure([closure]))
    }

    /// Fetches `hash` into `store` unless it is there by now; the bytes are
    /// checked against the hash before they are kept.
    fn fetch(&self, store: &BlobStore, what: &str, hash: &ContentHash) -> Result<(), Error> {
        let _one_at_a_time = self.fetching.lock();
        if store.contains(hash) {
            return Ok(());
        }
        let bytes = self.runtime.wait(self.blobs.download(hash))?;
        store.put(&bytes)?;
        tracing::info!(%hash, bytes = bytes.len(), from = self.address(), "fetched {what}");
        Ok(())
    }
}

/// Resolves a closure's references from a store, fetching what it lacks
/// from the peer, if there is one.
pub(crate) struct Fetching<'a> {
    pub store: &'a BlobStore,
    pub peer: Option<&'a Peer>,
}

impl Fetching<'_> {
    fn resolve<T>(
        &self,
        what: &'static str,
        hash: &ContentHash,
        read: impl Fn(&BlobStore) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match (read(self.store), self.peer) {
            // A damaged copy was deleted as it was found: fetch a good one.
            (Err(Error::NotInStore { .. } | Error::HashMismatch { .. }), Some(peer)) => {
                peer.fetch(self.store, what, hash)?;
                read(self.store)
            }
            (result, _) => result,
        }
    }
}

impl Resolve for Fetching<'_> {
    fn module(&self, hash: &ContentHash) -> Result<Module, Error> {
        self.resolve("module", hash, |store| store.module(hash))
    }

    fn blob(&self, hash: &ContentHash) -> Result<Blob, Error> {
        self.resolve("blob", hash, |store| Resolve::blob(store, hash))
    }
}

/// A runtime that may be dropped anywhere, even on another runtime's thread.
struct SideRuntime(Option<Runtime>);

impl SideRuntime {
    /// Runs `work` to completion on this runtime, from synchronous code that
    /// may itself be on an async runtime's thread.
    fn wait<T: Send>(&self, work: impl Future<Output = T> + Send) -> T {
        let runtime = self.0.as_ref().expect("the runtime lives until dropped");
        // A thread cannot block on one runtime while inside another, so the
        // waiting happens on a thread of its own.
        let run = || {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| runtime.block_on(work))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        };
        match Handle::try_current() {
            // Other tasks move to other threads while this one waits.
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }
    }
}

impl Drop for SideRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
