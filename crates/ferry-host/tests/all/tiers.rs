//! Two tiers of code: a module's first calls run on baseline code (Winch)
//! while optimized code (Cranelift) is compiled in the background; both
//! give the same results and keep the same deadlines, and only optimized
//! code is kept in the store.

use crate::support::{deadline, tight_sandbox};
use ferry_example_guest::{HistSpec, Range};
use ferry_host::runtime::Tier;
use ferry_host::{
    BlobStore, FailureKind, Instance, Preparation, Runtime, RuntimeConfig, Sandbox, Value,
};
use ferry_test_support::{Random, example_guest};

/// What a set of calls gives, each as its result's bytes or its error:
/// integers, floats through `exp` and `ln` (the histogram), strings, maps,
/// a guest's `Err`, and last a panic (which leaves the instance unusable).
fn outcomes(instance: &mut Instance) -> Vec<String> {
    let mut calls: Vec<(&str, Value, Value)> = Vec::new();
    let mut random = Random::new(7);
    for _ in 0..20 {
        let pair = (random.draw() as i64 >> 2, -(random.draw() as i64 >> 3));
        calls.push(("add", Value::nil(), Value::encode(&pair).unwrap()));
    }
    let spec = HistSpec {
        bins: 40,
        lo: 0.0,
        hi: 200.0,
        peak: 0.2,
        width: 3.5,
        seed: 5,
    };
    calls.push((
        "fill",
        Value::encode(&spec).unwrap(),
        Value::encode(&Range {
            start: 0,
            end: 50_000,
        })
        .unwrap(),
    ));
    let floats = vec![0.1, -3.5e300, f64::MIN_POSITIVE, 2.5, 1e-310];
    calls.push(("sum", Value::nil(), Value::encode(&floats).unwrap()));
    calls.push((
        "word_count",
        Value::nil(),
        Value::encode("the same words, the same counts").unwrap(),
    ));
    calls.push(("divide", Value::nil(), Value::encode(&(1, 0)).unwrap()));
    calls.push(("boom", Value::nil(), Value::encode("on purpose").unwrap()));
    calls
        .iter()
        .map(
            |(function, env, input)| match instance.call(function, env, input) {
                Ok(out) => format!("{function}: {:?}", out.value.as_bytes()),
                Err(e) => format!("{function}: {e}"),
            },
        )
        .collect()
}

#[test]
fn baseline_code_runs_first_and_gives_what_optimized_code_gives() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let module = &example_guest().module;
    let runtime = Runtime::new(RuntimeConfig::with_store(store.clone())).unwrap();
    assert_eq!(runtime.prepare(module).unwrap(), Preparation::Baseline);
    // Cranelift takes a hundred times longer than this step.
    let mut baseline = runtime.instantiate(module, &tight_sandbox()).unwrap();
    assert_eq!(baseline.tier(), Tier::Baseline);
    let on_baseline = outcomes(&mut baseline);

    runtime.optimize(module).unwrap();
    let mut optimized = runtime.instantiate(module, &tight_sandbox()).unwrap();
    assert_eq!(optimized.tier(), Tier::Optimized);
    assert!(optimized.is_reusable());
    let another = runtime.instantiate(module, &tight_sandbox()).unwrap();
    assert_eq!(another.tier(), Tier::Optimized);
    assert_eq!(outcomes(&mut optimized), on_baseline);
    assert!(
        on_baseline.last().unwrap().contains("on purpose"),
        "{on_baseline:?}"
    );

    // Only the optimized code was kept.
    let again = Runtime::new(RuntimeConfig::with_store(store)).unwrap();
    assert_eq!(again.prepare(module).unwrap(), Preparation::FromStore);
    assert_eq!(
        again
            .instantiate(module, &Sandbox::default())
            .unwrap()
            .tier(),
        Tier::Optimized
    );

    // Without the baseline tier, the first call waits for Cranelift.
    let off = Runtime::new(RuntimeConfig {
        baseline_first: false,
        ..RuntimeConfig::default()
    })
    .unwrap();
    assert_eq!(off.prepare(module).unwrap(), Preparation::Compiled);
}

#[test]
fn an_instance_of_replaced_baseline_code_is_not_kept() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = &example_guest().module;
    let instance = runtime.instantiate(module, &Sandbox::default()).unwrap();
    assert_eq!(instance.tier(), Tier::Baseline);
    assert!(instance.is_reusable());
    runtime.optimize(module).unwrap();
    assert!(!instance.is_reusable());
}

#[test]
fn baseline_code_meets_its_deadline() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = &example_guest().module;
    let mut instance = runtime.instantiate(module, &deadline(300)).unwrap();
    assert_eq!(instance.tier(), Tier::Baseline);
    let started = std::time::Instant::now();
    let error = instance
        .call("spin", &Value::nil(), &Value::encode(&()).unwrap())
        .unwrap_err();
    assert_eq!(
        error.failure().map(|f| f.kind.clone()),
        Some(FailureKind::Timeout { limit_ms: 300 })
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
