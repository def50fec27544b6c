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
    let ferry = workspace().join("crates/ferry").canonicalize().unwrap();
    let library = match cdylib {
        true => "[lib]\ncrate-type = [\"cdylib\"]\npath = \"src/guest.rs\"\n",
        false => "",
    };
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n{library}\n\
             [dependencies]\nferry = {{ path = {ferry:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n"
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
    let scratch = tempfile::tempdir().unwrap();
    let guests = scratch.path().join("guests");
    let embedded: Vec<ContentHash> = ["first/checkout", "second"]
        .iter()
        .map(|place| {
            let dir = scratch.path().join(place).join("host");
            host_crate(&dir, "repro", false);
            let out = dir.join("out");
            std::fs::create_dir_all(&out).unwrap();
            let built = ferry_build::guest("src/guest.rs")
                .guests_dir(&guests)
                .build_in(&dir, &out)
                .unwrap();
            // What a build script watches: the guest's file, in its place.
            assert!(
                built.sources.contains(&dir.join("src/guest.rs")),
                "{:?}",
                built.sources
            );
            hash_of(&built.wasm)
        })
        .collect();
    assert_eq!(embedded[0], embedded[1]);

    // As a guest crate of its own: the same again in two places (the
    // second reuses the first's dependencies, as a copied target would).
    let first = scratch.path().join("crate-a");
    host_crate(&first, "repro-crate", true);
    let a = hash_of(&ferry_build::build_crate(&first).unwrap());
    let second = scratch.path().join("elsewhere/crate-b");
    host_crate(&second, "repro-crate", true);
    copy_dir(&first.join("target"), &second.join("target"));
    let b = hash_of(&ferry_build::build_crate(&second).unwrap());
    assert_eq!(a, b);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
