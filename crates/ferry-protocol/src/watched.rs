//! Something made from files and made again whenever they change, so that
//! a server picks up rotated tokens and renewed certificates without a
//! restart.
//!
//! A change is seen on the next use: each use looks at the files' metadata
//! (a few system calls, no reading), and reads them only if one changed. A
//! change that fails to load is logged and ignored, and what was loaded
//! last stays in force: a half-written file locks no one out.
//!
//! ```
//! use ferry_protocol::watched::Watched;
//!
//! let dir = std::env::temp_dir().join(format!("watched-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("n");
//! std::fs::write(&file, "1").unwrap();
//! let parse = |paths: &[std::path::PathBuf]| -> Result<u32, String> {
//!     let text = std::fs::read_to_string(&paths[0]).map_err(|e| e.to_string())?;
//!     text.trim().parse().map_err(|_| format!("not a number: {text:?}"))
//! };
//! let number = Watched::new(vec![file.clone()], parse)?;
//! assert_eq!(*number.get(), 1);
//! std::fs::write(&file, "22").unwrap();
//! assert_eq!(*number.get(), 22);
//! # Ok::<(), String>(())
//! ```

use parking_lot::Mutex;
use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// What tells one version of a file from the next: a file replaced by a
/// rename has a new inode, one rewritten in place a new time or length.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len(), meta.ino()))
        })
        .collect()
}

type Load<T, E> = Box<dyn Fn(&[PathBuf]) -> Result<T, E> + Send + Sync>;

/// A `T` loaded from `paths`, loaded again when they change.
pub struct Watched<T, E> {
    paths: Vec<PathBuf>,
    load: Load<T, E>,
    current: Mutex<(Vec<Stamp>, Arc<T>)>,
}

impl<T, E: Display> Watched<T, E> {
    /// Loads now: an error here is the caller's to report (a server should
    /// not start on files it cannot use).
    pub fn new(
        paths: Vec<PathBuf>,
        load: impl Fn(&[PathBuf]) -> Result<T, E> + Send + Sync + 'static,
    ) -> Result<Watched<T, E>, E> {
        let seen = stamps(&paths);
        let value = load(&paths)?;
        Ok(Watched {
            paths,
            load: Box::new(load),
            current: Mutex::new((seen, Arc::new(value))),
        })
    }

    /// The value from the files as they are now, or as they last loaded.
    pub fn get(&self) -> Arc<T> {
        let now = stamps(&self.paths);
        let mut current = self.current.lock();
        if now != current.0 {
            current.0 = now;
            match (self.load)(&self.paths) {
                Ok(value) => {
                    tracing::info!(files = ?self.paths, "reloaded after a change");
                    current.1 = Arc::new(value);
                }
                Err(error) => {
                    tracing::warn!(%error, files = ?self.paths, "not reloaded; what was loaded last stays in force")
                }
            }
        }
        current.1.clone()
    }
}

impl<T, E> std::fmt::Debug for Watched<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}
