//! Actors on real `ferry worker` processes: one instance each, its memory
//! kept between calls.

use crate::worker::{TOKEN, Worker, guest};
use ferry_host::{Closure, ExecutorExt, FailureKind};
use ferry_remote::{ActorError, ActorHandle, ActorOptions, Remote};
use std::time::Duration;

fn remote(worker: &Worker) -> Remote {
    Remote::builder()
        .worker(worker.address.clone())
        .token(TOKEN)
        .build()
        .unwrap()
}

fn counter(start: i64) -> Closure {
    Closure::new(&guest(), "counter")
        .unwrap()
        .with_env(&start)
        .unwrap()
}

fn add(remote: &Remote, actor: &ActorHandle, n: i64) -> Result<i64, ferry_host::Error> {
    Ok(remote.call_actor::<_, i64>(actor, "counter_add", &n)?.value)
}

#[test]
fn an_actor_keeps_its_state_and_each_callers_calls_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &[]);
    let remote = remote(&worker);
    let actor = remote
        .spawn(&counter(100), ActorOptions::default())
        .unwrap();

    // Four callers at once, each one call after another: each sees the
    // count rise with every call of its own.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let seen: Vec<i64> = (0..50).map(|_| add(&remote, &actor, 1).unwrap()).collect();
                assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            });
        }
    });
    assert_eq!(add(&remote, &actor, 0).unwrap(), 300);

    // Calls submitted without waiting travel side by side, and still run
    // in the order they were submitted.
    let one = ferry_host::Value::encode(&1).unwrap();
    let calls: Vec<_> = (0..400)
        .map(|_| remote.submit_actor(&actor, "counter_add", one.clone()))
        .collect();
    let seen: Vec<i64> = calls
        .into_iter()
        .map(|call| call.wait().unwrap().value.decode().unwrap())
        .collect();
    assert_eq!(seen, (301..=700).collect::<Vec<i64>>());

    // The handle travels as data: another client, given it, calls the same
    // actor.
    let json = serde_json::to_string(&actor).unwrap();
    let passed: ActorHandle = serde_json::from_str(&json).unwrap();
    assert_eq!(add(&self::remote(&worker), &passed, 1).unwrap(), 701);

    // A handle naming another module under the id is not this actor's.
    let mut wrong = actor.clone();
    wrong.module = ferry_test_support::udfs().module.id();
    let error = add(&remote, &wrong, 1).unwrap_err();
    assert!(
        matches!(ActorError::of(&error), Some(ActorError::Gone { .. })),
        "{error}"
    );

    // An ordinary call of the same function runs in a fresh instance.
    let fresh = Closure::new(&guest(), "counter_add").unwrap();
    assert_eq!(remote.call::<_, i64>(&fresh, &1).unwrap().value, 1);
}

#[test]
fn an_actor_that_traps_starts_again_from_its_initial_state_until_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &[]);
    let remote = remote(&worker);
    let options = ActorOptions {
        max_restarts: 1,
        ..Default::default()
    };
    let actor = remote.spawn(&counter(5), options).unwrap();
    assert_eq!(add(&remote, &actor, 3).unwrap(), 8);

    // A function that returns an error leaves the actor as it was.
    let error = remote
        .call_actor::<_, i64>(&actor, "divide", &(1, 0))
        .unwrap_err();
    let failure = error.failure().expect("the guest's own error");
    assert!(matches!(failure.kind, FailureKind::Error { .. }), "{error}");
    assert_eq!(add(&remote, &actor, 1).unwrap(), 9);

    // A panic traps: the actor restarts from its closure, at 5.
    let error = remote
        .call_actor::<_, i64>(&actor, "boom", &"on purpose")
        .unwrap_err();
    match ActorError::of(&error) {
        Some(ActorError::Restarted {
            restarts, failure, ..
        }) => {
            assert_eq!(*restarts, 1);
            assert!(failure.to_string().contains("on purpose"), "{failure}");
        }
        _ => panic!("not a restart: {error}"),
    }
    assert_eq!(add(&remote, &actor, 1).unwrap(), 6);

    // Past its restarts, it dies, and is gone.
    let error = remote
        .call_actor::<_, i64>(&actor, "boom", &"again")
        .unwrap_err();
    assert!(
        matches!(ActorError::of(&error), Some(ActorError::Died { .. })),
        "{error}"
    );
    let error = add(&remote, &actor, 1).unwrap_err();
    assert!(
        matches!(ActorError::of(&error), Some(ActorError::Gone { .. })),
        "{error}"
    );
}

#[test]
fn actors_are_found_by_name_stopped_and_freed_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &[]);
    let remote = remote(&worker);
    let named = ActorOptions {
        name: Some("tally".into()),
        ..Default::default()
    };
    let first = remote.spawn(&counter(0), named.clone()).unwrap();
    assert_eq!(add(&remote, &first, 2).unwrap(), 2);
    let again = remote.spawn(&counter(0), named).unwrap();
    assert_eq!(again, first, "get-or-create finds the live one");
    assert_eq!(add(&remote, &again, 2).unwrap(), 4);

    remote.stop(&first).unwrap();
    let error = add(&remote, &first, 1).unwrap_err();
    assert!(
        matches!(ActorError::of(&error), Some(ActorError::Gone { .. })),
        "{error}"
    );

    let idle = ActorOptions {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let forgotten = remote.spawn(&counter(0), idle).unwrap();
    assert_eq!(add(&remote, &forgotten, 1).unwrap(), 1);
    std::thread::sleep(Duration::from_millis(1200));
    let error = add(&remote, &forgotten, 1).unwrap_err();
    assert!(error.to_string().contains("is gone"), "{error}");
}

#[test]
fn a_handle_passed_into_map_tasks_is_called_from_inside_their_guests() {
    let dir = tempfile::tempdir().unwrap();
    let (home, other) = (
        Worker::start(&dir.path().join("home"), &[]),
        Worker::start(&dir.path().join("other"), &[]),
    );
    let remote = remote(&home);
    let actor = remote.spawn(&counter(0), ActorOptions::default()).unwrap();
    let tally = Closure::new(&guest(), "tally")
        .unwrap()
        .with_env(&actor)
        .unwrap();

    // A hundred tasks, run two at a time on the actor's worker, each adding
    // its input to the one counter: none was lost, and the last saw them
    // all.
    let seen: Vec<i64> = remote
        .map::<i64, i64, _>(&tally, 1..=100)
        .map(|output| output.map(|output| output.value))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(seen.iter().max(), Some(&5050));
    assert_eq!(add(&remote, &actor, 0).unwrap(), 5050);

    // An actor's own code reaches no actors: a cycle would deadlock.
    let error = remote
        .call_actor::<_, i64>(&actor, "tally_on", &(&actor, 1))
        .unwrap_err();
    assert!(error.to_string().contains("reaches no actors"), "{error}");

    // On a worker the actor does not live on, the task fails, saying so.
    let error = self::remote(&other).call::<_, i64>(&tally, &1).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("not on the worker running this task"),
        "{error}"
    );
    // In-process there are no actors to reach.
    let error = ferry_host::LocalExecutor::new()
        .unwrap()
        .call::<_, i64>(&tally, &1)
        .unwrap_err();
    assert!(error.to_string().contains("reaches no actors"), "{error}");
    // An actor that has ended fails the task, and the worker goes on.
    remote.stop(&actor).unwrap();
    let error = remote.call::<_, i64>(&tally, &1).unwrap_err();
    assert!(error.to_string().contains("may have ended"), "{error}");
    let fresh = Closure::new(&guest(), "counter_add").unwrap();
    assert_eq!(remote.call::<_, i64>(&fresh, &2).unwrap().value, 2);
}

#[test]
fn a_call_that_traps_is_retried_on_the_restarted_actor_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &[]);
    let remote = remote(&worker);
    let at_most = |actor: &ActorHandle| remote.call_actor::<_, i64>(actor, "counter_at_most", &10);
    for retries in [0, 1] {
        let actor = remote
            .spawn(
                &counter(5),
                ActorOptions {
                    max_restarts: 3,
                    max_task_retries: retries,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(add(&remote, &actor, 10).unwrap(), 15);
        // Over the limit: the call traps and the actor starts again at 5.
        match retries {
            // At most once: the caller is told.
            0 => {
                let error = at_most(&actor).unwrap_err();
                assert!(
                    matches!(
                        ActorError::of(&error),
                        Some(ActorError::Restarted { restarts: 1, .. })
                    ),
                    "{error}"
                );
            }
            // Retried on the restarted actor, where it succeeds.
            _ => assert_eq!(at_most(&actor).unwrap().value, 5),
        }
        assert_eq!(add(&remote, &actor, 1).unwrap(), 6);
    }
}

#[test]
fn a_snapshot_moves_an_actor_to_another_worker_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        Worker::start(&dir.path().join("first"), &[]),
        Worker::start(&dir.path().join("second"), &[]),
    );
    let remote = Remote::builder()
        .worker(first.address.clone())
        .worker(second.address.clone())
        .token(TOKEN)
        .build()
        .unwrap();
    let on = |worker: &Worker| ActorOptions {
        worker: Some(worker.address.clone()),
        max_restarts: 1,
        ..Default::default()
    };
    let actor = remote.spawn(&counter(10), on(&first)).unwrap();
    assert_eq!(add(&remote, &actor, 5).unwrap(), 15);
    let snapshot = remote.snapshot(&actor).unwrap();
    assert_eq!(snapshot.worker, first.address);

    // On the other worker, from the snapshot: it goes on from 15.
    let moved = remote
        .spawn(
            &counter(10),
            ActorOptions {
                snapshot: Some(snapshot.clone()),
                ..on(&second)
            },
        )
        .unwrap();
    assert_eq!(moved.worker, second.address);
    assert_eq!(add(&remote, &moved, 1).unwrap(), 16);
    // The two go their own ways.
    assert_eq!(add(&remote, &actor, 100).unwrap(), 115);
    assert_eq!(add(&remote, &moved, 1).unwrap(), 17);
    // A restart goes back to the snapshot, not to the closure's 10.
    let error = remote
        .call_actor::<_, i64>(&moved, "boom", &"on purpose")
        .unwrap_err();
    assert!(ActorError::of(&error).is_some(), "{error}");
    assert_eq!(add(&remote, &moved, 1).unwrap(), 16);

    // A snapshot of another module's actor does not fit.
    let other = Closure::new(&ferry_test_support::udfs().module, "add").unwrap();
    let error = remote
        .spawn(
            &other,
            ActorOptions {
                snapshot: Some(snapshot),
                ..on(&second)
            },
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("the snapshot is of module"),
        "{error}"
    );
}

#[test]
fn ferry_actor_spawns_calls_snapshots_and_stops_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &[]);
    let module = dir.path().join("guest.wasm");
    std::fs::write(&module, guest().bytes()).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = crate::support::ferry()
            .arg("actor")
            .args(args)
            .env("FERRY_TOKEN", TOKEN)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            stderr,
        )
    };
    let os = std::ffi::OsStr::new;
    let (ok, handle, stderr) = run(&[
        os("spawn"),
        module.as_os_str(),
        os("counter"),
        os("--env"),
        os("40"),
        os("--workers"),
        os(&worker.address),
    ]);
    assert!(ok, "{stderr}");
    let call = |handle: &str| {
        run(&[
            os("call"),
            os(handle),
            os("counter_add"),
            os("--input"),
            os("2"),
        ])
    };
    assert_eq!(call(&handle).1, "42");
    let (ok, snapshot, stderr) = run(&[os("snapshot"), os(&handle)]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&[os("stop"), os(&handle)]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = call(&handle);
    assert!(!ok && stderr.contains("is gone"), "{stderr}");

    let (ok, restored, stderr) = run(&[
        os("spawn"),
        module.as_os_str(),
        os("counter"),
        os("--snapshot"),
        os(&snapshot),
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(call(&restored).1, "44");
}
