//! The local executor: call, call_async, map in input order, instance reuse,
//! and serving on after failures.

mod support;

use ferry_host::{Closure, Error, ExecutorExt, FailureKind, LocalExecutor, Output};
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
    Closure::new(&support::guest(), "add").unwrap()
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
    let divide = Closure::new(&support::guest(), "divide").unwrap();
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
        .sandbox(support::tight_sandbox())
        .build()
        .unwrap();
    let guest = support::guest();
    let boom = Closure::new(&guest, "boom").unwrap();
    let spin = Closure::new(&guest, "spin").unwrap();
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
    let fill = Closure::new(&support::guest(), "fill")
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
