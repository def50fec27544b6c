//! JavaScript functions carried as source (`ferry --js`): closures of the
//! JavaScript engine, built from source the first time, run through
//! `ferry call`, `ferry map` and `ferry sql` (scalars, an aggregate by
//! group and over a sliding window) and checked against the Rust guests'
//! results on the same random data, nulls included.

use crate::languages::{RUST_HISTOGRAM, RUST_UDFS, assert_same_csv, random_table};
use crate::support::{Ferry, json};
use crate::worker::{TOKEN, Worker};
use ferry_test_support::system;

/// `ferry` with a store of its own, and clang for the engine's C.
fn ferry_with_clang() -> Ferry {
    system::c_toolchain();
    Ferry::new()
}

/// Pickles a JavaScript SQL function into the test's directory; returns
/// the closure's path.
fn pickle_scalar(ferry: &Ferry, name: &str, source: &str, args: &str, returns: &str) -> String {
    let path = ferry.path(&format!("{name}.closure"));
    ferry.ok(&[
        "pickle",
        "--js",
        source,
        "--args",
        args,
        "--returns",
        returns,
        "-o",
        &path,
    ]);
    path
}

/// `examples/javascript/geo_mean.js`, pickled.
fn pickle_geo_mean(ferry: &Ferry) -> String {
    pickle_scalar(
        ferry,
        "geo_mean",
        "examples/javascript/geo_mean.js",
        "float64",
        "float64",
    )
}

#[test]
fn javascript_sql_functions_match_rust_on_random_data_with_nulls() {
    let ferry = ferry_with_clang();
    let table = format!("t={}", random_table(&ferry));
    let gcd = pickle_scalar(
        &ferry,
        "gcd",
        "examples/javascript/gcd.js",
        "int64,int64",
        "int64",
    );
    let normalize = pickle_scalar(
        &ferry,
        "normalize",
        "examples/javascript/normalize.js",
        "utf8",
        "utf8",
    );
    let geo_mean = pickle_geo_mean(&ferry);
    let create = format!(
        "CREATE FUNCTION gcd AS '{gcd}' LANGUAGE wasm; \
         CREATE FUNCTION normalize AS '{normalize}' LANGUAGE wasm; \
         CREATE FUNCTION geo_mean AS '{geo_mean}' LANGUAGE wasm;"
    );
    let queries = [
        "SELECT id, gcd(a, b) AS g, normalize(s) AS n FROM t ORDER BY id",
        "SELECT grp, sum(gcd(a, 360)) AS s, max(normalize(s)) AS m FROM t GROUP BY grp ORDER BY grp",
        "SELECT grp, geo_mean(x) AS m, count(x) AS c FROM t GROUP BY grp ORDER BY grp",
        // A sliding window, through the aggregate's retract.
        "SELECT id, geo_mean(x) OVER (PARTITION BY grp ORDER BY id \
         ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS w FROM t ORDER BY id",
    ];
    let sql = |extra: &[&str], query: &str| {
        let mut args = vec!["sql", "-t", &table, "--format", "csv"];
        args.extend(extra);
        args.extend(["-c", query]);
        ferry.ok(&args)
    };
    for query in queries {
        let expected = sql(&["--functions", RUST_UDFS], query);
        let got = sql(&[], &format!("{create} {query}"));
        assert_same_csv("JavaScript", query, &expected, &got);
    }
    let nulls = sql(
        &[],
        &format!("{create} SELECT count(*) - count(gcd(a, b)) AS n FROM t"),
    );
    assert_ne!(nulls.trim(), "n\n0", "no nulls drawn");

    // By reference, the closure is the source and the engine's hash: the
    // engine travels once, through the store.
    let by_reference = ferry.path("gcd-ref.closure");
    ferry.ok(&[
        "pickle",
        "--js",
        "examples/javascript/gcd.js",
        "--args",
        "int64,int64",
        "--returns",
        "int64",
        "--by-reference",
        "-o",
        &by_reference,
    ]);
    let size = std::fs::metadata(&by_reference).unwrap().len();
    let by_value = std::fs::metadata(&gcd).unwrap().len();
    assert!(size < 2048 && by_value > 100_000, "{size} / {by_value}");
    let query = "SELECT id, gcd(a, b) AS g FROM t ORDER BY id";
    let got = sql(
        &[],
        &format!("CREATE FUNCTION gcd AS '{by_reference}' LANGUAGE wasm; {query}"),
    );
    assert_same_csv(
        "JavaScript",
        query,
        &sql(&["--functions", RUST_UDFS], query),
        &got,
    );
}

/// Histograms as a Rust consumer reads them: the engine writes an
/// integral number as an integer, which a float field takes.
#[derive(serde::Deserialize, Debug, PartialEq)]
struct Histogram {
    lo: f64,
    hi: f64,
    counts: Vec<u64>,
    underflow: u64,
    overflow: u64,
}

#[test]
fn javascript_value_functions_match_rust_through_call_and_map() {
    let ferry = ferry_with_clang();
    let spec = r#"{"bins":30,"lo":60.0,"hi":120.0,"peak":91.2,"width":2.5,"seed":2026}"#;
    let histogram = |text: String| -> Histogram { serde_json::from_value(json(&text)).unwrap() };
    // The Rust guest's `fill`, or with `--js` the JavaScript one; the spec
    // is captured either way.
    let fill = |function: &[&str], range: &str| {
        let mut args = vec!["call"];
        args.extend(function);
        args.extend(["--env", spec, "--input", range]);
        histogram(ferry.ok(&args))
    };
    let rust = [RUST_HISTOGRAM, "fill"];
    let js = ["--js", "examples/javascript/histogram.js"];
    let range = r#"{"start":100,"end":12000}"#;
    let expected = fill(&rust, range);
    assert!(expected.counts.iter().sum::<u64>() > 5000, "{expected:?}");
    assert_eq!(fill(&js, range), expected);

    let ranges: String = (0..6)
        .map(|i| {
            format!(
                "{{\"start\":{},\"end\":{}}}\n",
                i * 1500,
                (i + 1) * 1500 + i
            )
        })
        .collect();
    let ranges = ferry.file("ranges.jsonl", &ranges);
    let map = |function: &[&str]| {
        let mut args = vec!["map"];
        args.extend(function);
        args.extend(["--env", spec, "--inputs", &ranges]);
        ferry
            .ok(&args)
            .lines()
            .map(|line| histogram(line.to_owned()))
            .collect::<Vec<_>>()
    };
    let mapped = map(&rust);
    assert_eq!(mapped.len(), 6);
    assert_eq!(map(&js), mapped);

    // Rust's merge and the JavaScript one agree on a pair the two fills made.
    let pair = format!(
        "[{}, {}]",
        ferry.ok(&[
            "call",
            "--js",
            "examples/javascript/histogram.js",
            "--env",
            spec,
            "--input",
            range
        ]),
        ferry.ok(&[
            "call",
            RUST_HISTOGRAM,
            "fill",
            "--env",
            spec,
            "--input",
            r#"{"start":0,"end":7000}"#
        ]),
    );
    let merged = |args: &[&str]| {
        let mut all = vec!["call"];
        all.extend(args);
        all.extend(["--input", &pair]);
        histogram(ferry.ok(&all))
    };
    let expected = merged(&[RUST_HISTOGRAM, "merge"]);
    assert!(expected.counts.iter().sum::<u64>() > 10_000, "{expected:?}");
    assert_eq!(merged(&["--js", "examples/javascript/merge.js"]), expected);

    // A pickled value closure runs as any closure does.
    let square = ferry.path("square.closure");
    ferry.ok(&[
        "pickle",
        "--js",
        "export default (x) => ({ x, square: x * x, text: `${x}` })",
        "-o",
        &square,
    ]);
    let inputs: String = (0..20).map(|i| format!("{}\n", i * 7 - 30)).collect();
    let inputs = ferry.file("numbers.jsonl", &inputs);
    let lines: Vec<serde_json::Value> = ferry
        .ok(&["map", &square, "--inputs", &inputs])
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.len(), 20);
    for (i, line) in lines.iter().enumerate() {
        let x = i as i64 * 7 - 30;
        assert_eq!(
            *line,
            serde_json::json!({"x": x, "square": x * x, "text": x.to_string()})
        );
    }
}

#[test]
fn javascript_values_keep_their_meaning_at_the_edges() {
    let ferry = ferry_with_clang();
    let call = |source: &str, extra: &[&str]| {
        let mut args = vec!["call", "--js", source];
        args.extend(extra);
        json(&ferry.ok(&args))
    };
    // Integers beyond 2^53 travel as BigInts, both ways, to 64 bits
    // signed or unsigned.
    assert_eq!(
        call(
            "export default (x) => [typeof x, x + 1n]",
            &["--input", "9007199254740993"]
        ),
        serde_json::json!(["bigint", 9007199254740994u64])
    );
    assert_eq!(
        call("export default () => 2n ** 64n - 1n", &[]),
        serde_json::json!(u64::MAX)
    );
    assert_eq!(
        call("export default () => -(2n ** 63n)", &[]),
        serde_json::json!(i64::MIN)
    );
    // A captured null is still captured: the input stays the second
    // argument.
    assert_eq!(
        call(
            "export default (k, x) => [k, x]",
            &["--env", "null", "--input", "5"]
        ),
        serde_json::json!([null, 5])
    );
    // In SQL, a uint64 beyond 2^63 is a BigInt and comes back whole.
    let identity = pickle_scalar(
        &ferry,
        "same",
        "export default (x) => x",
        "uint64",
        "uint64",
    );
    // `query` after creating `name` from the closure file `closure`, as CSV.
    let sql = |name: &str, closure: &str, query: &str| {
        let statements = format!("CREATE FUNCTION {name} AS '{closure}' LANGUAGE wasm; {query}");
        ferry.ok(&["sql", "--format", "csv", "-c", &statements])
    };
    let out = sql(
        "same",
        &identity,
        "SELECT same(arrow_cast('18446744073709551615', 'UInt64')) AS x",
    );
    assert_eq!(out.trim(), "x\n18446744073709551615");
    // An aggregate without init starts from null, and a group whose rows
    // are all null finishes from it.
    let total = pickle_scalar(
        &ferry,
        "total",
        "export default { update: (s, x) => (s ?? 0) + x, merge: (a, b) => (a === null ? b : b === null ? a : a + b), finish: (s) => s }",
        "int64",
        "int64",
    );
    let out = sql(
        "total",
        &total,
        "SELECT g, total(x) AS t, sum(x) AS s FROM (VALUES (1, 2), (1, 5), (2, NULL)) AS v(g, x) \
         GROUP BY g ORDER BY g",
    );
    assert_eq!(out.trim(), "g,t,s\n1,7,7\n2,,");
}

#[test]
fn javascript_failures_are_typed_errors() {
    let ferry = ferry_with_clang();
    // The error is the last line, and only it.
    let fails = |args: &[&str], wanted: &str| {
        let err = ferry.fails(args);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(wanted), "wanted `{wanted}` in: {err}");
    };
    let unequal = r#"[{"lo":0.0,"hi":1.0,"counts":[1],"underflow":0,"overflow":0},
                      {"lo":0.0,"hi":2.0,"counts":[1],"underflow":0,"overflow":0}]"#;
    fails(
        &[
            "call",
            "--js",
            "examples/javascript/merge.js",
            "--input",
            unequal,
        ],
        "`javascript` returned an error: Error: cannot merge histograms with different binning",
    );
    fails(
        &[
            "call",
            "--js",
            "examples/javascript/histogram.js",
            "--env",
            r#"{"bins":0,"lo":1.0,"hi":2.0}"#,
            "--input",
            r#"{"start":0,"end":1}"#,
        ],
        "`javascript` returned an error: Error: bad histogram spec: 0 bins over [1, 2)",
    );
    fails(
        &[
            "pickle",
            "--js",
            "export default (a) => a",
            "--env",
            "1",
            "--args",
            "int64",
            "--returns",
            "int64",
            "-o",
            "x",
        ],
        "--env is for a JavaScript value function",
    );
    fails(
        &["call", "--js", "export default () => new Date(0)"],
        "a Date is not a value that leaves JavaScript",
    );
    fails(
        &["call", "--js", "export default () => 2n ** 64n"],
        "the BigInt 18446744073709551616 does not fit 64 bits",
    );
    fails(
        &[
            "pickle",
            "--js",
            "export default (d) => d",
            "--args",
            "date32",
            "--returns",
            "int32",
            "-o",
            "x",
        ],
        "JavaScript functions do not take or return date32 yet",
    );
    fails(
        &[
            "pickle",
            "--js",
            "examples/javascript/geo_mean.js",
            "--returns",
            "float64",
            "-o",
            "x",
        ],
        "an aggregate takes at least one argument column",
    );
    fails(
        &["call", "--js", "export default (x) =>", "--input", "1"],
        "returned an error: the JavaScript source does not load: SyntaxError",
    );
    fails(
        &["call", "--js", "export const f = 1", "--input", "1"],
        "the JavaScript source's default export is neither a function nor an aggregate",
    );
    fails(
        &[
            "pickle",
            "--js",
            "examples/javascript/geo_mean.js",
            "-o",
            "x",
        ],
        "the source is an aggregate: give its column types with --args and --returns",
    );
    fails(
        &[
            "call",
            "--js",
            "export default () => { for (;;) {} }",
            "--timeout",
            "1",
        ],
        "ran past its deadline of 1000 ms",
    );
    fails(
        &[
            "call",
            "--js",
            "export default () => { const a = []; for (;;) a.push(new Array(1e6).fill(1.5)); }",
            "--memory",
            "64",
        ],
        "`javascript` returned an error: InternalError: out of memory",
    );
    fails(
        &[
            "pickle",
            "--js",
            "export default (x) => x",
            "--returns",
            "int65",
            "-o",
            "x",
        ],
        "`int65` is not a column type",
    );

    // In SQL, a row's exception names the row; so does a result of the
    // wrong type.
    let positive = pickle_scalar(
        &ferry,
        "positive",
        "export default (a) => { if (a < 0) throw new RangeError(`negative: ${a}`); return a; }",
        "int64",
        "int64",
    );
    let wrong = pickle_scalar(
        &ferry,
        "wrong",
        "export default (a) => 'text'",
        "int64",
        "int64",
    );
    let narrow = pickle_scalar(
        &ferry,
        "narrow",
        "export default (a) => a * 1000",
        "int64",
        "int8",
    );
    let geo_mean = pickle_geo_mean(&ferry);
    let sql = |name: &str, closure: &str| {
        vec![
            "sql".to_owned(),
            "-c".to_owned(),
            format!(
                "CREATE FUNCTION {name} AS '{closure}' LANGUAGE wasm; \
                 SELECT {name}(x) FROM (VALUES (1), (-2)) AS v(x)"
            ),
        ]
    };
    for (args, wanted) in [
        (
            sql("positive", &positive),
            "returned an error: row 1: RangeError: negative: -2",
        ),
        (
            sql("wrong", &wrong),
            "returned an error: row 0: the function returned a string, not a value of the result type int64",
        ),
        (
            sql("narrow", &narrow),
            "returned an error: row 0: 1000 does not fit the result type int8",
        ),
        (
            sql("geo_mean", &geo_mean),
            "returned an error: row 1: Error: geo_mean of -2: values must be positive",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&args, wanted);
    }
}

#[test]
fn javascript_closures_run_on_workers_as_they_run_here() {
    system::c_toolchain();
    let store = tempfile::tempdir().unwrap();
    let worker = Worker::start(store.path(), &[]);
    let ferry = Ferry::with_env(vec![("FERRY_TOKEN", TOKEN.to_owned())]);
    let spec = r#"{"bins":20,"lo":60.0,"hi":120.0,"peak":91.2,"width":2.5,"seed":7}"#;
    let ranges: String = (0..4)
        .map(|i| format!("{{\"start\":{},\"end\":{}}}\n", i * 1000, (i + 1) * 1000))
        .collect();
    let ranges = ferry.file("ranges.jsonl", &ranges);
    let map_reduce = |workers: &[&str]| -> Histogram {
        let mut args = vec![
            "map",
            "--js",
            "examples/javascript/histogram.js",
            "--env",
            spec,
            "--inputs",
            &ranges,
            "--reduce-js",
            "examples/javascript/merge.js",
            "--chunk-size",
            "2",
        ];
        args.extend(workers);
        serde_json::from_value(json(&ferry.ok(&args))).unwrap()
    };
    let here = map_reduce(&[]);
    assert_eq!(
        here.counts.iter().sum::<u64>() + here.underflow + here.overflow,
        4000
    );
    assert_eq!(map_reduce(&["--workers", &worker.address]), here);
}
