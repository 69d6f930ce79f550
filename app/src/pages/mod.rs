pub mod audit;
pub mod costs;
pub mod environments;
pub mod not_found;
pub mod run;
pub mod runs;
pub mod secret;
pub mod secrets;
