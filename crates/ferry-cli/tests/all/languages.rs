//! Guests written in other languages than Rust, built from source by
//! `ferry build` with their own toolchains and run through `ferry call`,
//! `ferry map` and `ferry sql`: every result is checked against the Rust
//! guest's on the same random data, nulls included.

use crate::support::{Ferry, ferry, json};
use ferry_test_support::{Random, system};
use std::sync::OnceLock;

/// The examples one language has, each the same functions as a Rust one.
struct Examples {
    language: &'static str,
    /// `gcd`, `normalize`, `div` and `geo_mean`, as `examples/udfs`.
    udfs: &'static str,
    /// `fill` and `merge`, as `examples/guest`.
    histogram: &'static str,
    /// Makes sure the language's toolchain is installed; the variable that
    /// tells `ferry build` where it is, if one does.
    toolchain: fn() -> Option<(&'static str, String)>,
}

pub(crate) const RUST_UDFS: &str = "examples/udfs";
pub(crate) const RUST_HISTOGRAM: &str = "examples/guest";

const LANGUAGES: &[Examples] = &[
    Examples {
        language: "C",
        udfs: "examples/c/udfs.c",
        histogram: "examples/c/histogram.c",
        toolchain: || {
            system::c_toolchain();
            None
        },
    },
    Examples {
        language: "Zig",
        udfs: "examples/zig/udfs.zig",
        histogram: "examples/zig/histogram.zig",
        toolchain: || Some(("ZIG", system::zig().display().to_string())),
    },
    Examples {
        language: "Go",
        udfs: "examples/go/udfs.go",
        histogram: "examples/go/histogram.go",
        toolchain: || Some(("GO", system::go().display().to_string())),
    },
    Examples {
        language: "AssemblyScript",
        udfs: "examples/assemblyscript/udfs.ts",
        histogram: "examples/assemblyscript/histogram.ts",
        toolchain: || Some(("ASC", system::asc().display().to_string())),
    },
];

/// `ferry` with a store of its own, and every language's toolchain
/// installed and found.
fn ferry_with_toolchains() -> Ferry {
    static ENV: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let env = ENV.get_or_init(|| LANGUAGES.iter().filter_map(|l| (l.toolchain)()).collect());
    Ferry::with_env(env.clone())
}

#[test]
fn ferry_build_builds_each_language_and_lists_its_functions() {
    let ferry = ferry_with_toolchains();
    for examples in LANGUAGES {
        let out = ferry.ok(&["build", examples.udfs]);
        let line = |name: &str| {
            out.lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{}: no `{name}` in {out}", examples.language))
                .to_owned()
        };
        assert!(line("gcd").contains("(int64, int64)"), "{out}");
        assert!(line("gcd").ends_with("[SQL scalar]"), "{out}");
        assert!(line("normalize").ends_with("[SQL scalar]"), "{out}");
        // With a retract step, which the sliding window below uses.
        assert!(line("geo_mean").ends_with("sliding windows too]"), "{out}");
        let hist = ferry.ok(&["build", examples.histogram]);
        assert!(hist.contains("env: HistSpec"), "{hist}");
        // The same source gives the same module.
        let id = |out: &str| {
            out.lines()
                .find(|l| l.starts_with("module "))
                .map(str::to_owned)
        };
        assert_eq!(id(&ferry.ok(&["build", examples.udfs])), id(&out));
    }
}

/// The rows both guests see: integers of every size and sign, text with
/// spaces and capitals, positive floats, and a null in every column now
/// and then.
pub(crate) fn random_table(ferry: &Ferry) -> String {
    let mut random = Random::new(16);
    let rows = 3000;
    let mut csv = String::from("id,a,b,s,grp,x\n");
    let cell = |v: Option<String>| v.unwrap_or_default();
    for id in 0..rows {
        let a = random.maybe(12, |v| {
            let magnitude = (v as i64) << (v % 32);
            if v % 3 == 0 { -magnitude } else { magnitude }
        });
        let b = random.maybe(12, |v| (v % 5000) as i64 - 2500);
        let s = random.maybe(12, |v| {
            let pieces = ["Alpha", " ", "beta", "  ", "\t", "GAMMA", "d", "E-7"];
            (0..v % 7)
                .map(|i| pieces[((v >> (3 * i)) % 8) as usize])
                .collect::<String>()
        });
        let grp = random.draw() % 40;
        let x = random.maybe(10, |v| (v % 100_000 + 1) as f64 / 1000.0);
        let (a, b) = if id == 7 {
            (Some(i64::MIN), Some(0))
        } else {
            (a, b)
        };
        csv += &format!(
            "{id},{},{},\"{}\",{grp},{}\n",
            cell(a.map(|v| v.to_string())),
            cell(b.map(|v| v.to_string())),
            cell(s),
            cell(x.map(|v| v.to_string())),
        );
    }
    ferry.file("random.csv", &csv)
}

/// Two CSV results are the same: every field equal, floats to 1e-12
/// relative (partial aggregates may be merged in another order, and a
/// sliding window retracts where another recomputes).
pub(crate) fn assert_same_csv(language: &str, query: &str, rust: &str, other: &str) {
    let (rust, other): (Vec<_>, Vec<_>) = (rust.lines().collect(), other.lines().collect());
    assert_eq!(rust.len(), other.len(), "{language}: {query}");
    assert!(rust.len() > 10, "{query}: too few rows to compare");
    for (r, o) in rust.iter().zip(&other) {
        let fields = r.split(',').zip(o.split(','));
        for (a, b) in fields {
            let close = match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                _ => false,
            };
            assert!(
                a == b || close,
                "{language}: {query}\nRust:  {r}\nother: {o}"
            );
        }
    }
}

#[test]
fn sql_functions_in_each_language_match_rust_on_random_data_with_nulls() {
    let ferry = ferry_with_toolchains();
    let table = format!("t={}", random_table(&ferry));
    let queries = [
        "SELECT id, gcd(a, b) AS g, normalize(s) AS n, div(a, b + 2501) AS d FROM t ORDER BY id",
        "SELECT grp, geo_mean(x) AS m, count(x) AS c FROM t GROUP BY grp ORDER BY grp",
        "SELECT id, geo_mean(x) OVER (PARTITION BY grp ORDER BY id \
         ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS w FROM t ORDER BY id",
        "SELECT count(*) AS rows, sum(gcd(a, 360)) AS s FROM t WHERE normalize(s) LIKE '%beta%'",
    ];
    let sql = |functions: &str, query: &str| {
        ferry.ok(&[
            "sql",
            "--functions",
            functions,
            "-t",
            &table,
            "--format",
            "csv",
            "-c",
            query,
        ])
    };
    for examples in LANGUAGES {
        for query in queries {
            let expected = sql(RUST_UDFS, query);
            let got = sql(examples.udfs, query);
            if query.starts_with("SELECT count(*)") {
                // One row, so compare it whole.
                assert_eq!(got, expected, "{}: {query}", examples.language);
                assert!(!expected.contains(",\n"), "{expected}");
            } else {
                assert_same_csv(examples.language, query, &expected, &got);
            }
        }
        // A null from the function itself and from a null argument: the
        // first rows hold both.
        let nulls = sql(
            examples.udfs,
            "SELECT count(*) - count(gcd(a, b)) AS n FROM t",
        );
        assert_ne!(
            nulls.trim(),
            "n\n0",
            "{}: no nulls drawn",
            examples.language
        );
    }
}

#[test]
fn value_functions_in_each_language_match_rust_through_call_and_map() {
    let ferry = ferry_with_toolchains();
    let spec = r#"{"bins":30,"lo":60.0,"hi":120.0,"peak":91.2,"width":2.5,"seed":2026}"#;
    let ranges: String = (0..12)
        .map(|i| {
            format!(
                "{{\"start\":{},\"end\":{}}}\n",
                i * 4000,
                (i + 1) * 4000 + i
            )
        })
        .collect();
    let ranges = ferry.file("ranges.jsonl", &ranges);
    let call = |module: &str| {
        json(&ferry.ok(&[
            "call",
            module,
            "fill",
            "--env",
            spec,
            "--input",
            r#"{"start":100,"end":25000}"#,
        ]))
    };
    let map = |module: &str, reduce: bool| {
        let mut args = vec!["map", module, "fill", "--env", spec, "--inputs", &ranges];
        if reduce {
            args.extend(["--reduce", "merge", "--chunk-size", "3"]);
        }
        ferry.ok(&args).lines().map(json).collect::<Vec<_>>()
    };
    let expected = (
        call(RUST_HISTOGRAM),
        map(RUST_HISTOGRAM, false),
        map(RUST_HISTOGRAM, true),
    );
    assert_eq!(expected.1.len(), 12);
    let entries: u64 = expected.0["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert!(entries > 10_000, "{}", expected.0);
    for examples in LANGUAGES {
        let language = examples.language;
        assert_eq!(call(examples.histogram), expected.0, "{language}: call");
        assert_eq!(
            map(examples.histogram, false),
            expected.1,
            "{language}: map"
        );
        assert_eq!(
            map(examples.histogram, true),
            expected.2,
            "{language}: reduce"
        );
        // The other language's results are Rust's values: Rust's merge
        // takes the pair the other's fill made.
        let pair = serde_json::json!([call(examples.histogram), expected.0]).to_string();
        let merged = json(&ferry.ok(&["call", RUST_HISTOGRAM, "merge", "--input", &pair]));
        let doubled = json(&ferry.ok(&["call", examples.histogram, "merge", "--input", &pair]));
        assert_eq!(merged, doubled, "{language}: merge");
    }
}

#[test]
fn guest_failures_in_each_language_are_the_typed_errors_rust_guests_give() {
    let ferry = ferry_with_toolchains();
    for examples in LANGUAGES {
        let language = examples.language;
        // The same one-line message for the same failure.
        let same = |args: &dyn Fn(&str) -> Vec<String>, wanted: &str| {
            let fails = |module: &str| {
                let args = args(module);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                ferry.fails(&args)
            };
            let (rust, other) = (fails(RUST_UDFS), fails(examples.udfs));
            for err in [&rust, &other] {
                // Building the guest may print before it: the error is the
                // last line, and only it.
                let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
                assert_eq!(errors.len(), 1, "{language}: {err}");
                assert!(errors[0].contains(wanted), "{language}: {err}");
                assert_eq!(
                    err.trim_end().lines().last(),
                    Some(errors[0]),
                    "{language}: {err}"
                );
            }
        };
        let sql = |query: &'static str| {
            move |module: &str| -> Vec<String> {
                ["sql", "--functions", module, "-c", query]
                    .map(str::to_owned)
                    .into()
            }
        };
        same(
            &sql("SELECT geo_mean(x) FROM (VALUES (1.0), (-2.0)) AS v(x)"),
            "returned an error: row 1: geo_mean of -2: values must be positive",
        );
        same(
            &sql("SELECT div(a, b) FROM (VALUES (7, 1), (1, 0)) AS v(a, b)"),
            "attempt to divide by zero",
        );

        // A value function's errors, bad arguments and panics.
        let hist = examples.histogram;
        let bad_spec = ferry.fails(&[
            "call",
            hist,
            "fill",
            "--env",
            r#"{"bins":0,"lo":1.0,"hi":2.0}"#,
            "--input",
            r#"{"start":0,"end":1}"#,
        ]);
        assert!(
            bad_spec.contains("`fill` returned an error: bad histogram spec: 0 bins over [1, 2)"),
            "{language}: {bad_spec}"
        );
        let spec = r#"{"bins":3,"lo":1.0,"hi":2.0}"#;
        let not_a_range = ferry.fails(&["call", hist, "fill", "--env", spec, "--input", "\"all\""]);
        assert!(
            not_a_range.contains("`fill` could not decode its arguments: the input: ")
                && not_a_range.contains("expected a map, found a string at byte 0"),
            "{language}: {not_a_range}"
        );
        let no_spec = ferry.fails(&["call", hist, "fill", "--input", r#"{"start":0,"end":1}"#]);
        assert!(
            no_spec.contains("`fill` could not decode its arguments: the environment: ")
                && no_spec.contains("expected a map, found nil at byte 0"),
            "{language}: {no_spec}"
        );
        let unequal = r#"[{"lo":0.0,"hi":1.0,"counts":[1],"underflow":0,"overflow":0},
                          {"lo":0.0,"hi":2.0,"counts":[1],"underflow":0,"overflow":0}]"#;
        let err = ferry.fails(&["call", hist, "merge", "--input", unequal]);
        assert!(
            err.contains(
                "`merge` returned an error: cannot merge histograms with different binning"
            ),
            "{language}: {err}"
        );
    }
}

#[test]
fn a_missing_toolchain_is_an_error_that_says_what_to_install() {
    for examples in LANGUAGES {
        let out = ferry()
            .args(["build", examples.udfs])
            .env("PATH", "/nonexistent")
            .env_remove("WASI_SDK_PATH")
            .env_remove("ZIG")
            .env_remove("GO")
            .env_remove("ASC")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", examples.language);
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains("is not installed") && err.contains("install"),
            "{}: {err}",
            examples.language
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
