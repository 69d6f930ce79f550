//! An environment's Terraform input variables as the environment page lists them: each name and
//! where its value comes from. Plain values are shown; sensitive ones never leave the server.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VariableSource {
    /// `environments.<name>.terraform.variables` in the configuration.
    Configuration,
    /// The environment's variables secret in Secrets Manager.
    Secret,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Variable {
    pub name: String,
    pub source: VariableSource,
    /// The value as JSON text; `None` when sensitive.
    pub value: Option<String>,
    pub sensitive: bool,
    /// Set in both places: the secret's value is the one terraform gets.
    pub overridden: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Variables {
    pub environment: String,
    /// The secret holding the sensitive variables.
    pub secret: String,
    /// The secret's current version, when it exists and was read.
    pub secret_version: Option<String>,
    /// It may be missing (the default name): the runs then have no sensitive variables.
    pub secret_required: bool,
    /// Why the secret could not be read, or that it does not exist.
    pub secret_note: Option<String>,
    pub variables: Vec<Variable>,
}
