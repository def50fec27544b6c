//! # ferry functions in SQL
//!
//! Registers ferry functions with [Apache DataFusion]: scalar functions
//! (`#[ferry::udf]`) as vectorized `ScalarUDF`s, aggregates
//! (`#[ferry::udaf]`) as `AggregateUDF`s, and `CREATE FUNCTION ... LANGUAGE
//! wasm` through a `FunctionFactory`.
//!
//! Each batch is one guest call: the argument columns' buffers are copied
//! once into the guest's memory and the result's once out, with no Arrow IPC
//! in between. Signatures come from the module's `ferry.functions` records,
//! so planning never runs guest code (an aggregate's result over no rows,
//! which DataFusion may need while planning, is found when the aggregate is
//! made). Arguments of other types convert as SQL converts them (narrower
//! integers, integers and decimals to floats, string and binary encodings,
//! dictionaries, timestamp units, `NULL`); anything else is refused while
//! planning, naming the function and both signatures. `SHOW FUNCTIONS`
//! lists each function with its types and module. Every function keeps its
//! own pool of warm instances; a guest that traps loses its instance, the
//! query gets an error naming the function, and the session carries on.
//!
//! ```no_run
//! use ferry_host::{Closure, Module, Runtime, RuntimeConfig};
//! use ferry_sql::WasmFunctions;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default())?);
//! let ctx = functions.session();
//!
//! // Every SQL function of a module, under its own name...
//! let module = Module::from_file("target/wasm32-wasip1/release/ferry_example_udfs.wasm")?;
//! functions.register_module(&ctx, &module)?;
//! // ...or one closure under a name of your choosing, with its environment.
//! let to_fahrenheit = Closure::new(&module, "scale")?.with_env(&1.8)?;
//! functions.register(&ctx, "to_fahrenheit", to_fahrenheit)?;
//! // ...or from SQL.
//! ferry_sql::execute(&ctx, "CREATE FUNCTION dist AS 'udfs.wasm#haversine' LANGUAGE wasm").await?;
//!
//! ctx.sql("SELECT gcd(12, 18), to_fahrenheit(20.0)").await?.show().await?;
//! # Ok(())
//! # }
//! ```
//!
//! [Apache DataFusion]: https://datafusion.apache.org

#![deny(missing_docs)]

mod aggregate;
mod arrow;
mod factory;
mod function;
mod pool;
mod scalar;
mod statement;
pub mod stores;

pub use arrow::{column_type, data_type};
pub use factory::WasmFunctionFactory;
pub use scalar::ArrayFunction;
pub use statement::{execute, split_statements};

use function::Function;

use datafusion::common::ScalarValue;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionContext;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionConfig;
use ferry_host::{
    BlobStore, Closure, FromSource, FunctionKind, Module, ReadObject, Runtime, Sandbox,
};
use std::sync::Arc;

/// Why a ferry function could not be made or run in SQL.
#[derive(thiserror::Error)]
pub enum Error {
    /// Loading, checking or calling the function failed in ferry.
    #[error(transparent)]
    Ferry(#[from] ferry_host::Error),

    /// A guest call failed; the query stops with this error and the session
    /// goes on.
    #[error("wasm function `{function}` failed: {source}")]
    Call {
        /// The SQL function's name.
        function: String,
        /// What went wrong in the guest or the runtime.
        source: ferry_host::Error,
    },

    /// A value function (MessagePack in and out) where SQL needs columns.
    #[error(
        "`{function}` is a value function (MessagePack in and out); SQL calls scalar functions \
         (`#[ferry::udf]`) and aggregates (`#[ferry::udaf]`)"
    )]
    ValueFunction {
        /// The function.
        function: String,
    },

    /// A record names a column type this version does not know.
    #[error("`{function}` uses column type `{column_type}`, which this ferry does not know")]
    UnknownType {
        /// The function.
        function: String,
        /// The type's name.
        column_type: String,
    },

    /// A `CREATE FUNCTION` statement was refused.
    #[error("cannot create function `{name}`: {reason}")]
    Create {
        /// The function's SQL name.
        name: String,
        /// Why.
        reason: String,
    },

    /// A direct call on arrays that do not fit the function.
    #[error("`{function}` cannot be called on these arrays: {reason}")]
    Arguments {
        /// The function.
        function: String,
        /// How the arrays and the signature differ.
        reason: String,
    },

    /// DataFusion refused to register the function.
    #[error(transparent)]
    DataFusion(#[from] datafusion::common::DataFusionError),
}

// Engines that run queries elsewhere report a failed task's error with
// `{:?}` (Ballista does): the message says what happened, in one line,
// where derived output would spell out the structs.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Makes SQL functions from ferry closures, all running on one runtime in one
/// sandbox, and resolving `sha256:` names through one store.
#[derive(Clone)]
pub struct WasmFunctions {
    runtime: Runtime,
    sandbox: Sandbox,
    store: Option<BlobStore>,
    budgets: pool::Budgets,
    from_source: FromSource,
    objects: Option<Arc<dyn ReadObject>>,
}

impl WasmFunctions {
    /// Functions on `runtime` in the default sandbox (nothing granted),
    /// resolving hashes through the runtime's store, if it has one.
    pub fn new(runtime: Runtime) -> WasmFunctions {
        let store = runtime.config().store.clone();
        WasmFunctions {
            budgets: pool::Budgets::new(&runtime),
            runtime,
            sandbox: Sandbox::default(),
            store,
            from_source: FromSource::Refuse,
            objects: None,
        }
    }

    /// Whether `CREATE FUNCTION` may name a guest crate and build it. By
    /// default ([`FromSource::Refuse`]) whoever writes the SQL is not
    /// trusted with this machine: nothing is built (building runs the
    /// crate's build scripts), and a path that holds nothing loadable gets
    /// one message whatever the reason, so SQL cannot probe the file system.
    /// A tool whose SQL comes from its own user, as `ferry sql` does, passes
    /// [`FromSource::Build`].
    ///
    /// ```
    /// use ferry_host::{FromSource, Runtime, RuntimeConfig};
    /// use ferry_sql::WasmFunctions;
    ///
    /// let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default())?)
    ///     .from_source(FromSource::Build);
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn from_source(mut self, from_source: FromSource) -> WasmFunctions {
        self.from_source = from_source;
        self
    }

    /// Runs the functions in `sandbox` instead: per-batch time limit,
    /// memory cap, grants.
    pub fn with_sandbox(mut self, sandbox: Sandbox) -> WasmFunctions {
        self.sandbox = sandbox;
        self
    }

    /// Reads the objects closures name as blobs with `reader`, as each
    /// function is made, so that a missing or changed object fails the
    /// `CREATE FUNCTION` (or the plan) rather than a query. Without it,
    /// such functions are made but not run: what a cluster's client and
    /// scheduler do, leaving the reading to the executors.
    ///
    /// ```no_run
    /// use ferry_host::{Runtime, RuntimeConfig};
    /// use ferry_sql::WasmFunctions;
    /// use std::sync::Arc;
    ///
    /// let functions = WasmFunctions::new(Runtime::new(RuntimeConfig::default())?)
    ///     .with_objects(Arc::new(ferry_stores::Stores::new()));
    /// # Ok::<(), ferry_host::Error>(())
    /// ```
    pub fn with_objects(mut self, reader: Arc<dyn ReadObject>) -> WasmFunctions {
        self.objects = Some(reader);
        self
    }

    /// The store `sha256:` names resolve in, if there is one.
    pub fn store(&self) -> Option<&BlobStore> {
        self.store.as_ref()
    }

    /// A scalar UDF named `name` that runs `closure`, a scalar function.
    pub fn udf(&self, name: &str, closure: Closure) -> Result<ScalarUDF, Error> {
        let function = Function::new(name, closure, FunctionKind::Scalar, self)?;
        Ok(ScalarUDF::new_from_impl(scalar::WasmScalar(function)))
    }

    /// `closure`, a scalar function, to call on Arrow arrays directly
    /// (see [`ArrayFunction`]).
    pub fn array_function(&self, closure: Closure) -> Result<ArrayFunction, Error> {
        let name = closure.function().to_owned();
        let function = Function::new(&name, closure, FunctionKind::Scalar, self)?;
        Ok(ArrayFunction(function))
    }

    /// An aggregate UDF named `name` that runs `closure`, an aggregate
    /// function. This runs the function once, on no rows, for the result
    /// DataFusion gives groups and window frames without any (found once:
    /// with the clock or randomness granted, it does not change after).
    pub fn udaf(&self, name: &str, closure: Closure) -> Result<AggregateUDF, Error> {
        let function = Function::new(name, closure, FunctionKind::Aggregate, self)?;
        Ok(AggregateUDF::new_from_impl(aggregate::WasmAggregate::new(
            function,
        )?))
    }

    /// [`udaf`](Self::udaf) with its result over no rows already known
    /// (as [`aggregate_closure`] tells it), so that nothing runs in the
    /// sandbox: how a process that receives the function in a plan makes it.
    pub fn udaf_with_empty(
        &self,
        name: &str,
        closure: Closure,
        empty: ScalarValue,
    ) -> Result<AggregateUDF, Error> {
        let function = Function::new(name, closure, FunctionKind::Aggregate, self)?;
        Ok(AggregateUDF::new_from_impl(
            aggregate::WasmAggregate::with_empty(function, empty)?,
        ))
    }

    /// Registers `closure` in `ctx` as `name`, as a scalar or aggregate
    /// function according to its kind.
    pub fn register(
        &self,
        ctx: &SessionContext,
        name: &str,
        closure: Closure,
    ) -> Result<(), Error> {
        match closure.record().kind {
            FunctionKind::Aggregate => ctx.register_udaf(self.udaf(name, closure)?),
            _ => ctx.register_udf(self.udf(name, closure)?),
        }
        Ok(())
    }

    /// Registers every scalar and aggregate function of `module` under its
    /// own name, and returns the names. A dynamic function is left out: its
    /// types are each closure's, and the module alone has none.
    pub fn register_module(
        &self,
        ctx: &SessionContext,
        module: &Module,
    ) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        for record in module.functions() {
            if matches!(record.kind, FunctionKind::Scalar | FunctionKind::Aggregate)
                && !record.dynamic
            {
                self.register(ctx, &record.name, Closure::new(module, &record.name)?)?;
                names.push(record.name.clone());
            }
        }
        Ok(names)
    }

    /// A session whose `CREATE FUNCTION ... LANGUAGE wasm` makes functions
    /// with these settings.
    pub fn session(&self) -> SessionContext {
        self.session_with(SessionConfig::new())
    }

    /// [`session`](Self::session) with a DataFusion configuration. Its
    /// tables may be in object stores (`CREATE EXTERNAL TABLE ... LOCATION
    /// 's3://bucket/prefix/'`): a store is opened when first named, with
    /// this process's `AWS_*` credentials ([`stores::StoreRegistry`]).
    pub fn session_with(&self, config: SessionConfig) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(stores::StoreRegistry::default()))
            .build_arc()
            .expect("a runtime with DataFusion's default limits builds");
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_function_factory(Some(Arc::new(WasmFunctionFactory::new(self.clone()))))
            .with_physical_optimizer_rule(Arc::new(aggregate::WindowRule))
            .build();
        SessionContext::new_with_state(state)
    }
}

/// The closure a ferry scalar function runs; `None` for any other UDF.
pub fn scalar_closure(udf: &ScalarUDF) -> Option<&Closure> {
    let scalar: &scalar::WasmScalar = udf.inner().downcast_ref()?;
    Some(&scalar.0.closure)
}

/// The closure a ferry aggregate runs, and its result over no rows; `None`
/// for any other UDAF.
pub fn aggregate_closure(udaf: &AggregateUDF) -> Option<(&Closure, &ScalarValue)> {
    let aggregate: &aggregate::WasmAggregate = udaf.inner().downcast_ref()?;
    Some(aggregate.parts())
}

impl std::fmt::Debug for WasmFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmFunctions")
            .field("sandbox", &self.sandbox)
            .field("store", &self.store.as_ref().map(BlobStore::root))
            .finish()
    }
}
