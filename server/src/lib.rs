//! The Zelly control plane server: configuration, storage, authentication, the HTTP API and the
//! server side of the UI. `main.rs` only parses the command line and calls `cli::run`.

pub mod app_state;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod costs;
pub mod csv;
pub mod db;
pub mod encryption;
pub mod environments;
pub mod http;
pub mod live;
pub mod notifications;
pub mod runs;
pub mod secrets;
pub mod site;
pub mod state;
pub mod telemetry;
pub mod users;

pub use config::Config;
pub use app_state::AppState;
pub use http::launch_with_listener;
