//! Batch calls: vectorized scalar functions over columns, compared with the
//! same functions run natively, on random data with nulls.

use ferry::batch::{Column, ColumnBuilder, ToColumn};
use ferry_example_udfs as native;
use ferry_host::batch::{ColumnIn, ColumnOut, ColumnType, States};
use ferry_host::{Closure, Error, FailureKind, Instance, Runtime, RuntimeConfig, Sandbox, Value};
use ferry_test_support::{Random, udfs};

fn instance() -> Instance {
    Runtime::new(RuntimeConfig::default())
        .unwrap()
        .instantiate(&udfs().module, &Sandbox::default())
        .unwrap()
}

/// About one value in four is null.
const NULL_ONE_IN: u64 = 4;

fn build<T: ToColumn + Clone>(values: &[Option<T>]) -> ColumnBuilder {
    let mut builder = ColumnBuilder::new(T::TYPE, values.len());
    for value in values {
        builder.push(value.clone());
    }
    builder
}

fn input<'a>(column: &Column<'a>) -> ColumnIn<'a> {
    ColumnIn {
        column_type: column.column_type(),
        rows: column.len(),
        null_count: column.null_count(),
        validity: column.validity(),
        values: column.values(),
        offsets: (!column.offsets().is_empty()).then(|| column.offsets()),
    }
}

fn read<'a, T: ferry::batch::FromColumn<'a>>(out: &'a ColumnOut) -> Vec<Option<T>> {
    let column = Column::new(
        out.column_type,
        out.rows,
        out.validity.as_deref(),
        &out.values,
        out.offsets.as_deref().unwrap_or_default(),
    );
    (0..out.rows).map(|row| column.get(row)).collect()
}

fn call(
    instance: &mut Instance,
    function: &str,
    env: &Value,
    columns: &[&ColumnBuilder],
) -> ColumnOut {
    let views: Vec<Column<'_>> = columns.iter().map(|b| b.column()).collect();
    let inputs: Vec<ColumnIn<'_>> = views.iter().map(input).collect();
    let closure = closure(instance, function).with_env_value(env.clone());
    instance.call_batch(&closure, &inputs).unwrap().value
}

fn closure(instance: &Instance, function: &str) -> Closure {
    Closure::new(instance.module(), function).unwrap()
}

/// Floats agree to within a few ulps: the guest's libm is not the host's, and
/// `sin`, `cos` and `asin` may round their last bit differently. Nulls agree
/// exactly.
fn assert_close(actual: &[Option<f64>], expected: &[Option<f64>]) {
    assert_eq!(actual.len(), expected.len());
    let mut worst = 0.0f64;
    for (row, (a, e)) in actual.iter().zip(expected).enumerate() {
        match (a, e) {
            (Some(a), Some(e)) => worst = worst.max((a - e).abs() / e.abs().max(1.0)),
            (None, None) => {}
            _ => panic!("row {row}: {a:?} where {e:?} was expected"),
        }
    }
    assert!(worst < 1e-12, "relative error up to {worst}");
}

/// Null in, null out, unless the function takes `Option`s.
fn propagate<A: Copy, B: Copy, R>(
    a: &[Option<A>],
    b: &[Option<B>],
    f: impl Fn(A, B) -> R,
) -> Vec<Option<R>> {
    a.iter()
        .zip(b)
        .map(|(a, b)| Some(f((*a)?, (*b)?)))
        .collect()
}

#[test]
fn integer_functions_match_native_rust_over_many_batches() {
    let mut instance = instance();
    let mut random = Random::new(1);
    // Empty, single-row, odd-sized and large batches through one instance.
    for rows in [0, 1, 7, 1000, 8192, 3] {
        let a = random.column(rows, NULL_ONE_IN, |x| x as i64 - (1 << 30));
        let b = random.column(rows, NULL_ONE_IN, |x| (x % 1000) as i64 - 500);
        let (ca, cb) = (build(&a), build(&b));
        for (name, f) in [
            ("add", native::add as fn(i64, i64) -> i64),
            ("gcd", native::gcd),
        ] {
            let out = call(&mut instance, name, &Value::nil(), &[&ca, &cb]);
            assert_eq!(out.column_type, ColumnType::Int64);
            assert_eq!(
                read::<i64>(&out),
                propagate(&a, &b, f),
                "{name} over {rows} rows"
            );
        }
        let out = call(&mut instance, "sum_present", &Value::nil(), &[&ca, &cb]);
        let expected: Vec<Option<i64>> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| native::sum_present(*a, *b))
            .collect();
        assert_eq!(
            read::<i64>(&out),
            expected,
            "nulls reach a function that takes Option"
        );
    }
}

#[test]
fn float_string_boolean_and_binary_functions_match_native_rust() {
    let mut instance = instance();
    let mut random = Random::new(2);
    let rows = 5000;
    let coordinate = |x: u64| (x % 180_000) as f64 / 1000.0 - 90.0;
    let points: Vec<Vec<Option<f64>>> = (0..4)
        .map(|_| random.column(rows, NULL_ONE_IN, coordinate))
        .collect();
    let builders: Vec<ColumnBuilder> = points.iter().map(|p| build(p)).collect();
    let out = call(
        &mut instance,
        "haversine",
        &Value::nil(),
        &builders.iter().collect::<Vec<_>>(),
    );
    let expected: Vec<Option<f64>> = (0..rows)
        .map(|i| {
            Some(native::haversine(
                points[0][i]?,
                points[1][i]?,
                points[2][i]?,
                points[3][i]?,
            ))
        })
        .collect();
    assert_close(&read::<f64>(&out), &expected);

    let words = ["  Hello ", "WORLD", "ferry\tcarries  code", "", " ÉTÉ  "];
    let texts: Vec<Option<String>> = random.column(rows, NULL_ONE_IN, |x| {
        words[(x % 5) as usize].repeat((x % 3) as usize + 1)
    });
    let out = call(&mut instance, "normalize", &Value::nil(), &[&build(&texts)]);
    let expected: Vec<Option<String>> = texts
        .iter()
        .map(|t| t.as_deref().map(native::normalize))
        .collect();
    assert_eq!(read::<String>(&out), expected);

    let numbers: Vec<Option<i32>> = random.column(rows, NULL_ONE_IN, |x| x as i32);
    let out = call(&mut instance, "is_even", &Value::nil(), &[&build(&numbers)]);
    let expected: Vec<Option<bool>> = numbers.iter().map(|n| n.map(native::is_even)).collect();
    assert_eq!(read::<bool>(&out), expected);

    let blobs: Vec<Option<Vec<u8>>> =
        random.column(rows, NULL_ONE_IN, |x| vec![0u8; (x % 40) as usize]);
    let out = call(
        &mut instance,
        "byte_length",
        &Value::nil(),
        &[&build(&blobs)],
    );
    let expected: Vec<Option<u32>> = blobs
        .iter()
        .map(|b| b.as_deref().map(native::byte_length))
        .collect();
    assert_eq!(read::<u32>(&out), expected);
}

#[test]
fn a_captured_environment_is_bound_into_the_function() {
    let mut instance = instance();
    let xs = vec![Some(1.5), None, Some(-2.0)];
    let out = call(
        &mut instance,
        "scale",
        &Value::encode(&10.0).unwrap(),
        &[&build(&xs)],
    );
    assert_eq!(read::<f64>(&out), vec![Some(15.0), None, Some(-20.0)]);
}

#[test]
fn a_row_error_names_the_row_and_the_instance_serves_on() {
    let mut instance = instance();
    let a = build(&[Some(10i64), Some(20), Some(30)]);
    let b = build(&[Some(5i64), Some(4), Some(0)]);
    let views = [a.column(), b.column()];
    let inputs: Vec<_> = views.iter().map(input).collect();
    let err = instance
        .call_batch(&closure(&instance, "checked_div"), &inputs)
        .unwrap_err();
    let failure = err.failure().expect("a guest failure");
    assert_eq!(failure.function, "checked_div");
    assert_eq!(
        failure.kind,
        FailureKind::Error {
            message: "row 2: cannot divide 30 by 0".into()
        }
    );
    let out = call(&mut instance, "checked_div", &Value::nil(), &[&a, &a]);
    assert_eq!(read::<i64>(&out), vec![Some(1), Some(1), Some(1)]);
}

#[test]
fn columns_that_do_not_match_the_signature_are_refused() {
    let mut instance = instance();
    let ints = build(&[Some(1i32)]);
    let views = [ints.column()];
    let inputs: Vec<_> = views.iter().map(input).collect();
    let err = instance
        .call_batch(&closure(&instance, "gcd"), &inputs)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Signature { function, reason } if function == "gcd" && reason.contains("(int64, int64)")),
        "{err}"
    );
    // Batch and value functions are called their own way.
    let err = instance
        .call("gcd", &Value::nil(), &Value::nil())
        .unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
}

#[test]
fn kept_steps_keep_each_groups_state_in_the_instance_between_calls() {
    let mut instance = instance();
    let geo_mean = closure(&instance, "geo_mean");
    let close = |out: Option<f64>, expected: f64| {
        assert!(
            (out.unwrap() - expected).abs() < 1e-12,
            "{out:?} for {expected}"
        )
    };
    // Two calls; group 2 never sees a row, and group 3 comes in the second.
    let first = build(&[Some(2.0f64), None, Some(8.0)]);
    let view = first.column();
    let kept = instance.kept_update(&geo_mean, &[0, 0, 1], &[input(&view)]);
    assert_eq!(kept.unwrap().value, 2);
    let second = build(&[Some(4.0f64), Some(16.0)]);
    let view = second.column();
    let kept = instance.kept_update(&geo_mean, &[1, 3], &[input(&view)]);
    assert_eq!(kept.unwrap().value, 4);

    // States leave as the plain steps' states, for another instance to
    // merge, kept or not.
    let states = instance.kept_states(&geo_mean, &[1, 2, 3]).unwrap().value;
    assert_eq!(states.len(), 3);
    let mut other = self::instance();
    let kept = other.kept_merge(&geo_mean, &[0, 1, 1], states.column());
    assert_eq!(kept.unwrap().value, 2);
    let out = read::<f64>(&other.kept_finish(&geo_mean, &[0, 1]).unwrap().value);
    close(out[0], 32f64.sqrt());
    close(out[1], 16.0);
    let fresh: States = [None].into_iter().collect();
    let merged = other
        .aggregate_merge(&geo_mean, &fresh, &[0, 0, 0], states.column())
        .unwrap()
        .value;
    let out = read::<f64>(&other.aggregate_finish(&geo_mean, &merged).unwrap().value);
    close(out[0], 512f64.powf(1.0 / 3.0));

    // Finishing a group starts it afresh; dropping groups moves the rest
    // down.
    let out = read::<f64>(&instance.kept_finish(&geo_mean, &[0, 0]).unwrap().value);
    close(out[0], 2.0);
    assert_eq!(out[1], None, "a finished group starts again with no rows");
    assert_eq!(instance.kept_drop(&geo_mean, 3).unwrap().value, 1);
    let out = read::<f64>(&instance.kept_finish(&geo_mean, &[0]).unwrap().value);
    close(out[0], 16.0);
    assert_eq!(instance.kept_drop(&geo_mean, 5).unwrap().value, 0);

    // Wrong columns are refused before the guest runs.
    let err = instance
        .kept_update(&geo_mean, &[0, 0, 0], &[input(&view)])
        .unwrap_err();
    assert!(
        err.to_string().contains("3 group indices for 2 rows"),
        "{err}"
    );
    let ints = build(&[Some(1i64)]);
    let view = ints.column();
    let err = instance
        .kept_update(&geo_mean, &[0], &[input(&view)])
        .unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    let err = instance
        .kept_merge(&geo_mean, &[0], input(&view))
        .unwrap_err();
    assert!(
        err.to_string().contains("partial states are binary"),
        "{err}"
    );
}

#[test]
fn aggregate_steps_fold_merge_and_finish_by_group() {
    let mut instance = instance();
    let geo_mean = closure(&instance, "geo_mean");
    let expected =
        |values: &[f64]| (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp();
    let results = |instance: &mut Instance, states: &States| {
        read::<f64>(&instance.aggregate_finish(&geo_mean, states).unwrap().value)
    };
    // Three groups, the last without rows; a null row is skipped.
    let values = build(&[Some(2.0f64), None, Some(8.0), Some(4.0), Some(16.0)]);
    let view = values.column();
    let fresh: States = [None, None, None].into_iter().collect();
    let updated = instance
        .aggregate_update(&geo_mean, &fresh, &[0, 0, 0, 1, 1], &[input(&view)])
        .unwrap()
        .value;
    assert_eq!(updated.len(), 3);
    let out = results(&mut instance, &updated);
    assert!((out[0].unwrap() - 4.0).abs() < 1e-12, "{out:?}");
    assert!((out[1].unwrap() - 8.0).abs() < 1e-12, "{out:?}");
    assert_eq!(out[2], None, "a group that saw no rows is null");

    // Partial states merge into any group, whether it has a state or not;
    // null partials are skipped.
    let partials: States = [updated.get(0), None, updated.get(1), updated.get(1)]
        .into_iter()
        .collect();
    let states: States = [None, updated.get(0)].into_iter().collect();
    let merged = instance
        .aggregate_merge(&geo_mean, &states, &[0, 0, 1, 1], partials.column())
        .unwrap()
        .value;
    let out = results(&mut instance, &merged);
    assert!((out[0].unwrap() - 4.0).abs() < 1e-12, "{out:?}");
    let all = expected(&[2.0, 8.0, 4.0, 16.0, 4.0, 16.0]);
    assert!((out[1].unwrap() - all).abs() < 1e-12, "{out:?}");

    // Retracting takes rows back out of their group's state: 16 leaves
    // group 1, which held 4 and 16. Only functions that have the step take
    // it.
    let sixteen = build(&[Some(16.0f64)]);
    let view = sixteen.column();
    let retracted = instance
        .aggregate_retract(&geo_mean, &updated, &[1], &[input(&view)])
        .unwrap()
        .value;
    let out = results(&mut instance, &retracted);
    assert!((out[0].unwrap() - 4.0).abs() < 1e-12, "{out:?}");
    assert!((out[1].unwrap() - 4.0).abs() < 1e-12, "{out:?}");
    let err = instance
        .aggregate_retract(
            &closure(&instance, "histogram"),
            &fresh,
            &[0],
            &[input(&view)],
        )
        .unwrap_err();
    assert!(err.to_string().contains("no retract step"), "{err}");

    // Wrong columns, groups that do not fit, and a scalar function called
    // as an aggregate are refused before the guest runs.
    let ints = build(&[Some(1i64)]);
    let view = ints.column();
    let one: States = [None].into_iter().collect();
    let err = instance
        .aggregate_update(&geo_mean, &one, &[0], &[input(&view)])
        .unwrap_err();
    assert!(matches!(err, Error::Signature { .. }), "{err}");
    let floats = build(&[Some(1.0f64)]);
    let view = floats.column();
    for (groups, problem) in [
        (&[1][..], "group 1 of 1 states"),
        (&[0, 0], "2 group indices for 1 rows"),
    ] {
        let err = instance
            .aggregate_update(&geo_mean, &one, groups, &[input(&view)])
            .unwrap_err();
        assert!(err.to_string().contains(problem), "{err}");
    }
    let err = instance
        .aggregate_merge(&geo_mean, &one, &[0], input(&view))
        .unwrap_err();
    assert!(
        err.to_string().contains("partial states are binary"),
        "{err}"
    );
    let err = instance
        .aggregate_finish(&closure(&instance, "gcd"), &one)
        .unwrap_err();
    assert!(err.to_string().contains("not an aggregate"), "{err}");
}
