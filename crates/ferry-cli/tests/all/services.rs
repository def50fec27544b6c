//! HTTP functions on real `ferry worker` and `ferry serve` processes,
//! called over HTTP/1.1 as curl or a browser would.

use crate::support::{ferry, listening_address};
use crate::worker::{TOKEN, Worker, guest};
use ferry_host::{Closure, ExecutorExt};
use ferry_protocol::endpoint::Invoke;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};

/// One HTTP/1.1 `POST` on a connection of its own: the status and the
/// body.
fn post(address: &str, path: &str, bearer: Option<&str>, body: &str) -> (u16, String) {
    request("POST", address, path, bearer, body)
}

/// One HTTP/1.1 request on a connection of its own: the status and the
/// body.
pub(crate) fn request(
    method: &str,
    address: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let authorization = bearer.map_or(String::new(), |token| {
        format!("authorization: Bearer {token}\r\n")
    });
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\n{authorization}content-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

/// `ferry deploy MODULE FUNCTION --workers ADDRESS extra...`, with `token`.
fn deploy(worker: &Worker, token: &str, module: &Path, extra: &[&str]) -> std::process::Output {
    ferry()
        .arg("deploy")
        .arg(module)
        .args(extra)
        .args(["--workers", &worker.address])
        .env("FERRY_TOKEN", token)
        .output()
        .unwrap()
}

fn module_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("guest.wasm");
    std::fs::write(&file, guest().bytes()).unwrap();
    file
}

fn succeeded(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn a_deployed_function_answers_64_clients_at_once_while_others_loop_and_trap() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &["--timeout", "1"]);
    let module = module_file(dir.path());
    let said = succeeded(&deploy(&worker, TOKEN, &module, &["add"]));
    assert!(
        said.contains(&format!("POST http://{}/fn/add", worker.address)),
        "{said}"
    );
    for function in ["spin", "boom"] {
        succeeded(&deploy(&worker, TOKEN, &module, &[function]));
    }

    let address = &worker.address;
    std::thread::scope(|scope| {
        // Guests that loop past their deadline and panic, all along.
        let failing = scope.spawn(|| {
            for _ in 0..3 {
                let (status, body) = post(address, "/fn/spin", None, "null");
                assert_eq!(status, 504, "{body}");
                assert!(body.contains(r#""error":"timeout""#), "{body}");
                let (status, body) = post(address, "/fn/boom", None, r#""on purpose""#);
                assert_eq!(status, 500, "{body}");
                assert!(
                    body.contains("panicked") && body.contains("on purpose"),
                    "{body}"
                );
            }
        });
        let clients: Vec<_> = (0..64i64)
            .map(|client| {
                scope.spawn(move || {
                    for i in 0..10i64 {
                        let (status, body) =
                            post(address, "/fn/add", None, &format!("[{client}, {i}]"));
                        assert_eq!((status, body), (200, (client + i).to_string()));
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
        failing.join().unwrap();
    });

    // Input that does not fit: the caller's error, named.
    let (status, body) = post(address, "/fn/add", None, "[1]");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_argument"), "{body}");
    let (status, body) = post(address, "/fn/add", None, "[1,");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not JSON"), "{body}");
    let (status, _) = post(address, "/fn/nothing", None, "[1, 2]");
    assert_eq!(status, 404);
}

#[test]
fn callers_of_open_functions_keep_to_their_share_and_clients_get_through() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(
        &dir.path().join("store"),
        &["--timeout", "0.5", "--slots", "2", "--function-slots", "1"],
    );
    let module = module_file(dir.path());
    succeeded(&deploy(&worker, TOKEN, &module, &["spin"]));
    let address = &worker.address;
    let client = ferry_remote::Remote::builder()
        .worker(address.clone())
        .token(TOKEN)
        .task_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let flooding = AtomicBool::new(true);
    std::thread::scope(|scope| {
        // 12 anonymous callers of a function that runs to its 0.5 s
        // deadline: 3 s of work for 2 slots, all the time.
        let callers: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| {
                    let mut answered = 0;
                    while flooding.load(Ordering::Relaxed) {
                        let (status, body) = post(address, "/fn/spin", None, "null");
                        assert_eq!(status, 504, "{body}");
                        answered += 1;
                    }
                    answered
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1000));
        // The worker's own client finds at most one of them ahead: its
        // calls finish inside their 2 s, not after the flood's 3 s.
        let add = Closure::new(&guest(), "add").unwrap();
        let sums: Vec<_> = (0..3i64)
            .map(|i| {
                client
                    .call::<_, i64>(&add, &(i, 1))
                    .map(|output| output.value)
            })
            .collect();
        flooding.store(false, Ordering::Relaxed);
        for (i, sum) in sums.into_iter().enumerate() {
            assert_eq!(sum.unwrap(), i as i64 + 1);
        }
        // Every caller was answered; none was dropped to make room.
        let answered: u32 = callers.into_iter().map(|c| c.join().unwrap()).sum();
        assert!(answered >= 1, "{answered}");
    });
}

#[test]
fn redeploying_under_load_swaps_the_function_and_loses_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let worker = Worker::start(&dir.path().join("store"), &[]);
    let remote = ferry_remote::Remote::builder()
        .worker(worker.address.clone())
        .token(TOKEN)
        .build()
        .unwrap();
    let add = Closure::new(&guest(), "add").unwrap();
    let divide = Closure::new(&guest(), "divide").unwrap();
    remote.deploy("f", &add, Invoke::Open).unwrap();

    let redeployed = AtomicBool::new(false);
    let answered = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut answered = 0;
                    let mut after = 0;
                    // Until the redeploy is done, and then some more.
                    while after < 20 {
                        let done = redeployed.load(Ordering::Acquire);
                        let (status, body) = post(&worker.address, "/fn/f", None, "[12, 4]");
                        assert_eq!(status, 200, "{body}");
                        if done {
                            assert_eq!(body, "3", "after the redeploy, only the new function");
                            after += 1;
                        } else {
                            assert!(body == "16" || body == "3", "{body}");
                        }
                        answered += 1;
                    }
                    answered
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let deployed = remote.deploy("f", &divide, Invoke::Open).unwrap();
        assert!(deployed[0].replaced && deployed[0].function == "divide");
        redeployed.store(true, Ordering::Release);
        clients.into_iter().map(|c| c.join().unwrap()).sum::<i32>()
    });
    assert!(answered >= 8 * 20, "{answered}");

    remote.undeploy("f").unwrap();
    assert_eq!(post(&worker.address, "/fn/f", None, "[12, 4]").0, 404);
}

#[test]
fn deploying_needs_the_deploy_scope_and_a_function_can_have_its_own_token() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "runner run\ndeployer deploy\n").unwrap();
    let worker = Worker::start(
        &dir.path().join("store"),
        &["--token-file", tokens.to_str().unwrap()],
    );
    let module = module_file(dir.path());
    let invoke_token = dir.path().join("invoke-token");
    std::fs::write(&invoke_token, "callers-only\n").unwrap();
    let with_token = ["add", "--invoke-token-file", invoke_token.to_str().unwrap()];

    // A token that may run closures may not deploy them.
    let refused = deploy(&worker, "runner", &module, &with_token);
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{message}");
    assert!(
        message.contains("403") && message.contains("needs a token with the `deploy` scope"),
        "{message}"
    );
    succeeded(&deploy(&worker, "deployer", &module, &with_token));
    // A deployment without a name is no route, not a crash.
    let (status, body) = request(
        "PUT",
        &worker.address,
        "/v1/endpoints",
        Some("deployer"),
        "",
    );
    assert_eq!(status, 404, "{body}");
    // An empty token for callers would let everyone in: refused.
    std::fs::write(&invoke_token, "\n").unwrap();
    let refused = deploy(&worker, "deployer", &module, &with_token);
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{message}");

    // The function's callers need its token, not a worker's.
    for (bearer, status) in [
        (None, 401),
        (Some("deployer"), 401),
        (Some("callers-only"), 200),
    ] {
        let (got, body) = post(&worker.address, "/fn/add", bearer, "[2, 3]");
        assert_eq!(got, status, "{bearer:?}: {body}");
    }
}

#[test]
fn ferry_serve_answers_for_one_function_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let module = module_file(dir.path());
    let mut child = ferry()
        .arg("serve")
        .arg(&module)
        .args(["greet", "--env", r#""Hello""#, "--name", "hello"])
        .args(["--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("store"))
        .env("FERRY_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let said = listening_address(&mut child, "greet answers POST http://");
    let _server = Guard(child);
    let said = said.expect("ferry serve says where the function answers");
    let address = said.split('/').next().unwrap().to_owned();

    let (status, body) = post(&address, "/fn/hello", None, r#""ferry""#);
    assert_eq!((status, body.as_str()), (200, r#""Hello, ferry!""#));
    // The worker protocol is closed, whatever the token; its health check
    // answers.
    let (status, _) = post(&address, "/v1/run", Some(TOKEN), "");
    assert_eq!(status, 401);
    let health = request("GET", &address, ferry_protocol::HEALTH, None, "");
    assert_eq!(health, (200, "ok".to_owned()));
}

/// Kills the child when dropped, so a failed assertion leaves no server.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_worker_that_runs_only_signed_code_deploys_only_signed_functions() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("team");
    let ferry_ok = |args: &[&std::ffi::OsStr]| succeeded(&ferry().args(args).output().unwrap());
    ferry_ok(&["keygen".as_ref(), key.as_os_str()]);
    let public = dir.path().join("team.pub");
    let worker = Worker::start(
        &dir.path().join("store"),
        &["--trust", public.to_str().unwrap()],
    );
    let module = module_file(dir.path());

    let refused = deploy(&worker, TOKEN, &module, &["add"]);
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{message}");
    assert!(
        message.contains("is not signed by a key this worker trusts"),
        "{message}"
    );
    assert_eq!(post(&worker.address, "/fn/add", None, "[2, 3]").0, 404);

    // Signed: `ferry deploy` sends guest.wasm.sig along.
    ferry_ok(&[
        "sign".as_ref(),
        module.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
    ]);
    succeeded(&deploy(&worker, TOKEN, &module, &["add"]));
    assert_eq!(
        post(&worker.address, "/fn/add", None, "[2, 3]"),
        (200, "5".to_owned())
    );
}
