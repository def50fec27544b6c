//! AssemblyScript's side of `//ferry:` directives (`directives`): reading
//! AssemblyScript declarations, and writing each marked function's exports
//! in an entry file that imports the guest's.
//!
//! AssemblyScript has no closures and no exceptions a guest can catch, so
//! the exports are loops written out for each function's types, and a
//! function fails (or returns a null) by telling the SDK before it returns.

use crate::directives::{self, Function, Kind, Results, Signature, Syntax};
use std::fmt::Write;

/// AssemblyScript, as directives read it.
pub(crate) struct AssemblyScript;

impl Syntax for AssemblyScript {
    const SDK: &'static str = concat!("ferry-assemblyscript/", env!("CARGO_PKG_VERSION"));
    const METHODS: [&'static str; 4] = ["update", "retract", "merge", "finish"];
    const FUNCTION: &'static str = "export function name(a: T, ...): R {";

    fn function(lines: &[&str]) -> Option<Signature> {
        let text = directives::declaration(lines)?;
        signature(
            text.trim()
                .strip_prefix("export ")?
                .strip_prefix("function ")?,
        )
    }

    fn state_type(lines: &[&str]) -> Result<String, String> {
        let decorators: Vec<&&str> = lines.iter().take_while(|l| l.starts_with('@')).collect();
        let class = lines.get(decorators.len()).and_then(|line| {
            let rest = line.strip_prefix("export class ")?;
            rest.split([' ', '{']).next().map(str::to_owned)
        });
        match class {
            Some(class) if decorators.iter().any(|d| **d == "@unmanaged") => Ok(class),
            Some(class) => Err(format!(
                "the aggregate state {class} must be @unmanaged: its bytes are the state"
            )),
            None => Err(
                "//ferry:aggregate goes before the state's `@unmanaged export class Name {`".into(),
            ),
        }
    }

    fn method(lines: &[&str], state: &str, name: &str) -> Result<Option<Signature>, String> {
        let Some(class) = lines.iter().position(|line| {
            line.trim()
                .strip_prefix("export class ")
                .is_some_and(|rest| rest.split([' ', '{']).next() == Some(state))
        }) else {
            return Ok(None);
        };
        // The class's body: to the line that closes it.
        let mut depth = 0i32;
        let body = lines[class..].iter().take_while(|line| {
            let open = depth > 0 || line.contains('{');
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            open && !(depth <= 0 && line.contains('}'))
        });
        let body: Vec<&str> = body.skip(1).map(|line| line.trim()).collect();
        Ok((0..body.len()).find_map(|i| {
            let text = directives::declaration(&body[i..])?;
            signature(text.trim().trim_start_matches("public ")).filter(|s| s.name == name)
        }))
    }

    /// What the SDK reads and writes, or a class with `read` and `write`.
    fn value_type(ty: &str) -> Result<(), String> {
        let known = [
            "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64",
        ];
        let containers = [
            "ArrayBuffer",
            "Array",
            "StaticArray",
            "Map",
            "Set",
            "Uint8Array",
        ];
        if known.contains(&ty)
            || ["bool", "string"].contains(&ty)
            || (directives::is_identifier(ty) && !containers.contains(&ty))
        {
            return Ok(());
        }
        Err(format!(
            "a value function cannot take or return {ty}: it takes bool, integers, floats, \
             string, or a class with a static read and a write (wrap the value in one)"
        ))
    }

    fn column_type(ty: &str) -> Result<&'static str, String> {
        Ok(match ty {
            "bool" => "boolean",
            "i8" => "int8",
            "i16" => "int16",
            "i32" => "int32",
            "i64" => "int64",
            "u8" => "uint8",
            "u16" => "uint16",
            "u32" => "uint32",
            "u64" => "uint64",
            "f32" => "float32",
            "f64" => "float64",
            "string" => "utf8",
            "ArrayBuffer" => "binary",
            other => {
                return Err(format!(
                    "{other} is not a column type: bool, i8…i64, u8…u64, f32, f64, string \
                     or ArrayBuffer"
                ));
            }
        })
    }
}

/// `name(a: T, ...): R {`.
fn signature(rest: &str) -> Option<Signature> {
    let open = rest.find('(')?;
    let name = rest[..open].trim();
    let close = open + directives::closing(&rest[open..])?;
    let params = directives::split_list(&rest[open + 1..close])
        .into_iter()
        .map(|param| {
            let (_, ty) = param.split_once(':')?;
            Some(ty.split('=').next()?.trim().to_owned())
        })
        .collect::<Option<Vec<_>>>()?;
    let result = rest[close + 1..]
        .trim()
        .strip_suffix('{')?
        .trim()
        .strip_prefix(':')?
        .trim();
    directives::is_identifier(name).then(|| Signature {
        name: name.to_owned(),
        params,
        results: Results {
            value: (result != "void").then(|| result.to_owned()),
            error: false,
        },
    })
}

/// The type as a reader's method gives it, or the class's `read`.
fn read_value(ty: &str, reader: &str) -> String {
    match ty {
        "i8" | "i16" | "i32" | "i64" => format!("<{ty}>{reader}.readInt({})", &ty[1..]),
        "u8" | "u16" | "u32" | "u64" => format!("<{ty}>{reader}.readUint({})", &ty[1..]),
        "f32" | "f64" => format!("<{ty}>{reader}.readF64()"),
        "bool" => format!("{reader}.readBool()"),
        "string" => format!("{reader}.readString()"),
        class => format!("user.{class}.read({reader})"),
    }
}

/// Writing `value`, of type `ty`, with the call's writer.
fn write_value(ty: Option<&str>, value: &str) -> String {
    match ty {
        None => "call.writer.writeNil()".into(),
        Some("i8" | "i16" | "i32" | "i64") => {
            format!("call.writer.writeI64(<i64>{value})")
        }
        Some("u8" | "u16" | "u32" | "u64") => {
            format!("call.writer.writeU64(<u64>{value})")
        }
        Some("f32" | "f64") => format!("call.writer.writeF64(<f64>{value})"),
        Some("bool") => format!("call.writer.writeBool({value})"),
        Some("string") => format!("call.writer.writeString({value})"),
        Some(_) => format!("{value}.write(call.writer)"),
    }
}

/// The exports of `function`, in AssemblyScript.
fn exports(function: &Function) -> String {
    let export = function.export();
    let header = |suffix: &str, params: &str| {
        format!("export function {export}{suffix}(envPtr: usize, envLen: u32, {params}): u32 {{\n")
    };
    let native = format!("user.{}", function.native);
    let mut out = String::new();
    match &function.kind {
        Kind::Value {
            env,
            inputs,
            results,
        } => {
            out += &header("", "inputPtr: usize, inputLen: u32");
            out += "  const call = new ferry.ValueCall(envPtr, envLen, inputPtr, inputLen);\n";
            let mut call_args = Vec::new();
            if let Some(env) = env {
                writeln!(out, "  const env = {};", read_value(env, "call.env")).unwrap();
                call_args.push("env".to_owned());
            }
            if inputs.len() > 1 {
                writeln!(out, "  call.input.readTuple({});", inputs.len()).unwrap();
            }
            for (i, ty) in inputs.iter().enumerate() {
                writeln!(out, "  const in{i} = {};", read_value(ty, "call.input")).unwrap();
                call_args.push(format!("in{i}"));
            }
            writeln!(
                out,
                "  const bad = call.badArguments({}, {});\n  if (bad != 0) return bad;",
                env.is_some(),
                !inputs.is_empty()
            )
            .unwrap();
            let call = format!("{native}({})", call_args.join(", "));
            match &results.value {
                Some(ty) => {
                    writeln!(out, "  const result = {call};").unwrap();
                    writeln!(
                        out,
                        "  if (!ferry.failed()) {};",
                        write_value(Some(ty), "result")
                    )
                    .unwrap();
                }
                None => writeln!(out, "  {call};\n  {};", write_value(None, "")).unwrap(),
            }
            out += "  return call.finish();\n}\n";
        }
        Kind::Scalar { args, results } => {
            let value = results.value.as_deref().unwrap_or_default();
            out += &header("", "columns: usize, count: u32");
            writeln!(
                out,
                "  const call = new ferry.Call(envPtr, envLen, columns, count, {});",
                args.len()
            )
            .unwrap();
            let (bind, null, call_args) = read_args(args, 0, 0);
            out += &bind;
            writeln!(out, "  const out = new ferry.Output<{value}>(call.rows);").unwrap();
            out += "  for (let row = 0; row < call.rows && call.ok(); row++) {\n";
            if !null.is_empty() {
                writeln!(
                    out,
                    "    if ({null}) {{\n      out.setNull(row);\n      continue;\n    }}"
                )
                .unwrap();
            }
            writeln!(
                out,
                "    call.put<{value}>(out, row, {native}({call_args}));\n  }}"
            )
            .unwrap();
            writeln!(out, "  return call.finish<{value}>(out);\n}}").unwrap();
        }
        Kind::Aggregate {
            args,
            retract,
            finish,
            ..
        } => {
            let begin = |out: &mut String, columns: usize| {
                writeln!(
                    out,
                    "  const call = new ferry.Call(envPtr, envLen, columns, count, {columns});\n  \
                     const fresh = new {native}();\n  \
                     const states = call.states(offsetof<{native}>(), changetype<usize>(fresh));\n  \
                     heap.free(changetype<usize>(fresh));"
                )
                .unwrap();
            };
            let state = |at: &str| format!("changetype<{native}>(states.at({at}))");
            let steps = std::iter::once("update").chain(retract.as_ref().map(|_| "retract"));
            for method in steps {
                out += &header(&format!("_{method}"), "columns: usize, count: u32");
                begin(&mut out, 2 + args.len());
                out += "  const groups = call.groups();\n";
                let (bind, null, call_args) = read_args(args, 2, 1);
                out += &bind;
                out += "  for (let row = 0; row < call.length(1) && call.ok(); row++) {\n";
                if !null.is_empty() {
                    writeln!(out, "    if ({null}) continue;").unwrap();
                }
                writeln!(
                    out,
                    "    {}.{method}({call_args});\n    call.check(row);\n  }}",
                    state("groups.get(row)")
                )
                .unwrap();
                out += "  return call.finishStates(states);\n}\n\n";
            }
            out += &header("_merge", "columns: usize, count: u32");
            begin(&mut out, 3);
            writeln!(
                out,
                "  const groups = call.groups();\n  \
                 call.arg<ArrayBuffer>(2, 1);\n  \
                 for (let row = 0; row < call.length(1) && call.ok(); row++) {{\n    \
                 const partial = call.partial(row, offsetof<{native}>());\n    \
                 if (partial == 0) continue;\n    \
                 {}.merge(changetype<{native}>(partial));\n    \
                 call.check(row);\n  }}\n  \
                 return call.finishStates(states);\n}}\n",
                state("groups.get(row)")
            )
            .unwrap();
            let value = finish.value.as_deref().unwrap_or_default();
            out += &header("_finish", "columns: usize, count: u32");
            begin(&mut out, 1);
            writeln!(
                out,
                "  const out = new ferry.Output<{value}>(states.count);\n  \
                 for (let g = 0; g < states.count && call.ok(); g++) {{\n    \
                 call.put<{value}>(out, g, {}.finish());\n  }}\n  \
                 return call.finish<{value}>(out);\n}}",
                state("g")
            )
            .unwrap();
        }
    }
    out
}

/// AssemblyScript that binds argument columns (numbered from `first`, as
/// long as column `rows`), the test for a row with a null among them, and
/// a row's arguments.
fn read_args(args: &[String], first: usize, rows: usize) -> (String, String, String) {
    let (mut bind, mut null, mut call) = (String::new(), Vec::new(), Vec::new());
    for (i, ty) in args.iter().enumerate() {
        writeln!(
            bind,
            "  const a{i} = call.arg<{ty}>({}, {rows});",
            first + i
        )
        .unwrap();
        null.push(format!("a{i}.isNull(row)"));
        call.push(format!("a{i}.get(row)"));
    }
    (bind, null.join(" || "), call.join(", "))
}

/// The entry file: the SDK's allocator, and the exports of every function,
/// calling the guest's (imported from `guest`, a path relative to the entry
/// without `.ts`).
pub(crate) fn entry_file(functions: &[Function], guest: &str) -> String {
    let mut out = format!(
        "// Code generated by ferry build from the //ferry: directives. DO NOT EDIT.\n\n\
         import * as ferry from \"ferry\";\n\
         import * as user from \"{guest}\";\n\
         export {{ ferry_alloc, ferry_free }} from \"ferry\";\n\n"
    );
    for function in functions {
        out += &exports(function);
        out += "\n";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_states_are_read() {
        let s =
            AssemblyScript::function(&["export function gcd(a: i64, b: i64 = 0): i64 {"]).unwrap();
        assert_eq!(
            (s.name.as_str(), s.params.as_slice()),
            ("gcd", &["i64".to_owned(), "i64".to_owned()][..])
        );
        assert_eq!(s.results.value.as_deref(), Some("i64"));
        let state = AssemblyScript::state_type(&["@unmanaged", "export class GeoMean {"]).unwrap();
        assert_eq!(state, "GeoMean");
        let err = AssemblyScript::state_type(&["export class GeoMean {"]).unwrap_err();
        assert!(err.contains("must be @unmanaged"), "{err}");
    }

    #[test]
    fn a_method_is_looked_for_in_its_own_class() {
        let lines = [
            "export class A {",
            "  update(x: f64): void {",
            "  }",
            "}",
            "export class B {",
            "  retract(x: f64): void { this.n--; }",
            "}",
        ];
        let found = |class, name| AssemblyScript::method(&lines, class, name).unwrap();
        assert!(found("A", "update").is_some());
        assert!(found("A", "retract").is_none());
        assert!(found("B", "retract").is_some());
    }

    #[test]
    fn value_functions_refuse_what_the_sdk_cannot_read() {
        let files = [(
            "g.ts".to_owned(),
            "//ferry:function\nexport function f(b: ArrayBuffer): i64 {".to_owned(),
        )];
        let err = directives::read::<AssemblyScript>(&files).unwrap_err();
        assert!(err.contains("cannot take or return ArrayBuffer"), "{err}");
    }
}
