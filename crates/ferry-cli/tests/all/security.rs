//! Who may use a worker and what it runs: scoped tokens from a file it
//! rereads, and modules signed with `ferry sign`, against real `ferry worker`
//! processes on 127.0.0.1.

use crate::support::ferry;
use crate::worker::{Worker, guest, raw};
use ferry_host::{Closure, ExecutorExt, Module};
use ferry_protocol::signature::read_signatures;
use ferry_protocol::tls::ClientTls;
use ferry_remote::{Remote, RemoteError};
use ferry_test_support::tls::Authority;
use std::path::{Path, PathBuf};

fn client(worker: &Worker, token: &str) -> ferry_remote::RemoteBuilder {
    Remote::builder()
        .worker(worker.address.clone())
        .token(token)
        .attempts(1)
}

/// The status a refused call was answered with, and its message.
fn refusal(result: Result<ferry_host::Output<i64>, ferry_host::Error>) -> (u16, String) {
    let error = result.expect_err("the call was refused");
    match RemoteError::of(&error) {
        Some(RemoteError::Rejected { status, .. }) => (*status, error.to_string()),
        _ => panic!("not a refusal by the worker: {error}"),
    }
}

/// Runs `ferry` with `args`, and says what it printed; it must succeed.
fn ferry_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = ferry()
        .args(args)
        .env("FERRY_TOKEN", crate::worker::TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ferry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `ferry map MODULE add` prints for the inputs `[1, 2]` and `[3, 4]`
/// on `worker`; it must succeed.
fn map_add(dir: &Path, module: &Path, worker: &str, extra: &[&std::ffi::OsStr]) -> String {
    let inputs = dir.join("inputs.jsonl");
    std::fs::write(&inputs, "[1, 2]\n[3, 4]\n").unwrap();
    let store = dir.join("client-store");
    let os = std::ffi::OsStr::new;
    let mut args = vec![os("map"), os("--inputs"), inputs.as_os_str()];
    args.extend([module.as_os_str(), os("add"), os("--workers"), os(worker)]);
    args.extend([os("--store"), store.as_os_str()]);
    args.extend(extra);
    ferry_ok(&args)
}

#[test]
fn tokens_have_scopes_and_a_rewritten_token_file_takes_effect_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        "# token   scopes\nrunner-1  run\nwatcher   admin  # reads info only\n",
    )
    .unwrap();
    let worker = Worker::start(
        &dir.path().join("store"),
        &["--token-file", tokens.to_str().unwrap()],
    );
    let add = Closure::new(&guest(), "add").unwrap();
    let info = |token: &str| {
        let bearer = format!("Bearer {token}");
        raw(
            &worker.address,
            "GET",
            ferry_protocol::INFO,
            Some(&bearer),
            Vec::new(),
        )
    };

    let runner = client(&worker, "runner-1").build().unwrap();
    assert_eq!(runner.call::<_, i64>(&add, &(1, 2)).unwrap().value, 3);
    assert_eq!(info("runner-1").0, 200, "a client learns the slots");

    // The admin token reads info but runs nothing, and uploads nothing.
    assert_eq!(info("watcher").0, 200);
    let watcher = client(&worker, "watcher").build().unwrap();
    let (status, message) = refusal(watcher.call::<_, i64>(&add, &(1, 2)));
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("needs a token with the `run`"),
        "{message}"
    );
    let path = ferry_protocol::blob_path(&ferry_host::ContentHash::of(b"x"));
    let (status, body) = raw(
        &worker.address,
        "PUT",
        &path,
        Some("Bearer watcher"),
        b"x".to_vec(),
    );
    assert_eq!(status, 403, "{body}");

    // Rotation: a new file replaces the old one by rename, as tools that
    // write files atomically do, and another is rewritten in place.
    let next = dir.path().join("tokens.next");
    std::fs::write(&next, "runner-2 run\nwatcher admin\n").unwrap();
    std::fs::rename(&next, &tokens).unwrap();
    let (status, message) = refusal(runner.call::<_, i64>(&add, &(2, 2)));
    assert_eq!(status, 401, "the retired token is refused: {message}");
    let rotated = client(&worker, "runner-2").build().unwrap();
    assert_eq!(rotated.call::<_, i64>(&add, &(2, 2)).unwrap().value, 4);

    std::fs::write(&tokens, "runner-2 run\nwatcher admin,run\n").unwrap();
    assert_eq!(watcher.call::<_, i64>(&add, &(3, 3)).unwrap().value, 6);

    // A broken file keeps the tokens read last, rather than locking
    // everyone out.
    std::fs::write(&tokens, "runner-3 run,fly\n").unwrap();
    assert_eq!(rotated.call::<_, i64>(&add, &(4, 4)).unwrap().value, 8);
    assert_eq!(info("runner-3").0, 401);
}

#[test]
fn a_bad_token_file_stops_the_worker_from_starting_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "tok run,everything\n").unwrap();
    let out = ferry()
        .args(["worker", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&tokens)
        .arg("--store")
        .arg(dir.path().join("store"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 1") && stderr.contains("unknown scope `everything`"),
        "{stderr}"
    );
}

/// Whether the worker's store holds compiled code for `module`.
fn compiled(store: &Path, module: &Module) -> bool {
    let hex = module.id().to_hex();
    walk(&store.join("compiled"))
        .iter()
        .any(|p| p.contains(&hex))
}

fn walk(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| match e.path().is_dir() {
            true => walk(&e.path()),
            false => vec![e.path().display().to_string()],
        })
        .collect()
}

#[test]
fn a_worker_that_trusts_a_key_runs_only_modules_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    let printed = ferry_ok(&["keygen".as_ref(), ours.as_os_str()]);
    assert!(printed.contains("ed25519:"), "{printed}");
    ferry_ok(&["keygen".as_ref(), theirs.as_os_str()]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&ours).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the secret key is its owner's alone");
    let store = dir.path().join("store");
    let worker = Worker::start(&store, &["--trust", &format!("{}.pub", ours.display())]);

    let module_file = dir.path().join("guest.wasm");
    std::fs::write(&module_file, guest().bytes()).unwrap();
    let add = Closure::new(&guest(), "add").unwrap();
    let sign = |key: &Path| {
        ferry_ok(&[
            "sign".as_ref(),
            module_file.as_os_str(),
            "--key".as_ref(),
            key.as_os_str(),
            "--store".as_ref(),
            store.as_os_str(),
        ]);
        read_signatures(&dir.path().join("guest.wasm.sig")).unwrap()
    };

    // Unsigned: refused, by name, and never compiled.
    let (status, message) = refusal(
        client(&worker, crate::worker::TOKEN)
            .build()
            .unwrap()
            .call::<_, i64>(&add, &(1, 2)),
    );
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains(&add.module().id().to_string()) && message.contains("not signed"),
        "{message}"
    );
    assert!(
        !compiled(&store, &add.module().clone()),
        "refused before compiling"
    );

    // Signed by a key the worker does not trust: refused the same way.
    let foreign = sign(&theirs);
    assert_eq!(foreign.len(), 1);
    let untrusted = client(&worker, crate::worker::TOKEN).signatures(foreign.clone());
    let (status, message) = refusal(untrusted.build().unwrap().call::<_, i64>(&add, &(1, 2)));
    assert_eq!(status, 403, "{message}");

    // A signature of ours, tampered with: refused.
    let both = sign(&ours);
    assert_eq!(both.len(), 2, "the second signer's line is added");
    let mut forged = both[1].clone();
    let mut bytes = forged.signature.to_vec();
    bytes[0] ^= 1;
    forged.signature = bytes.into();
    let tampered = client(&worker, crate::worker::TOKEN).signatures([forged]);
    let (status, message) = refusal(tampered.build().unwrap().call::<_, i64>(&add, &(1, 2)));
    assert_eq!(status, 403, "{message}");

    // Signed by a trusted key: runs, and so does `ferry map`, which sends
    // the signatures beside the module file.
    let signed = client(&worker, crate::worker::TOKEN).signatures(both);
    assert_eq!(
        signed
            .build()
            .unwrap()
            .call::<_, i64>(&add, &(1, 2))
            .unwrap()
            .value,
        3
    );
    let mapped = map_add(dir.path(), &module_file, &worker.address, &[]);
    assert_eq!(mapped, "3\n7\n");
}

/// The client side of TLS, trusting `ca`.
fn trusting(ca: &Authority, identity: Option<(PathBuf, PathBuf)>) -> ClientTls {
    ClientTls {
        ca: ca.pem.clone(),
        identity,
    }
}

/// A one-attempt call of `add(1, 2)` on `worker` over TLS with `tls`.
fn add_over_tls(worker: &Worker, tls: Option<ClientTls>) -> Result<i64, ferry_host::Error> {
    let mut builder = client(worker, crate::worker::TOKEN);
    builder = match tls {
        Some(tls) => builder.tls(tls),
        None => builder,
    };
    let add = Closure::new(&guest(), "add").unwrap();
    Ok(builder.build()?.call::<_, i64>(&add, &(1, 2))?.value)
}

fn tls_worker(dir: &Path, cert: &(PathBuf, PathBuf), extra: &[&str]) -> Worker {
    let mut args = vec![
        "--tls-cert",
        cert.0.to_str().unwrap(),
        "--tls-key",
        cert.1.to_str().unwrap(),
    ];
    args.extend(extra);
    Worker::start(&dir.join("store"), &args)
}

#[test]
fn a_tls_worker_serves_clients_that_trust_its_ca_and_takes_a_new_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, other) = (
        Authority::new(dir.path(), "ours"),
        Authority::new(dir.path(), "other"),
    );
    let cert = ours.issue(dir.path(), "worker", &["127.0.0.1", "localhost"]);
    let worker = tls_worker(dir.path(), &cert, &[]);

    assert_eq!(
        add_over_tls(&worker, Some(trusting(&ours, None))).unwrap(),
        3
    );
    // `ferry map` with the CA's flag, to an https address.
    let module_file = dir.path().join("guest.wasm");
    std::fs::write(&module_file, guest().bytes()).unwrap();
    let address = format!("https://{}", worker.address);
    let ca = ours.pem.as_os_str();
    let mapped = map_add(
        dir.path(),
        &module_file,
        &address,
        &["--tls-ca".as_ref(), ca],
    );
    assert_eq!(mapped, "3\n7\n");

    // A client trusting another CA is told why, once: retrying cannot help.
    let error = add_over_tls(&worker, Some(trusting(&other, None))).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("TLS handshake failed") && message.contains("UnknownIssuer"),
        "{message}"
    );
    // A cleartext client gets no answer from a TLS worker.
    let error = add_over_tls(&worker, None).unwrap_err();
    assert!(
        matches!(RemoteError::of(&error), Some(RemoteError::Transport { .. })),
        "{error}"
    );

    // A renewed certificate, from the other CA, replaces the files: the
    // next connection gets it, and the worker was never restarted.
    let renewed = other.issue(dir.path(), "renewed", &["127.0.0.1"]);
    std::fs::rename(&renewed.1, &cert.1).unwrap();
    std::fs::rename(&renewed.0, &cert.0).unwrap();
    assert_eq!(
        add_over_tls(&worker, Some(trusting(&other, None))).unwrap(),
        3
    );
    let error = add_over_tls(&worker, Some(trusting(&ours, None))).unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate_from_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (servers, clients) = (
        Authority::new(dir.path(), "servers"),
        Authority::new(dir.path(), "clients"),
    );
    let cert = servers.issue(dir.path(), "worker", &["127.0.0.1"]);
    let worker = tls_worker(
        dir.path(),
        &cert,
        &["--tls-client-ca", clients.pem.to_str().unwrap()],
    );
    let error = add_over_tls(&worker, Some(trusting(&servers, None))).unwrap_err();
    assert!(RemoteError::of(&error).is_some(), "{error}");
    // A certificate from the wrong CA is no better than none.
    let stranger = servers.issue(dir.path(), "stranger", &["client"]);
    let error = add_over_tls(&worker, Some(trusting(&servers, Some(stranger)))).unwrap_err();
    assert!(RemoteError::of(&error).is_some(), "{error}");

    let identity = clients.issue(dir.path(), "client", &["client"]);
    assert_eq!(
        add_over_tls(&worker, Some(trusting(&servers, Some(identity)))).unwrap(),
        3
    );
}

#[test]
fn a_worker_off_loopback_refuses_to_serve_cleartext_unless_told_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let out = ferry()
        .args(["worker", "--listen", "0.0.0.0:0", "--store"])
        .arg(dir.path())
        .env("FERRY_TOKEN", crate::worker::TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("refusing to serve cleartext on 0.0.0.0:0")
            && stderr.contains("--insecure"),
        "{stderr}"
    );
}
