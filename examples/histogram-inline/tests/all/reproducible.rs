//! The same guest source gives the same module wherever it is built: this
//! crate's guest, copied into two other directories (as two checkouts),
//! embedded in a host there and built as a guest crate of its own.

use ferry_host::{ContentHash, Module};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A host crate named `name` in `dir`, whose `src/guest.rs` is this
/// example's; with `cdylib`, the file is the library of a guest crate.
fn host_crate(dir: &Path, name: &str, cdylib: bool) {
    let crates = workspace().join("crates").canonicalize().unwrap();
    let (ferry, host) = (crates.join("ferry"), crates.join("ferry-host"));
    // A host needs the host library too; a guest crate must not have it.
    let (library, host) = match cdylib {
        true => (
            "[lib]\ncrate-type = [\"cdylib\"]\npath = \"src/guest.rs\"\n".to_owned(),
            String::new(),
        ),
        false => (
            String::new(),
            format!("ferry-host = {{ path = {host:?} }}\n"),
        ),
    };
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{library}\n\
             [dependencies]\nferry = {{ path = {ferry:?} }}\n{host}\
             serde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/guest.rs"),
        dir.join("src/guest.rs"),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), "mod guest;\nfn main() {}\n").unwrap();
    // The versions this workspace pinned, and nothing to download.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

fn hash_of(wasm: &Path) -> ContentHash {
    Module::from_file(wasm).unwrap().id()
}

#[test]
fn one_guest_built_in_two_places_is_one_module() {
    // Each place is a checkout of its own: its own directories for
    // everything built, nothing shared but the toolchain and the SDK.
    let scratch = tempfile::tempdir().unwrap();
    let places = [
        scratch.path().join("first/checkout"),
        scratch.path().join("second"),
    ];
    let embedded: Vec<ContentHash> = places
        .iter()
        .map(|place| {
            let dir = place.join("host");
            host_crate(&dir, "repro", false);
            let out = dir.join("out");
            std::fs::create_dir_all(&out).unwrap();
            let built = ferry_build::guest("src/guest.rs")
                .build_in(&dir, &out)
                .unwrap();
            // What a build script watches: the guest's file among them.
            assert!(
                built.sources.contains(&dir.join("src/guest.rs")),
                "{:?}",
                built.sources
            );
            hash_of(&built.wasm)
        })
        .collect();
    assert_eq!(embedded[0], embedded[1]);

    // As a guest crate of its own, the same again.
    let crates: Vec<ContentHash> = places
        .iter()
        .map(|place| {
            let dir = place.join("guest-crate");
            host_crate(&dir, "repro-crate", true);
            hash_of(&ferry_build::build_crate(&dir).unwrap())
        })
        .collect();
    assert_eq!(crates[0], crates[1]);
}
