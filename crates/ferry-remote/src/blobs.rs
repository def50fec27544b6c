//! The store of a server of the protocol's blob endpoints, as a client sees
//! it: code uploaded when the server lacks it, blobs downloaded by hash.

use crate::link::Link;
use bytes::Bytes;
use ferry_host::{Closure, ContentHash, Error};
use ferry_protocol::tls::ClientTls;
use std::sync::atomic::{AtomicU64, Ordering};

/// The blob endpoints of one server (a `ferry worker`, or a `ferry
/// scheduler`, which serves them too): [`ensure`](Blobs::ensure) uploads the
/// modules and blobs of closures it lacks, [`download`](Blobs::download)
/// fetches a blob by hash and checks it. One HTTP/2 connection, made on
/// demand and remade after a failure; what the server was seen to hold is
/// remembered, so code is asked about once.
///
/// ```no_run
/// use ferry_host::{Closure, Module};
/// use ferry_remote::Blobs;
///
/// # async fn demo() -> Result<(), ferry_host::Error> {
/// let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_guest.wasm")?;
/// let blobs = Blobs::new("127.0.0.1:7878", "s3cret")?;
/// blobs.ensure([&Closure::new(&module, "add")?]).await?;
/// let bytes = blobs.download(&module.id()).await?;
/// assert_eq!(&bytes[..], &module.bytes()[..]);
/// # Ok(()) }
/// ```
pub struct Blobs {
    link: Link,
    uploaded: AtomicU64,
}

impl Blobs {
    /// The server at `address` (`host:port` or `http://host:port`), with
    /// the token it expects.
    pub fn new(address: &str, token: &str) -> Result<Blobs, Error> {
        Blobs::with_tls(address, token, None)
    }

    /// The server at `address`, over TLS with `tls` if given.
    pub fn with_tls(address: &str, token: &str, tls: Option<&ClientTls>) -> Result<Blobs, Error> {
        Ok(Blobs {
            link: Link::new(address, token, Default::default(), Link::tls_config(tls)?)?,
            uploaded: AtomicU64::new(0),
        })
    }

    /// The server's address, as `host:port`.
    pub fn address(&self) -> &str {
        self.link.address()
    }

    /// Uploads the modules and data blobs of `closures` that the server
    /// lacks: one question for all of them, then one upload for each
    /// missing one.
    pub async fn ensure<'a>(
        &self,
        closures: impl IntoIterator<Item = &'a Closure>,
    ) -> Result<(), Error> {
        Ok(self.link.ensure_code(closures, &self.uploaded).await?)
    }

    /// Makes sure the server can be reached, speaks the same TLS (or
    /// cleartext) and takes the token, by asking it a question about
    /// nothing.
    pub async fn check(&self) -> Result<(), Error> {
        self.link.missing(Vec::new()).await?;
        Ok(())
    }

    /// Forgets that the server holds the code of `closures` (after it said
    /// it lost it), so that the next [`ensure`](Blobs::ensure) asks again.
    pub fn forget<'a>(&self, closures: impl IntoIterator<Item = &'a Closure>) {
        self.link.forget_code(closures);
    }

    /// The blob `hash` names; bytes that do not match it are an
    /// [`Error::HashMismatch`].
    pub async fn download(&self, hash: &ContentHash) -> Result<Bytes, Error> {
        Ok(self.link.download(hash, "downloaded blob").await?)
    }

    /// Bytes uploaded so far.
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs")
            .field("address", &self.address())
            .finish()
    }
}
