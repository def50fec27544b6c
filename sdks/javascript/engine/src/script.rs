//! The closure's source, loaded: a QuickJS runtime and context holding the
//! module's default export (a function, or an aggregate's object). An instance keeps the last one it loaded, so
//! the calls of a query (one per batch, on a pooled instance) compile the
//! source once.

use ferry::__private::Failure;
use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Module, Persistent, Runtime, Value,
};
use serde::Deserialize;
use std::cell::RefCell;

/// A JavaScript closure's environment.
#[derive(Deserialize)]
pub struct Env {
    /// An ES module whose default export is the function.
    pub source: String,
    /// For scalar functions: the argument column types, by name.
    #[serde(default)]
    pub args: Vec<String>,
    /// For scalar functions: the result column type, by name.
    #[serde(default)]
    pub returns: Option<String>,
    /// For value functions: what the closure captured, its first argument
    /// (a nil captured is `Some`, not nothing).
    #[serde(default, deserialize_with = "present")]
    pub env: Option<rmpv::Value>,
}

/// A field that is there, even as nil.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<rmpv::Value>, D::Error> {
    rmpv::Value::deserialize(d).map(Some)
}

impl Env {
    /// Decodes the environment the host passed.
    pub fn decode(bytes: &[u8]) -> Result<Env, Failure> {
        rmp_serde::from_slice(bytes).map_err(|e| {
            Failure::BadArgument(format!(
                "a JavaScript closure's environment is a map with the function's `source`: {e}"
            ))
        })
    }
}

/// A loaded source. Fields drop in order: the function before the context
/// and the context before the runtime that owns them.
struct Loaded {
    source: String,
    export: Persistent<Value<'static>>,
    context: Context,
    _runtime: Runtime,
}

thread_local! {
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
}

/// Runs `run` with the default export of `env`'s source, loading the
/// source unless it is the one this instance loaded last.
pub fn with_export<T>(
    env: &Env,
    run: impl for<'js> FnOnce(&Ctx<'js>, Value<'js>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    LOADED.with_borrow_mut(|loaded| {
        if loaded.as_ref().is_none_or(|l| l.source != env.source) {
            *loaded = None;
            *loaded = Some(load(&env.source)?);
        }
        let loaded = loaded.as_ref().expect("loaded above");
        loaded.context.with(|ctx| {
            let export = loaded
                .export
                .clone()
                .restore(&ctx)
                .map_err(|e| Failure::Error(e.to_string()))?;
            run(&ctx, export)
        })
    })
}

/// Runs `run` with the function `env`'s source exports.
pub fn with_function<T>(
    env: &Env,
    run: impl for<'js> FnOnce(&Ctx<'js>, &Function<'js>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    with_export(env, |ctx, export| match export.into_function() {
        Some(function) => run(ctx, &function),
        None => Err(Failure::Error(
            "the JavaScript source's default export is not a function: \
             write `export default (x) => ...`"
                .into(),
        )),
    })
}

fn load(source: &str) -> Result<Loaded, Failure> {
    let engine = |e| Failure::Error(engine_failed(e));
    let runtime = Runtime::new().map_err(engine)?;
    let context = Context::full(&runtime).map_err(engine)?;
    let export = context.with(|ctx| {
        let failed = |e: CaughtError<'_>| {
            Failure::Error(format!(
                "the JavaScript source does not load: {}",
                describe(e)
            ))
        };
        let (module, promise) = Module::declare(ctx.clone(), "function.js", source)
            .and_then(|module| module.eval())
            .catch(&ctx)
            .map_err(failed)?;
        promise.finish::<()>().catch(&ctx).map_err(failed)?;
        let export: Value = module.get("default").catch(&ctx).map_err(failed)?;
        Ok(Persistent::save(&ctx, export))
    })?;
    Ok(Loaded {
        source: source.to_owned(),
        export,
        context,
        _runtime: runtime,
    })
}

/// What the engine said when it failed (out of memory, mostly), as one
/// line.
pub fn engine_failed(error: rquickjs::Error) -> String {
    format!("the JavaScript engine failed: {error}")
}

/// A thrown value as one line: `TypeError: x is not a function`.
pub fn describe(error: CaughtError<'_>) -> String {
    match error {
        CaughtError::Exception(exception) => {
            let name: Option<String> = exception.get("name").ok();
            let message = exception.message().unwrap_or_default();
            match name {
                Some(name) if !name.is_empty() => format!("{name}: {message}"),
                _ => message,
            }
        }
        CaughtError::Value(value) => match value.as_string().and_then(|s| s.to_string().ok()) {
            Some(text) => format!("threw {text:?}"),
            None => format!("threw a value of type {}", value.type_name()),
        },
        CaughtError::Error(error) => error.to_string(),
    }
}
