//! The `ferry` command's integration tests, in one binary: each former test
//! file is a module.

mod actors;
mod cli;
mod cluster;
mod javascript;
mod languages;
mod security;
mod services;
mod stores;
mod support;
mod typed;
mod worker;
