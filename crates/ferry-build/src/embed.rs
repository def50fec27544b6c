//! Guest code kept in the host's own crate: one file (with its submodules)
//! that is a module of the host and, built from the host's build script,
//! the crate root of a guest module embedded in the host.

use crate::BuildError;
use crate::cargo::GuestBuild;
use crate::paths::{LINKS_DIR, PathLinks};
use serde_json::Value as Json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Set for the host crate's compilation: the path of the module in the host
/// crate that embeds the guest (`crate::guest`). With it, the SDK's macros
/// write a typed handle beside each function.
pub(crate) const MODULE_PATH_ENV: &str = "FERRY_GUEST_MODULE_PATH";

/// The file `ferry::embed!()` includes, in the host's `OUT_DIR`.
pub const EMBED_FILE: &str = "ferry_guest.rs";

/// The module it embeds, beside it.
const EMBED_WASM: &str = "ferry_guest.wasm";

/// Guest code in a file of the host's crate, to build from `build.rs`:
///
/// ```no_run
/// // In build.rs's `main`:
/// ferry_build::guest("src/guest.rs").build();
/// ```
///
/// The file starts with `ferry::embed!();` and holds `#[ferry::function]`,
/// `#[ferry::udf]` and `#[ferry::udaf]` items and the types they take; the
/// host declares it as a module (`mod guest;`) and calls its functions
/// through typed handles: `guest::fill::with_env(&binning)?` is a
/// [`TypedClosure`](https://docs.rs/ferry-host)`<Events, Counts>`. Each
/// `ferry::closure!` in the host's `src/` becomes a function of the guest
/// too ([`closure`](crate::closure)).
///
/// The guest is compiled as a crate of its own (a root written beside its
/// manifest holds the file as a module, and the closures' functions), with
/// the host's `ferry` and `serde` dependencies (and any named with
/// [`dependency`](Guest::dependency)), into a target directory beside the
/// host's (`target/ferry-guests`), so the host's dependencies are never
/// built for WebAssembly and an unchanged guest is not rebuilt. It takes
/// rustc flags only from [`rustflag`](Guest::rustflag). Paths are remapped
/// and path dependencies are reached through links in the guest's
/// directory, so that the module's bytes depend neither on where the crate
/// and its path dependencies are checked out nor on where cargo keeps
/// downloaded crates (on systems without symbolic links, a path dependency
/// must be in the same place for two builds to agree). A path dependency
/// whose own manifest names a crate outside its workspace by a relative
/// path is not supported: through the link, that path leads elsewhere.
#[derive(Debug, Clone)]
pub struct Guest {
    source: PathBuf,
    module_path: Option<String>,
    dependencies: Vec<String>,
    guests_dir: Option<PathBuf>,
    rustflags: Vec<String>,
}

/// The guest whose crate root is `source`, relative to the host crate's
/// directory. See [`Guest`].
pub fn guest(source: impl Into<PathBuf>) -> Guest {
    Guest {
        source: source.into(),
        module_path: None,
        dependencies: vec!["ferry".into(), "serde".into()],
        guests_dir: None,
        rustflags: Vec::new(),
    }
}

/// A guest that was built.
#[derive(Debug)]
pub struct Embedded {
    /// The module's `.wasm` file.
    pub wasm: PathBuf,
    /// What the module was built from, which a build script watches: the
    /// local files in cargo's dependency list, the manifests and the lock
    /// file, and the host's `src/`, where closures may be.
    pub sources: Vec<PathBuf>,
}

impl Guest {
    /// Gives the guest the host's dependency `name` too, as the host's
    /// manifest declares it (`ferry` and `serde` it gets when the host has
    /// them).
    pub fn dependency(mut self, name: &str) -> Guest {
        self.dependencies.push(name.to_owned());
        self
    }

    /// Where the file is among the host's modules, as a path from `crate`;
    /// by default, from its place under `src/` (`src/guest.rs` is
    /// `crate::guest`, `src/jobs/guest.rs` is `crate::jobs::guest`).
    pub fn module_path(mut self, path: &str) -> Guest {
        self.module_path = Some(path.to_owned());
        self
    }

    /// Builds guests under `dir` (their crates, and one target directory
    /// they share) instead of `ferry-guests` in the host's target
    /// directory: one place for the guests of several workspaces, whose
    /// dependencies are then built once.
    pub fn guests_dir(mut self, dir: impl Into<PathBuf>) -> Guest {
        self.guests_dir = Some(dir.into());
        self
    }

    /// Adds `flag` to rustc's flags for the guest (`-Ctarget-feature=+simd128`).
    /// The guest takes no flags from the environment or from cargo's
    /// configuration: those are the host's.
    pub fn rustflag(mut self, flag: &str) -> Guest {
        self.rustflags.push(flag.to_owned());
        self
    }

    /// Builds the guest from a build script and tells cargo what to watch
    /// and what the host's compilation needs. On failure the build stops
    /// with a message saying why.
    pub fn build(self) {
        let built = env_dir("CARGO_MANIFEST_DIR").and_then(|manifest_dir| {
            let out_dir = env_dir("OUT_DIR")?;
            let module_path = self.module_path_in(&manifest_dir)?;
            let built = self.build_in(&manifest_dir, &out_dir)?;
            Ok((built, module_path))
        });
        match built {
            Ok((built, module_path)) => {
                println!("cargo::rustc-env={MODULE_PATH_ENV}={module_path}");
                for source in &built.sources {
                    println!("cargo::rerun-if-changed={}", source.display());
                }
                println!("cargo::rerun-if-env-changed=CARGO_HOME");
            }
            Err(error) => {
                // One line for cargo's summary; cargo's own messages, above
                // it, say what was wrong with the code.
                println!("cargo::error={}", error.to_string().replace('\n', " "));
                std::process::exit(1);
            }
        }
    }

    fn module_path_in(&self, manifest_dir: &Path) -> Result<String, BuildError> {
        if let Some(path) = &self.module_path {
            return Ok(path.clone());
        }
        let relative = self.source.strip_prefix("src").map_err(|_| {
            BuildError::new(
                manifest_dir.join(&self.source),
                "the file is not under src/: name its module with .module_path(\"crate::...\")",
            )
        })?;
        let mut path = String::from("crate");
        for part in relative.with_extension("").components() {
            let part = part.as_os_str().to_string_lossy();
            if part != "mod" {
                write!(path, "::{part}").expect("writing to a string");
            }
        }
        Ok(path)
    }

    /// Builds the guest of the host crate in `manifest_dir` and writes the
    /// file `ferry::embed!()` includes to `out_dir`: what
    /// [`build`](Guest::build) does, without a build script's environment.
    pub fn build_in(&self, manifest_dir: &Path, out_dir: &Path) -> Result<Embedded, BuildError> {
        let source = manifest_dir.join(&self.source);
        if !source.is_file() {
            return Err(BuildError::new(&source, "there is no such file"));
        }
        let host = Host::read(manifest_dir)?;
        let guests_dir = self.guests_dir.as_ref().unwrap_or(&host.guests_dir);
        let dir = guests_dir.join(&host.name);
        std::fs::create_dir_all(&dir).map_err(|e| BuildError::new(&dir, e.to_string()))?;
        let (root, closures) = self.root(manifest_dir, &source)?;
        write_if_changed(&dir.join("lib.rs"), root.as_bytes())?;
        let manifest = dir.join("Cargo.toml");
        let mut links = PathLinks::new(&dir);
        let new_manifest =
            write_if_changed(&manifest, self.manifest(&host, &mut links)?.as_bytes())?;
        // The host's lock file pins what the guest shares with it; cargo
        // then adds the guest to the copy, so it is copied again only when
        // the host's or the guest's declarations change.
        if let Ok(lock) = std::fs::read(host.workspace_root.join("Cargo.lock")) {
            let copied = dir.join("host.lock");
            if new_manifest || std::fs::read(&copied).ok().as_ref() != Some(&lock) {
                std::fs::write(dir.join("Cargo.lock"), &lock).map_err(|e| {
                    BuildError::new(&dir, format!("cannot copy the lock file: {e}"))
                })?;
                write_if_changed(&copied, &lock)?;
            }
        }
        let target_dir = guests_dir.join("target");
        let mut rustflags = remaps(&host.workspace_root, guests_dir, &target_dir);
        rustflags.extend(self.rustflags.iter().cloned());
        let built = GuestBuild {
            manifest: &manifest,
            target_dir: Some(&target_dir),
            rustflags: Some(rustflags),
            cargo: None,
            env: Vec::new(),
            quiet: false,
        }
        .run()?;
        // Not the files written here: they change only with the others.
        let mut sources = dep_info(
            &built,
            &links,
            &[guests_dir, &cargo_home().unwrap_or_default()],
        );
        // What the guest is made of beyond its files: its dependencies'
        // declarations, and the closures anywhere in the host's code (a
        // first one included).
        sources.push(host.manifest.clone());
        sources.push(host.workspace_root.join("Cargo.toml"));
        sources.push(host.workspace_root.join("Cargo.lock"));
        sources.push(manifest_dir.join("src"));
        // A copy of its own: another build in the same target directory
        // may write the same file next.
        let wasm = out_dir.join(EMBED_WASM);
        let bytes = std::fs::read(&built)
            .map_err(|e| BuildError::new(&built, format!("cannot read it: {e}")))?;
        write_if_changed(&wasm, &bytes)?;
        let embed = format!(
            "// Written by ferry-build: the guest built from {source}.\n\
             #[doc(hidden)]\n\
             pub(crate) fn __ferry_module() -> ::std::result::Result<::ferry_host::Module, ::ferry_host::Error> {{\n\
             \x20   static MODULE: ::std::sync::OnceLock<::ferry_host::Module> = ::std::sync::OnceLock::new();\n\
             \x20   if let Some(module) = MODULE.get() {{\n\
             \x20       return Ok(module.clone());\n\
             \x20   }}\n\
             \x20   let bytes = include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{EMBED_WASM}\"));\n\
             \x20   let module = ::ferry_host::Module::from_bytes(&bytes[..])?;\n\
             \x20   Ok(MODULE.get_or_init(|| module).clone())\n\
             }}\n",
            source = self.source.display(),
        );
        // One mark per closure the guest has, which its `ferry::closure!`
        // names: a closure this build did not see fails to compile.
        let mut embed = embed;
        for name in &closures {
            embed += &format!(
                "#[doc(hidden)]\n#[allow(non_upper_case_globals, dead_code)]\npub(crate) const {name}: () = ();\n"
            );
        }
        write_if_changed(&out_dir.join(EMBED_FILE), embed.as_bytes())?;
        Ok(Embedded { wasm, sources })
    }

    /// The guest crate's root: the file as a module, in its own directory
    /// so that its submodules are found where the host finds them, and the
    /// functions of the `ferry::closure!`s in the host's other files; and
    /// those functions' names.
    fn root(
        &self,
        manifest_dir: &Path,
        source: &Path,
    ) -> Result<(String, Vec<String>), BuildError> {
        let (dir, module) = match source.file_stem().and_then(|s| s.to_str()) {
            Some("mod") => (
                source.parent().and_then(Path::parent),
                source
                    .parent()
                    .and_then(Path::file_name)
                    .and_then(|n| n.to_str()),
            ),
            stem => (source.parent(), stem),
        };
        let (Some(dir), Some(module)) = (dir, module) else {
            return Err(BuildError::new(source, "the file's name is not a module's"));
        };
        let mut root = format!(
            "// Written by ferry-build: the guest's crate root, not to be edited.\n\
             #[path = {dir}]\n\
             mod __ferry_dir {{\n    pub mod {module};\n}}\n\
             #[allow(unused_imports)]\n\
             use __ferry_dir::{module}::*;\n",
            dir = toml_string(&dir.to_string_lossy()),
        );
        let mut names = Vec::new();
        for file in rust_files(&manifest_dir.join("src")) {
            if file == source {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let shown = file.strip_prefix(manifest_dir).unwrap_or(&file);
            for closure in crate::closure::closures_in(&text) {
                if names.contains(&closure.name) {
                    continue;
                }
                root += &format!("\n// A ferry::closure! in {}\n", shown.display());
                root += &closure.guest_function().to_string();
                root.push('\n');
                names.push(closure.name);
            }
        }
        Ok((root, names))
    }

    /// The guest crate's manifest: a `cdylib` whose root is `lib.rs`
    /// beside it, with the host's declarations of the dependencies it
    /// shares.
    fn manifest(&self, host: &Host, links: &mut PathLinks) -> Result<String, BuildError> {
        let mut toml = format!(
            "# Written by ferry-build for {name}'s guest: not to be edited.\n\
             [package]\nname = \"{name}-guest\"\nversion = \"0.0.0\"\nedition = \"{edition}\"\npublish = false\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\npath = \"lib.rs\"\n",
            name = host.name,
            edition = host.edition,
        );
        for needed in ["ferry", "ferry-host"] {
            if !host.dependencies.iter().any(|d| key(d) == needed) {
                return Err(BuildError::new(
                    &host.manifest,
                    format!(
                        "the host needs `{needed}` among its [dependencies]: the guest's file is also its module"
                    ),
                ));
            }
        }
        for name in &self.dependencies {
            match host.dependencies.iter().find(|d| key(d) == name) {
                Some(dependency) => toml += &declaration(dependency, &host.manifest, links)?,
                None if name == "serde" => {}
                None => {
                    return Err(BuildError::new(
                        &host.manifest,
                        format!("the guest needs `{name}`, which is not a dependency of the host"),
                    ));
                }
            }
        }
        // Its own workspace: not a member of the host's, nor are the path
        // dependencies it reaches through links.
        toml += &format!("\n[workspace]\nexclude = [\"{LINKS_DIR}\"]\n");
        Ok(toml)
    }
}

/// What the guest build needs to know of the host crate, from `cargo
/// metadata`.
struct Host {
    name: String,
    edition: String,
    manifest: PathBuf,
    dependencies: Vec<Json>,
    workspace_root: PathBuf,
    /// Where guest crates and their target directory go.
    guests_dir: PathBuf,
}

impl Host {
    fn read(manifest_dir: &Path) -> Result<Host, BuildError> {
        let manifest = manifest_dir.join("Cargo.toml");
        let fail = |reason: String| BuildError::new(&manifest, reason);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .output()
            .map_err(|e| fail(format!("cannot run cargo metadata: {e}")))?;
        if !output.status.success() {
            return Err(fail(format!(
                "cargo metadata failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let metadata: Json = serde_json::from_slice(&output.stdout)
            .map_err(|e| fail(format!("cargo metadata gave what is not JSON: {e}")))?;
        let same_file = |p: &Json| {
            p["manifest_path"].as_str().map(PathBuf::from).as_deref() == Some(&*manifest)
        };
        let package = metadata["packages"]
            .as_array()
            .and_then(|packages| packages.iter().find(|p| same_file(p)))
            .ok_or_else(|| fail("cargo metadata does not list this package".into()))?;
        let text = |value: &Json| value.as_str().unwrap_or_default().to_owned();
        Ok(Host {
            name: text(&package["name"]),
            edition: text(&package["edition"]),
            dependencies: package["dependencies"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|d| d["kind"].is_null())
                .collect(),
            workspace_root: PathBuf::from(text(&metadata["workspace_root"])),
            guests_dir: PathBuf::from(text(&metadata["target_directory"])).join("ferry-guests"),
            manifest,
        })
    }
}

/// The name a dependency goes by in the code.
fn key(dependency: &Json) -> &str {
    dependency["rename"]
        .as_str()
        .or(dependency["name"].as_str())
        .unwrap_or_default()
}

/// `dependency` as a table of its own (`[dependencies.NAME]`, or under its
/// platform's `[target]`).
fn declaration(
    dependency: &Json,
    manifest: &Path,
    links: &mut PathLinks,
) -> Result<String, BuildError> {
    let name = key(dependency);
    let mut toml = match dependency["target"].as_str() {
        Some(target) => format!("\n[target.{}.dependencies.{name}]\n", toml_string(target)),
        None => format!("\n[dependencies.{name}]\n"),
    };
    if dependency["rename"].is_string() {
        toml += &format!("package = {}\n", dependency["name"]);
    }
    match (dependency["path"].as_str(), dependency["source"].as_str()) {
        (Some(path), _) => {
            let path = links.declare(name, Path::new(path));
            toml += &format!("path = {}\n", toml_string(&path));
        }
        (None, Some(CRATES_IO)) => {}
        (None, source) => {
            return Err(BuildError::new(
                manifest,
                format!(
                    "the guest's dependency `{name}` comes from {}; ferry-build takes dependencies from crates.io or a path",
                    source.unwrap_or("an unknown source")
                ),
            ));
        }
    }
    if let Some(req) = dependency["req"].as_str().filter(|r| *r != "*") {
        toml += &format!("version = {}\n", toml_string(req));
    }
    if dependency["uses_default_features"] == Json::Bool(false) {
        toml += "default-features = false\n";
    }
    if let Some(features) = dependency["features"].as_array().filter(|f| !f.is_empty()) {
        let features: Vec<String> = features.iter().map(Json::to_string).collect();
        toml += &format!("features = [{}]\n", features.join(", "));
    }
    Ok(toml)
}

/// Where crates.io's crates come from, as `cargo metadata` says.
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

/// rustc flags that take the places the build happens in out of the
/// module: the host's workspace (where the guest's file and any path
/// dependencies are), cargo's download directory, the guests' directory
/// (the generated crate root) and their target directory (build scripts'
/// output). rustc applies the last that matches, so each comes after those
/// that may hold it.
fn remaps(workspace_root: &Path, guests_dir: &Path, target_dir: &Path) -> Vec<String> {
    let remap = |from: &Path, to: &str| format!("--remap-path-prefix={}={to}", from.display());
    let mut remaps = vec![remap(workspace_root, ".")];
    if let Some(cargo_home) = cargo_home() {
        remaps.push(remap(&cargo_home, "/cargo"));
    }
    remaps.push(remap(guests_dir, "/ferry-guests"));
    remaps.push(remap(target_dir, "/ferry-guests/target"));
    remaps
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
}

/// The `.rs` files under `dir`, in a stable order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The files cargo's dependency list for `wasm` names, where they are and
/// not through `links`, but those under `except` (downloaded crates, build
/// scripts' output): the guest's own sources and its path dependencies'.
fn dep_info(wasm: &Path, links: &PathLinks, except: &[&Path]) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(wasm.with_extension("d")) else {
        return Vec::new();
    };
    let Some((_, sources)) = text.lines().next().and_then(|line| line.split_once(": ")) else {
        return Vec::new();
    };
    // Spaces in a path are escaped with a backslash.
    let mut files = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => current.push(chars.next().expect("peeked")),
            ' ' if !current.is_empty() => {
                files.push(links.resolve(PathBuf::from(std::mem::take(&mut current))))
            }
            ' ' => {}
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        files.push(links.resolve(PathBuf::from(current)));
    }
    files.retain(|file| {
        !except
            .iter()
            .any(|dir| !dir.as_os_str().is_empty() && file.starts_with(dir))
    });
    files
}

fn env_dir(var: &str) -> Result<PathBuf, BuildError> {
    std::env::var_os(var).map(PathBuf::from).ok_or_else(|| {
        BuildError::new(
            Path::new("."),
            format!("{var} is not set: call ferry_build::guest(..).build() from a build script"),
        )
    })
}

/// Writes `bytes` to `path` unless it holds them already, so that cargo,
/// which goes by modification times, sees no change where there is none;
/// whether it wrote.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, BuildError> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    std::fs::write(path, bytes)
        .map_err(|e| BuildError::new(path, format!("cannot write it: {e}")))?;
    Ok(true)
}

fn toml_string(text: &str) -> String {
    Json::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_follow_the_files_place_under_src() {
        let path = |file: &str| guest(file).module_path_in(Path::new("/x")).unwrap();
        assert_eq!(path("src/guest.rs"), "crate::guest");
        assert_eq!(path("src/jobs/guest.rs"), "crate::jobs::guest");
        assert_eq!(path("src/guest/mod.rs"), "crate::guest");
        assert!(guest("guest.rs").module_path_in(Path::new("/x")).is_err());
        assert_eq!(
            guest("g.rs")
                .module_path("crate::g")
                .module_path_in(Path::new("/x"))
                .unwrap(),
            "crate::g"
        );
    }

    #[test]
    fn dependency_lists_with_escaped_spaces_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("g.wasm");
        let root = dir.path().join("ws");
        std::fs::write(
            dir.path().join("g.d"),
            format!(
                "{}: {}/src/a\\ b.rs /elsewhere/sdk/src/lib.rs /cargo/registry/x.rs {}/target/out.rs\n",
                wasm.display(),
                root.display(),
                root.display()
            ),
        )
        .unwrap();
        let target = root.join("target");
        assert_eq!(
            dep_info(
                &wasm,
                &PathLinks::new(dir.path()),
                &[&target, Path::new("/cargo")]
            ),
            vec![
                root.join("src/a b.rs"),
                PathBuf::from("/elsewhere/sdk/src/lib.rs")
            ]
        );
    }
}
