//! Functions compiled into every process of a cluster, sent by name as
//! Ballista sends its own.

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::execution::registry::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionConfig;
use std::sync::Arc;

/// Native functions every process of the cluster is built with: the
/// scheduler plans with them and the executors run them, looked up by
/// name. ferry functions need none of this; it is for functions that ship
/// inside the binaries (and for comparing ferry's against them).
///
/// ```
/// use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
/// use datafusion::arrow::datatypes::DataType;
/// use ferry_ballista::NativeFunctions;
/// use std::sync::Arc;
///
/// let double = create_udf("double", vec![DataType::Int64], DataType::Int64, Volatility::Immutable,
///     Arc::new(|args: &[ColumnarValue]| Ok(args[0].clone())));
/// let native = NativeFunctions { scalars: vec![Arc::new(double)], ..Default::default() };
/// ```
#[derive(Clone, Debug, Default)]
pub struct NativeFunctions {
    /// Scalar functions.
    pub scalars: Vec<Arc<ScalarUDF>>,
    /// Aggregate functions.
    pub aggregates: Vec<Arc<AggregateUDF>>,
}

impl NativeFunctions {
    /// Ballista's default session state, with these functions too.
    pub(crate) fn session_state(&self, config: SessionConfig) -> Result<SessionState> {
        let mut state = default_session_builder(config)?;
        for udf in &self.scalars {
            state.register_udf(udf.clone())?;
        }
        for udaf in &self.aggregates {
            state.register_udaf(udaf.clone())?;
        }
        Ok(state)
    }

    /// The functions an executor finds by name: DataFusion's, array
    /// functions included, and these.
    pub(crate) fn registry(&self) -> Result<BallistaFunctionRegistry> {
        Ok((&self.session_state(SessionConfig::new())?).into())
    }
}
