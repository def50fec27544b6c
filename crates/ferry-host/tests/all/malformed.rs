//! Results and pointers a guest gets wrong, written by hand from docs/abi.md:
//! each ends the call with one line that names the function and the
//! problem, and the runtime goes on serving.

use ferry_host::{Closure, Error, FailureKind, Module, Runtime, RuntimeConfig, Sandbox, Value};

/// What each hand-written function does, and what its caller must be told.
/// Value functions return status 0 after their body unless it returns.
const VALUE_CASES: &[(&str, &str, &str)] = &[
    (
        "reserved_byte",
        "(call $result (i32.const 64) (i32.const 2))",
        "returned a malformed result: the value uses the reserved byte 0xc1 at byte 0",
    ),
    (
        "trailing_bytes",
        "(call $result (i32.const 80) (i32.const 3))",
        "returned a malformed result: the value has 2 bytes after its end at byte 1",
    ),
    (
        "empty_result",
        "(call $result (i32.const 80) (i32.const 0))",
        "returned a malformed result: the value is empty",
    ),
    (
        "result_twice",
        "(call $result (i32.const 80) (i32.const 1)) (call $result (i32.const 80) (i32.const 1))",
        "`result` was called twice in one call",
    ),
    (
        "result_outside",
        "(call $result (i32.const 65520) (i32.const 256))",
        "the buffer passed to `result` lies outside the guest's memory (256 bytes at 65520",
    ),
    (
        "result_at_zero",
        "(call $result (i32.const 0) (i32.const 1))",
        "the buffer passed to `result` has pointer 0, which means no buffer, and length 1",
    ),
    (
        "error_outside",
        "(call $error (i32.const -16) (i32.const 32)) (return (i32.const 1))",
        "the message passed to `error` lies outside the guest's memory",
    ),
    (
        "panic_outside",
        "(call $panic (i32.const 80) (i32.const 1) (i32.const -16) (i32.const 32) (i32.const 1) (i32.const 1))",
        "the file passed to `panic` lies outside the guest's memory",
    ),
    (
        "blob_len_outside",
        "(drop (call $blob_len (i32.const -16) (i32.const 32)))",
        "the blob name passed to `blob_len` lies outside the guest's memory",
    ),
    (
        "blob_read_outside",
        "(drop (call $blob_read (i32.const 96) (i32.const 1) (i64.const 0) (i32.const 65520) (i32.const 256)))",
        "the buffer passed to `blob_read` lies outside the guest's memory (100 bytes at 65520",
    ),
];

/// Scalar functions of no arguments returning `utf8`: one row.
const COLUMN_CASES: &[(&str, &str, &str)] = &[
    (
        "no_offsets",
        "(call $result_column (i32.const 128))",
        "returned a malformed result: the column is utf8 and needs offsets, but its offsets pointer is 0",
    ),
    (
        "descriptor_outside",
        "(call $result_column (i32.const 65530))",
        "the descriptor passed to `result_column` lies outside the guest's memory",
    ),
    (
        "values_outside",
        "(call $result_column (i32.const 192))",
        "the values of the column passed to `result_column` lies outside the guest's memory",
    ),
    (
        "column_twice",
        "(call $result_column (i32.const 224)) (call $result_column (i32.const 224))",
        "`result_column` was called twice in one call",
    ),
];

/// The module: a bump-free allocator (every buffer at 4096, enough for
/// these calls), data the functions point at, and one export per case.
fn module() -> Module {
    let mut functions = String::new();
    let mut records = String::new();
    let mut add = |name: &str, kind: &str, body: &str, types: &str| {
        functions.push_str(&format!(
            "(func (export \"f_{name}\") (param i32 i32 i32 i32) (result i32) {body} (i32.const 0))\n"
        ));
        records.push_str(&format!(
            r#"{{\"abi\":1,\"name\":\"{name}\",\"kind\":\"{kind}\",\"export\":\"f_{name}\",{types}}}\n"#
        ));
    };
    let value = r#"\"input\":\"any\",\"output\":\"any\""#;
    let column = r#"\"input\":\"()\",\"output\":\"String\",\"args\":[],\"returns\":\"utf8\""#;
    for (name, body, _) in VALUE_CASES {
        add(name, "value", body, value);
    }
    for (name, body, _) in COLUMN_CASES {
        add(name, "scalar", body, column);
    }
    add(
        "echo",
        "value",
        "(call $result (local.get 2) (local.get 3))",
        value,
    );
    add(
        "one",
        "value",
        "(call $result (i32.const 80) (i32.const 1))",
        value,
    );
    let text = format!(
        r#"(module
  (import "ferry_v1" "result" (func $result (param i32 i32)))
  (import "ferry_v1" "result_column" (func $result_column (param i32)))
  (import "ferry_v1" "error" (func $error (param i32 i32)))
  (import "ferry_v1" "panic" (func $panic (param i32 i32 i32 i32 i32 i32)))
  (import "ferry_v1" "blob_len" (func $blob_len (param i32 i32) (result i64)))
  (import "ferry_v1" "blob_read" (func $blob_read (param i32 i32 i64 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 64) "\c1\00")
  (data (i32.const 80) "\01\02\03")
  (data (i32.const 96) "b")
  ;; utf8, 1 row, no nulls, values at 160 (2 bytes), offsets pointer 0
  (data (i32.const 128) "\0c\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\a0\00\00\00\02\00\00\00\00\00\00\00")
  (data (i32.const 160) "ab")
  ;; utf8, 1 row, values at 65530 (16 bytes: past the end), offsets at 168
  (data (i32.const 192) "\0c\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\fa\ff\00\00\10\00\00\00\a8\00\00\00")
  (data (i32.const 168) "\00\00\00\00\02\00\00\00")
  ;; a well-formed utf8 column of 1 row, "ab"
  (data (i32.const 224) "\0c\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\a0\00\00\00\02\00\00\00\a8\00\00\00")
  (func (export "ferry_alloc") (param i32 i32) (result i32) (i32.const 4096))
  (func (export "ferry_free") (param i32 i32 i32))
  {functions}
  (@custom "ferry.functions" "{records}")
)"#
    );
    Module::from_bytes(wat::parse_str(text).expect("the test module is valid text")).unwrap()
}

/// Asserts that `result` failed with one line, naming `function` and
/// containing `expected`.
fn assert_one_line<T: std::fmt::Debug>(function: &str, result: Result<T, Error>, expected: &str) {
    let error = result.expect_err(function);
    let message = error.to_string();
    assert!(
        !message.contains('\n'),
        "{function}: more than one line: {message}"
    );
    assert!(
        message.starts_with(&format!("`{function}` ")),
        "{function}: {message}"
    );
    assert!(message.contains(expected), "{function}: {message}");
}

#[test]
fn a_value_function_gets_one_line_for_each_mistake() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = module();
    for (name, _, expected) in VALUE_CASES {
        let closure = Closure::new(&module, name)
            .unwrap()
            .with_blob("b", vec![7u8; 100]);
        let result = runtime.call(&closure, &Value::nil(), &Sandbox::default());
        assert_one_line(name, result, expected);
    }
    let one = Closure::new(&module, "one").unwrap();
    let out = runtime.call(&one, &Value::nil(), &Sandbox::default());
    assert_eq!(out.unwrap().value.decode::<u8>().unwrap(), 1);
}

#[test]
fn a_result_is_checked_whatever_the_guest_was_given() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let echo = Closure::new(&module(), "echo").unwrap();
    let echo = |bytes: &[u8]| {
        runtime.call(
            &echo,
            &Value::from_msgpack(bytes.to_vec()),
            &Sandbox::default(),
        )
    };
    let malformed = |result: Result<_, Error>| match result {
        Err(Error::Call(failure)) => match failure.kind {
            FailureKind::MalformedResult { reason } => reason,
            other => panic!("expected a malformed result, got {other:?}"),
        },
        other => panic!("expected a malformed result, got {other:?}"),
    };
    assert!(malformed(echo(&[0xc1, 0x00])).contains("0xc1"));
    assert!(malformed(echo(&[0x01, 0x02, 0x03])).contains("2 bytes after its end"));
    assert!(malformed(echo(&[0x92, 0x01])).contains("cut short"));
    assert!(malformed(echo(&[0xa1, 0xff])).contains("not UTF-8"));
    let good = rmp_serde::to_vec(&("echo", [1, 2, 3])).unwrap();
    assert_eq!(
        echo(&good)
            .unwrap()
            .value
            .decode::<(String, Vec<i32>)>()
            .unwrap(),
        ("echo".to_owned(), vec![1, 2, 3])
    );
}

#[test]
fn a_column_function_gets_one_line_for_each_mistake() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = module();
    for (name, _, expected) in COLUMN_CASES {
        let closure = Closure::new(&module, name).unwrap();
        let mut instance = runtime.instantiate(&module, &Sandbox::default()).unwrap();
        assert_one_line(name, instance.call_batch(&closure, &[]), expected);
        assert!(
            instance.is_poisoned(),
            "{name}: a stopped instance is not used again"
        );
    }
}

#[test]
fn a_module_whose_memory_starts_over_the_cap_is_named_before_it_runs() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let big = crate::support::by_hand(|text| {
        text.replace(
            "(memory (export \"memory\") 1)",
            "(memory (export \"memory\") 2000)",
        )
    });
    let module = Module::from_bytes(big).unwrap();
    let answer = Closure::new(&module, "answer").unwrap();
    let err = runtime
        .call(&answer, &Value::nil(), &crate::support::tight_sandbox())
        .unwrap_err();
    assert!(
        matches!(err, Error::InitialMemory { needs, limit, .. } if needs == 2000 << 16 && limit == 64 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("raise the memory limit"), "{err}");
}

#[test]
fn a_wasi_command_is_refused_when_it_is_loaded() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let command = crate::support::by_hand(|text| {
        text.replace(
            "(func (export \"ferry_free\")",
            "(func (export \"_start\"))\n  (func (export \"ferry_free\")",
        )
    });
    let module = Module::from_bytes(command).unwrap();
    let err = runtime.prepare(&module).unwrap_err().to_string();
    assert!(
        err.contains("exports `_start`, so it is a WASI command") && !err.contains('\n'),
        "{err}"
    );
}
