//! What a plan will do, as `terraform show -json` says it: resources created, changed, replaced
//! or destroyed, and the attributes that change (sensitive ones masked).

use serde::{Deserialize, Serialize};

/// What a plan will do, from `terraform show -json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PlanSummary {
    pub add: i64,
    pub change: i64,
    pub destroy: i64,
    pub resources: Vec<ResourceChange>,
}

impl PlanSummary {
    pub fn has_deletes(&self) -> bool {
        self.destroy > 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Create,
    Update,
    /// Delete and create again (either order).
    Replace,
    Delete,
}

impl ChangeAction {
    pub fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update in place",
            Self::Replace => "replace",
            Self::Delete => "destroy",
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update => "~",
            Self::Replace => "-/+",
            Self::Delete => "-",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ResourceChange {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub action: ChangeAction,
    /// Attributes whose value changes; sensitive ones never carry their values.
    pub attributes: Vec<AttributeChange>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AttributeChange {
    pub path: String,
    /// JSON text of the old value; `None` when absent or sensitive.
    pub before: Option<String>,
    /// JSON text of the new value; `None` when absent, sensitive or unknown until apply.
    pub after: Option<String>,
    pub sensitive: bool,
    pub known_after_apply: bool,
}
