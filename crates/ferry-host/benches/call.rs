//! Call overhead: a warm reused instance, a fresh instance per call, the first
//! call of a module that must be compiled, and of one whose precompiled code
//! is on disk. Each group runs a native baseline beside the wasm figure.
//! Figures are recorded in docs/perf.md.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferry_host::{BlobStore, Closure, Module, Runtime, RuntimeConfig, Sandbox, Value};
use std::hint::black_box;
use std::path::PathBuf;

fn guest() -> Module {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/guest");
    ferry_host::guest::build_crate(dir)
        .expect("the example guest builds")
        .module
}

/// The same module under a new name: a custom section carrying `n` changes
/// its hash, so the runtime has never seen it.
fn unseen(module: &Module, n: u64) -> Module {
    let name = b"bench.nonce";
    let payload = n.to_le_bytes();
    let mut bytes = module.bytes().to_vec();
    bytes.push(0); // custom section id
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&payload);
    Module::from_bytes(bytes).unwrap()
}

/// What the guest's `add` does, natively, with the same MessagePack encoding
/// and decoding on both sides: the floor a wasm call is measured against.
fn native_add(input: &Value) -> Value {
    let (a, b): (i64, i64) = input.decode().unwrap();
    Value::encode(&a.wrapping_add(b)).unwrap()
}

fn calls(c: &mut Criterion) {
    let module = guest();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let sandbox = Sandbox::default();
    let add = Closure::new(&module, "add").unwrap();
    let input = Value::encode(&(20i64, 22i64)).unwrap();

    let mut group = c.benchmark_group("tiny_call");
    group.bench_function("native_with_msgpack", |b| {
        b.iter(|| native_add(black_box(&input)))
    });
    let mut instance = runtime.instantiate(&module, &sandbox).unwrap();
    group.bench_function("reused_instance", |b| {
        b.iter(|| {
            instance
                .call("add", &Value::nil(), black_box(&input))
                .unwrap()
        })
    });
    group.bench_function("fresh_instance", |b| {
        b.iter(|| runtime.call(&add, black_box(&input), &sandbox).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("first_call");
    group.sample_size(20);
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    Runtime::new(RuntimeConfig::with_store(store.clone()))
        .unwrap()
        .prepare(&module)
        .unwrap();
    group.bench_function("precompiled_on_disk", |b| {
        b.iter_batched(
            || Runtime::new(RuntimeConfig::with_store(store.clone())).unwrap(),
            // Returning the runtime keeps its teardown out of the timing.
            |runtime| {
                let out = runtime.call(&add, &input, &sandbox).unwrap();
                (runtime, out)
            },
            BatchSize::PerIteration,
        )
    });
    let mut n = 0;
    group.bench_function("compile_unseen_module", |b| {
        b.iter_batched(
            || {
                n += 1;
                let module = unseen(&module, n);
                let closure = Closure::new(&module, "add").unwrap();
                (Runtime::new(RuntimeConfig::default()).unwrap(), closure)
            },
            |(runtime, closure)| {
                let out = runtime.call(&closure, &input, &sandbox).unwrap();
                (runtime, out)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
