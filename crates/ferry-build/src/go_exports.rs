//! Go's side of `//ferry:` directives (`directives`): reading Go
//! declarations, and writing each marked function's exports in Go, for the
//! file `ferry build` generates beside the guest's.

use crate::directives::{self, Function, Kind, Results, Signature, Syntax};
use std::fmt::Write;

/// Go, as directives read it.
pub(crate) struct Go;

impl Syntax for Go {
    const SDK: &'static str = concat!("ferry-go/", env!("CARGO_PKG_VERSION"));
    const METHODS: [&'static str; 4] = ["Update", "Retract", "Merge", "Finish"];
    const FUNCTION: &'static str = "func name(...) ... {";

    fn function(lines: &[&str]) -> Option<Signature> {
        signature(
            directives::declaration(lines)?
                .trim()
                .strip_prefix("func ")?,
        )
    }

    fn state_type(lines: &[&str]) -> Result<String, String> {
        let rest = lines.first().and_then(|line| line.strip_prefix("type "));
        rest.and_then(|rest| rest.split_once(' '))
            .filter(|(_, ty)| ty.trim_start().starts_with("struct"))
            .map(|(name, _)| name.to_owned())
            .ok_or_else(|| "//ferry:aggregate goes before the state's `type Name struct {`".into())
    }

    /// Methods that change the state must have a pointer receiver: on a
    /// value, they would change a copy.
    fn method(lines: &[&str], state: &str, name: &str) -> Result<Option<Signature>, String> {
        for (i, line) in lines.iter().enumerate() {
            let Some(rest) = line.trim().strip_prefix("func (") else {
                continue;
            };
            let Some((receiver, _)) = rest.split_once(')') else {
                continue;
            };
            let receiver = receiver.split_whitespace().last().unwrap_or_default();
            if receiver.trim_start_matches('*') != state {
                continue;
            }
            let Some(text) = directives::declaration(&lines[i..]) else {
                continue;
            };
            let after_receiver = text.split_once(')').map(|(_, rest)| rest.trim());
            let Some(found) = after_receiver.and_then(signature) else {
                continue;
            };
            if found.name != name {
                continue;
            }
            if name != "Finish" && !receiver.starts_with('*') {
                return Err(format!(
                    "{state}.{name} has a value receiver, so it would change a copy: \
                     declare it on *{state}"
                ));
            }
            return Ok(Some(found));
        }
        Ok(None)
    }

    /// A pointer is the same column, with nil for null.
    fn column_type(ty: &str) -> Result<&'static str, String> {
        Ok(match ty.trim_start_matches('*') {
            "bool" => "boolean",
            "int8" => "int8",
            "int16" => "int16",
            "int32" => "int32",
            "int64" => "int64",
            "uint8" => "uint8",
            "uint16" => "uint16",
            "uint32" => "uint32",
            "uint64" => "uint64",
            "float32" => "float32",
            "float64" => "float64",
            "string" => "utf8",
            "[]byte" => "binary",
            other => {
                return Err(format!(
                    "{other} is not a column type: bool, int8…int64, uint8…uint64, float32, \
                     float64, string or []byte, or a pointer to one for nulls"
                ));
            }
        })
    }
}

/// `name(params) results {`, after `func ` or a method's receiver.
fn signature(rest: &str) -> Option<Signature> {
    let open = rest.find('(')?;
    let name = rest[..open].trim();
    let close = open + directives::closing(&rest[open..])?;
    let params = parameter_types(&rest[open + 1..close])?;
    let results = rest[close + 1..].trim().strip_suffix('{')?.trim();
    let list = match results.strip_prefix('(') {
        Some(inner) => parameter_types(inner.strip_suffix(')')?)?,
        None if results.is_empty() => vec![],
        None => vec![results.to_owned()],
    };
    let error = list.last().is_some_and(|last| last == "error");
    let values = &list[..list.len() - usize::from(error)];
    // Several values (other than an error) are not a function ferry calls.
    (directives::is_identifier(name) && values.len() <= 1).then(|| Signature {
        name: name.to_owned(),
        params,
        results: Results {
            value: values.first().cloned(),
            error,
        },
    })
}

/// The type of each parameter in a Go parameter list: `a, b int64, s
/// string` is int64, int64, string; `int64, error` is int64, error.
fn parameter_types(list: &str) -> Option<Vec<String>> {
    let pieces = directives::split_list(list);
    let named = pieces.iter().any(|p| {
        p.split_once(' ')
            .is_some_and(|(name, _)| directives::is_identifier(name))
    });
    if !named {
        return Some(pieces.into_iter().map(str::to_owned).collect());
    }
    // Named: a name without a type takes the next type given.
    let mut types = vec![None; pieces.len()];
    let mut next = None;
    for (i, piece) in pieces.iter().enumerate().rev() {
        if let Some((_, ty)) = piece.split_once(' ') {
            next = Some(ty.trim().to_owned());
        }
        types[i] = Some(next.clone()?);
    }
    types.into_iter().collect()
}

/// The exports of `function`, in Go. Every name they declare starts
/// with `ferry`, so that none hides a function of the guest's.
fn exports(function: &Function) -> String {
    let export = function.export();
    let header = |suffix: &str, params: &str| {
        format!(
            "//go:wasmexport {export}{suffix}\nfunc {export}{suffix}(ferryEnvPtr, ferryEnvLen, {params} uint32) uint32 {{\n"
        )
    };
    let go = &function.native;
    let mut out = String::new();
    match &function.kind {
        Kind::Value {
            env,
            inputs,
            results,
        } => {
            out += &header("", "ferryInputPtr, ferryInputLen");
            out += "\treturn ferry.Value(ferryEnvPtr, ferryEnvLen, ferryInputPtr, ferryInputLen, func(ferryArgs *ferry.Args) (any, error) {\n";
            let mut call_args = Vec::new();
            if let Some(env) = env {
                writeln!(out, "\t\tvar ferryEnv {env}").unwrap();
                out += "\t\tif ferryErr := ferryArgs.Env(&ferryEnv); ferryErr != nil {\n\t\t\treturn nil, ferryErr\n\t\t}\n";
                call_args.push("ferryEnv".to_owned());
            }
            let names: Vec<String> = (0..inputs.len()).map(|i| format!("ferryIn{i}")).collect();
            for (name, ty) in names.iter().zip(inputs) {
                writeln!(out, "\t\tvar {name} {ty}").unwrap();
            }
            if !inputs.is_empty() {
                let targets: Vec<String> = names.iter().map(|n| format!("&{n}")).collect();
                writeln!(
                    out,
                    "\t\tif ferryErr := ferryArgs.Input({}); ferryErr != nil {{\n\t\t\treturn nil, ferryErr\n\t\t}}",
                    targets.join(", ")
                )
                .unwrap();
            }
            call_args.extend(names);
            let call = format!("{go}({})", call_args.join(", "));
            out += &match (&results.value, results.error) {
                (Some(_), true) => format!("\t\treturn {call}\n"),
                (Some(_), false) => format!("\t\treturn {call}, nil\n"),
                (None, true) => format!("\t\treturn nil, {call}\n"),
                (None, false) => format!("\t\t{call}\n\t\treturn nil, nil\n"),
            };
            out += "\t})\n}\n";
        }
        Kind::Scalar { args, results } => {
            let value = results.value.as_deref().unwrap_or_default();
            let value = value.trim_start_matches('*');
            out += &header("", "ferryColumns, ferryCount");
            writeln!(
                out,
                "\treturn ferry.Scalar(ferryEnvPtr, ferryEnvLen, ferryColumns, ferryCount, {}, func(ferryCall *ferry.Call) ferry.Row[{value}] {{",
                args.len()
            )
            .unwrap();
            let (bind, read, call_args) = read_args(args, 0);
            out += &bind;
            writeln!(
                out,
                "\t\treturn func(ferryRow int) (ferryValue {value}, ferryOK bool, ferryErr error) {{"
            )
            .unwrap();
            out += &read.replace("return nil", "return");
            let call = format!("{go}({call_args})");
            writeln!(out, "\t\t\treturn {}", row_value(results, &call)).unwrap();
            out += "\t\t}\n\t})\n}\n";
        }
        Kind::Aggregate {
            args,
            update,
            retract,
            merge_param,
            merge,
            finish,
        } => {
            let steps =
                std::iter::once(("Update", update)).chain(retract.as_ref().map(|r| ("Retract", r)));
            for (method, results) in steps {
                out += &header(
                    &format!("_{}", method.to_lowercase()),
                    "ferryColumns, ferryCount",
                );
                writeln!(
                    out,
                    "\treturn ferry.Fold(ferryEnvPtr, ferryEnvLen, ferryColumns, ferryCount, {}, func(ferryCall *ferry.Call) func(*{go}, int) error {{",
                    args.len()
                )
                .unwrap();
                let (bind, read, call_args) = read_args(args, 2);
                out += &bind;
                writeln!(
                    out,
                    "\t\treturn func(ferryState *{go}, ferryRow int) error {{"
                )
                .unwrap();
                out += &read;
                out += &no_value_call(
                    &format!("ferryState.{method}({call_args})"),
                    results,
                    "\t\t\t",
                );
                out += "\t\t}\n\t})\n}\n\n";
            }
            out += &header("_merge", "ferryColumns, ferryCount");
            writeln!(
                out,
                "\treturn ferry.Merge(ferryEnvPtr, ferryEnvLen, ferryColumns, ferryCount, func(ferryState *{go}, ferryOther {go}) error {{"
            )
            .unwrap();
            let other = if merge_param.starts_with('*') {
                "&ferryOther"
            } else {
                "ferryOther"
            };
            out += &no_value_call(&format!("ferryState.Merge({other})"), merge, "\t\t");
            out += "\t})\n}\n\n";
            let value = finish.value.as_deref().unwrap_or_default();
            out += &header("_finish", "ferryColumns, ferryCount");
            writeln!(
                out,
                "\treturn ferry.Finish(ferryEnvPtr, ferryEnvLen, ferryColumns, ferryCount, func(ferryState *{go}) ({}, bool, error) {{",
                value.trim_start_matches('*')
            )
            .unwrap();
            writeln!(
                out,
                "\t\treturn {}",
                row_value(finish, "ferryState.Finish()")
            )
            .unwrap();
            out += "\t})\n}\n";
        }
    }
    out
}

/// Go that binds argument columns (numbered from `first`) once per call
/// and reads a row of them: the binding, the reading (which returns when a
/// row is null for a parameter that cannot hold a null), and the call's
/// arguments.
fn read_args(args: &[String], first: usize) -> (String, String, String) {
    let (mut bind, mut read, mut call) = (String::new(), String::new(), Vec::new());
    for (i, ty) in args.iter().enumerate() {
        let column = ty.trim_start_matches('*');
        writeln!(
            bind,
            "\t\tferryArg{i} := ferry.Arg[{column}](ferryCall, {})",
            first + i
        )
        .unwrap();
        writeln!(
            read,
            "\t\t\tferryV{i}, ferryOK{i} := ferryArg{i}.Get(ferryRow)"
        )
        .unwrap();
        if ty.starts_with('*') {
            call.push(format!("ferry.Ptr(ferryV{i}, ferryOK{i})"));
        } else {
            writeln!(
                read,
                "\t\t\tif !ferryOK{i} {{\n\t\t\t\treturn nil\n\t\t\t}}"
            )
            .unwrap();
            call.push(format!("ferryV{i}"));
        }
    }
    (bind, read, call.join(", "))
}

/// A row's `(value, ok, err)` from a call returning `results`.
fn row_value(results: &Results, call: &str) -> String {
    let pointer = results.value.as_deref().is_some_and(|v| v.starts_with('*'));
    match (pointer, results.error) {
        (false, false) => format!("{call}, true, nil"),
        (false, true) => format!("ferry.Checked({call})"),
        (true, false) => format!("ferry.Deref({call})"),
        (true, true) => format!("ferry.DerefChecked({call})"),
    }
}

/// Go that calls a method returning nothing or an error, and returns the
/// error.
fn no_value_call(call: &str, results: &Results, indent: &str) -> String {
    if results.error {
        format!("{indent}return {call}\n")
    } else {
        format!("{indent}{call}\n{indent}return nil\n")
    }
}

/// The generated file: the exports of every function, and `main` if the
/// guest has none (a Go program needs one, and a reactor never runs it).
pub(crate) fn generated_file(functions: &[Function], has_main: bool) -> String {
    let mut out = String::from(
        "// Code generated by ferry build from the //ferry: directives. DO NOT EDIT.\n\n\
         package main\n\nimport \"ferry\"\n\n",
    );
    for function in functions {
        out += &exports(function);
        out += "\n";
    }
    if !has_main {
        out += "func main() {}\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_one(source: &str) -> Result<Function, String> {
        let files = [("g.go".to_owned(), source.to_owned())];
        directives::read::<Go>(&files).map(|mut f| f.remove(0))
    }

    #[test]
    fn parameters_are_read_by_type() {
        assert_eq!(
            parameter_types("a, b int64, s string").unwrap(),
            ["int64", "int64", "string"]
        );
        assert_eq!(parameter_types("int64, error").unwrap(), ["int64", "error"]);
        assert_eq!(parameter_types("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parameter_types("m map[string]int, x *float64").unwrap(),
            ["map[string]int", "*float64"]
        );
    }

    #[test]
    fn a_scalar_becomes_a_record_and_an_export() {
        let f =
            read_one("//ferry:scalar name=div\nfunc divide(a, b int64) (*int64, error) {").unwrap();
        let record = f.record::<Go>();
        assert!(record.contains(r#""args":["int64","int64"]"#), "{record}");
        assert!(record.contains(r#""export":"ferry_udf_div""#), "{record}");
        let go = exports(&f);
        assert!(
            go.contains("return ferry.DerefChecked(divide(ferryV0, ferryV1))"),
            "{go}"
        );
    }

    #[test]
    fn declarations_may_span_lines_and_carry_comments() {
        let f = read_one(
            "//ferry:function env\nfunc fill(\n\tspec HistSpec,\n\tr Range,\n) (Histogram, error) { // all\n",
        )
        .unwrap();
        let record = f.record::<Go>();
        assert!(record.contains(r#""env":"HistSpec""#), "{record}");
        assert!(record.contains(r#""input":"Range""#), "{record}");
        let f = read_one("//ferry:scalar\nfunc one() int64 { return 1 }").unwrap();
        assert!(f.record::<Go>().contains(r#""args":[]"#));
    }

    #[test]
    fn directives_that_cannot_be_followed_say_why_and_where() {
        let err =
            read_one("//ferry:aggregate\ntype S struct {\n}\nfunc (s S) Update(x float64) {\n")
                .unwrap_err();
        assert!(err.contains("S.Update has a value receiver"), "{err}");
        let err = read_one("//ferry:aggregate\ntype S struct {\n}\nfunc (s *S) Update() {\n")
            .unwrap_err();
        assert!(err.contains("takes no argument"), "{err}");
        let err =
            read_one("package main\n//ferry:scalar\nfunc f(m map[string]int) int64 {").unwrap_err();
        assert!(
            err.starts_with("g.go:2: map[string]int is not a column type"),
            "{err}"
        );
        let err = read_one("//ferry:aggregate\ntype S struct {\n").unwrap_err();
        assert!(err.contains("has no method Update"), "{err}");
        let err = read_one("//ferry:scaler\nfunc f() int64 {").unwrap_err();
        assert!(err.contains("there is no //ferry:scaler"), "{err}");
    }
}
