//! Typed closures made by the handles, run in the sandbox, against the same
//! functions compiled natively.

use ferry_example_histogram_inline::guest::{self, Binning, Counts, Events};
use ferry_host::{ExecutorExt, FailureKind, LocalExecutor};

fn binning(seed: u64) -> Binning {
    Binning {
        bins: 16,
        lo: -2.0,
        hi: 2.0,
        truth: 0.25,
        spread: 0.6,
        seed,
    }
}

/// The events in `tasks` ranges of uneven sizes.
fn ranges(tasks: u64) -> Vec<Events> {
    let mut start = 0;
    (0..tasks)
        .map(|i| {
            let end = start + 500 + i * 37;
            let events = Events { start, end };
            start = end;
            events
        })
        .collect()
}

fn native(binning: &Binning, ranges: &[Events]) -> Counts {
    ranges
        .iter()
        .map(|events| guest::fill(binning.clone(), *events).unwrap())
        .reduce(|a, b| guest::merge(a, b).unwrap())
        .unwrap()
}

#[test]
fn a_map_reduce_of_typed_closures_equals_the_same_code_run_natively() {
    let pool = LocalExecutor::new().unwrap();
    let merge = guest::merge::closure().unwrap();
    for seed in [1, 2, 3] {
        let binning = binning(seed);
        let fill = guest::fill::with_env(&binning).unwrap();
        let ranges = ranges(24);
        let total = fill
            .map_reduce(&pool, &merge, ranges.clone())
            .chunk_size(5)
            .run()
            .unwrap()
            .unwrap();
        assert_eq!(total, native(&binning, &ranges));
        assert_eq!(total.total(), ranges.last().unwrap().end);
        // Each result of a map, in order, is the native one.
        for (counts, events) in fill.map(&pool, ranges.clone()).zip(&ranges) {
            let expected = guest::fill(binning.clone(), *events).unwrap();
            assert_eq!(counts.unwrap().value, expected);
        }
    }
    // Empty input: nothing to reduce.
    let fill = guest::fill::with_env(&binning(1)).unwrap();
    assert_eq!(
        fill.map_reduce(&pool, &merge, Vec::new()).run().unwrap(),
        None
    );
}

#[test]
fn a_submitted_typed_call_and_a_guest_error_keep_their_types() {
    let pool = LocalExecutor::new().unwrap();
    let events = Events {
        start: 0,
        end: 2000,
    };
    let fill = guest::fill::with_env(&binning(9)).unwrap();
    let task = fill.submit(&pool, &events).unwrap();
    assert_eq!(task.wait().unwrap().value, native(&binning(9), &[events]));

    // The guest's `Err` is a failure of the call, with its message.
    let no_bins = Binning {
        bins: 0,
        ..binning(9)
    };
    let error = guest::fill::with_env(&no_bins)
        .unwrap()
        .call(&pool, &events)
        .unwrap_err();
    match &error.failure().map(|f| &f.kind) {
        Some(FailureKind::Error { message }) => {
            assert!(message.contains("no bins to fill"), "{message}")
        }
        other => panic!("not the guest's error: {other:?} ({error})"),
    }
    // The untyped closure is the same closure, for the untyped APIs.
    let untyped: Counts = pool.call(fill.closure(), &events).unwrap().value;
    assert_eq!(untyped, native(&binning(9), &[events]));
}
