pub mod environments;
pub mod not_found;
