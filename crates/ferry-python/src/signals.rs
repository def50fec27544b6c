//! wasmtime's signal handlers, kept in place in a process shared with other
//! native libraries.
//!
//! A guest's trap (an out-of-bounds access, `unreachable`, which is also
//! how a Rust guest panics, a division by zero) reaches wasmtime as a signal,
//! and wasmtime installs its handlers once, when the first engine is made. A
//! library loaded later may install its own over them: `ray.init()` in a
//! driver that has already called a closure does, and the next trap then
//! kills the interpreter (`SIGILL`). So the handlers in force once the
//! runtime exists are remembered, and put back before each call if someone
//! replaced them. The replacing library then no longer sees faults outside
//! wasm itself; wasmtime passes those on to whatever was installed before it.

#[cfg(unix)]
mod unix {
    use std::sync::OnceLock;

    /// The signals wasmtime handles on Unix.
    const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGILL, libc::SIGFPE, libc::SIGBUS];

    static WASMTIME: OnceLock<Vec<(libc::c_int, libc::sigaction)>> = OnceLock::new();

    fn current(signal: libc::c_int) -> Option<libc::sigaction> {
        // SAFETY: reads the disposition into a zeroed struct of the right
        // type; a null new action changes nothing.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(signal, std::ptr::null(), &mut action) == 0).then_some(action)
        }
    }

    /// Remembers the handlers in force now: call once the first engine
    /// exists.
    pub fn remember() {
        WASMTIME.get_or_init(|| {
            SIGNALS
                .iter()
                .filter_map(|&signal| current(signal).map(|action| (signal, action)))
                .collect()
        });
    }

    /// Puts back any remembered handler someone else replaced.
    pub fn restore() {
        for (signal, wasmtime) in WASMTIME.get().into_iter().flatten() {
            if current(*signal).is_some_and(|now| now.sa_sigaction != wasmtime.sa_sigaction) {
                // SAFETY: reinstalls the exact action wasmtime installed for
                // this signal, which stays valid for the life of the process.
                unsafe { libc::sigaction(*signal, wasmtime, std::ptr::null_mut()) };
            }
        }
    }
}

#[cfg(unix)]
pub use unix::{remember, restore};

/// Elsewhere wasmtime does not rely on signal handlers.
#[cfg(not(unix))]
pub fn remember() {}

/// Elsewhere wasmtime does not rely on signal handlers.
#[cfg(not(unix))]
pub fn restore() {}
