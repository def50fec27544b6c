//! The workspace's example guests, compiled from source with their
//! language's toolchain the first time a process asks for them.

use ferry_host::Module;
use ferry_host::guest::BuiltGuest;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The root of the ferry workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `examples/guest`: value functions (`add`, `fill`, `merge`, ...) and the
/// misbehaving ones the sandbox tests use.
pub fn example_guest() -> &'static BuiltGuest {
    static GUEST: OnceLock<BuiltGuest> = OnceLock::new();
    GUEST.get_or_init(|| build("examples/guest"))
}

/// `examples/udfs`: the SQL scalar functions and aggregates.
pub fn udfs() -> &'static BuiltGuest {
    static UDFS: OnceLock<BuiltGuest> = OnceLock::new();
    UDFS.get_or_init(|| build("examples/udfs"))
}

/// `examples/c/udfs.c`: `examples/udfs`' `gcd`, `normalize`, `div` and
/// `geo_mean`, written in C; clang and wasi-libc are installed if missing.
pub fn c_udfs() -> &'static BuiltGuest {
    static UDFS: OnceLock<BuiltGuest> = OnceLock::new();
    UDFS.get_or_init(|| {
        crate::system::c_toolchain();
        build("examples/c/udfs.c")
    })
}

/// `examples/zig/udfs.zig`: the same functions, written in Zig; Zig is
/// installed if missing.
pub fn zig_udfs() -> &'static BuiltGuest {
    static UDFS: OnceLock<BuiltGuest> = OnceLock::new();
    UDFS.get_or_init(|| build_with("examples/zig/udfs.zig", crate::system::zig()))
}

/// `examples/go/udfs.go`: the same functions, written in Go; Go is
/// installed if missing.
pub fn go_udfs() -> &'static BuiltGuest {
    static UDFS: OnceLock<BuiltGuest> = OnceLock::new();
    UDFS.get_or_init(|| build_with("examples/go/udfs.go", crate::system::go()))
}

/// `examples/assemblyscript/udfs.ts`: the same functions, written in
/// AssemblyScript; its compiler is installed if missing.
pub fn assemblyscript_udfs() -> &'static BuiltGuest {
    static UDFS: OnceLock<BuiltGuest> = OnceLock::new();
    UDFS.get_or_init(|| build_with("examples/assemblyscript/udfs.ts", crate::system::asc()))
}

/// Builds the source at `path` with the toolchain's `program`.
fn build_with(path: &str, program: PathBuf) -> BuiltGuest {
    let source = ferry_build::Source::detect(workspace_root().join(path))
        .unwrap_or_else(|| panic!("{path} is not guest source"));
    ferry_host::guest::build_source(&source.with_program(program))
        .unwrap_or_else(|e| panic!("{path} does not build: {e}"))
}

fn build(path: &str) -> BuiltGuest {
    ferry_host::guest::build(workspace_root().join(path))
        .unwrap_or_else(|e| panic!("{path} does not build: {e}"))
}

/// `module` under a new name: a custom section carrying `n` changes its
/// hash, so a runtime has never seen it and must compile it.
pub fn unseen(module: &Module, n: u64) -> Module {
    let name = b"bench.nonce";
    let payload = n.to_le_bytes();
    let mut bytes = module.bytes().to_vec();
    bytes.push(0); // custom section id
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    Module::from_bytes(bytes).expect("a custom section keeps a module valid")
}
