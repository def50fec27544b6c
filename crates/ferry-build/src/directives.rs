//! Guests whose language cannot write an export or a custom section from
//! a function's signature (Go, AssemblyScript) mark their functions with
//! `//ferry:` directives instead, and `ferry build` writes both: this is
//! reading the directives and the declarations after them, and the records
//! (§2) they make. Each language's syntax and the exports in it are in its
//! own module (`go_exports`, `as_exports`).
//!
//! A directive is `//ferry:KIND [name=NAME] [env]` on the line before a
//! declaration: `function` (`env`: its first parameter is the captured
//! environment) or `scalar` before a function, `aggregate` before the
//! state's type, whose methods update, merge and finish it.

use serde_json::json;
use std::path::Path;

/// A language's syntax, as far as directives need it.
pub(crate) trait Syntax {
    /// The SDK records name, `<sdk>/<version>`.
    const SDK: &'static str;
    /// The aggregate methods' names: update, retract, merge, finish.
    const METHODS: [&'static str; 4];
    /// What a function declaration looks like, for the error that says
    /// one is not where a directive wants it.
    const FUNCTION: &'static str;

    /// The function declared at the start of `lines`.
    fn function(lines: &[&str]) -> Option<Signature>;
    /// The type an aggregate directive is on: its declaration is `lines`
    /// and those after it.
    fn state_type(lines: &[&str]) -> Result<String, String>;
    /// A method of `state` among `lines` (a file's), or why the one there
    /// cannot be called.
    fn method(lines: &[&str], state: &str, name: &str) -> Result<Option<Signature>, String>;
    /// The column type (§8) a parameter or result type travels as.
    fn column_type(ty: &str) -> Result<&'static str, String>;
    /// Whether a value function (§3) can take and return the type.
    fn value_type(ty: &str) -> Result<(), String> {
        let _ = ty;
        Ok(())
    }
}

/// A function's name, parameter types and results.
#[derive(Debug, PartialEq)]
pub(crate) struct Signature {
    pub name: String,
    pub params: Vec<String>,
    pub results: Results,
}

/// What a function returns: a value (or none), and an error after it
/// (Go's) or not.
#[derive(Debug, PartialEq)]
pub(crate) struct Results {
    pub value: Option<String>,
    pub error: bool,
}

/// A function a directive marks.
#[derive(Debug, PartialEq)]
pub(crate) struct Function {
    /// What callers name it: the directive's `name=`, else the guest's.
    pub name: String,
    /// The guest's function, or for an aggregate the state's type.
    pub native: String,
    pub kind: Kind,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Kind {
    /// `//ferry:function`.
    Value {
        env: Option<String>,
        inputs: Vec<String>,
        results: Results,
    },
    /// `//ferry:scalar`.
    Scalar { args: Vec<String>, results: Results },
    /// `//ferry:aggregate`, with the state's methods.
    Aggregate {
        args: Vec<String>,
        update: Results,
        retract: Option<Results>,
        merge_param: String,
        merge: Results,
        finish: Results,
    },
}

/// Reads the functions the directives in `files` (name, text) mark; an
/// error names the file and line of the directive that cannot be followed.
pub(crate) fn read<S: Syntax>(files: &[(String, String)]) -> Result<Vec<Function>, String> {
    let mut functions = Vec::new();
    for (file, text) in files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(directive) = line.trim().strip_prefix("//ferry:") else {
                continue;
            };
            let at = |problem: String| format!("{file}:{}: {problem}", i + 1);
            let declaration: Vec<&str> = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .skip_while(|l| l.starts_with("//"))
                .collect();
            functions.push(function::<S>(directive, &declaration, files).map_err(at)?);
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

fn function<S: Syntax>(
    directive: &str,
    declaration: &[&str],
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
        let state = S::state_type(declaration)?;
        return aggregate::<S>(name, &state, files);
    }
    let signature = S::function(declaration)
        .ok_or_else(|| format!("//ferry:{kind} goes before a function, `{}`", S::FUNCTION))?;
    let Signature {
        name: native,
        params,
        results,
    } = signature;
    let kind = match kind {
        "scalar" => {
            column_results::<S>(&results)?;
            for param in &params {
                S::column_type(param)?;
            }
            Kind::Scalar {
                args: params,
                results,
            }
        }
        "function" => {
            for ty in params.iter().chain(&results.value) {
                S::value_type(ty)?;
            }
            let mut inputs = params;
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
        name: name.unwrap_or_else(|| native.clone()),
        native,
        kind,
    })
}

fn aggregate<S: Syntax>(
    name: Option<String>,
    state: &str,
    files: &[(String, String)],
) -> Result<Function, String> {
    let method = |method: &str| -> Result<Option<Signature>, String> {
        for (_, text) in files {
            let lines: Vec<&str> = text.lines().collect();
            if let Some(found) = S::method(&lines, state, method)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    };
    let [update_name, retract_name, merge_name, finish_name] = S::METHODS;
    let needed = |name: &str| {
        method(name)?.ok_or_else(|| format!("the aggregate state {state} has no method {name}"))
    };
    let update = needed(update_name)?;
    if update.params.is_empty() {
        return Err(format!(
            "{state}.{update_name} takes no argument: an aggregate folds at least one column"
        ));
    }
    for param in &update.params {
        S::column_type(param)?;
    }
    let retract = method(retract_name)?;
    if retract.as_ref().is_some_and(|r| r.params != update.params) {
        return Err(format!(
            "{state}.{retract_name} must take what {update_name} takes"
        ));
    }
    let merge = needed(merge_name)?;
    let other = merge.params.first().map(|p| p.trim_start_matches('*'));
    if merge.params.len() != 1 || other != Some(state) {
        return Err(format!("{state}.{merge_name} takes one {state}"));
    }
    let finish = needed(finish_name)?.results;
    column_results::<S>(&finish)?;
    Ok(Function {
        name: name.unwrap_or_else(|| state.to_owned()),
        native: state.to_owned(),
        kind: Kind::Aggregate {
            args: update.params,
            update: no_value(update.results, update_name)?,
            retract: retract
                .map(|r| no_value(r.results, retract_name))
                .transpose()?,
            merge_param: merge.params[0].clone(),
            merge: no_value(merge.results, merge_name)?,
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

pub(crate) fn is_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn column_results<S: Syntax>(results: &Results) -> Result<&'static str, String> {
    S::column_type(
        results
            .value
            .as_deref()
            .ok_or("a column function returns a value")?,
    )
}

/// Writes `module` from the toolchain's `linked` one and the records of
/// `functions`, in a `ferry.functions` custom section appended to it: a
/// section may follow any other. Errors say what could not be done.
pub(crate) fn write_module<S: Syntax>(
    linked: &Path,
    module: &Path,
    functions: &[Function],
) -> Result<(), String> {
    fn leb128(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut bytes =
        std::fs::read(linked).map_err(|e| format!("cannot read what the toolchain built: {e}"))?;
    let name = "ferry.functions";
    let mut body = Vec::new();
    leb128(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    for function in functions {
        body.extend_from_slice(function.record::<S>().as_bytes());
    }
    bytes.push(0); // a custom section's id
    leb128(&mut bytes, body.len());
    bytes.extend_from_slice(&body);
    std::fs::write(module, bytes).map_err(|e| format!("cannot write the module: {e}"))
}

/// The declaration that starts `lines`, up to the `{` that opens its body,
/// with comments left out: it may span lines, and a body may follow on
/// its last line.
pub(crate) fn declaration(lines: &[&str]) -> Option<String> {
    let mut text = String::new();
    let mut depth = 0;
    for line in lines {
        let code = line.split("//").next().unwrap_or_default();
        for c in code.chars() {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                '{' if depth == 0 && text.contains(')') => {
                    text.push('{');
                    return Some(text);
                }
                _ => {}
            }
            text.push(c);
        }
        text.push(' ');
    }
    None
}

/// Where the bracket opening `text` closes.
pub(crate) fn closing(text: &str) -> Option<usize> {
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

/// A list split at its top-level commas, each piece trimmed.
pub(crate) fn split_list(list: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(list[start..].trim());
    // A trailing comma (a list over several lines) leaves an empty piece.
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

impl Function {
    /// Its record (§2), a line of JSON.
    pub(crate) fn record<S: Syntax>(&self) -> String {
        let output = |results: &Results| match (&results.value, results.error) {
            (Some(value), true) => format!("({value}, error)"),
            (Some(value), false) => value.clone(),
            (None, true) => "error".into(),
            (None, false) => "()".into(),
        };
        // A column function's fields: its types by column name.
        let columns = |kind: &str, args: &[String], returns: &Results| {
            let args: Vec<&str> = args.iter().filter_map(|t| S::column_type(t).ok()).collect();
            let returns = column_results::<S>(returns).unwrap_or_default();
            json!({"kind": kind, "input": format!("({})", args.join(", ")),
                "output": returns, "args": args, "returns": returns})
        };
        let mut record =
            json!({"abi": 1, "name": self.name, "sdk": S::SDK, "export": self.export()});
        let fields = match &self.kind {
            Kind::Value {
                env,
                inputs,
                results,
            } => {
                let input = match inputs.as_slice() {
                    [one] => one.clone(),
                    several => format!("({})", several.join(", ")),
                };
                let mut fields =
                    json!({"kind": "value", "input": input, "output": output(results)});
                if let Some(env) = env {
                    fields["env"] = json!(env);
                }
                fields
            }
            Kind::Scalar { args, results } => columns("scalar", args, results),
            Kind::Aggregate {
                args,
                retract,
                finish,
                ..
            } => {
                let mut fields = columns("aggregate", args, finish);
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

    /// The export (or, for an aggregate, the exports' prefix) the ABI
    /// calls.
    pub(crate) fn export(&self) -> String {
        let prefix = match self.kind {
            Kind::Value { .. } => "ferry_fn_",
            Kind::Scalar { .. } => "ferry_udf_",
            Kind::Aggregate { .. } => "ferry_udaf_",
        };
        format!("{prefix}{}", self.name)
    }
}
