//! JavaScript functions as closures: the JavaScript engine's module
//! (QuickJS, `sdks/javascript/engine`) with the function's source in the
//! environment. Every JavaScript closure has the same module, so a process
//! compiles the engine once, and a closure that travels by reference
//! sends only its source.

use crate::batch::ColumnType;
use crate::{Closure, Error, FunctionKind, Module, Runtime, Sandbox, Value};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The engine's value function: the input in, the function's result out.
pub const VALUE_FUNCTION: &str = "javascript";

/// The engine's scalar function, typed by each closure.
pub const SCALAR_FUNCTION: &str = "javascript_scalar";

/// The engine's aggregate function, typed by each closure.
pub const AGGREGATE_FUNCTION: &str = "javascript_aggregate";

/// The engine's value function that describes a source's default export.
const DESCRIBE_FUNCTION: &str = "javascript_describe";

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
    let built = crate::guest::read(ferry_build::javascript_engine())?;
    Ok(ENGINE.get_or_init(|| built.module).clone())
}

#[derive(Serialize)]
struct Env<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    args: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    returns: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    retract: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<rmpv::Value>,
}

impl<'a> Env<'a> {
    fn source(source: &'a str) -> Env<'a> {
        Env {
            source,
            args: None,
            returns: None,
            retract: false,
            env: None,
        }
    }

    fn typed(source: &'a str, args: &[ColumnType], returns: ColumnType) -> Env<'a> {
        Env {
            args: Some(args.iter().map(|t| t.name()).collect()),
            returns: Some(returns.name()),
            ..Env::source(source)
        }
    }
}

/// What kind of thing a source's default export is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportKind {
    /// A function.
    Function,
    /// An aggregate's object, with `update`, `merge` and `finish` methods.
    Aggregate,
}

/// What a source's default export is.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Shape {
    /// A function or an aggregate's object.
    pub kind: ExportKind,
    /// How many parameters the function declares (an aggregate's `update`,
    /// after the state).
    pub parameters: u32,
    /// Whether an aggregate's object has `retract`.
    pub retract: bool,
}

impl Shape {
    /// Whether the export is an aggregate's object.
    pub fn is_aggregate(&self) -> bool {
        self.kind == ExportKind::Aggregate
    }
}

/// Loads `source` in the engine, once, in a fresh sandbox, and says what
/// its default export is; a source that does not load, or whose default
/// export is neither a function nor an aggregate's object, is an error
/// here rather than wherever the closure would have run.
///
/// ```no_run
/// use ferry_host::javascript::ExportKind;
/// use ferry_host::{Runtime, RuntimeConfig};
///
/// let engine = ferry_host::javascript::engine()?;
/// let runtime = Runtime::new(RuntimeConfig::default())?;
/// let shape = ferry_host::javascript::describe(&runtime, &engine, "export default (a, b) => a + b")?;
/// assert_eq!((shape.kind, shape.parameters), (ExportKind::Function, 2));
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn describe(runtime: &Runtime, engine: &Module, source: &str) -> Result<Shape, Error> {
    let closure = Closure::new(engine, DESCRIBE_FUNCTION)?.with_env(&Env::source(source))?;
    runtime
        .call(&closure, &Value::nil(), &Sandbox::default())?
        .value
        .decode()
}

/// A value function written in JavaScript: `source` is an ES module whose
/// default export is the function. What it captures, `captured`, is its
/// first argument; its input is the next, or the array of the others when
/// it declares other than one parameter for them.
///
/// ```no_run
/// use ferry_host::{Runtime, RuntimeConfig, Sandbox, Value};
///
/// let engine = ferry_host::javascript::engine()?;
/// let factor = Value::encode(&3)?;
/// let scale = ferry_host::javascript::function(&engine, "export default (k, x) => k * x", Some(&factor))?;
/// let runtime = Runtime::new(RuntimeConfig::default())?;
/// let out = runtime.call(&scale, &Value::encode(&14)?, &Sandbox::default())?;
/// assert_eq!(out.value.decode::<i64>()?, 42);
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn function(engine: &Module, source: &str, captured: Option<&Value>) -> Result<Closure, Error> {
    Closure::new(engine, VALUE_FUNCTION)?.with_env(&Env {
        env: captured.map(Value::decode).transpose()?,
        ..Env::source(source)
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
    checked(
        Closure::new(engine, SCALAR_FUNCTION)?.with_env(&Env::typed(source, args, returns))?,
        FunctionKind::Scalar,
    )
}

/// An aggregate function written in JavaScript: `source` is an ES module
/// whose default export is an object with `update(state, ...args)`,
/// `merge(a, b)` and `finish(state)` methods, and perhaps `init()` and
/// `retract(state, ...args)`; `retract` says whether it has the last, so
/// that sliding windows take rows back out instead of folding each frame
/// afresh ([`describe`] finds out).
///
/// ```no_run
/// use ferry_host::batch::ColumnType;
///
/// let engine = ferry_host::javascript::engine()?;
/// let source = "export default {
///   init: () => ({ sum: 0, count: 0 }),
///   update(s, x) { s.sum += x; s.count += 1; return s; },
///   merge(a, b) { a.sum += b.sum; a.count += b.count; return a; },
///   finish: (s) => (s.count ? s.sum / s.count : null),
/// }";
/// let mean = ferry_host::javascript::aggregate(&engine, source, &[ColumnType::Float64], ColumnType::Float64, false)?;
/// assert!(!mean.record().retract);
/// # Ok::<(), ferry_host::Error>(())
/// ```
pub fn aggregate(
    engine: &Module,
    source: &str,
    args: &[ColumnType],
    returns: ColumnType,
    retract: bool,
) -> Result<Closure, Error> {
    let closure = Closure::new(engine, AGGREGATE_FUNCTION)?.with_env(&Env {
        retract,
        ..Env::typed(source, args, returns)
    })?;
    checked(closure, FunctionKind::Aggregate)
}

/// `closure`, if the host can call it (its types are column types, an
/// aggregate has an argument) and the engine takes its types: not dates
/// and timestamps yet.
fn checked(closure: Closure, kind: FunctionKind) -> Result<Closure, Error> {
    let record = closure.function_record(kind)?;
    let unsupported = record
        .args
        .iter()
        .chain(&record.returns)
        .find(|name| ["date32", "timestamp_us"].contains(&name.as_str()));
    if let Some(name) = unsupported {
        return Err(Error::Signature {
            function: record.name.clone(),
            reason: format!("JavaScript functions do not take or return {name} yet"),
        });
    }
    Ok(closure)
}
