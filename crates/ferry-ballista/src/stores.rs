//! Tables in object stores on a cluster: the scheduler lists them as it
//! plans and the executors read them, each opening the store a plan names
//! with its own `AWS_*` credentials (`ferry_sql::stores::StoreRegistry`).

use ballista_core::RuntimeProducer;
use datafusion::common::Result;
use datafusion::execution::SessionState;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use ferry_sql::stores::StoreRegistry;
use std::path::PathBuf;
use std::sync::Arc;

/// `state` reading stores through `registry`.
pub(crate) fn with_stores(
    state: SessionState,
    registry: &Arc<StoreRegistry>,
) -> Result<SessionState> {
    let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
        .with_object_store_registry(registry.clone() as Arc<dyn ObjectStoreRegistry>)
        .build_arc()?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .build())
}

/// The runtime of an executor's tasks: temporary files in `work_dir`, as
/// Ballista's own, and stores opened as plans name them, shared by all
/// tasks.
pub(crate) fn runtime_producer(work_dir: PathBuf) -> RuntimeProducer {
    let registry: Arc<dyn ObjectStoreRegistry> = Arc::new(StoreRegistry::default());
    Arc::new(move |_| {
        RuntimeEnvBuilder::new()
            .with_temp_file_path(work_dir.clone())
            .with_object_store_registry(registry.clone())
            .build_arc()
    })
}
