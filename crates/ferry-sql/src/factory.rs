//! `CREATE FUNCTION name AS '<module or closure>' LANGUAGE wasm`.

use crate::function::{all_convert, converts, list, sql_types};
use crate::{Error, WasmFunctions};
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::context::{FunctionFactory, RegisterFunction, SessionState};
use datafusion::logical_expr::{CreateFunction, Expr};
use ferry_host::{Closure, FromSource, FunctionKind, ModuleRef, ModuleRefError, Resolved};
use std::sync::Arc;

/// Makes ferry functions from `CREATE FUNCTION` statements. Install it with
/// [`WasmFunctions::session`] or `SessionStateBuilder::with_function_factory`.
///
/// The body names a module or a closure, as a [`ModuleRef`]:
/// - `AS 'path/to/module.wasm'`: the module's function of the same name as
///   the SQL function; `AS 'module.wasm#other'` picks another one. The
///   module is added to the store.
/// - `AS 'path/to/guest-crate'`: the crate is built to a module first
///   (with cargo, as `ferry build` does).
/// - `AS 'path/to/function.closure'`: a closure made by `ferry pickle`,
///   with its environment and data blobs.
/// - `AS 'sha256:<hash>'`: a module or closure already in the store.
///
/// Argument and return types may be declared; they must then be the ones
/// the module records, or the statement is refused.
#[derive(Debug)]
pub struct WasmFunctionFactory {
    functions: WasmFunctions,
}

impl WasmFunctionFactory {
    /// A factory making functions with `functions`' runtime and sandbox.
    pub fn new(functions: WasmFunctions) -> WasmFunctionFactory {
        WasmFunctionFactory { functions }
    }

    /// The closure `source` names: a module reference, the function after
    /// a `#` or else the one called `name`.
    fn closure(&self, name: &str, source: &str) -> Result<Closure, Error> {
        let (reference, function) = match source.rsplit_once('#') {
            Some((reference, function)) => (reference, function),
            None => (source, name),
        };
        let from_source = self.functions.from_source;
        let by_path = !reference.starts_with("sha256:");
        let refused = |e: ModuleRefError| match e {
            // Whether a path exists, is a directory or a crate, or is
            // readable is not the SQL user's to learn.
            _ if by_path && from_source == FromSource::Refuse => Error::Create {
                name: name.to_owned(),
                reason: format!(
                    "'{reference}' is not a .wasm or closure file this session may load; \
                     name a module or closure file, or sha256:<hash> from the store"
                ),
            },
            ModuleRefError::Load(e) => Error::Ferry(e),
            e => Error::Create {
                name: name.to_owned(),
                reason: e.to_string(),
            },
        };
        let store = self.functions.store.as_ref();
        let parsed: ModuleRef = reference.parse().map_err(refused)?;
        match parsed.resolve(store, from_source).map_err(refused)? {
            Resolved::Module(module) => {
                if let Some(store) = store {
                    store.put(module.bytes())?;
                }
                Ok(Closure::new(&module, function)?)
            }
            Resolved::Closure(closure) => Ok(closure),
        }
    }
}

#[async_trait]
impl FunctionFactory for WasmFunctionFactory {
    async fn create(
        &self,
        _state: &SessionState,
        statement: CreateFunction,
    ) -> Result<RegisterFunction> {
        let name = statement.name.clone();
        let create_error = |reason: String| {
            DataFusionError::External(Box::new(Error::Create {
                name: name.clone(),
                reason,
            }))
        };
        match &statement.params.language {
            Some(language) if language.value.eq_ignore_ascii_case("wasm") => {}
            other => {
                return Err(create_error(format!(
                    "ferry makes functions in LANGUAGE wasm, not {}",
                    other
                        .as_ref()
                        .map_or("no language".into(), |l| l.value.clone())
                )));
            }
        }
        let source = match &statement.params.function_body {
            Some(Expr::Literal(ScalarValue::Utf8(Some(source)), _)) => source.clone(),
            _ => {
                return Err(create_error(
                    "say where the function is: AS 'module.wasm', AS 'function.closure' or AS 'sha256:<hash>'".into(),
                ));
            }
        };
        let external = |e: Error| DataFusionError::External(Box::new(e));
        let closure = self.closure(&name, &source).map_err(external)?;
        check_declared(&statement, &closure).map_err(create_error)?;
        // Compile now, so a module that cannot run fails here rather than
        // in the first query.
        self.functions
            .runtime
            .prepare(closure.module())
            .map_err(|e| external(e.into()))?;
        let kind = closure.record().kind;
        tracing::info!(function = %name, module = %closure.module().id(), "created wasm function");
        match kind {
            FunctionKind::Aggregate => Ok(RegisterFunction::Aggregate(Arc::new(
                self.functions.udaf(&name, closure).map_err(external)?,
            ))),
            _ => Ok(RegisterFunction::Scalar(Arc::new(
                self.functions.udf(&name, closure).map_err(external)?,
            ))),
        }
    }
}

/// Declared argument and return types must be the module's.
fn check_declared(statement: &CreateFunction, closure: &Closure) -> Result<(), String> {
    let record = closure
        .function_record(closure.record().kind)
        .map_err(|e| e.to_string())?;
    let (args, returns) = sql_types(record).map_err(|e| e.to_string())?;
    if let Some(declared) = &statement.args {
        // A declared type is right if the call would convert it: SQL's
        // VARCHAR is a string view, TIMESTAMP is in nanoseconds.
        let declared: Vec<DataType> = declared.iter().map(|a| a.data_type.clone()).collect();
        if !all_convert(&declared, &args, converts) {
            return Err(format!(
                "declared as taking ({}), but `{}` takes ({})",
                list(&declared),
                record.name,
                list(&args)
            ));
        }
    }
    if let Some(declared) = &statement.return_type
        && !converts(&returns, declared)
    {
        return Err(format!(
            "declared as returning {declared}, but `{}` returns {returns}",
            record.name
        ));
    }
    Ok(())
}
