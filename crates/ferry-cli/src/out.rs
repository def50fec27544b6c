//! Standard output for results. When the reader goes away (`ferry sql ... |
//! head`), the process ends quietly and successfully, as ripgrep and the
//! Unix tools do, instead of failing with "Broken pipe" or panicking in
//! `println!`.

use std::io::{self, StdoutLock, Write};

/// Locked standard output that exits on a broken pipe.
pub struct Stdout(StdoutLock<'static>);

/// Standard output, locked until the value is dropped.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        quiet(self.0.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        quiet(self.0.flush())
    }
}

fn quiet<T>(result: io::Result<T>) -> io::Result<T> {
    if let Err(error) = &result
        && error.kind() == io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
    result
}
