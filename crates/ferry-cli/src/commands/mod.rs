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
