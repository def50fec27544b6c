//! Call overhead: a warm reused instance, a fresh instance per call, the first
//! call of a module that must be compiled, and of one whose precompiled code
//! is on disk. Each group runs a native baseline beside the wasm figure.
//! Figures are recorded in docs/perf.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferry_host::{BlobStore, Closure, Runtime, RuntimeConfig, Sandbox, Value};
use ferry_test_support::{Random, example_guest, udfs, unseen};
use std::hint::black_box;

/// What the guest's `add` does, natively, with the same MessagePack encoding
/// and decoding on both sides: the floor a wasm call is measured against.
fn native_add(input: &Value) -> Value {
    let (a, b): (i64, i64) = input.decode().unwrap();
    Value::encode(&a.wrapping_add(b)).unwrap()
}

fn calls(c: &mut Criterion) {
    let module = &example_guest().module;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let sandbox = Sandbox::default();
    let add = Closure::new(module, "add").unwrap();
    let input = Value::encode(&(20i64, 22i64)).unwrap();

    let mut group = c.benchmark_group("tiny_call");
    group.bench_function("native_with_msgpack", |b| {
        b.iter(|| native_add(black_box(&input)))
    });
    let mut instance = runtime.instantiate(module, &sandbox).unwrap();
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
        .prepare(module)
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
                let module = unseen(module, n);
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

/// One batch of an int64 column, starting at row `start`.
fn int64_column(buffer: &[u8], start: usize, rows: usize) -> ferry_host::batch::ColumnIn<'_> {
    ferry_host::batch::ColumnIn {
        column_type: ferry_host::batch::ColumnType::Int64,
        rows,
        null_count: 0,
        validity: None,
        values: &buffer[start * 8..(start + rows) * 8],
        offsets: None,
    }
}

/// Batch calls over 1M int64 rows in batches of 8192: the guest's `add` and
/// `gcd` against the same Rust functions natively over the same buffers.
fn batches(c: &mut Criterion) {
    const ROWS: usize = 1 << 20;
    const BATCH: usize = 8192;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let mut instance = runtime
        .instantiate(&udfs().module, &Sandbox::default())
        .unwrap();
    let mut random = Random::new(7);
    let a: Vec<i64> = (0..ROWS).map(|_| random.draw() as i64).collect();
    let b: Vec<i64> = (0..ROWS)
        .map(|_| (random.draw() % 100_000 + 1) as i64)
        .collect();
    let bytes =
        |values: &[i64]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let (a_bytes, b_bytes) = (bytes(&a), bytes(&b));

    let mut group = c.benchmark_group("batch_1m_int64_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    for (name, native) in [
        ("add", ferry_example_udfs::add as fn(i64, i64) -> i64),
        ("gcd", ferry_example_udfs::gcd),
    ] {
        group.bench_function(format!("{name}/native"), |bench| {
            bench.iter(|| {
                let mut out = Vec::with_capacity(ROWS);
                for (x, y) in a.iter().zip(&b) {
                    out.push(native(*x, *y));
                }
                black_box(out)
            })
        });
        let closure = Closure::new(instance.module(), name).unwrap();
        group.bench_function(format!("{name}/wasm"), |bench| {
            bench.iter(|| {
                for start in (0..ROWS).step_by(BATCH) {
                    let columns = [
                        int64_column(&a_bytes, start, BATCH),
                        int64_column(&b_bytes, start, BATCH),
                    ];
                    black_box(instance.call_batch(&closure, &columns).unwrap());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, calls, batches);
criterion_main!(benches);
