//! Live state of an environment's ECS services, as read from AWS.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    /// Running, but fewer tasks than wanted, or a deployment in progress.
    Degraded,
    /// Wants tasks and runs none, or a failed rollout.
    Down,
    /// Not found in AWS, or AWS could not be asked.
    Unknown,
}

impl Health {
    pub fn label(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Degraded => "Degraded",
            Self::Down => "Down",
            Self::Unknown => "Unknown",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceStatus {
    pub name: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// Rollout state of the primary deployment: `COMPLETED`, `IN_PROGRESS` or `FAILED`.
    pub rollout: String,
    /// `family:revision` of the primary deployment's task definition.
    pub task_definition: String,
    pub deployments: Vec<DeploymentStatus>,
    /// Newest first.
    pub events: Vec<ServiceEvent>,
    pub health: Health,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeploymentStatus {
    pub status: String,
    pub rollout: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceEvent {
    pub at: Option<DateTime<Utc>>,
    pub message: String,
}

/// An environment's services as last read from AWS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EnvironmentStatus {
    pub environment: String,
    pub health: Health,
    pub services: Vec<ServiceStatus>,
    /// When this data was read from AWS; `None` if it never could be.
    pub fetched_at: Option<DateTime<Utc>>,
    /// The last attempt to refresh failed: this data is older than it should be (or absent).
    pub error: Option<String>,
}
