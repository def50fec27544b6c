//! Bad input and misbehaving guests: each gets a clear, typed error, and the
//! runtime goes on serving afterwards.

use crate::support;
use ferry_host::{
    Closure, DirGrant, Error, FailureKind, Module, Runtime, RuntimeConfig, Sandbox, Value,
};
use ferry_test_support::example_guest;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

/// Calls `function` of the example guest and returns how it failed.
fn failure(
    runtime: &Runtime,
    function: &str,
    input: &impl serde::Serialize,
    sandbox: &Sandbox,
) -> FailureKind {
    let closure = Closure::new(&example_guest().module, function).unwrap();
    match runtime.call(&closure, &Value::encode(input).unwrap(), sandbox) {
        Err(Error::Call(failure)) => {
            assert_eq!(failure.function, function);
            failure.kind
        }
        other => panic!("{function} should fail, got {other:?}"),
    }
}

/// The runtime still answers ordinary calls.
fn still_serving(runtime: &Runtime) {
    let add = Closure::new(&example_guest().module, "add").unwrap();
    let out = runtime
        .call(&add, &Value::encode(&(2, 3)).unwrap(), &Sandbox::default())
        .unwrap();
    assert_eq!(out.value.decode::<i64>().unwrap(), 5);
}

#[test]
fn malformed_wasm_is_refused() {
    let err = Module::from_bytes(b"\0asm\x01\0\0\0garbage".to_vec()).unwrap_err();
    assert!(matches!(err, Error::MalformedModule { .. }), "{err}");
    let err = Module::from_bytes(b"definitely not wasm".to_vec()).unwrap_err();
    assert!(matches!(err, Error::MalformedModule { .. }), "{err}");
    let guest = &example_guest().module;
    let truncated = &guest.bytes()[..guest.bytes().len() / 2];
    let err = Module::from_bytes(truncated.to_vec()).unwrap_err();
    assert!(matches!(err, Error::MalformedModule { .. }), "{err}");
}

#[test]
fn a_module_without_ferry_metadata_is_refused() {
    let bytes = support::by_hand(|text| {
        let start = text.find("(@custom").unwrap();
        let end = text.rfind(')').unwrap();
        format!("{}{}", &text[..start], &text[end..])
    });
    let err = Module::from_bytes(bytes).unwrap_err();
    assert!(matches!(err, Error::NotAFerryModule), "{err}");
    assert!(
        err.to_string().contains("#[ferry::function]"),
        "the message says what to do: {err}"
    );
}

#[test]
fn an_abi_version_mismatch_is_refused_before_running_anything() {
    let bytes = support::by_hand(|text| {
        text.replacen(
            r#"{\"abi\":1,\"name\":\"echo\""#,
            r#"{\"abi\":2,\"name\":\"echo\""#,
            1,
        )
    });
    let err = Module::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&err, Error::AbiMismatch { function, found: 2, supported: 1 } if function == "echo"),
        "{err}"
    );
    assert!(err.to_string().contains("rebuild the guest"), "{err}");
}

#[test]
fn an_aggregate_without_argument_columns_is_refused() {
    let bytes = support::by_hand(|text| {
        text.replacen(
            r#"    "{\"abi\":1,\"name\":\"echo\""#,
            r#"    "{\"abi\":1,\"name\":\"count_rows\",\"kind\":\"aggregate\",\"export\":\"ferry_udaf_count_rows\",\"input\":\"()\",\"output\":\"uint64\",\"args\":[],\"returns\":\"uint64\"}\n"
    "{\"abi\":1,\"name\":\"echo\""#,
            1,
        )
    });
    let module = Module::from_bytes(bytes).unwrap();
    let err = module
        .function("count_rows", ferry_host::FunctionKind::Aggregate)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Signature { function, reason } if function == "count_rows" && reason.contains("at least one argument column")),
        "{err}"
    );
}

#[test]
fn a_module_missing_an_abi_export_is_refused_when_prepared() {
    let bytes = support::by_hand(|text| text.replace(r#"(export "ferry_alloc")"#, ""));
    let module = Module::from_bytes(bytes).unwrap();
    let err = runtime().prepare(&module).unwrap_err();
    assert!(
        matches!(&err, Error::AbiViolation { reason } if reason.contains("ferry_alloc")),
        "{err}"
    );
}

#[test]
fn a_module_that_imports_something_else_is_refused() {
    let bytes = support::by_hand(|text| {
        text.replacen(
            "(memory",
            "(import \"env\" \"launch_missiles\" (func))\n  (memory",
            1,
        )
    });
    let err = runtime()
        .prepare(&Module::from_bytes(bytes).unwrap())
        .unwrap_err();
    assert!(
        matches!(&err, Error::AbiViolation { reason } if reason.contains("launch_missiles")),
        "{err}"
    );
}

#[test]
fn an_unknown_function_is_named_with_the_alternatives() {
    let runtime = runtime();
    let mut instance = runtime
        .instantiate(&example_guest().module, &Sandbox::default())
        .unwrap();
    let err = instance
        .call("fil", &Value::nil(), &Value::nil())
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownFunction { function, available, .. } if function == "fil" && available.contains("fill")),
        "{err}"
    );
    // The instance was not harmed by the question.
    let out = instance
        .call("add", &Value::nil(), &Value::encode(&(1, 1)).unwrap())
        .unwrap();
    assert_eq!(out.value.decode::<i64>().unwrap(), 2);
}

#[test]
fn a_guest_panic_reports_its_message_and_location() {
    let runtime = runtime();
    let kind = failure(
        &runtime,
        "boom",
        &"the detector is on fire",
        &Sandbox::default(),
    );
    let FailureKind::Panic { message, location } = kind else {
        panic!("{kind:?}")
    };
    assert_eq!(message, "the detector is on fire");
    assert!(location.file.ends_with("lib.rs"), "{location}");
    assert!(location.line > 0);
    still_serving(&runtime);
}

#[test]
fn a_returned_error_and_a_bad_argument_are_told_apart() {
    let runtime = runtime();
    let kind = failure(&runtime, "divide", &(7, 0), &Sandbox::default());
    assert_eq!(
        kind,
        FailureKind::Error {
            message: "cannot divide 7 by 0".into()
        }
    );
    let kind = failure(&runtime, "divide", &"seven", &Sandbox::default());
    assert!(
        matches!(&kind, FailureKind::BadArgument { message } if message.contains("input")),
        "{kind:?}"
    );
    still_serving(&runtime);
}

#[test]
fn traps_are_reported_as_traps() {
    let runtime = runtime();
    let module = Module::from_bytes(support::by_hand(|text| text)).unwrap();
    for (function, expected) in [
        ("divide_by_zero", "divide by zero"),
        ("unreachable", "unreachable"),
    ] {
        let closure = Closure::new(&module, function).unwrap();
        let err = runtime
            .call(&closure, &Value::nil(), &Sandbox::default())
            .unwrap_err();
        let kind = &err.failure().expect("a call failure").kind;
        assert!(
            matches!(kind, FailureKind::Trap { message } if message.contains(expected)),
            "{function}: {kind:?}"
        );
    }
    // The same hand-written module works when asked properly.
    let answer = Closure::new(&module, "answer").unwrap();
    assert_eq!(
        runtime
            .call(&answer, &Value::nil(), &Sandbox::default())
            .unwrap()
            .value
            .decode::<u8>()
            .unwrap(),
        42
    );
    let echo = Closure::new(&module, "echo").unwrap();
    let out = runtime
        .call(
            &echo,
            &Value::encode(&("echo", 1)).unwrap(),
            &Sandbox::default(),
        )
        .unwrap();
    assert_eq!(
        out.value.decode::<(String, i32)>().unwrap(),
        ("echo".to_string(), 1)
    );
    still_serving(&runtime);
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline() {
    let runtime = runtime();
    runtime.prepare(&example_guest().module).unwrap();
    let started = std::time::Instant::now();
    let kind = failure(&runtime, "spin", &(), &support::deadline(300));
    assert_eq!(kind, FailureKind::Timeout { limit_ms: 300 });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "it was stopped, not left to run"
    );
    still_serving(&runtime);
}

#[test]
fn sleeping_does_not_outlast_the_deadline() {
    let runtime = runtime();
    runtime.prepare(&example_guest().module).unwrap();
    let mut sandbox = support::deadline(300);
    sandbox.grants.clock = true;
    let started = std::time::Instant::now();
    let kind = failure(&runtime, "nap", &(1u64 << 40), &sandbox);
    assert_eq!(kind, FailureKind::Timeout { limit_ms: 300 });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Without the clock, time stands still and a nap takes no time at all.
    let nap = Closure::new(&example_guest().module, "nap").unwrap();
    let out = runtime
        .call(
            &nap,
            &Value::encode(&3600u64).unwrap(),
            &support::tight_sandbox(),
        )
        .unwrap();
    assert_eq!(out.value.decode::<u64>().unwrap(), 0);
    still_serving(&runtime);
}

#[test]
fn a_memory_bomb_is_stopped_at_the_cap() {
    let runtime = runtime();
    let kind = failure(&runtime, "hog", &(), &support::tight_sandbox());
    assert_eq!(kind, FailureKind::MemoryLimit { limit: 64 << 20 });
    still_serving(&runtime);
}

#[test]
fn flooding_stdout_is_stopped_at_the_output_limit() {
    let runtime = runtime();
    let kind = failure(&runtime, "chatter", &100_000u64, &support::tight_sandbox());
    assert_eq!(
        kind,
        FailureKind::OutputLimit {
            stream: "stdout".into(),
            limit: 64 << 10
        }
    );
    still_serving(&runtime);
}

/// A guest that calls WASI (here, to print) from a thread running tokio
/// tasks, as DataFusion's and async callers' are: WASI's blocking calls must
/// not take the host down.
#[test]
fn a_guest_calling_wasi_from_a_tokio_task_is_served() {
    let runtime = std::sync::Arc::new(runtime());
    let chatter = Closure::new(&example_guest().module, "chatter").unwrap();
    let call = {
        let runtime = runtime.clone();
        move || {
            runtime.call(
                &chatter,
                &Value::encode(&3u64).unwrap(),
                &Sandbox::default(),
            )
        }
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    // On a worker, on the thread blocked on the runtime, and in a
    // current-thread runtime.
    let on_worker = tokio.block_on(tokio.spawn({
        let call = call.clone();
        async move { call() }
    }));
    let on_block_on = tokio.block_on(async { call() });
    let current_thread = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let on_current_thread = current_thread.block_on(async { call() });
    for out in [on_worker.unwrap(), on_block_on, on_current_thread] {
        let out = out.unwrap();
        assert_eq!(out.value.decode::<u64>().unwrap(), 3);
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    }
    still_serving(&runtime);
}

#[test]
fn an_oversized_result_is_refused() {
    let runtime = runtime();
    let kind = failure(&runtime, "bytes", &(2u64 << 20), &support::tight_sandbox());
    assert!(
        matches!(kind, FailureKind::ResultTooLarge { size, limit: 1_048_576 } if size > 2 << 20),
        "{kind:?}"
    );
    still_serving(&runtime);
}

#[test]
fn output_is_captured_and_returned_with_the_result() {
    let closure = Closure::new(&example_guest().module, "chatter").unwrap();
    let out = runtime()
        .call(
            &closure,
            &Value::encode(&3u64).unwrap(),
            &Sandbox::default(),
        )
        .unwrap();
    assert_eq!(out.value.decode::<u64>().unwrap(), 3);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 3);
    assert!(stdout.starts_with("line 0 of 3"), "{stdout}");
}

#[test]
fn host_files_environment_and_clock_are_closed_unless_granted() {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "the host's secret").unwrap();
    let secret = dir.path().join("secret.txt").display().to_string();

    let kind = failure(&runtime, "read_file", &secret, &Sandbox::default());
    assert!(
        matches!(&kind, FailureKind::Error { message } if message.contains("cannot read")),
        "{kind:?}"
    );
    let kind = failure(&runtime, "read_file", &"/etc/passwd", &Sandbox::default());
    assert!(matches!(kind, FailureKind::Error { .. }), "{kind:?}");

    let call = |function: &str, input: &str, sandbox: &Sandbox| {
        let closure = Closure::new(&example_guest().module, function).unwrap();
        runtime
            .call(&closure, &Value::encode(input).unwrap(), sandbox)
            .unwrap()
            .value
    };
    std::env::var("PATH").expect("the host has a PATH to hide");
    assert_eq!(
        call("env_var", "PATH", &Sandbox::default())
            .decode::<Option<String>>()
            .unwrap(),
        None
    );
    assert_eq!(
        call("now", "", &Sandbox::default())
            .decode::<u64>()
            .unwrap(),
        0
    );

    let mut granted = Sandbox::default();
    granted.grants.dirs.push(DirGrant {
        host: dir.path().to_owned(),
        guest: "/data".into(),
        writable: false,
    });
    granted.grants.env.push(("MODE".into(), "fast".into()));
    granted.grants.clock = true;
    assert_eq!(
        call("read_file", "/data/secret.txt", &granted)
            .decode::<String>()
            .unwrap(),
        "the host's secret"
    );
    assert_eq!(
        call("env_var", "MODE", &granted)
            .decode::<Option<String>>()
            .unwrap()
            .as_deref(),
        Some("fast")
    );
    assert!(call("now", "", &granted).decode::<u64>().unwrap() > 1_600_000_000);
}

#[test]
fn a_fresh_instance_sees_none_of_what_earlier_calls_wrote() {
    // `bump` grows memory to 6 MiB, adds one to a byte of its data segment
    // and to the last byte of memory, and returns their sum: 42 + 1 + 0 + 1
    // on memory as the module defines it. Memory is reset in place up to
    // some size and handed back to the kernel past it; both must forget.
    let bytes = support::by_hand(|text| {
        let bump = r#"
  (func (export "ferry_fn_bump") (param i32 i32 i32 i32) (result i32)
    (if (i32.lt_u (memory.size) (i32.const 96))
      (then (drop (memory.grow (i32.sub (i32.const 96) (memory.size))))))
    (i32.store8 (i32.const 1024) (i32.add (i32.load8_u (i32.const 1024)) (i32.const 1)))
    (i32.store8 (i32.const 0x5fffff) (i32.add (i32.load8_u (i32.const 0x5fffff)) (i32.const 1)))
    (i32.store8 (i32.const 1026)
      (i32.add (i32.load8_u (i32.const 1024)) (i32.load8_u (i32.const 0x5fffff))))
    (call $result (i32.const 1026) (i32.const 1))
    (i32.const 0))
"#;
        let record = r#"    "{\"abi\":1,\"name\":\"bump\",\"kind\":\"value\",\"export\":\"ferry_fn_bump\",\"input\":\"()\",\"output\":\"u8\"}\n""#;
        let text = text.replace("  (@custom", &format!("{bump}\n  (@custom"));
        let at = text.rfind(')').unwrap();
        let at = text[..at].rfind(')').unwrap();
        format!("{}\n{record}{}", &text[..at], &text[at..])
    });
    let module = Module::from_bytes(bytes).unwrap();
    let bump = Closure::new(&module, "bump").unwrap();
    let runtime = runtime();
    let fresh: Vec<u8> = (0..4)
        .map(|_| {
            let out = runtime.call(&bump, &Value::nil(), &Sandbox::default());
            out.unwrap().value.decode().unwrap()
        })
        .collect();
    assert_eq!(fresh, [44, 44, 44, 44]);
    // The same calls on one kept instance do carry over, so the test sees
    // what it means to see.
    let mut kept = runtime.instantiate(&module, &Sandbox::default()).unwrap();
    let reused: Vec<u8> = (0..3)
        .map(|_| {
            let out = kept.call("bump", &Value::nil(), &Value::nil());
            out.unwrap().value.decode().unwrap()
        })
        .collect();
    assert_eq!(reused, [44, 46, 48]);
}
