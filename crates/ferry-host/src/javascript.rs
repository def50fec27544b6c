//! JavaScript functions as closures: the JavaScript engine's module
//! (QuickJS, `sdks/javascript/engine`) with the function's source in the
//! environment. Every JavaScript closure has the same module, so a process
//! compiles the engine once, and a closure that travels by reference
//! sends only its source.

use crate::batch::ColumnType;
use crate::{Closure, Error, Module};
use serde::Serialize;
use std::sync::OnceLock;

/// The engine's value function: the input in, the function's result out.
pub const VALUE_FUNCTION: &str = "javascript";

/// The engine's scalar function, typed by each closure.
pub const SCALAR_FUNCTION: &str = "javascript_scalar";

/// The JavaScript engine's module, built (or found through
/// `FERRY_JAVASCRIPT_ENGINE`) the first time a process asks
/// ([`ferry_build::javascript_engine`]).
///
/// ```no_run
/// let engine = ferry_host::javascript::engine()?;
/// println!("the JavaScript engine is module {}", engine.id());
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn engine() -> Result<Module, Error> {
    static ENGINE: OnceLock<Module> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let path = ferry_build::javascript_engine().map_err(|e| Error::Build {
        path: e.path,
        reason: e.reason,
    })?;
    let module = Module::from_file(&path)?;
    Ok(ENGINE.get_or_init(|| module).clone())
}

#[derive(Serialize)]
struct Env<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    returns: Option<&'static str>,
}

/// A value function written in JavaScript: `source` is an ES module whose
/// default export is the function. Its input is the function's argument,
/// or the array of its arguments when it declares other than one
/// parameter.
///
/// ```no_run
/// use ferry_host::{Runtime, RuntimeConfig, Sandbox, Value};
///
/// let engine = ferry_host::javascript::engine()?;
/// let double = ferry_host::javascript::function(&engine, "export default (x) => x * 2")?;
/// let runtime = Runtime::new(RuntimeConfig::default())?;
/// let out = runtime.call(&double, &Value::encode(&21)?, &Sandbox::default())?;
/// assert_eq!(out.value.decode::<i64>()?, 42);
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn function(engine: &Module, source: &str) -> Result<Closure, Error> {
    Closure::new(engine, VALUE_FUNCTION)?.with_env(&Env {
        source,
        args: None,
        returns: None,
    })
}

/// A scalar (SQL) function written in JavaScript, called once per row
/// with the row's values: `source` is an ES module whose default export is
/// the function, `args` and `returns` its column types.
///
/// ```no_run
/// use ferry_host::batch::ColumnType;
///
/// let engine = ferry_host::javascript::engine()?;
/// let source = "export default (a, b) => { while (b) [a, b] = [b, a % b]; return Math.abs(a); }";
/// let gcd = ferry_host::javascript::scalar(&engine, source, &[ColumnType::Int64; 2], ColumnType::Int64)?;
/// assert_eq!(gcd.record().args, ["int64", "int64"]);
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn scalar(
    engine: &Module,
    source: &str,
    args: &[ColumnType],
    returns: ColumnType,
) -> Result<Closure, Error> {
    Closure::new(engine, SCALAR_FUNCTION)?.with_env(&Env {
        source,
        args: Some(args.iter().map(|t| t.name()).collect()),
        returns: Some(returns.name()),
    })
}
