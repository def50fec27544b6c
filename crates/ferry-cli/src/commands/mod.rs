//! One module per subcommand, each with its arguments and a `run` that does
//! what they ask.

pub mod actor;
pub mod build;
pub mod call;
pub mod endpoint;
pub mod executor;
pub mod inspect;
pub mod map;
pub mod pickle;
pub mod run;
pub mod scheduler;
pub mod sign;
pub mod sql;
pub mod worker;

/// The runtime of a command that runs in this process and then exits: it
/// compiles optimized code before the first call, since the process would
/// end before a background compile did, and every later run then loads
/// that code from the store instead of compiling again.
pub fn one_shot_runtime(
    store: &ferry_host::BlobStore,
) -> Result<ferry_host::Runtime, ferry_host::Error> {
    ferry_host::Runtime::new(ferry_host::RuntimeConfig {
        baseline_first: false,
        ..ferry_host::RuntimeConfig::with_store(store.clone())
    })
}
