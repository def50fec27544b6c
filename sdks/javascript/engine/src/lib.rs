//! ferry's JavaScript engine: QuickJS, through `rquickjs`, as a guest
//! module. A closure of it carries a JavaScript function as source in its
//! environment, so one module, compiled once per process, runs every
//! JavaScript function:
//!
//! - `javascript`, a value function: the environment is `{source, env}`,
//!   `env` what the closure captured (its first argument, if there), the
//!   input the function's argument (or the array of its arguments, when it
//!   declares other than one parameter for them), the result its return
//!   value;
//! - `javascript_scalar`, a scalar function whose column types are each
//!   closure's (a dynamic record, `docs/abi.md` §2): the environment is
//!   `{source, args, returns}`, and the function is called once per row;
//! - `javascript_aggregate`, an aggregate function, dynamic too: the
//!   environment is `{source, args, returns, retract}`, and the source's
//!   default export an object with the steps as methods;
//! - `javascript_describe`, a value function that says what a source's
//!   default export is (`{kind, parameters, retract}`), so that a closure
//!   can be made for it and a source that does not load is refused before
//!   it travels.
//!
//! The source is an ES module whose default export is the function (or the
//! aggregate's object): `export default (a, b) => a + b`. See `sdks/javascript/README.md` for
//! how values become JavaScript values and back.

#![cfg(target_family = "wasm")]

mod aggregate;
mod columns;
mod script;
mod values;

use ferry::__private::{Failure, call_scalar, call_value};

/// The two functions' records, for the `ferry.functions` section.
const RECORDS: &str = concat!(
    r#"{"abi":1,"name":"javascript","kind":"value","export":"ferry_fn_javascript","env":"{source, env}","input":"the function's argument, or the array of its arguments","output":"its result","sdk":"ferry-javascript/0.1.0"}"#,
    "\n",
    r#"{"abi":1,"name":"javascript_scalar","kind":"scalar","export":"ferry_udf_javascript","env":"{source, args, returns}","input":"args","output":"returns","sdk":"ferry-javascript/0.1.0","dynamic":true}"#,
    "\n",
    r#"{"abi":1,"name":"javascript_aggregate","kind":"aggregate","export":"ferry_udaf_javascript","env":"{source, args, returns, retract}","input":"args","output":"returns","sdk":"ferry-javascript/0.1.0","retract":true,"dynamic":true}"#,
    "\n",
    r#"{"abi":1,"name":"javascript_describe","kind":"value","export":"ferry_fn_javascript_describe","env":"{source}","input":"nil","output":"{kind, parameters, retract}","sdk":"ferry-javascript/0.1.0"}"#,
    "\n",
);

#[used]
#[unsafe(link_section = "ferry.functions")]
static SECTION: [u8; RECORDS.len()] = bytes(RECORDS);

const fn bytes<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = text.as_bytes()[i];
        i += 1;
    }
    out
}

/// An export with a value or batch call's type, `$call` its convention
/// (`call_value` or `call_scalar`), `$body` run on the call's environment,
/// decoded, and its input or columns.
macro_rules! export {
    ($export:literal, $name:ident, $call:ident, |$env:ident, $input:pat_param| $body:expr) => {
        #[unsafe(export_name = $export)]
        extern "C" fn $name(env_ptr: *mut u8, env_len: usize, ptr: *mut u8, len: usize) -> i32 {
            // SAFETY: the host calls exports with buffers it allocated.
            unsafe {
                $call(env_ptr, env_len, ptr, len, |env, $input| {
                    let $env = script::Env::decode(env)?;
                    $body
                })
            }
        }
    };
}

// The value function: MessagePack in, the function's result out.
export!(
    "ferry_fn_javascript",
    javascript,
    call_value,
    |env, input| {
        script::with_function(&env, |ctx, function| {
            values::call(ctx, function, env.env.as_ref(), input)
        })
    }
);

// What a source's default export is.
export!(
    "ferry_fn_javascript_describe",
    describe,
    call_value,
    |env, _| script::with_export(&env, |_, export| shape(export))
);

/// A default export's shape, `{kind, parameters, retract}`: a function,
/// or an aggregate's object with the parameters of its `update` after the
/// state.
fn shape(export: rquickjs::Value<'_>) -> Result<Vec<u8>, Failure> {
    let length = |f: &rquickjs::Function<'_>| f.get::<_, i64>("length").unwrap_or(0);
    let (kind, parameters, retract) = match export.as_function() {
        Some(function) => ("function", length(function), false),
        None => {
            let aggregate = aggregate::Aggregate::of(export).map_err(|_| {
                Failure::Error(format!(
                    "the JavaScript source's default export is neither a function \
                     nor an aggregate, {}",
                    aggregate::SHAPE
                ))
            })?;
            let parameters = (aggregate.update_length() - 1).max(0);
            ("aggregate", parameters, aggregate.retracts())
        }
    };
    let shape = rmpv::Value::Map(vec![
        ("kind".into(), kind.into()),
        ("parameters".into(), parameters.into()),
        ("retract".into(), retract.into()),
    ]);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, &shape).map_err(|e| Failure::Error(e.to_string()))?;
    Ok(bytes)
}

// The scalar function: a batch of columns in, one call per row, a column
// out.
export!(
    "ferry_udf_javascript",
    javascript_scalar,
    call_scalar,
    |env, columns| {
        let types = columns::Types::of(&env, columns)?;
        script::with_function(&env, |ctx, function| {
            columns::call(ctx, function, &types, columns)
        })
    }
);

// The aggregate's steps.
export!(
    "ferry_udaf_javascript_update",
    update,
    call_scalar,
    |env, columns| {
        script::with_export(&env, |ctx, export| {
            aggregate::update(ctx, export, &env, columns, false)
        })
    }
);
export!(
    "ferry_udaf_javascript_retract",
    retract,
    call_scalar,
    |env, columns| {
        script::with_export(&env, |ctx, export| {
            aggregate::update(ctx, export, &env, columns, true)
        })
    }
);
export!(
    "ferry_udaf_javascript_merge",
    merge,
    call_scalar,
    |env, columns| {
        script::with_export(&env, |ctx, export| aggregate::merge(ctx, export, columns))
    }
);
export!(
    "ferry_udaf_javascript_finish",
    finish,
    call_scalar,
    |env, columns| {
        script::with_export(&env, |ctx, export| {
            aggregate::finish(ctx, export, &env, columns)
        })
    }
);

unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// QuickJS's C code has static constructors; a reactor runs them once,
/// before any export, when the host calls `_initialize`.
#[unsafe(no_mangle)]
extern "C" fn _initialize() {
    // SAFETY: called once, by the host, before anything else.
    unsafe { __wasm_call_ctors() }
}
