//! Building AssemblyScript guests: a `.ts` file whose `//ferry:`
//! directives are read into an entry file of exports (`as_exports`), built
//! by `asc` with the AssemblyScript SDK (`sdks/assemblyscript/ferry.ts`),
//! which this crate carries, as the library module `ferry`; the records
//! follow in a custom section appended to the module.

use crate::as_exports::{self, AssemblyScript};
use crate::{BuildError, directives, source};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The AssemblyScript SDK: the library module guests import as `ferry`.
pub const ASSEMBLYSCRIPT_SDK: &str = include_str!("../../../sdks/assemblyscript/ferry.ts");

const INSTALL: &str = "install AssemblyScript (`npm install assemblyscript`, with Node.js) \
                       and put its `asc` on the PATH, or name it in ASC";

pub(crate) fn is_assemblyscript(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|ext| ext == "ts")
}

/// Builds the guest in the file `path` to
/// `<dir>/target/ferry-assemblyscript/<stem>.wasm`.
pub(crate) fn build(path: &Path, asc: Option<&Path>) -> Result<PathBuf, BuildError> {
    let fail = |reason: String| BuildError::new(path, reason);
    let layout =
        source::Layout::prepare(path, "assemblyscript", &[("ferry.ts", ASSEMBLYSCRIPT_SDK)])?;
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let functions =
        directives::read::<AssemblyScript>(&[(name.into_owned(), text)]).map_err(fail)?;

    // The entry is beside the module, two directories below the guest:
    // the toolchain runs in the guest's directory on relative paths, so the
    // module does not depend on where it is checked out.
    let stem = layout
        .module
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let entry = layout.out_dir.join(format!("{stem}.entry.ts"));
    let contents = as_exports::entry_file(&functions, &format!("../../{stem}"));
    std::fs::write(&entry, contents)
        .map_err(|e| fail(format!("cannot write the build's entry file: {e}")))?;
    let relative = |p: &Path| {
        p.strip_prefix(std::path::absolute(&layout.dir).unwrap_or_default())
            .map(Path::to_owned)
            .unwrap_or_else(|_| p.to_owned())
    };

    let linked = layout.out_dir.join(format!("{stem}.linked.wasm"));
    let mut command = Command::new(
        asc.map(OsString::from)
            .or_else(|| std::env::var_os("ASC"))
            .unwrap_or_else(|| "asc".into()),
    );
    command
        .current_dir(&layout.dir)
        .arg(relative(&entry))
        .arg("--lib")
        .arg(relative(&layout.sdk))
        .args(["--runtime", "incremental", "-O3", "--noColors"])
        // `throw` and assertions end in the SDK's `abort`, the ABI's
        // panic, not in an `env.abort` import a host refuses.
        .args(["--use", "abort=~lib/ferry/abort", "--outFile"])
        .arg(relative(&linked));
    source::run_toolchain(command, path, "asc", INSTALL, |_| None)?;
    directives::write_module::<AssemblyScript>(&linked, &layout.module, &functions)
        .map_err(fail)?;
    Ok(layout.module)
}
