//! ferry-host's integration tests, one binary: each former test file is a
//! module, the helpers they share are in `support`, and the example guests
//! come from `ferry-test-support`, built once for all of them.

mod batch;
mod closures;
mod executor;
mod fuzz;
mod malformed;
mod precompiled;
mod sandbox;
mod support;
mod tiers;
