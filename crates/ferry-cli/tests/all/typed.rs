//! Typed closures of a guest kept in the host's crate (the inline
//! histogram example), on real `ferry worker` processes: the types the
//! compiler checked arrive and come back through the workers.

use crate::worker::{Worker, remote};
use ferry_example_histogram_inline::guest::{self, Binning, Counts, Events};
use ferry_example_histogram_inline::{central, weighted};
use ferry_host::FailureKind;

fn binning_of(bins: usize) -> Binning {
    Binning {
        bins,
        lo: -2.0,
        hi: 2.0,
        truth: 0.1,
        spread: 0.5,
        seed: 11,
    }
}

fn ranges() -> Vec<Events> {
    (0..12)
        .map(|i| Events {
            start: i * 1000,
            end: (i + 1) * 1000 + i * 17,
        })
        .collect()
}

#[test]
fn typed_closures_run_on_workers_as_they_run_natively() {
    let store = tempfile::tempdir().unwrap();
    let workers = [
        Worker::start(store.path(), &[]),
        Worker::start(store.path(), &[]),
    ];
    let remote = remote(&[&workers[0], &workers[1]]);
    let binning = binning_of(24);
    let fill = guest::fill::with_env(&binning).unwrap();
    let merge = guest::merge::closure().unwrap();
    let ranges = ranges();
    let native: Counts = ranges
        .iter()
        .map(|events| guest::fill(binning.clone(), *events).unwrap())
        .reduce(|a, b| guest::merge(a, b).unwrap())
        .unwrap();

    let total = fill
        .map_reduce(&remote, &merge, ranges.clone())
        .chunk_size(3)
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(total, native);

    let task = fill.submit(&remote, &ranges[4]).unwrap();
    let expected = guest::fill(binning.clone(), ranges[4]).unwrap();
    assert_eq!(task.wait().unwrap().value, expected);

    // Inline closures: one with a capture, one with two arguments.
    let middle = central(&binning)
        .unwrap()
        .call(&remote, &ranges[2])
        .unwrap();
    let counts = guest::fill(binning.clone(), ranges[2]).unwrap();
    assert_eq!(middle.value, counts.bins[11] + counts.bins[12]);
    let sums: Vec<i64> = weighted()
        .unwrap()
        .map(&remote, vec![(1, 2), (-5, 7), (40, -1)])
        .map(|result| result.unwrap().value)
        .collect();
    assert_eq!(sums, [5, -8, 119]);

    // The guest's own `Err` comes back from the worker as it does locally.
    let error = guest::fill::with_env(&binning_of(0))
        .unwrap()
        .call(&remote, &ranges[0])
        .unwrap_err();
    match &error.failure().map(|f| &f.kind) {
        Some(FailureKind::Error { message }) => {
            assert!(message.contains("no bins to fill"), "{message}")
        }
        other => panic!("not the guest's error: {other:?} ({error})"),
    }
}
