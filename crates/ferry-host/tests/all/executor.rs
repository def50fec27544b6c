//! The local executor: call, call_async, map in input order, instance reuse,
//! and serving on after failures.

use crate::support;
use ferry_host::{Closure, Error, ExecutorExt, FailureKind, LocalExecutor, Output};
use ferry_test_support::example_guest;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Drives a future to completion on this thread, parking between polls: no
/// async runtime needed, which is the point of `call_async`'s design.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

fn add() -> Closure {
    Closure::new(&example_guest().module, "add").unwrap()
}

#[test]
fn call_and_call_async_return_typed_results() {
    let pool = LocalExecutor::builder().threads(2).build().unwrap();
    let out: Output<i64> = pool.call(&add(), &(20, 22)).unwrap();
    assert_eq!(out.value, 42);
    let futures: Vec<_> = (0..10i64)
        .map(|i| pool.call_async::<_, i64>(&add(), &(i, 100)))
        .collect();
    let results: Vec<i64> = futures
        .into_iter()
        .map(|f| block_on(f).unwrap().value)
        .collect();
    assert_eq!(results, (100..110).collect::<Vec<_>>());
}

#[test]
fn map_yields_every_result_in_input_order() {
    for reuse in [false, true] {
        let pool = LocalExecutor::builder()
            .threads(3)
            .reuse_instances(reuse)
            .build()
            .unwrap();
        let results: Vec<i64> = pool
            .map(&add(), (0..500i64).map(|i| (i, i * 1000)))
            .map(|r| r.unwrap().value)
            .collect();
        assert_eq!(
            results,
            (0..500).map(|i| i + i * 1000).collect::<Vec<_>>(),
            "reuse: {reuse}"
        );
    }
}

#[test]
fn a_failure_in_the_middle_of_a_map_affects_only_its_own_item() {
    let pool = LocalExecutor::builder()
        .threads(2)
        .reuse_instances(true)
        .build()
        .unwrap();
    let divide = Closure::new(&example_guest().module, "divide").unwrap();
    let results: Vec<Result<i64, Error>> = pool
        .map(&divide, (0..40i64).map(|i| (100, i % 10)))
        .map(|r| r.map(|out| out.value))
        .collect();
    for (i, result) in results.iter().enumerate() {
        match (i % 10, result) {
            (0, Err(err)) => assert!(
                matches!(&err.failure().unwrap().kind, FailureKind::Error { .. }),
                "{err}"
            ),
            (d, Ok(q)) => assert_eq!(*q, 100 / d as i64),
            (_, other) => panic!("item {i}: {other:?}"),
        }
    }
}

#[test]
fn the_pool_keeps_serving_after_panics_and_timeouts() {
    let pool = LocalExecutor::builder()
        .threads(2)
        .reuse_instances(true)
        .sandbox(support::deadline(1000))
        .build()
        .unwrap();
    let guest = &example_guest().module;
    let boom = Closure::new(guest, "boom").unwrap();
    let spin = Closure::new(guest, "spin").unwrap();
    for _ in 0..3 {
        let err = pool.call::<_, u32>(&boom, &"again").unwrap_err();
        assert!(
            matches!(err.failure().unwrap().kind, FailureKind::Panic { .. }),
            "{err}"
        );
        let err = pool.call::<_, u64>(&spin, &()).unwrap_err();
        assert!(
            matches!(err.failure().unwrap().kind, FailureKind::Timeout { .. }),
            "{err}"
        );
        assert_eq!(pool.call::<_, i64>(&add(), &(1, 2)).unwrap().value, 3);
    }
}

#[test]
fn reused_and_fresh_instances_give_the_same_results() {
    let fill = Closure::new(&example_guest().module, "fill")
        .unwrap()
        .with_env(&serde_json::json!({"bins": 8, "lo": 0.0, "hi": 160.0, "peak": 91.0, "width": 2.5, "seed": 3}))
        .unwrap();
    let ranges: Vec<_> = (0..20u64)
        .map(|i| serde_json::json!({"start": i * 100, "end": (i + 1) * 100}))
        .collect();
    let run = |reuse| -> Vec<serde_json::Value> {
        let pool = LocalExecutor::builder()
            .threads(2)
            .reuse_instances(reuse)
            .build()
            .unwrap();
        pool.map(&fill, ranges.iter())
            .map(|r| r.unwrap().value)
            .collect()
    };
    assert_eq!(run(false), run(true));
}

#[test]
fn dropping_the_pool_finishes_submitted_work() {
    use ferry_host::{Executor, Value};
    let pool = LocalExecutor::builder().threads(1).build().unwrap();
    let tasks: Vec<_> = (0..20i64)
        .map(|i| pool.submit(&add(), Value::encode(&(i, 1)).unwrap()))
        .collect();
    drop(pool);
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(
            task.wait().unwrap().value.decode::<i64>().unwrap(),
            i as i64 + 1
        );
    }
}

#[test]
fn map_reduce_reduces_in_input_order_whatever_the_chunking() {
    let guest = &example_guest().module;
    let show = Closure::new(guest, "show").unwrap();
    let concat = Closure::new(guest, "concat").unwrap();
    let expected: String = (0..200).map(|i| format!("{i};")).collect();
    for (threads, chunk) in [(1, 1), (3, 1), (3, 7), (2, 64), (2, 500)] {
        let pool = LocalExecutor::builder().threads(threads).build().unwrap();
        let mut progress = Vec::new();
        let joined: Option<String> = pool
            .map_reduce(&show, &concat, 0..200i64)
            .chunk_size(chunk)
            .on_progress(|done| progress.push(done))
            .run()
            .unwrap();
        assert_eq!(
            joined.as_deref(),
            Some(expected.as_str()),
            "{threads} threads, chunks of {chunk}"
        );
        assert_eq!(progress.last(), Some(&200), "{progress:?}");
        assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    }
}

#[test]
fn map_reduce_of_nothing_is_none_and_a_failure_stops_it() {
    let guest = &example_guest().module;
    let pool = LocalExecutor::builder().threads(2).build().unwrap();
    let add = add();
    let none: Option<i64> = pool
        .map_reduce(&add, &add, std::iter::empty::<(i64, i64)>())
        .run()
        .unwrap();
    assert_eq!(none, None);
    let divide = Closure::new(guest, "divide").unwrap();
    let err = pool
        .map_reduce(&divide, &add, (0..100i64).map(|i| (1000, 50 - i)))
        .chunk_size(5)
        .run::<i64>()
        .unwrap_err();
    assert!(
        matches!(&err.failure().unwrap().kind, FailureKind::Error { message } if message.contains("by 0")),
        "{err}"
    );
}

#[test]
fn wait_and_as_completed_see_every_task_once() {
    use ferry_host::executor::{WaitFor, as_completed, wait};
    use ferry_host::{Executor, Value};
    let pool = LocalExecutor::builder().threads(2).build().unwrap();
    let submit = |n: i64| -> Vec<ferry_host::Task> {
        (0..n)
            .map(|i| pool.submit(&add(), Value::encode(&(i, 0)).unwrap()))
            .collect()
    };
    let tasks = submit(10);
    assert_eq!(wait(&tasks, WaitFor::Any).len(), 1);
    assert_eq!(wait(&tasks, WaitFor::Fraction(0.5)).len(), 5);
    let mut all = wait(&tasks, WaitFor::All);
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>());

    let mut seen: Vec<(usize, i64)> = as_completed(submit(30))
        .map(|(i, r)| (i, r.unwrap().value.decode().unwrap()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        (0..30).map(|i| (i as usize, i as i64)).collect::<Vec<_>>()
    );
}

#[test]
fn a_cancelled_task_ends_at_once_and_is_not_run() {
    use ferry_host::{Executor, Value};
    let pool = LocalExecutor::builder()
        .threads(1)
        .sandbox(support::deadline(1000))
        .build()
        .unwrap();
    let spin = Closure::new(&example_guest().module, "spin").unwrap();
    let busy = pool.submit(&spin, Value::nil());
    let chatter = Closure::new(&example_guest().module, "chatter").unwrap();
    let queued = pool.submit(&chatter, Value::encode(&1u64).unwrap());
    queued.cancel();
    assert!(queued.is_done());
    assert!(matches!(queued.wait(), Err(Error::Cancelled)));
    assert!(matches!(
        busy.wait().unwrap_err().failure().unwrap().kind,
        FailureKind::Timeout { .. }
    ));
    // The one thread takes jobs in order: once a later job is done, the
    // cancelled one has been taken off the queue and skipped.
    let after = pool.submit(&chatter, Value::encode(&1u64).unwrap());
    assert!(after.wait().is_ok());
    assert_eq!(pool.load(), (0, 0), "nothing is left queued or running");
}
