//! What a guest may do: resource limits and capability grants.

use super::ActorAccess;
use std::path::PathBuf;
use std::time::Duration;

/// The limits and grants one call runs under.
///
/// The default is the closed sandbox: no files, no environment variables, a
/// clock stuck at the Unix epoch, deterministic "random" bytes, and the
/// [`Limits`] defaults.
///
/// ```
/// use ferry_host::Sandbox;
/// use std::time::Duration;
///
/// let mut sandbox = Sandbox::default();
/// sandbox.limits.timeout = Duration::from_millis(200);
/// sandbox.limits.memory = 64 << 20;
/// sandbox.grants.env.push(("MODE".into(), "fast".into()));
/// sandbox.grants.clock = true;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Sandbox {
    /// Resource limits.
    pub limits: Limits,
    /// Capabilities beyond pure computation.
    pub grants: Grants,
}

/// Per-call resource limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Linear memory the guest may grow to, in bytes. Capped by the runtime's
    /// [`RuntimeConfig::max_memory`](crate::RuntimeConfig::max_memory).
    pub memory: u64,
    /// Wall-clock time one call may take, measured in epoch ticks.
    pub timeout: Duration,
    /// Bytes the guest may write to stdout, and separately to stderr.
    pub output: u64,
    /// Bytes the encoded result may have.
    pub result: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory: 256 << 20,
            timeout: Duration::from_secs(30),
            output: 1 << 20,
            result: 64 << 20,
        }
    }
}

/// Capabilities a guest gets only when the caller grants them.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open.
    pub dirs: Vec<DirGrant>,
    /// The real wall and monotonic clocks instead of a clock stuck at zero.
    pub clock: bool,
    /// Real randomness instead of a fixed, deterministic byte sequence.
    pub random: bool,
    /// The actors the guest's `actor_call` reaches; none without it.
    pub actors: Option<ActorAccess>,
}

/// A host directory visible to the guest.
#[derive(Clone, Debug)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it, e.g. `/data`.
    pub guest: String,
    /// Whether the guest may create, change and delete files in it.
    pub writable: bool,
}
