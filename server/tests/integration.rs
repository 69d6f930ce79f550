//! The integration tests: the real server on port 0 per test, a fresh SQLite file or PostgreSQL
//! schema each, the AWS emulator and terraform where a test needs them. One binary for all of them
//! (see Cargo.toml); `cargo test --test integration runs::` runs one file's tests.

#[macro_use]
mod common;

mod api;
mod audit;
mod cli;
mod client;
mod costs;
mod crash;
mod dashboard;
mod fuzzing;
mod live;
mod notifications;
mod openapi;
mod packaging;
mod promotion_and_drift;
mod pages;
mod roles;
mod runs;
mod secret_pages;
mod secret_safety;
mod secrets;
mod sessions;
mod state;
mod storage;
mod terraform;
mod users;
mod worker;
mod working_copies;
