//! What compiling costs: a new runtime's first call of a module it has
//! never seen, compiled on the calling thread and in a child `ferry
//! compile-module` (as `ferry worker` does), each with baseline code first
//! and with optimized code only. Figures are recorded in docs/perf.md.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferry_host::runtime::{ChildCompiler, Compiler};
use ferry_host::{Closure, Module, Runtime, RuntimeConfig, Sandbox, Value};
use ferry_test_support::{example_guest, unseen};
use std::cell::RefCell;
use std::time::Duration;

fn first_call(c: &mut Criterion) {
    let module = &example_guest().module;
    let input = Value::encode(&(40, 2)).unwrap();
    let sandbox = Sandbox::default();
    let child = Compiler::Child(ChildCompiler {
        program: env!("CARGO_BIN_EXE_ferry").into(),
        args: vec!["compile-module".into()],
        memory: 2 << 30,
        timeout: Duration::from_secs(60),
    });
    let mut group = c.benchmark_group("compile_unseen_module");
    group.sample_size(20);
    let mut n = 0;
    // The runtime whose optimized code is still being compiled: the next
    // iteration waits for it, untimed, so that it does not share the cores.
    let optimizing: RefCell<Option<(Runtime, Module)>> = RefCell::new(None);
    for (compiler_name, compiler) in [("in_process", Compiler::InProcess), ("in_a_child", child)] {
        for (tiers, baseline_first) in [("baseline_first", true), ("optimized_only", false)] {
            group.bench_function(format!("{compiler_name}/{tiers}"), |b| {
                b.iter_batched(
                    || {
                        if let Some((runtime, module)) = optimizing.take() {
                            runtime.optimize(&module).unwrap();
                        }
                        n += 1;
                        let closure = Closure::new(&unseen(module, n), "add").unwrap();
                        let config = RuntimeConfig {
                            compiler: compiler.clone(),
                            baseline_first,
                            ..RuntimeConfig::default()
                        };
                        (Runtime::new(config).unwrap(), closure)
                    },
                    // Returning the runtime keeps its teardown out of the timing.
                    |(runtime, closure)| {
                        let out = runtime.call(&closure, &input, &sandbox).unwrap();
                        optimizing.replace(Some((runtime.clone(), closure.module().clone())));
                        (runtime, out)
                    },
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, first_call);
criterion_main!(benches);
