//! The guest kept in this crate: its typed handles on the executors, and
//! its module built again elsewhere.

mod closures;
mod handles;
mod reproducible;
mod sql;
