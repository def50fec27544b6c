//! Values and closures: round trips, deterministic bytes, and every way
//! closure bytes can be damaged.

use ferry_host::{
    BlobStore, Closure, ContentHash, Encoding, Error, Module, Runtime, RuntimeConfig, Sandbox,
    Value,
};
use ferry_test_support::example_guest;
use serde::Serialize;

// The host uses the guest crate's own types: it builds natively as well.
use ferry_example_guest::{HistSpec, Histogram, Range};

fn spec() -> HistSpec {
    HistSpec {
        bins: 16,
        lo: 0.0,
        hi: 160.0,
        peak: 91.0,
        width: 2.5,
        seed: 42,
    }
}

fn fill() -> Closure {
    Closure::new(&example_guest().module, "fill")
        .unwrap()
        .with_env(&spec())
        .unwrap()
        .with_blob("calibration", vec![1u8, 2, 3])
        .with_blob("alignment", b"abc".to_vec())
}

/// Runs a `fill` closure over the first 5000 events.
fn histogram_of(closure: &Closure) -> Histogram {
    run(
        closure,
        &Range {
            start: 0,
            end: 5000,
        },
    )
    .decode()
    .unwrap()
}

fn run(closure: &Closure, input: &(impl Serialize + ?Sized)) -> Value {
    run_value(closure, &Value::encode(input).unwrap())
}

fn run_value(closure: &Closure, input: &Value) -> Value {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    runtime
        .call(closure, input, &Sandbox::default())
        .unwrap()
        .value
}

#[test]
fn values_round_trip_through_the_guest() {
    let module = &example_guest().module;
    let cases: Vec<(&str, Value, serde_json::Value)> = vec![
        (
            "sum",
            Value::encode(&vec![1.5, 2.25, -0.75]).unwrap(),
            serde_json::json!(3.0),
        ),
        (
            "add",
            Value::encode(&(i64::MAX, 1)).unwrap(),
            serde_json::json!(i64::MIN),
        ),
        (
            "word_count",
            Value::encode("The cat and the hat").unwrap(),
            serde_json::json!({"and": 1, "cat": 1, "hat": 1, "the": 2}),
        ),
    ];
    for (function, input, expected) in cases {
        let closure = Closure::new(module, function).unwrap();
        assert_eq!(
            run_value(&closure, &input).to_json().unwrap(),
            expected,
            "{function}"
        );
    }
    let greet = Closure::new(module, "greet")
        .unwrap()
        .with_env("Hello")
        .unwrap();
    assert_eq!(
        run(&greet, &"ferry").decode::<String>().unwrap(),
        "Hello, ferry!"
    );
}

#[test]
fn a_captured_state_closure_survives_pickling_in_both_encodings() {
    let closure = fill();
    let expected = run(
        &closure,
        &Range {
            start: 0,
            end: 5000,
        },
    )
    .decode::<Histogram>()
    .unwrap();
    assert_eq!(
        expected.counts.iter().sum::<u64>() + expected.underflow + expected.overflow,
        5000
    );

    let by_value = Closure::from_bytes(&closure.to_bytes(Encoding::ByValue), None).unwrap();
    assert_eq!(by_value.id(), closure.id());
    assert_eq!(by_value.env().decode::<HistSpec>().unwrap(), spec());
    assert_eq!(by_value.blobs()["calibration"].bytes().as_ref(), &[1, 2, 3]);
    assert_eq!(histogram_of(&by_value), expected);

    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let by_reference = closure.to_bytes(Encoding::ByReference);
    assert!(
        by_reference.len() < 400,
        "by reference is hashes only: {} bytes",
        by_reference.len()
    );
    store.add_closure(&closure).unwrap();
    let resolved = Closure::from_bytes(&by_reference, Some(&store)).unwrap();
    assert_eq!(resolved.id(), closure.id());
    assert_eq!(histogram_of(&resolved), expected);
}

#[test]
fn the_same_closure_always_encodes_to_the_same_bytes() {
    let module = &example_guest().module;
    // Built twice, independently, with blobs attached in different orders.
    let a = Closure::new(module, "fill")
        .unwrap()
        .with_env(&spec())
        .unwrap()
        .with_blob("x", vec![1])
        .with_blob("y", vec![2]);
    let b = Closure::new(
        &Module::from_bytes(module.bytes().to_vec()).unwrap(),
        "fill",
    )
    .unwrap()
    .with_env(&spec())
    .unwrap()
    .with_blob("y", vec![2])
    .with_blob("x", vec![1]);
    for encoding in [Encoding::ByValue, Encoding::ByReference] {
        assert_eq!(a.to_bytes(encoding), b.to_bytes(encoding), "{encoding:?}");
        let decoded = Closure::from_bytes(&a.to_bytes(Encoding::ByValue), None).unwrap();
        assert_eq!(
            decoded.to_bytes(encoding),
            a.to_bytes(encoding),
            "re-encoding {encoding:?}"
        );
    }
    // A different environment is a different closure.
    let mut other = spec();
    other.seed += 1;
    let c = Closure::new(module, "fill")
        .unwrap()
        .with_env(&other)
        .unwrap();
    assert_ne!(c.id(), a.id());
}

#[test]
fn truncated_closure_bytes_are_refused_with_a_typed_error() {
    let bytes = fill().to_bytes(Encoding::ByValue);
    // Every cut point in the header and trailer, and a spread through the body.
    let cuts = (0..64)
        .chain((64..bytes.len()).step_by(997))
        .chain(bytes.len() - 40..bytes.len());
    for cut in cuts {
        match Closure::from_bytes(&bytes[..cut], None) {
            Err(Error::NotAClosure) => assert!(cut < 8, "cut at {cut}"),
            Err(Error::CorruptClosure { .. } | Error::HashMismatch { .. }) => {}
            other => panic!("cut at {cut} of {}: {other:?}", bytes.len()),
        }
    }
}

#[test]
fn corrupted_closure_bytes_are_refused_with_a_typed_error() {
    let closure = fill();
    for encoding in [Encoding::ByValue, Encoding::ByReference] {
        let bytes = closure.to_bytes(encoding);
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        store.add_closure(&closure).unwrap();
        let positions: Vec<usize> = (8..bytes.len())
            .step_by((bytes.len() / 500).max(1))
            .collect();
        for position in positions {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x20;
            match Closure::from_bytes(&damaged, Some(&store)) {
                Ok(decoded) => panic!("flipping byte {position} went unnoticed: {decoded:?}"),
                Err(
                    Error::CorruptClosure { .. }
                    | Error::HashMismatch { .. }
                    | Error::ClosureVersion { .. }
                    | Error::UnknownFunction { .. }
                    | Error::NotInStore { .. }
                    | Error::MalformedModule { .. }
                    | Error::NotAFerryModule
                    | Error::BadMetadata(_),
                ) => {}
                Err(other) => panic!("flipping byte {position}: unexpected {other:?}"),
            }
        }
    }
    assert!(matches!(
        Closure::from_bytes(b"not a closure at all", None),
        Err(Error::NotAClosure)
    ));
    let mut future = closure.to_bytes(Encoding::ByValue);
    future[8] = 9;
    assert!(matches!(
        Closure::from_bytes(&future, None),
        Err(Error::ClosureVersion {
            found: 9,
            supported: 2
        })
    ));
}

#[test]
fn by_reference_closures_need_their_store() {
    let closure = fill();
    let bytes = closure.to_bytes(Encoding::ByReference);
    let err = Closure::from_bytes(&bytes, None).unwrap_err();
    assert!(
        matches!(err, Error::NoStore { what: "module", .. }),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let err = Closure::from_bytes(&bytes, Some(&store)).unwrap_err();
    assert!(
        matches!(err, Error::NotInStore { what: "module", hash, .. } if hash == closure.module().id()),
        "{err}"
    );
    assert!(
        err.to_string().contains("ship the closure by value"),
        "{err}"
    );

    store.put(closure.module().bytes()).unwrap();
    let err = Closure::from_bytes(&bytes, Some(&store)).unwrap_err();
    assert!(
        matches!(err, Error::NotInStore { what: "blob", .. }),
        "{err}"
    );
}

#[test]
fn module_and_blob_bytes_are_checked_against_their_hashes() {
    let module = &example_guest().module;
    let wrong = ContentHash::of(b"something else");
    let err = Module::from_bytes_verified(module.bytes().to_vec(), &wrong).unwrap_err();
    assert!(
        matches!(err, Error::HashMismatch { what: "module", expected, actual } if expected == wrong && actual == module.id()),
        "{err}"
    );

    // A stored file that was changed on disk is reported, never returned.
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path()).unwrap();
    let hash = store.put(module.bytes()).unwrap();
    let hex = hash.to_hex();
    let path = dir.path().join("blobs").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        store.module(&hash),
        Err(Error::HashMismatch { .. })
    ));
}

#[test]
fn closures_of_missing_functions_cannot_be_made() {
    let err = Closure::new(&example_guest().module, "no_such_function").unwrap_err();
    let Error::UnknownFunction {
        function,
        available,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(function, "no_such_function");
    assert!(
        available.contains("fill") && available.contains("add"),
        "{available}"
    );
}

#[test]
fn blobs_reach_the_guest() {
    let blob_size = Closure::new(&example_guest().module, "blob_size")
        .unwrap()
        .with_blob("table", vec![9u8; 100_000]);
    assert_eq!(
        run(&blob_size, &"table").decode::<Option<u64>>().unwrap(),
        Some(100_000)
    );
    assert_eq!(
        run(&blob_size, &"absent").decode::<Option<u64>>().unwrap(),
        None
    );
}

/// A module with one dynamic scalar and one dynamic aggregate: the
/// functions' column types are each closure's (docs/abi.md, section 2).
fn dynamic_module() -> Module {
    let records = [
        r#"{"abi":1,"name":"any","kind":"scalar","export":"ferry_udf_any","input":"","output":"","dynamic":true}"#,
        r#"{"abi":1,"name":"fold","kind":"aggregate","export":"ferry_udaf_fold","input":"","output":"","retract":true,"dynamic":true}"#,
        r#"{"abi":1,"name":"fold_once","kind":"aggregate","export":"ferry_udaf_fold","input":"","output":"","dynamic":true}"#,
    ]
    .map(|record| record.replace('"', "\\\""))
    .join("\\n");
    let text = format!(
        r#"(module
  (memory (export "memory") 1)
  (func (export "ferry_alloc") (param i32 i32) (result i32) (i32.const 1024))
  (func (export "ferry_free") (param i32 i32 i32))
  (func $call (param i32 i32 i32 i32) (result i32) (i32.const 1))
  (export "ferry_udf_any" (func $call))
  (export "ferry_udaf_fold_update" (func $call))
  (export "ferry_udaf_fold_merge" (func $call))
  (export "ferry_udaf_fold_finish" (func $call))
  (export "ferry_udaf_fold_retract" (func $call))
  (@custom "ferry.functions" "{records}\n")
)"#
    );
    Module::from_bytes(wat::parse_str(text).unwrap()).unwrap()
}

#[test]
fn a_dynamic_function_takes_its_types_from_each_closure() {
    use ferry_host::FunctionKind;
    let module = dynamic_module();
    let typed = |function: &str, env: serde_json::Value| {
        Closure::new(&module, function)
            .unwrap()
            .with_env_value(Value::from_json(&env).unwrap())
    };
    let gcd = typed(
        "any",
        serde_json::json!({"source": "…", "args": ["int64", "int64"], "returns": "int64"}),
    );
    let record = gcd.function_record(FunctionKind::Scalar).unwrap();
    assert_eq!(record.args, ["int64", "int64"]);
    assert_eq!(record.returns.as_deref(), Some("int64"));
    assert!(!record.dynamic);
    // The types travel with the closure.
    let back = Closure::from_bytes(&gcd.to_bytes(Encoding::ByValue), None).unwrap();
    assert_eq!(back.record(), gcd.record());

    // An aggregate may retract only if both its module and its closure say so.
    for (function, retract, expected) in [
        ("fold", true, true),
        ("fold", false, false),
        ("fold_once", true, false),
    ] {
        let fold = typed(
            function,
            serde_json::json!({"args": ["float64"], "returns": "float64", "retract": retract}),
        );
        let record = fold.function_record(FunctionKind::Aggregate).unwrap();
        assert_eq!(record.retract, expected);
    }

    // Without types, with a type that is not one, or an aggregate of no
    // columns: a signature error naming the function, before any call.
    for (function, kind, env, expected) in [
        (
            "any",
            FunctionKind::Scalar,
            serde_json::Value::Null,
            "environment gives none",
        ),
        (
            "any",
            FunctionKind::Scalar,
            serde_json::json!({"args": ["int64"], "returns": "decimal"}),
            "`decimal`, which is not a column type",
        ),
        (
            "fold",
            FunctionKind::Aggregate,
            serde_json::json!({"args": [], "returns": "int64"}),
            "at least one argument column",
        ),
    ] {
        let closure = typed(function, env);
        let error = closure.function_record(kind).unwrap_err().to_string();
        assert!(
            error.contains(function) && error.contains(expected),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }
}
