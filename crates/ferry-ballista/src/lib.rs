//! # ferry functions across a Ballista cluster
//!
//! [Apache DataFusion Ballista] runs DataFusion's plans on a cluster: a
//! scheduler splits them into stages and tasks, executors run the tasks.
//! An executor can only run the functions compiled into it; with ferry's
//! codec, it runs any ferry function a client uses, fetched at run time:
//!
//! - A function travels in the plan as its closure **by reference** (module
//!   hash, function, environment, blob hashes; see `docs/cluster.md`), a
//!   few hundred bytes however large the module and however many tasks.
//! - The client uploads the code the scheduler lacks before the plan leaves;
//!   the scheduler serves the worker protocol's blob endpoints beside
//!   Ballista's gRPC, on one port; an executor fetches what its store lacks,
//!   checks it against its hash, keeps it, and compiles each module once.
//! - Each process runs guests in its own sandbox, with its own limits:
//!   nothing in a plan can widen them.
//!
//! [`Scheduler`], [`run_executor`] and [`connect`] are the three roles;
//! `ferry scheduler`, `ferry executor` and `ferry sql --cluster` run them
//! from the command line. [`FerryCodec`] is the codec alone, for a cluster
//! set up otherwise.
//!
//! [Apache DataFusion Ballista]: https://datafusion.apache.org/ballista/

#![deny(missing_docs)]

mod client;
mod codec;
mod definition;
mod error;
mod executor;
mod native;
mod peer;
mod scheduler;
mod stores;
mod tls;

pub use client::{Credentials, connect};
pub use codec::FerryCodec;
pub use error::Error;
pub use executor::{ExecutorConfig, run_executor};
pub use native::NativeFunctions;
pub use scheduler::{Scheduler, SchedulerConfig};
pub use tls::ClusterTls;
