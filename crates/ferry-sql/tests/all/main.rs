//! ferry functions in real DataFusion queries, compared with native SQL or
//! the same Rust functions run natively, over random data with nulls,
//! empty batches and several partitions. One test binary, a module per
//! subject.

mod aggregate;
mod arguments;
mod create_function;
mod distinct;
mod failure;
mod parquet;
mod scalar;
mod support;
mod window;
