//! Standard output for results, and [`note!`] for messages on standard
//! error. When the reader goes away (`ferry sql ... | head`), what is left
//! to print is dropped quietly, as Unix tools do, instead of failing with
//! "Broken pipe" or panicking in `println!`; the statements still to come
//! run all the same (a `COPY` among them still writes its file), and long
//! output stops early by asking [`closed`]. What a guest printed goes to
//! standard error ([`guest_output`]), so that standard output is exactly
//! the result.

use std::io::{self, StdoutLock, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Locked standard output that drops what it is given once the reader
/// has gone.
pub struct Stdout(StdoutLock<'static>);

/// Standard output, locked until the value is dropped.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

/// Whether the reader of standard output has gone, so that nothing more
/// needs printing.
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if closed() {
            return Ok(buf.len());
        }
        quiet(self.0.write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if closed() {
            return Ok(());
        }
        quiet(self.0.flush(), ())
    }
}

fn quiet<T>(result: io::Result<T>, dropped: T) -> io::Result<T> {
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, Ordering::Relaxed);
            Ok(dropped)
        }
        other => other,
    }
}

/// `eprintln!` for messages about the run (timings, errors, guest output),
/// which are dropped, rather than panicking, once nobody reads standard
/// error.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use note;

/// Shows what a guest printed, each stream under a heading.
pub fn guest_output(stdout: &[u8], stderr: &[u8]) {
    for (name, bytes) in [("stdout", stdout), ("stderr", stderr)] {
        if !bytes.is_empty() {
            let text = String::from_utf8_lossy(bytes);
            note!(
                "--- guest {name} ---\n{}",
                text.strip_suffix('\n').unwrap_or(&text)
            );
        }
    }
}
