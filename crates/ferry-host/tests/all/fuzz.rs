//! Fuzzing what decodes untrusted bytes: closures, MessagePack values, the
//! `ferry.functions` section, modules, and the columns and aggregate states
//! a guest returns. Each target starts from well-formed inputs and must
//! answer every broken one without a panic and in one line
//! (`ferry_test_support::fuzz`; `FERRY_FUZZ_CASES` for a longer run).

use ferry_host::batch::{ColumnIn, ColumnType, States};
use ferry_host::{
    BlobStore, Closure, Encoding, FunctionRecord, Module, Runtime, RuntimeConfig, Sandbox, Value,
};
use ferry_test_support::fuzz::fuzz;

/// The hand-written guest: small, so mutations land in its structure rather
/// than in code bytes that only the hash check would notice.
fn small_module() -> Module {
    Module::from_bytes(crate::support::by_hand(|text| text)).unwrap()
}

#[test]
fn closures() {
    let module = small_module();
    let store = BlobStore::open(tempfile::tempdir().unwrap().keep()).unwrap();
    let closure = Closure::new(&module, "echo")
        .unwrap()
        .with_env(&("env", [1, 2, 3]))
        .unwrap()
        .with_blob("table", vec![7u8; 40]);
    store.add_closure(&closure).unwrap();
    let seeds = [
        closure.to_bytes(Encoding::ByValue),
        closure.to_bytes(Encoding::ByReference),
    ];
    let outcome = fuzz("closure bytes", &seeds, |bytes| {
        Closure::from_bytes(bytes, Some(&store)).map(drop)
    });
    assert!(outcome.accepted >= 2, "{outcome:?}");
}

/// Found by the fuzzer: a function name with a newline in it made the
/// error naming it two lines long.
#[test]
fn a_function_name_with_control_characters_is_escaped_in_errors() {
    let err = Closure::new(&small_module(), "e\nho")
        .unwrap_err()
        .to_string();
    assert!(!err.contains('\n') && err.contains(r"`e\nho`"), "{err}");
}

#[test]
fn messagepack_values() {
    let seeds: Vec<Vec<u8>> = [
        serde_json::json!({"a": [1, -1, 300, -70000, 5_000_000_000u64, 1.5], "b": "text"}),
        serde_json::json!([null, true, false, "é", [[[]]], {}]),
        serde_json::json!("x".repeat(300)),
    ]
    .iter()
    .map(|value| rmp_serde::to_vec(value).unwrap())
    .collect();
    let outcome = fuzz("messagepack values", &seeds, |bytes| {
        let value = Value::from_msgpack(bytes.to_vec());
        value.check()?;
        // What the check accepts, the decoders read whole.
        let mut rest = bytes;
        rmpv::decode::read_value(&mut rest).expect("a checked value decodes");
        assert!(rest.is_empty(), "a checked value has no bytes left over");
        value.to_json().map(drop)
    });
    assert!(outcome.accepted >= seeds.len(), "{outcome:?}");
}

#[test]
fn function_records() {
    let records: String = ferry_test_support::udfs()
        .module
        .functions()
        .iter()
        .map(FunctionRecord::to_section_line)
        .collect();
    let outcome = fuzz("ferry.functions", &[records.into_bytes()], |bytes| {
        ferry_abi::parse_records(bytes).map(drop)
    });
    assert!(outcome.accepted >= 1, "{outcome:?}");
}

#[test]
fn modules() {
    let seeds = [small_module().bytes().to_vec()];
    let outcome = fuzz("modules", &seeds, |bytes| {
        Module::from_bytes(bytes.to_vec()).map(drop)
    });
    assert!(outcome.accepted >= 1, "{outcome:?}");
}

/// Where the host writes a call's environment in the column guest: its
/// first allocation.
const ENV_AT: u32 = 4096;

/// A guest whose functions return, as their column, whatever their
/// environment describes: the environment is a column descriptor followed
/// by the buffers it points into. One scalar per column type, and an
/// aggregate whose steps all do the same.
fn column_guest() -> Module {
    let mut records: Vec<FunctionRecord> = ALL_TYPES
        .iter()
        .map(|t| FunctionRecord::scalar(t.name(), &[], *t, None))
        .collect();
    records.push(FunctionRecord::aggregate(
        "states",
        &[ColumnType::Int64],
        ColumnType::Int64,
        None,
    ));
    let exports: String = records
        .iter()
        .flat_map(FunctionRecord::exports)
        .map(|name| format!("(export \"{name}\" (func $column))\n"))
        .collect();
    let section: String = records
        .iter()
        .map(FunctionRecord::to_section_line)
        .collect::<String>()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    let text = format!(
        r#"(module
  (import "ferry_v1" "result_column" (func $result_column (param i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const {ENV_AT}))
  (func (export "ferry_alloc") (param $size i32) (param $align i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $ptr))
  (func (export "ferry_free") (param i32 i32 i32))
  (func $column (param $env i32) (param i32 i32 i32) (result i32)
    (call $result_column (local.get $env))
    (i32.const 0))
  {exports}
  (@custom "ferry.functions" "{section}")
)"#
    );
    Module::from_bytes(wat::parse_str(text).unwrap()).unwrap()
}

const ALL_TYPES: [ColumnType; 4] = [
    ColumnType::Int64,
    ColumnType::Utf8,
    ColumnType::LargeUtf8,
    ColumnType::Boolean,
];

/// An environment for the column guest: a descriptor of a column of `rows`
/// rows and the buffers it points to.
fn column_env(
    column_type: ColumnType,
    rows: u32,
    validity: Option<&[u8]>,
    values: &[u8],
    offsets: Option<&[u8]>,
) -> Vec<u8> {
    let nulls = validity.map_or(0, |bits| {
        (0..rows as usize)
            .filter(|row| bits[row / 8] & (1 << (row % 8)) == 0)
            .count() as u32
    });
    let mut buffers = Vec::new();
    let mut place = |bytes: Option<&[u8]>| match bytes {
        Some(bytes) => {
            let at = ENV_AT + 28 + buffers.len() as u32;
            buffers.extend_from_slice(bytes);
            at
        }
        None => 0,
    };
    let validity = place(validity);
    let values_at = place(Some(values));
    let offsets = place(offsets);
    let descriptor = [
        column_type as u32,
        rows,
        nulls,
        validity,
        values_at,
        values.len() as u32,
        offsets,
    ];
    let mut env: Vec<u8> = descriptor.iter().flat_map(|w| w.to_le_bytes()).collect();
    env.extend_from_slice(&buffers);
    env
}

fn words<const N: usize>(offsets: [i32; N]) -> Vec<u8> {
    offsets.iter().flat_map(|o| o.to_le_bytes()).collect()
}

#[test]
fn result_columns() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = column_guest();
    let int64s: Vec<u8> = [1i64, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let large: Vec<u8> = [0i64, 2, 2, 5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    // Scalars of no arguments return one row; the rest are refused for
    // their length, after the checks this fuzzes.
    let seeds = [
        (
            ColumnType::Int64,
            column_env(ColumnType::Int64, 1, None, &int64s[..8], None),
        ),
        (
            ColumnType::Int64,
            column_env(ColumnType::Int64, 3, Some(&[0b101]), &int64s, None),
        ),
        (
            ColumnType::Utf8,
            column_env(ColumnType::Utf8, 1, None, b"ab", Some(&words([0, 2]))),
        ),
        (
            ColumnType::Utf8,
            column_env(
                ColumnType::Utf8,
                3,
                Some(&[0b011]),
                b"abcde",
                Some(&words([0, 2, 5, 5])),
            ),
        ),
        (
            ColumnType::LargeUtf8,
            column_env(ColumnType::LargeUtf8, 3, None, b"abcde", Some(&large)),
        ),
        (
            ColumnType::Boolean,
            column_env(ColumnType::Boolean, 1, Some(&[1]), &[1], None),
        ),
    ];
    let mut accepted = 0;
    for (column_type, seed) in seeds {
        let closure = Closure::new(&module, column_type.name()).unwrap();
        let outcome = fuzz(&format!("{} columns", column_type.name()), &[seed], |env| {
            let closure = closure
                .clone()
                .with_env_value(Value::from_msgpack(env.to_vec()));
            let mut instance = runtime.instantiate(&module, &Sandbox::default())?;
            instance.call_batch(&closure, &[]).map(drop)
        });
        accepted += outcome.accepted;
    }
    assert!(
        accepted >= 5,
        "the well-formed seeds are accepted: {accepted}"
    );
}

#[test]
fn aggregate_states() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = column_guest();
    let closure = Closure::new(&module, "states").unwrap();
    let states: States = [None, Some(&b"\x01\x02"[..])].into_iter().collect();
    let argument = 5i64.to_le_bytes();
    let column = ColumnIn {
        column_type: ColumnType::Int64,
        rows: 1,
        null_count: 0,
        validity: None,
        values: &argument,
        offsets: None,
    };
    let seed = column_env(ColumnType::Binary, 2, None, b"abc", Some(&words([0, 1, 3])));
    let outcome = fuzz("aggregate states", &[seed], |env| {
        let closure = closure
            .clone()
            .with_env_value(Value::from_msgpack(env.to_vec()));
        let mut instance = runtime.instantiate(&module, &Sandbox::default())?;
        let states = instance.aggregate_update(&closure, &states, &[1], &[column])?;
        // What comes back is one state per group, none missing.
        assert_eq!(states.value.len(), 2);
        assert!(states.value.iter().all(|state| state.is_some()));
        Ok::<(), ferry_host::Error>(())
    });
    assert!(outcome.accepted >= 1, "{outcome:?}");
}
