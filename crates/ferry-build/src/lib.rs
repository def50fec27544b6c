//! Building ferry guests from source, for `wasm32-wasip1`:
//!
//! - [`build`]: guest source in any language ferry knows ([`Source`]): a
//!   Rust crate (with cargo, [`build_crate`]), C (with clang, against
//!   [`C_HEADER`]), Zig (with zig, against [`ZIG_SDK`]), Go (with go,
//!   against [`GO_SDK`]) or AssemblyScript (with asc, against
//!   [`ASSEMBLYSCRIPT_SDK`]); what `ferry build` does;
//! - [`javascript_engine`]: the module that runs JavaScript functions
//!   carried as source (QuickJS, with cargo and clang);
//! - [`guest`]: guest code kept in the host's own crate, built from the
//!   host's build script and embedded in it, with a typed handle for each
//!   function, so that `cargo run` is the only command and the compiler
//!   checks both ends of every call.
//!
//! This crate runs in build scripts, so it depends on little: building
//! wasmtime or DataFusion again for a build script would double a cold
//! build.

#![deny(missing_docs)]

mod as_exports;
mod assemblyscript;
mod c;
mod cargo;
pub mod closure;
mod directives;
mod embed;
mod go;
mod go_exports;
mod javascript;
mod paths;
mod source;
mod zig;

pub use assemblyscript::ASSEMBLYSCRIPT_SDK;
pub use c::C_HEADER;
pub use cargo::{GUEST_TARGET, build_crate};
pub use embed::{EMBED_FILE, Embedded, Guest, guest};
pub use go::GO_SDK;
pub use javascript::{JAVASCRIPT_ENGINE_ENV, javascript_engine};
pub use source::{ACCEPTED_SOURCES, Language, Source, build};
pub use zig::ZIG_SDK;

use std::path::{Path, PathBuf};

/// A guest that did not build: where, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the guest at {}: {reason}", path.display())]
pub struct BuildError {
    /// The crate or file.
    pub path: PathBuf,
    /// What went wrong, in a line.
    pub reason: String,
}

impl BuildError {
    fn new(path: impl AsRef<Path>, reason: impl Into<String>) -> BuildError {
        BuildError {
            path: path.as_ref().to_owned(),
            reason: reason.into(),
        }
    }
}
