//! What a Go guest's `//ferry:` directives ask for: read from the source
//! (each directive and the signature after it), and written as the Go
//! exports and the records of the ABI.
//!
//! Go cannot put bytes in a custom section, nor write an export from a
//! generic function, so `ferry build` does both from the signatures, the way
//! `go generate` tools do: the exports go to a generated file beside the
//! guest's, and the records to a section appended to the linked module.

use serde_json::json;
use std::fmt::Write;

/// The SDK the records name.
const SDK: &str = concat!("ferry-go/", env!("CARGO_PKG_VERSION"));

/// A function a directive marks.
#[derive(Debug, PartialEq)]
pub(crate) struct Function {
    /// What callers name it: the directive's `name=`, else the Go name.
    name: String,
    /// The Go function, or for an aggregate the state's type.
    go_name: String,
    kind: Kind,
}

#[derive(Debug, PartialEq)]
enum Kind {
    /// `//ferry:function`, with `env` when its first parameter is the
    /// captured environment.
    Value {
        env: Option<String>,
        inputs: Vec<String>,
        results: Results,
    },
    /// `//ferry:scalar`.
    Scalar { args: Vec<String>, results: Results },
    /// `//ferry:aggregate` on the state's type, with its methods.
    Aggregate {
        args: Vec<String>,
        update_results: Results,
        retract: Option<Results>,
        merge_param: String,
        merge_results: Results,
        finish: Results,
    },
}

/// What a Go function returns: a value (or none), and an error after it or
/// not.
#[derive(Debug, PartialEq)]
struct Results {
    value: Option<String>,
    error: bool,
}

/// A directive that cannot be followed, with where it is.
pub(crate) type ReadError = String;

/// Reads the functions the directives in `files` (name, text) mark.
pub(crate) fn read(files: &[(String, String)]) -> Result<Vec<Function>, ReadError> {
    let mut functions = Vec::new();
    for (file, text) in files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(directive) = line.trim().strip_prefix("//ferry:") else {
                continue;
            };
            let at = |problem: String| format!("{file}:{}: {problem}", i + 1);
            let declaration = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.starts_with("//"))
                .unwrap_or_default();
            functions.push(function(directive, declaration, files).map_err(at)?);
        }
    }
    if functions.is_empty() {
        return Err(
            "no function is marked: put //ferry:scalar, //ferry:function or \
                    //ferry:aggregate on the line before one"
                .into(),
        );
    }
    Ok(functions)
}

fn function(
    directive: &str,
    declaration: &str,
    files: &[(String, String)],
) -> Result<Function, String> {
    let mut words = directive.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let (mut name, mut env) = (None, false);
    for option in words {
        match option.split_once('=') {
            Some(("name", value)) if is_identifier(value) => name = Some(value.to_owned()),
            None if option == "env" && kind == "function" => env = true,
            _ => return Err(format!("//ferry:{kind} does not take `{option}`")),
        }
    }
    if kind == "aggregate" {
        let go_name = declaration
            .strip_prefix("type ")
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|_| declaration.contains(" struct"))
            .ok_or("//ferry:aggregate goes before the state's `type Name struct {`")?;
        return aggregate(name, go_name, files);
    }
    let signature = Signature::parse(declaration)
        .ok_or_else(|| format!("//ferry:{kind} goes before a one-line `func name(...) ... {{`"))?;
    let results = signature.results()?;
    let kind = match kind {
        "scalar" => {
            column_results(&results)?;
            for param in &signature.params {
                column_type(param)?;
            }
            Kind::Scalar {
                args: signature.params.clone(),
                results,
            }
        }
        "function" => {
            let mut inputs = signature.params.clone();
            let env = match (env, inputs.is_empty()) {
                (true, true) => {
                    return Err("`env` is the first parameter, and there is none".into());
                }
                (true, false) => Some(inputs.remove(0)),
                (false, _) => None,
            };
            Kind::Value {
                env,
                inputs,
                results,
            }
        }
        other => {
            return Err(format!(
                "there is no //ferry:{other}: the kinds are scalar, function and aggregate"
            ));
        }
    };
    Ok(Function {
        name: name.unwrap_or_else(|| signature.name.clone()),
        go_name: signature.name,
        kind,
    })
}

fn aggregate(
    name: Option<String>,
    state: &str,
    files: &[(String, String)],
) -> Result<Function, String> {
    let method = |method: &str| -> Option<Signature> {
        files.iter().find_map(|(_, text)| {
            text.lines()
                .filter_map(|line| Signature::parse_method(line.trim(), state))
                .find(|s| s.name == method)
        })
    };
    let needed = |name: &str| {
        method(name).ok_or_else(|| format!("the aggregate state {state} has no method {name}"))
    };
    let update = needed("Update")?;
    for param in &update.params {
        column_type(param)?;
    }
    let retract = method("Retract");
    if retract.as_ref().is_some_and(|r| r.params != update.params) {
        return Err(format!("{state}.Retract must take what Update takes"));
    }
    let merge = needed("Merge")?;
    let other = merge.params.first().map(|p| p.trim_start_matches('*'));
    if merge.params.len() != 1 || other != Some(state) {
        return Err(format!("{state}.Merge takes one {state} (or *{state})"));
    }
    let finish = needed("Finish")?.results()?;
    column_results(&finish)?;
    Ok(Function {
        name: name.unwrap_or_else(|| state.to_owned()),
        go_name: state.to_owned(),
        kind: Kind::Aggregate {
            args: update.params.clone(),
            update_results: no_value(update.results()?, "Update")?,
            retract: retract
                .map(|r| no_value(r.results()?, "Retract"))
                .transpose()?,
            merge_param: merge.params[0].clone(),
            merge_results: no_value(merge.results()?, "Merge")?,
            finish,
        },
    })
}

fn no_value(results: Results, method: &str) -> Result<Results, String> {
    match results.value {
        Some(value) => Err(format!(
            "{method} returns {value}: it returns nothing or an error"
        )),
        None => Ok(results),
    }
}

fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The ABI's column type a Go type travels as; a pointer is the same
/// column, with nil for null.
fn column_type(go: &str) -> Result<&'static str, String> {
    Ok(match go.trim_start_matches('*') {
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

fn column_results(results: &Results) -> Result<&'static str, String> {
    column_type(
        results
            .value
            .as_deref()
            .ok_or("a column function returns a value")?,
    )
}

/// `func name(params) results {`, params by type (a type per parameter).
#[derive(Debug, PartialEq)]
struct Signature {
    name: String,
    params: Vec<String>,
    results: String,
}

impl Signature {
    fn parse(line: &str) -> Option<Signature> {
        Signature::parse_rest(line.strip_prefix("func ")?)
    }

    /// A method of `state`, `func (s *State) Name(params) results {`.
    fn parse_method(line: &str, state: &str) -> Option<Signature> {
        let rest = line.strip_prefix("func (")?;
        let (receiver, rest) = rest.split_once(')')?;
        let receiver = receiver.split_whitespace().last()?;
        (receiver.trim_start_matches('*') == state).then(|| Signature::parse_rest(rest.trim()))?
    }

    fn parse_rest(rest: &str) -> Option<Signature> {
        let open = rest.find('(')?;
        let name = rest[..open].trim();
        let close = open + closing(&rest[open..])?;
        let params = parameter_types(&rest[open + 1..close])?;
        let results = rest[close + 1..]
            .trim()
            .strip_suffix('{')?
            .trim()
            .to_owned();
        is_identifier(name).then(|| Signature {
            name: name.to_owned(),
            params,
            results,
        })
    }

    fn results(&self) -> Result<Results, String> {
        let list = match self.results.strip_prefix('(') {
            Some(inner) => parameter_types(inner.strip_suffix(')').unwrap_or(inner))
                .ok_or_else(|| format!("cannot read {}'s results", self.name))?,
            None if self.results.is_empty() => vec![],
            None => vec![self.results.clone()],
        };
        let error = list.last().is_some_and(|last| last == "error");
        let values = &list[..list.len() - usize::from(error)];
        if values.len() > 1 {
            return Err(format!(
                "{} returns {} values: return one (a struct for several), and an error or not",
                self.name,
                values.len()
            ));
        }
        Ok(Results {
            value: values.first().cloned(),
            error,
        })
    }
}

/// Where the bracket opening `text` closes.
fn closing(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The type of each parameter in a Go parameter list: `a, b int64, s
/// string` is int64, int64, string; `int64, error` is int64, error.
fn parameter_types(list: &str) -> Option<Vec<String>> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(list[start..].trim());
    if pieces == [""] {
        return Some(vec![]);
    }
    let named = pieces.iter().any(|p| {
        p.split_once(' ')
            .is_some_and(|(name, _)| is_identifier(name))
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

impl Function {
    /// Its record (§2), a line of JSON.
    pub(crate) fn record(&self) -> String {
        fn listed(types: &[impl AsRef<str>]) -> String {
            let types: Vec<&str> = types.iter().map(AsRef::as_ref).collect();
            format!("({})", types.join(", "))
        }
        let output = |results: &Results| match (&results.value, results.error) {
            (Some(value), true) => format!("({value}, error)"),
            (Some(value), false) => value.clone(),
            (None, true) => "error".into(),
            (None, false) => "()".into(),
        };
        let columns = |types: &[String]| -> Vec<&str> {
            types.iter().filter_map(|t| column_type(t).ok()).collect()
        };
        let mut record = json!({"abi": 1, "name": self.name, "sdk": SDK});
        let fields = match &self.kind {
            Kind::Value {
                env,
                inputs,
                results,
            } => {
                let input = match inputs.as_slice() {
                    [one] => one.clone(),
                    several => listed(several),
                };
                let mut fields = json!({"kind": "value", "export": self.export(),
                    "input": input, "output": output(results)});
                if let Some(env) = env {
                    fields["env"] = json!(env);
                }
                fields
            }
            Kind::Scalar { args, results } => {
                json!({"kind": "scalar", "export": self.export(),
                    "input": listed(&columns(args)),
                    "output": column_results(results).unwrap_or_default(),
                    "args": columns(args), "returns": column_results(results).unwrap_or_default()})
            }
            Kind::Aggregate {
                args,
                retract,
                finish,
                ..
            } => {
                let mut fields = json!({"kind": "aggregate", "export": self.export(),
                    "input": listed(&columns(args)),
                    "output": column_results(finish).unwrap_or_default(),
                    "args": columns(args), "returns": column_results(finish).unwrap_or_default()});
                if retract.is_some() {
                    fields["retract"] = json!(true);
                }
                fields
            }
        };
        for (key, value) in fields.as_object().into_iter().flatten() {
            record[key] = value.clone();
        }
        record.to_string() + "\n"
    }

    fn export(&self) -> String {
        let prefix = match self.kind {
            Kind::Value { .. } => "ferry_fn_",
            Kind::Scalar { .. } => "ferry_udf_",
            Kind::Aggregate { .. } => "ferry_udaf_",
        };
        format!("{prefix}{}", self.name)
    }

    /// Its exports, in Go, for the generated file.
    pub(crate) fn exports(&self) -> String {
        let export = self.export();
        let header = |suffix: &str, params: &str| {
            format!(
                "//go:wasmexport {export}{suffix}\nfunc {export}{suffix}(envPtr, envLen, {params} uint32) uint32 {{\n"
            )
        };
        let go = &self.go_name;
        let mut out = String::new();
        match &self.kind {
            Kind::Value {
                env,
                inputs,
                results,
            } => {
                out += &header("", "inputPtr, inputLen");
                out += "\treturn ferry.Value(envPtr, envLen, inputPtr, inputLen, func(args *ferry.Args) (any, error) {\n";
                let mut call_args = Vec::new();
                if let Some(env) = env {
                    writeln!(out, "\t\tvar env {env}").unwrap();
                    out += "\t\tif err := args.Env(&env); err != nil {\n\t\t\treturn nil, err\n\t\t}\n";
                    call_args.push("env".to_owned());
                }
                let names: Vec<String> = (0..inputs.len()).map(|i| format!("in{i}")).collect();
                for (name, ty) in names.iter().zip(inputs) {
                    writeln!(out, "\t\tvar {name} {ty}").unwrap();
                }
                if !inputs.is_empty() {
                    let targets: Vec<String> = names.iter().map(|n| format!("&{n}")).collect();
                    writeln!(
                        out,
                        "\t\tif err := args.Input({}); err != nil {{\n\t\t\treturn nil, err\n\t\t}}",
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
                out += &header("", "columns, count");
                writeln!(
                    out,
                    "\treturn ferry.Scalar(envPtr, envLen, columns, count, {}, func(c *ferry.Call) ferry.Row[{value}] {{",
                    args.len()
                )
                .unwrap();
                let (bind, read, call_args) = read_args(args, 0);
                out += &bind;
                writeln!(
                    out,
                    "\t\treturn func(row int) (value {value}, ok bool, err error) {{"
                )
                .unwrap();
                out += &read.replace("return nil", "return");
                let call = format!("{go}({call_args})");
                writeln!(out, "\t\t\treturn {}", row_value(results, &call)).unwrap();
                out += "\t\t}\n\t})\n}\n";
            }
            Kind::Aggregate {
                args,
                update_results,
                retract,
                merge_param,
                merge_results,
                finish,
            } => {
                let steps = std::iter::once(("Update", update_results))
                    .chain(retract.as_ref().map(|r| ("Retract", r)));
                for (method, results) in steps {
                    out += &header(&format!("_{}", method.to_lowercase()), "columns, count");
                    writeln!(
                        out,
                        "\treturn ferry.Fold(envPtr, envLen, columns, count, {}, func(c *ferry.Call) func(*{go}, int) error {{",
                        args.len()
                    )
                    .unwrap();
                    let (bind, read, call_args) = read_args(args, 2);
                    out += &bind;
                    writeln!(out, "\t\treturn func(state *{go}, row int) error {{").unwrap();
                    out += &read;
                    out +=
                        &no_value_call(&format!("state.{method}({call_args})"), results, "\t\t\t");
                    out += "\t\t}\n\t})\n}\n\n";
                }
                out += &header("_merge", "columns, count");
                writeln!(
                    out,
                    "\treturn ferry.Merge(envPtr, envLen, columns, count, func(state *{go}, other {go}) error {{"
                )
                .unwrap();
                let other = if merge_param.starts_with('*') {
                    "&other"
                } else {
                    "other"
                };
                out += &no_value_call(&format!("state.Merge({other})"), merge_results, "\t\t");
                out += "\t})\n}\n\n";
                let value = finish.value.as_deref().unwrap_or_default();
                out += &header("_finish", "columns, count");
                writeln!(
                    out,
                    "\treturn ferry.Finish(envPtr, envLen, columns, count, func(state *{go}) ({}, bool, error) {{",
                    value.trim_start_matches('*')
                )
                .unwrap();
                writeln!(out, "\t\treturn {}", row_value(finish, "state.Finish()")).unwrap();
                out += "\t})\n}\n";
            }
        }
        out
    }
}

/// Go that binds argument columns (numbered from `first`) once per call
/// and reads a row of them: the binding, the reading (which returns when a
/// row is null for a parameter that cannot hold a null), and the call's
/// arguments.
fn read_args(args: &[String], first: usize) -> (String, String, String) {
    let (mut bind, mut read, mut call) = (String::new(), String::new(), Vec::new());
    for (i, ty) in args.iter().enumerate() {
        let column = ty.trim_start_matches('*');
        writeln!(bind, "\t\targ{i} := ferry.Arg[{column}](c, {})", first + i).unwrap();
        writeln!(read, "\t\t\tv{i}, ok{i} := arg{i}.Get(row)").unwrap();
        if ty.starts_with('*') {
            call.push(format!("ferry.Ptr(v{i}, ok{i})"));
        } else {
            writeln!(read, "\t\t\tif !ok{i} {{\n\t\t\t\treturn nil\n\t\t\t}}").unwrap();
            call.push(format!("v{i}"));
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
        out += &function.exports();
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
        read(&files).map(|mut f| f.remove(0))
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
        let record = f.record();
        assert!(record.contains(r#""args":["int64","int64"]"#), "{record}");
        assert!(record.contains(r#""export":"ferry_udf_div""#), "{record}");
        let go = f.exports();
        assert!(
            go.contains("return ferry.DerefChecked(divide(v0, v1))"),
            "{go}"
        );
    }

    #[test]
    fn directives_that_cannot_be_followed_say_why_and_where() {
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
