//! Precompiled code on disk: compiled once, reused by later runtimes, and a
//! damaged file costs a recompile, never a crash.

use ferry_host::{BlobStore, Closure, Preparation, Runtime, RuntimeConfig, Sandbox, Value};
use ferry_test_support::example_guest;

fn call_add(runtime: &Runtime) -> i64 {
    let add = Closure::new(&example_guest().module, "add").unwrap();
    runtime
        .call(&add, &Value::encode(&(4, 5)).unwrap(), &Sandbox::default())
        .unwrap()
        .value
        .decode()
        .unwrap()
}

#[test]
fn precompiled_code_is_kept_and_reused_across_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let guest = &example_guest().module;

    let first = Runtime::new(RuntimeConfig::with_store(store.clone())).unwrap();
    assert_eq!(first.prepare(guest).unwrap(), Preparation::Baseline);
    assert_eq!(first.prepare(guest).unwrap(), Preparation::InMemory);
    // Optimized code, compiled in the background, is what is kept.
    first.optimize(guest).unwrap();
    assert_eq!(call_add(&first), 9);

    let second = Runtime::new(RuntimeConfig::with_store(store.clone())).unwrap();
    assert_eq!(second.prepare(guest).unwrap(), Preparation::FromStore);
    assert_eq!(call_add(&second), 9);
}

#[test]
fn damaged_precompiled_code_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let guest = &example_guest().module;
    Runtime::new(RuntimeConfig::with_store(store.clone()))
        .unwrap()
        .optimize(guest)
        .unwrap();

    let compiled: Vec<_> = walk(&dir.path().join("compiled"));
    assert_eq!(compiled.len(), 1, "{compiled:?}");
    let mut bytes = std::fs::read(&compiled[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&compiled[0], bytes).unwrap();

    let runtime = Runtime::new(RuntimeConfig::with_store(store)).unwrap();
    assert_eq!(runtime.prepare(guest).unwrap(), Preparation::Baseline);
    assert_eq!(call_add(&runtime), 9);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
