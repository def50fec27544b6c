//! ferry's JavaScript engine: QuickJS, through `rquickjs`, as a guest
//! module. A closure of it carries a JavaScript function as source in its
//! environment, so one module, compiled once per process, runs every
//! JavaScript function:
//!
//! - `javascript`, a value function: the environment is `{source}`, the
//!   input the function's argument (or the array of its arguments, when it
//!   declares other than one parameter), the result its return value;
//! - `javascript_scalar`, a scalar function whose column types are each
//!   closure's (a dynamic record, `docs/abi.md` §2): the environment is
//!   `{source, args, returns}`, and the function is called once per row.
//!
//! The source is an ES module whose default export is the function:
//! `export default (a, b) => a + b`. See `sdks/javascript/README.md` for
//! how values become JavaScript values and back.

#![cfg(target_family = "wasm")]

mod columns;
mod script;
mod values;

use ferry::__private::{call_scalar, call_value};

/// The two functions' records, for the `ferry.functions` section.
const RECORDS: &str = concat!(
    r#"{"abi":1,"name":"javascript","kind":"value","export":"ferry_fn_javascript","env":"{source}","input":"the function's argument, or the array of its arguments","output":"its result","sdk":"ferry-javascript/0.1.0"}"#,
    "\n",
    r#"{"abi":1,"name":"javascript_scalar","kind":"scalar","export":"ferry_udf_javascript","env":"{source, args, returns}","input":"args","output":"returns","sdk":"ferry-javascript/0.1.0","dynamic":true}"#,
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

/// The value function: MessagePack in, the function's result out.
#[unsafe(export_name = "ferry_fn_javascript")]
extern "C" fn javascript(
    env_ptr: *mut u8,
    env_len: usize,
    input_ptr: *mut u8,
    input_len: usize,
) -> i32 {
    // SAFETY: the host calls exports with buffers it allocated.
    unsafe {
        call_value(env_ptr, env_len, input_ptr, input_len, |env, input| {
            let env = script::Env::decode(env)?;
            script::with_function(&env, |ctx, function| values::call(ctx, function, input))
        })
    }
}

/// The scalar function: a batch of columns in, one call per row, a column
/// out.
#[unsafe(export_name = "ferry_udf_javascript")]
extern "C" fn javascript_scalar(
    env_ptr: *mut u8,
    env_len: usize,
    columns_ptr: *mut u8,
    column_count: usize,
) -> i32 {
    // SAFETY: the host calls exports with buffers it allocated.
    unsafe {
        call_scalar(
            env_ptr,
            env_len,
            columns_ptr,
            column_count,
            |env, columns| {
                let env = script::Env::decode(env)?;
                let types = columns::Types::of(&env, columns)?;
                script::with_function(&env, |ctx, function| {
                    columns::call(ctx, function, &types, columns)
                })
            },
        )
    }
}

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
