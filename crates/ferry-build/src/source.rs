//! Guest source in any language ferry builds: recognizing which one a path
//! holds, and building it with that language's toolchain.

use crate::{BuildError, assemblyscript, c, cargo, go, zig};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What guest source may be, for messages to say.
pub const ACCEPTED_SOURCES: &str = "a guest crate (a directory with a Cargo.toml), a C file, \
                                    a directory of C files, a Zig file, a Go file or a \
                                    directory of Go files, or an AssemblyScript file";

/// The languages ferry builds guests from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Language {
    /// A crate, built with cargo (the `ferry` crate is its SDK).
    Rust,
    /// C files, built with clang against `ferry.h` (`sdks/c`).
    C,
    /// A Zig file, built with zig against `ferry.zig` (`sdks/zig`).
    Zig,
    /// Go files, built with go against the `ferry` package (`sdks/go`).
    Go,
    /// An AssemblyScript file, built with asc against `ferry.ts`
    /// (`sdks/assemblyscript`).
    AssemblyScript,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "Rust",
            Language::C => "C",
            Language::Zig => "Zig",
            Language::Go => "Go",
            Language::AssemblyScript => "AssemblyScript",
        })
    }
}

/// A guest's source: where it is and what language it is in.
///
/// ```no_run
/// use ferry_build::{Language, Source};
///
/// let source = Source::detect("examples/c/udfs.c").expect("a C file");
/// assert_eq!(source.language(), Language::C);
/// let wasm = source.build()?;
/// println!("built {}", wasm.display());
/// # Ok::<(), ferry_build::BuildError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    language: Language,
    path: PathBuf,
    program: Option<PathBuf>,
}

impl Source {
    /// Recognizes the source at `path`: a directory with a `Cargo.toml` is
    /// a Rust crate; a `.c` file, or a directory with `.c` files, is C; a
    /// `.zig` file is Zig (the root of its guest); a `.go` file, or a
    /// directory with `.go` files, is Go; a `.ts` file is AssemblyScript.
    /// `None` if it is none.
    pub fn detect(path: impl AsRef<Path>) -> Option<Source> {
        let path = path.as_ref();
        let language = if path.is_dir() && path.join("Cargo.toml").is_file() {
            Language::Rust
        } else if c::sources(path).is_some() {
            Language::C
        } else if zig::is_zig(path) {
            Language::Zig
        } else if go::sources(path).is_some() {
            Language::Go
        } else if assemblyscript::is_assemblyscript(path) {
            Language::AssemblyScript
        } else {
            return None;
        };
        Some(Source {
            language,
            path: path.to_owned(),
            program: None,
        })
    }

    /// Builds with this program (cargo, clang, zig, go or asc, by the
    /// language) instead of the one found by default (`$CARGO`,
    /// `$WASI_SDK_PATH`'s clang, `$ZIG`, `$GO`, `$ASC`, or the PATH's).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Source {
        self.program = Some(program.into());
        self
    }

    /// The language it is in.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The file or directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Builds it with its language's toolchain and returns the `.wasm`
    /// file. The toolchain's diagnostics go to this process's stderr; a
    /// missing toolchain is an error that says how to install it.
    pub fn build(&self) -> Result<PathBuf, BuildError> {
        match self.language {
            Language::Rust => cargo::build_crate_with(&self.path, self.program.as_deref()),
            Language::C => c::build(&self.path, self.program.as_deref()),
            Language::Zig => zig::build(&self.path, self.program.as_deref()),
            Language::Go => go::build(&self.path, self.program.as_deref()),
            Language::AssemblyScript => assemblyscript::build(&self.path, self.program.as_deref()),
        }
    }
}

/// Builds the guest source at `path`, whatever its language
/// ([`Source::detect`]), and returns the `.wasm` file.
///
/// ```no_run
/// let wasm = ferry_build::build("examples/c/histogram.c")?;
/// # Ok::<(), ferry_build::BuildError>(())
/// ```
pub fn build(path: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
    let path = path.as_ref();
    Source::detect(path)
        .ok_or_else(|| {
            BuildError::new(
                path,
                format!("there is no guest source there: expected {ACCEPTED_SOURCES}"),
            )
        })?
        .build()
}

/// Where the build of guest source puts things, all under
/// `<dir>/target/ferry-<language>/`, where `<dir>` is the source's
/// directory, or the file's.
pub(crate) struct Layout {
    /// The directory the toolchain runs in: the source's.
    pub dir: PathBuf,
    /// The SDK's files, written there for the toolchain to read.
    pub sdk: PathBuf,
    /// The module: named by the file's stem, or the directory's name.
    pub module: PathBuf,
    /// For whatever else the toolchain keeps.
    pub out_dir: PathBuf,
}

impl Layout {
    /// Lays out the build of the source at `path` in `language` and writes
    /// the SDK's files (name, contents: this crate carries them) to
    /// `sdk/`: not again if they are there already, so that their time
    /// stays that of the first build, and by renaming, so that a build
    /// running beside this one never reads half of one. Paths but `dir`
    /// are absolute, for a toolchain run in `dir`.
    pub fn prepare(
        path: &Path,
        language: &str,
        sdk_files: &[(&str, &str)],
    ) -> Result<Layout, BuildError> {
        let (dir, name) = if path.is_file() {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            (
                dir.unwrap_or(Path::new(".")),
                path.file_stem().map(ToOwned::to_owned),
            )
        } else {
            let name = path
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(ToOwned::to_owned));
            (path, name)
        };
        let name = name.unwrap_or_else(|| "guest".into());
        let out_dir = std::path::absolute(dir.join("target").join(format!("ferry-{language}")))
            .map_err(|e| {
                BuildError::new(path, format!("cannot find the build's directory: {e}"))
            })?;
        let sdk = out_dir.join("sdk");
        for (file, contents) in sdk_files {
            write_once(&sdk.join(file), contents).map_err(|e| {
                BuildError::new(path, format!("cannot write the SDK's {file}: {e}"))
            })?;
        }
        Ok(Layout {
            dir: dir.to_owned(),
            sdk,
            module: out_dir.join(name).with_extension("wasm"),
            out_dir,
        })
    }
}

/// The files at `path` that `ours` accepts: the file itself, or a
/// directory's own, sorted so that a module does not depend on the order
/// the file system lists them in; `None` if there are none.
pub(crate) fn files(path: &Path, ours: impl Fn(&Path) -> bool) -> Option<Vec<PathBuf>> {
    if path.is_file() {
        return ours(path).then(|| vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|file| file.is_file() && ours(file))
        .collect();
    files.sort();
    (!files.is_empty()).then_some(files)
}

fn write_once(file: &Path, contents: &str) -> std::io::Result<()> {
    if std::fs::read(file).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(());
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut partial = file.as_os_str().to_owned();
    partial.push(format!(".{}", std::process::id()));
    std::fs::write(&partial, contents)?;
    std::fs::rename(partial, file)
}

/// Runs a toolchain's command, its diagnostics going to this process's
/// stderr. A program that is not there, or a part of the toolchain that
/// `missing_part` finds named in the diagnostics, is an error saying how to
/// install it.
pub(crate) fn run_toolchain(
    mut command: Command,
    path: &Path,
    tool: &str,
    install: &str,
    missing_part: fn(&str) -> Option<&'static str>,
) -> Result<(), BuildError> {
    let fail = |reason: String| BuildError::new(path, reason);
    tracing::info!(?command, "building a guest with {tool}");
    let output = command
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail(format!("{tool} is not installed: {install}")),
            _ => fail(format!("cannot run {tool}: {e}")),
        })?;
    let diagnostics = String::from_utf8_lossy(&output.stderr);
    eprint!("{diagnostics}");
    if output.status.success() {
        return Ok(());
    }
    Err(fail(match missing_part(&diagnostics) {
        Some(part) => format!("{tool} cannot build for WebAssembly without {part}: {install}"),
        None => format!("{tool} failed ({}); see its messages above", output.status),
    }))
}
