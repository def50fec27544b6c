//! The `ferry` command, run as a process against the example guest built from
//! source.

use crate::support::{Ferry, json};
use ferry_test_support::{example_guest, udfs, workspace_root};
use std::path::Path;
use std::process::Command;

/// The example guest's `.wasm` file.
fn guest_wasm() -> String {
    example_guest().path.display().to_string()
}

#[test]
fn build_inspect_and_call() {
    let ferry = Ferry::new();
    let wasm = ferry.path("guest.wasm");
    let built = ferry.ok(&["build", "examples/guest", "--out", &wasm]);
    let id = built
        .lines()
        .find_map(|l| l.strip_prefix("module "))
        .expect("the module id is printed")
        .to_owned();
    assert!(id.starts_with("sha256:"), "{built}");
    assert!(
        built.contains("fill") && built.contains("env: HistSpec"),
        "{built}"
    );
    assert!(Path::new(&wasm).is_file());

    // The built module is in the store under its id.
    let inspected = ferry.ok(&["inspect", &id]);
    assert!(
        inspected.contains(&id) && inspected.contains("in the store"),
        "{inspected}"
    );
    // Inspecting builds nothing (a build runs the crate's build scripts).
    let err = ferry.fails(&["inspect", "examples/udfs"]);
    assert!(
        err.contains("ferry build") && !err.trim_end().contains('\n'),
        "{err}"
    );
    // SQL functions show their kind, and whether an aggregate can slide.
    let udfs_wasm = ferry.path("udfs.wasm");
    ferry.ok(&["build", "examples/udfs", "--out", &udfs_wasm]);
    let udfs = ferry.ok(&["inspect", &udfs_wasm]);
    let line = |name: &str| {
        udfs.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no `{name}` in {udfs}"))
    };
    assert!(line("gcd").ends_with("[SQL scalar]"), "{udfs}");
    assert!(line("histogram").ends_with("[SQL aggregate]"), "{udfs}");
    assert!(line("geo_mean").ends_with("sliding windows too]"), "{udfs}");
    // And the toolchain that built it, which building it again needs.
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    assert!(
        udfs.lines()
            .any(|l| l.trim_start().starts_with("built with") && l.contains(rustc.trim())),
        "{udfs}"
    );

    assert_eq!(
        json(&ferry.ok(&["call", &wasm, "add", "--input", "[40, 2]"])),
        serde_json::json!(42)
    );
    let counts = json(&ferry.ok(&["call", &id, "word_count", "--input", "\"a b a\""]));
    assert_eq!(counts, serde_json::json!({"a": 2, "b": 1}));
    let histogram = json(&ferry.ok(&[
        "call",
        &wasm,
        "fill",
        "--env",
        r#"{"bins": 4, "lo": 0, "hi": 200, "peak": 91, "width": 2.5, "seed": 1}"#,
        "--input",
        r#"{"start": 0, "end": 1000}"#,
    ]));
    let entries: u64 = histogram["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum::<u64>()
        + histogram["underflow"].as_u64().unwrap()
        + histogram["overflow"].as_u64().unwrap();
    assert_eq!(entries, 1000);
}

#[test]
fn pickle_and_run_by_value_and_by_reference() {
    let ferry = Ferry::new();
    let wasm = guest_wasm();
    let blob = ferry.path("table.bin");
    std::fs::write(&blob, vec![0u8; 1234]).unwrap();

    let by_value = ferry.path("greet.closure");
    ferry.ok(&[
        "pickle",
        &wasm,
        "greet",
        "--env",
        "\"Hello\"",
        "-o",
        &by_value,
    ]);
    assert_eq!(
        json(&ferry.ok(&["run", &by_value, "--input", "\"world\""])),
        "Hello, world!"
    );

    let by_reference = ferry.path("blob.closure");
    let said = ferry.ok(&[
        "pickle",
        &wasm,
        "blob_size",
        "--blob",
        &format!("table={blob}"),
        "--by-reference",
        "-o",
        &by_reference,
    ]);
    assert!(said.contains("by reference"), "{said}");
    assert!(std::fs::metadata(&by_reference).unwrap().len() < 300);
    assert_eq!(
        json(&ferry.ok(&["run", &by_reference, "--input", "\"table\""])),
        1234
    );

    // The same closure pickled twice is the same file.
    let again = ferry.path("greet-again.closure");
    ferry.ok(&["pickle", &wasm, "greet", "--env", "\"Hello\"", "-o", &again]);
    assert_eq!(
        std::fs::read(&by_value).unwrap(),
        std::fs::read(&again).unwrap()
    );

    // A by-reference closure cannot run where its store is missing.
    let other = Ferry::new();
    let err = other.fails(&["run", &by_reference, "--input", "\"table\""]);
    assert!(err.contains("not in the store"), "{err}");
}

#[test]
fn failures_read_like_sentences_and_exit_non_zero() {
    let ferry = Ferry::new();
    let wasm = guest_wasm();

    let err = ferry.fails(&["call", &wasm, "boom", "--input", "\"out of coffee\""]);
    assert!(
        err.contains("`boom` panicked at") && err.contains("out of coffee"),
        "{err}"
    );
    let err = ferry.fails(&["call", &wasm, "spin", "--timeout", "0.2"]);
    assert!(err.contains("ran past its deadline of 200 ms"), "{err}");
    let err = ferry.fails(&["call", &wasm, "hog", "--memory", "32"]);
    assert!(err.contains("memory past the limit"), "{err}");
    let err = ferry.fails(&["call", &wasm, "nope"]);
    assert!(
        err.contains("has no function `nope`") && err.contains("fill"),
        "{err}"
    );
    let err = ferry.fails(&["call", &wasm, "add", "--input", "[1,"]);
    assert!(err.contains("--input is not valid JSON"), "{err}");
    let err = ferry.fails(&["run", &wasm]);
    assert!(err.contains("not a ferry closure"), "{err}");
    let err = ferry.fails(&["inspect", "Cargo.toml"]);
    assert!(err.contains("not a valid WebAssembly module"), "{err}");
    let err = ferry.fails(&["call", &wasm, "read_file", "--input", "\"/etc/hostname\""]);
    assert!(
        err.contains("returned an error: cannot read /etc/hostname"),
        "{err}"
    );

    // Output the guest printed before failing is shown with the error.
    let err = ferry.fails(&["call", &wasm, "chatter", "--input", "100000"]);
    assert!(
        err.contains("wrote more than") && err.contains("--- guest stdout ---"),
        "{err}"
    );
}

#[test]
fn grants_open_the_sandbox_on_request() {
    let ferry = Ferry::new();
    let wasm = guest_wasm();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("note.txt"), "granted").unwrap();
    let grant = format!("{}:/data", data.path().display());
    assert_eq!(
        json(&ferry.ok(&[
            "call",
            &wasm,
            "read_file",
            "--input",
            "\"/data/note.txt\"",
            "--grant-dir",
            &grant
        ])),
        "granted"
    );
    assert_eq!(
        json(&ferry.ok(&[
            "call",
            &wasm,
            "env_var",
            "--input",
            "\"K\"",
            "--grant-env",
            "K=v"
        ])),
        "v"
    );
    assert_eq!(json(&ferry.ok(&["call", &wasm, "now"])), 0);

    // A host path with `:` in it, alone or with a guest path after it.
    let colon = data.path().join("a:b");
    std::fs::create_dir(&colon).unwrap();
    std::fs::write(colon.join("note.txt"), "colon").unwrap();
    let colon = colon.display().to_string();
    for (grant, path) in [
        (colon.clone(), format!("{colon}/note.txt")),
        (format!("{colon}:/colon"), "/colon/note.txt".to_owned()),
    ] {
        let input = serde_json::to_string(&path).unwrap();
        let args = [
            "call",
            &wasm,
            "read_file",
            "--input",
            &input,
            "--grant-dir",
            &grant,
        ];
        assert_eq!(json(&ferry.ok(&args)), "colon", "{grant}");
    }
}

#[test]
fn sql_prints_csv_tsv_and_json_for_scripts() {
    let ferry = Ferry::new();
    let csv = ferry.path("points.csv");
    std::fs::write(&csv, "name,n\n  Paris ,12\nLONDON,35\nRome,\n").unwrap();
    let table = format!("points={csv}");
    let print = |format: &str, query: &str| {
        ferry.ok(&[
            "sql",
            "--functions",
            "examples/udfs",
            "-t",
            &table,
            "--format",
            format,
            "-c",
            query,
        ])
    };
    // A wasm function's strings, with a comma in one, and a null.
    let query = "SELECT normalize(name) || ', ' || gcd(n, 14) AS city, gcd(n, 14) AS g
                 FROM points ORDER BY g NULLS LAST";
    assert_eq!(
        print("csv", query),
        "city,g\n\"paris, 2\",2\n\"london, 7\",7\n,\n"
    );
    assert_eq!(
        print("tsv", query),
        "city\tg\nparis, 2\t2\nlondon, 7\t7\n\t\n"
    );
    let rows = serde_json::json!([{"city": "paris, 2", "g": 2}, {"city": "london, 7", "g": 7}, {}]);
    assert_eq!(json(&print("json", query)), rows);
    let lines: Vec<serde_json::Value> = print("ndjson", query).lines().map(json).collect();
    assert_eq!(serde_json::Value::from(lines), rows);
    // No rows: a header, an empty array.
    let none = "SELECT name FROM points WHERE false";
    assert_eq!(print("csv", none), "name\n");
    assert_eq!(json(&print("json", none)), serde_json::json!([]));
}

/// `ferry sql ... | head`: once the reader has gone, ferry stops printing
/// quietly and succeeds, as Unix tools do, whether it streams rows or draws
/// a table; the statements after still run.
#[test]
fn a_reader_that_stops_early_ends_ferry_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let ferry = Ferry::new();
    for (format, rows) in [("csv", 10_000_000), ("table", 200_000)] {
        let copied = ferry.path(&format!("after-{format}.csv"));
        let mut child = ferry
            .command()
            .args(["sql", "--format", format, "-c"])
            .arg(format!(
                "SELECT value * 7 AS v FROM generate_series(1, {rows})"
            ))
            .arg("-c")
            .arg(format!(
                "COPY (SELECT 42 AS answer) TO '{copied}' STORED AS CSV"
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The header: the first line, or the second under a table's rule.
        let mut header = String::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        for _ in 0..2 {
            reader.read_line(&mut header).unwrap();
        }
        assert!(header.contains('v'), "{format}: {header}");
        drop(reader);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {:?}\n{stderr}", out.status);
        assert!(
            !stderr.contains("pipe") && !stderr.contains("panicked"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&copied).unwrap(),
            "answer\n42\n",
            "{format}"
        );
    }
}

#[test]
fn a_closed_standard_error_changes_nothing_but_the_messages() {
    use std::process::Stdio;
    let ferry = Ferry::new();
    for (sql, code, result) in [
        ("SELECT 6 * 7 AS answer", 0, "| 42     |"),
        ("SELECT 1 AS one; SELECT * FROM nowhere", 1, "| 1   |"),
    ] {
        // A pipe nobody reads: every message ferry writes there fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ferry
            .command()
            .args(["sql", "-c", sql])
            .stderr(Stdio::from(writer))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{sql}: {stdout}");
        assert!(stdout.contains(result), "{sql}: {stdout}");
    }
}

#[test]
fn sql_with_functions_created_from_source_over_files() {
    let ferry = Ferry::new();
    // The README's command: the module is built from the crate by CREATE
    // FUNCTION and its signature read from it.
    let out = ferry.ok(&[
        "sql",
        "-c",
        "CREATE FUNCTION gcd AS 'examples/udfs' LANGUAGE wasm; SELECT gcd(12, 18) AS g, gcd(35, 14) AS h",
    ]);
    assert!(out.contains("| 6 | 7 |"), "{out}");

    // Tables from CSV and JSON-lines files; statements from a file; the
    // module's functions registered up front.
    let csv = ferry.path("points.csv");
    std::fs::write(
        &csv,
        "name,lat,lon\n  Paris ,48.8566,2.3522\nLONDON,51.5074,-0.1278\n",
    )
    .unwrap();
    let jsonl = ferry.path("events.jsonl");
    std::fs::write(&jsonl, "{\"v\": 4.0}\n{\"v\": 9.0}\n").unwrap();
    let script = ferry.path("query.sql");
    std::fs::write(
        &script,
        "SELECT normalize(p.name) AS city, round(haversine(p.lat, p.lon, l.lat, l.lon)) AS km
         FROM points p, points l WHERE l.name = 'LONDON' ORDER BY 1;
         SELECT geo_mean(v) AS g FROM events;",
    )
    .unwrap();
    let table = format!("points={csv}");
    let out = ferry.ok(&[
        "sql",
        "--functions",
        "examples/udfs",
        "-t",
        &table,
        "-t",
        &jsonl,
        "-f",
        &script,
    ]);
    assert!(
        out.contains("| london | 0.0   |") && out.contains("| paris  | 344.0 |"),
        "{out}"
    );
    assert!(out.contains("| 6.0 |"), "{out}");

    // A declared type that is not the module's is refused, naming both.
    let err = ferry.fails(&[
        "sql",
        "-c",
        "CREATE FUNCTION gcd(INT, INT) RETURNS INT LANGUAGE wasm AS 'examples/udfs'",
    ]);
    assert!(
        err.contains("declared as returning Int32, but `gcd` returns Int64"),
        "{err}"
    );
}

#[test]
fn the_parquet_example_runs() {
    // The script as the README runs it, but writing its Parquet file where
    // no other run of it can be reading.
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("trips.parquet");
    let script = std::fs::read_to_string(workspace_root().join("examples/sql/trips.sql"))
        .unwrap()
        .replace("target/trips.parquet", parquet.to_str().unwrap());
    assert!(script.contains(parquet.to_str().unwrap()));
    let path = dir.path().join("trips.sql");
    std::fs::write(&path, script).unwrap();
    let out = Ferry::new().ok(&["sql", "-f", path.to_str().unwrap()]);
    // 200,000 trips in two zones whose messy names normalize to one each,
    // and every trip in some 10 km bucket of the histogram.
    assert!(
        out.contains("| lincoln park | 100000 |") && out.contains("| the loop     | 100000 |"),
        "{out}"
    );
    let histogram = out
        .lines()
        .find(|line| line.starts_with("| the loop") && line.contains('{'))
        .unwrap_or_else(|| panic!("{out}"));
    let counts: u64 = histogram
        .split(['{', '}', ','])
        .filter_map(|part| part.split(':').nth(1))
        .map(|n| n.trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counts, 100_000, "{histogram}");
}

#[test]
fn the_sql_shell_reads_statements_and_survives_errors() {
    let ferry = Ferry::new();
    // A statement over two lines, a `;` inside a string, an error, and a
    // statement after it.
    let out = ferry.run_with_stdin(
        &["sql", "--functions", "examples/udfs"],
        b"SELECT gcd(12,\n  18) AS g;\nSELECT normalize('  A;\n B ') AS n;\nSELECT nope(1);\nSELECT add(1, 2) AS s;\n",
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("| 6 |") && stdout.contains("| a; b |") && stdout.contains("| 3 |"),
        "{stdout}"
    );
    assert!(
        stderr.contains("error:") && stderr.contains("nope"),
        "{stderr}"
    );
}

/// `ferry sql` on a terminal, through `script` (util-linux), which gives it
/// one: keys are sent only once the shell shows what they answer.
#[cfg(target_os = "linux")]
mod on_a_terminal {
    use super::*;
    use std::io::{Read, Write};
    use std::process::{Child, ChildStdin, Stdio};
    use std::sync::mpsc::{Receiver, RecvTimeoutError};
    use std::time::{Duration, Instant};

    const UP: &str = "\x1b[A";
    const BACKSPACE: &str = "\x7f";
    const CTRL_C: &str = "\x03";

    struct Terminal {
        child: Child,
        keys: ChildStdin,
        output: Receiver<Vec<u8>>,
        seen: String,
        /// Where the next `expect` starts looking.
        read: usize,
    }

    impl Terminal {
        fn open(ferry: &Ferry, functions: &str, state: &Path) -> Terminal {
            // `exec`, so that Ctrl-C reaches the shell alone, as it does
            // from an interactive shell, and not the `sh` that `script`
            // runs the command with.
            let command = format!(
                "exec '{}' sql --functions '{functions}'",
                env!("CARGO_BIN_EXE_ferry")
            );
            let mut child = Command::new("script")
                .args(["--quiet", "--return", "--command", &command, "/dev/null"])
                .env("FERRY_STORE", ferry.store())
                .env("XDG_STATE_HOME", state)
                .env("SHELL", "/bin/sh")
                // A dumb terminal, as CI may have, gets no line editing.
                .env("TERM", "xterm")
                .current_dir(workspace_root())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("`script` runs the shell on a terminal");
            let keys = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let (send, output) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut chunk = [0; 4096];
                while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                    if send.send(chunk[..n].to_vec()).is_err() {
                        break;
                    }
                }
            });
            Terminal {
                child,
                keys,
                output,
                seen: String::new(),
                read: 0,
            }
        }

        /// Waits until `text` appears after what earlier calls found.
        fn expect(&mut self, text: &str) {
            self.expect_sending(text, None);
        }

        /// Waits for `text`, sending `keys` again every 200 ms until it
        /// comes: for keys whose moment cannot be seen on the terminal.
        fn expect_sending(&mut self, text: &str, keys: Option<&str>) {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(at) = self.seen[self.read..].find(text) {
                    self.read += at + text.len();
                    return;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                let wait = match keys {
                    Some(_) => left.min(Duration::from_millis(200)),
                    None => left,
                };
                match self.output.recv_timeout(wait) {
                    Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                    Err(RecvTimeoutError::Timeout) if !left.is_zero() => {
                        if let Some(keys) = keys {
                            self.send(keys);
                        }
                    }
                    Err(_) => {
                        let _ = self.child.kill();
                        panic!("no {text:?} on the terminal; it shows:\n{}", self.seen);
                    }
                }
            }
        }

        fn send(&mut self, keys: &str) {
            self.keys.write_all(keys.as_bytes()).unwrap();
            self.keys.flush().unwrap();
        }

        fn quit(mut self) {
            self.send("\\q\r");
            let status = self.child.wait().unwrap();
            assert!(
                status.success(),
                "the shell ended with {status}:\n{}",
                self.seen
            );
        }
    }

    #[test]
    fn the_sql_shell_edits_lines_stops_statements_and_keeps_them() {
        let ferry = Ferry::new();
        let state = tempfile::tempdir().unwrap();
        // Built first, with no deadline: the shell then starts at once.
        let wasm = udfs().path.display().to_string();

        let mut shell = Terminal::open(&ferry, &wasm, state.path());
        shell.expect("ferry> ");
        shell.send("SELECT gcd(12,\r");
        shell.expect("   ... ");
        shell.send("18) AS g;\r");
        shell.expect("| 6 |");
        shell.expect("ferry> ");
        // The up arrow brings the whole two-line statement back; edit its
        // end.
        shell.send(&format!("{UP}{BACKSPACE}{BACKSPACE}h;\r"));
        shell.expect("| h |");
        shell.expect("| 6 |");
        shell.expect("ferry> ");
        // Ctrl-C drops a half-typed statement, and it is not kept.
        shell.send("SELECT nope(\r");
        shell.expect("   ... ");
        shell.send(CTRL_C);
        shell.expect("ferry> ");
        // Ctrl-C stops a statement that would run for hours, and the
        // shell goes on. Whether the first one comes while the query runs
        // cannot be seen, so it is sent until it does.
        shell.send("SELECT count(*) FROM generate_series(1, 1000000000000);\r");
        shell.expect_sending("error: interrupted", Some(CTRL_C));
        shell.expect("ferry> ");
        shell.send("SELECT 6 * 7 AS after;\r");
        shell.expect("| after |");
        shell.expect("| 42    |");
        shell.quit();

        // The next session starts with the statements of the last one.
        let mut shell = Terminal::open(&ferry, &wasm, state.path());
        shell.expect("ferry> ");
        shell.send(&format!("{UP}\r"));
        shell.expect("| 42    |");
        shell.expect("ferry> ");
        // Back past the stopped statement, and through both lines of the
        // second one.
        shell.send(&format!("{UP}{UP}{UP}{UP}{UP}\r"));
        shell.expect("| g |");
        shell.expect("ferry> ");
        shell.quit();
        let history = std::fs::read_to_string(state.path().join("ferry/sql_history")).unwrap();
        assert!(!history.contains("nope"), "{history}");
    }
}

/// The hand-written guest whose results break the ABI, as a .wasm file.
fn malformed_wasm(ferry: &Ferry) -> String {
    let path = ferry.path("malformed.wasm");
    let text = workspace_root().join("examples/wat/malformed.wat");
    std::fs::write(&path, wat::parse_file(text).unwrap()).unwrap();
    path
}

#[test]
fn call_and_map_refuse_a_malformed_result_alike_in_one_line() {
    let ferry = Ferry::new();
    let wasm = malformed_wasm(&ferry);
    let inputs = ferry.path("inputs.jsonl");
    std::fs::write(&inputs, "1\n2\n").unwrap();
    for (function, expected) in [
        (
            "reserved_byte",
            "returned a malformed result: the value uses the reserved byte 0xc1",
        ),
        (
            "trailing_bytes",
            "returned a malformed result: the value has 2 bytes after its end",
        ),
        (
            "outside",
            "the buffer passed to `result` lies outside the guest's memory",
        ),
    ] {
        let err = ferry.fails(&["call", &wasm, function]);
        assert!(err.contains(expected), "{function}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{function}: {err}");

        let out = ferry.run(&["map", &wasm, function, "--inputs", &inputs]);
        assert!(!out.status.success(), "{function}: map should fail");
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(json)
            .collect();
        assert_eq!(lines.len(), 2, "{function}: {lines:?}");
        for line in lines {
            let error = line["error"].as_str().unwrap_or_default();
            assert!(error.contains(expected), "{function}: {line}");
        }
    }
}

#[test]
fn closure_files_blobs_and_json_files_go_wherever_a_module_does() {
    let ferry = Ferry::new();
    let wasm = guest_wasm();
    let blob = ferry.path("table.bin");
    std::fs::write(&blob, vec![0u8; 1234]).unwrap();
    let closure = ferry.path("blob.closure");
    let table = format!("table={blob}");
    ferry.ok(&[
        "pickle",
        &wasm,
        "blob_size",
        "--blob",
        &table,
        "-o",
        &closure,
    ]);
    let inputs = ferry.path("inputs.jsonl");
    std::fs::write(&inputs, "\"table\"\n\"table\"\n\"chairs\"\n").unwrap();

    // A closure file is mapped, or called, as a module's function is.
    let mapped = ferry.ok(&["map", &closure, "--inputs", &inputs]);
    assert_eq!(mapped, "1234\n1234\nnull\n");
    let mapped = ferry.ok(&[
        "map",
        &wasm,
        "blob_size",
        "--blob",
        &table,
        "--inputs",
        &inputs,
    ]);
    assert_eq!(mapped, "1234\n1234\nnull\n");
    assert_eq!(
        json(&ferry.ok(&["call", &closure, "--input", "\"table\""])),
        1234
    );

    // JSON over 128 KiB, from a file and from standard input.
    let text = serde_json::to_string(&"to be or not to be ".repeat(10_000)).unwrap();
    let file = ferry.path("input.json");
    std::fs::write(&file, &text).unwrap();
    let counts = json(&ferry.ok(&["call", &wasm, "word_count", "--input", &format!("@{file}")]));
    assert_eq!(counts["be"], 20_000);
    let out = ferry.run_with_stdin(
        &["call", &wasm, "word_count", "--input", "-"],
        text.as_bytes(),
    );
    assert!(out.status.success());
    assert_eq!(json(&String::from_utf8(out.stdout).unwrap())["to"], 20_000);
    let env = ferry.path("env.json");
    std::fs::write(&env, "\"Howdy\"").unwrap();
    let env = format!("@{env}");
    let greeting = ferry.ok(&["call", &wasm, "greet", "--env", &env, "--input", "\"you\""]);
    assert_eq!(json(&greeting), "Howdy, you!");

    // Mistakes are named.
    let err = ferry.fails(&["call", &closure, "add"]);
    assert!(
        err.contains("is a closure of `blob_size`, not of `add`"),
        "{err}"
    );
    let err = ferry.fails(&["call", &closure, "--env", "1"]);
    assert!(err.contains("carries its environment"), "{err}");
    let err = ferry.fails(&["call", &wasm]);
    assert!(
        err.contains("is a module: name the function") && err.contains("greet"),
        "{err}"
    );
    let err = ferry.fails(&["call", &wasm, "add", "--input", "@/nonexistent.json"]);
    assert!(
        err.contains("cannot read --input from /nonexistent.json"),
        "{err}"
    );
    let create = format!("CREATE FUNCTION greet AS '{wasm}' LANGUAGE wasm");
    let err = ferry.fails(&["sql", "-c", &create]);
    assert!(
        err.contains("`greet` is a value function") && !err.contains("External error"),
        "{err}"
    );
}
