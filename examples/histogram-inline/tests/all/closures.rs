//! Closures written in the host's code (`ferry::closure!` in `src/lib.rs`),
//! run in the sandbox, against the same code run natively.

use ferry_example_histogram_inline::guest::{self, Binning, Events};
use ferry_example_histogram_inline::{central, weighted};
use ferry_host::{ExecutorExt, FailureKind, LocalExecutor};

#[test]
fn a_closure_written_in_the_host_runs_in_the_guest_with_its_captures() {
    let pool = LocalExecutor::new().unwrap();
    let binning = Binning {
        bins: 10,
        lo: 0.0,
        hi: 10.0,
        truth: 5.0,
        spread: 1.2,
        seed: 11,
    };
    let central = central(&binning).unwrap();
    let ranges: Vec<Events> = (0..6)
        .map(|i| Events {
            start: i * 700,
            end: (i + 1) * 700 + i,
        })
        .collect();
    for (result, events) in central.map(&pool, ranges.clone()).zip(&ranges) {
        let counts = guest::fill(binning.clone(), *events).unwrap();
        assert_eq!(result.unwrap().value, counts.bins[4] + counts.bins[5]);
    }
    // Another capture, another environment, the same function.
    let other = Binning {
        bins: 4,
        ..binning.clone()
    };
    let events = ranges[0];
    let counts = guest::fill(other.clone(), events).unwrap();
    let ran = self::central(&other).unwrap();
    assert_eq!(ran.closure().function(), central.closure().function());
    assert_eq!(
        ran.call(&pool, &events).unwrap().value,
        counts.bins[1] + counts.bins[2]
    );
    // The guest's `Err` comes back as the call's failure.
    let error = self::central(&Binning { bins: 0, ..binning })
        .unwrap()
        .call(&pool, &events)
        .unwrap_err();
    assert!(
        matches!(error.failure().map(|f| &f.kind), Some(FailureKind::Error { message }) if message.contains("no bins")),
        "{error}"
    );

    let weighted = weighted().unwrap();
    let sums: Vec<i64> = pool
        .map(weighted.closure(), (0..50).map(|i| (i, -i)))
        .map(|r| r.unwrap().value)
        .collect();
    assert_eq!(sums, (0..50).map(|i| 3 * i - i).collect::<Vec<i64>>());
}
