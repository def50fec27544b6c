//! The same guest source gives the same module wherever it is built: this
//! crate's guest, copied into two other directories (as two checkouts, each
//! with its own copy of the SDK), embedded in a host there and built as a
//! guest crate of its own.

use ferry_host::{ContentHash, Module};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The crates of the guest SDK, which each checkout has a copy of.
const SDK: [&str; 4] = ["ferry", "ferry-abi", "ferry-macros", "ferry-build"];

/// A checkout in `place`: this workspace's manifest and lock file, the
/// SDK's crates, the other languages' SDKs (`ferry-build` carries them),
/// and a guest crate (`guest-crate`, a member, whose library is this
/// example's guest).
fn checkout(place: &Path) {
    let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let members = manifest
        .lines()
        .find(|line| line.starts_with("members = "))
        .unwrap();
    std::fs::create_dir_all(place).unwrap();
    std::fs::write(
        place.join("Cargo.toml"),
        manifest.replace(members, "members = [\"crates/*\", \"guest-crate\"]"),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), place.join("Cargo.lock")).unwrap();
    for name in SDK {
        copy_crate(
            &workspace().join("crates").join(name),
            &place.join("crates").join(name),
        );
    }
    copy_dir(&workspace().join("sdks"), &place.join("sdks"));
    let guest = place.join("guest-crate");
    std::fs::create_dir_all(guest.join("src")).unwrap();
    std::fs::write(
        guest.join("Cargo.toml"),
        "[package]\nname = \"repro-crate\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\npath = \"src/guest.rs\"\n\n\
         [dependencies]\nferry.workspace = true\nserde.workspace = true\n",
    )
    .unwrap();
    copy_guest(&guest);
}

/// A host crate in `dir`, a workspace of its own, whose `src/guest.rs` is
/// this example's, with the SDK of the checkout in `place`.
fn host_crate(place: &Path, dir: &Path) {
    let ferry = place.join("crates/ferry");
    // The host library only runs on the host: this workspace's will do.
    let host = workspace().join("crates/ferry-host");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"repro\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nferry = {{ path = {ferry:?} }}\nferry-host = {{ path = {host:?} }}\n\
             serde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    copy_guest(dir);
    std::fs::write(dir.join("src/main.rs"), "mod guest;\nfn main() {}\n").unwrap();
    // The versions this workspace pinned, and nothing to download.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

fn copy_guest(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/guest.rs"),
        dir.join("src/guest.rs"),
    )
    .unwrap();
}

/// A crate's manifest and sources, not what was built in it.
fn copy_crate(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join("Cargo.toml"), to.join("Cargo.toml")).unwrap();
    copy_dir(&from.join("src"), &to.join("src"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let copy = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &copy);
        } else {
            std::fs::copy(&path, &copy).unwrap();
        }
    }
}

fn hash_of(wasm: &Path) -> ContentHash {
    Module::from_file(wasm).unwrap().id()
}

#[test]
fn one_guest_built_in_two_places_is_one_module() {
    // Each place is a checkout of its own: its own SDK, its own
    // directories for everything built, nothing shared but the toolchain.
    let scratch = tempfile::tempdir().unwrap();
    let places = [
        scratch.path().join("first/checkout"),
        scratch.path().join("second"),
    ];
    for place in &places {
        checkout(place);
    }
    let embedded: Vec<ContentHash> = places
        .iter()
        .map(|place| {
            let dir = place.join("host");
            host_crate(place, &dir);
            let out = dir.join("out");
            std::fs::create_dir_all(&out).unwrap();
            let built = ferry_build::guest("src/guest.rs")
                .build_in(&dir, &out)
                .unwrap();
            // What a build script watches: the guest's file and the SDK's,
            // where they are.
            for watched in [
                dir.join("src/guest.rs"),
                place.join("crates/ferry/src/lib.rs"),
            ] {
                assert!(built.sources.contains(&watched), "{:?}", built.sources);
            }
            hash_of(&built.wasm)
        })
        .collect();
    assert_eq!(embedded[0], embedded[1]);

    // As a guest crate of its own, a member of the checkout's workspace,
    // the same again.
    let crates: Vec<ContentHash> = places
        .iter()
        .map(|place| hash_of(&ferry_build::build_crate(place.join("guest-crate")).unwrap()))
        .collect();
    assert_eq!(crates[0], crates[1]);
}
