//! Where an environment stands in its Terraform state backend: the versions of the state object
//! in the versioned S3 bucket, what each holds (resource addresses and output names, never
//! values: state holds secrets), and who holds the state lock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How terraform locks the environment's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// An item in the DynamoDB lock table (`dynamodb_table`), the classic S3 backend.
    #[default]
    Dynamodb,
    /// A `<key>.tflock` object beside the state (`use_lockfile = true`, terraform 1.10+); the
    /// lock table is still read when one is configured, as terraform writes both during the move.
    S3,
}

/// One version of the state object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StateVersion {
    pub version_id: String,
    pub last_modified: DateTime<Utc>,
    /// Bytes.
    pub size: i64,
    /// What the state says of itself; `None` when it could not be read (see `unreadable`).
    pub serial: Option<i64>,
    pub lineage: Option<String>,
    pub terraform_version: Option<String>,
    pub resources: Option<usize>,
    /// The run of ours that wrote it; `None`: written outside the control plane.
    pub run_id: Option<i64>,
    /// That run's commit, and a link to it (`terraform.commit_url`).
    pub commit: Option<String>,
    pub commit_url: Option<String>,
    /// The current version (what terraform reads next).
    pub is_latest: bool,
    /// Why its contents could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Where the lock was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LockSource {
    Dynamodb,
    S3,
}

/// The state lock as terraform wrote it (its lock info JSON), and whose it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StateLock {
    /// Terraform's lock ID: what `force-unlock` takes.
    pub id: String,
    /// `OperationTypeApply`, `OperationTypePlan`, …
    pub operation: String,
    /// `user@host` of whoever took it.
    pub who: String,
    /// Their terraform's version.
    pub version: String,
    /// When it was taken, as terraform wrote it, and parsed.
    pub created: String,
    pub created_at: Option<DateTime<Utc>>,
    /// Seconds since it was taken, when it was read.
    pub age_seconds: Option<i64>,
    pub path: String,
    pub source: LockSource,
    /// The active run of ours that holds it; `None`: someone outside the control plane (or a
    /// run of ours that is gone, e.g. after a crash).
    pub run_id: Option<i64>,
}

impl StateLock {
    /// `Apply` for `OperationTypeApply`.
    pub fn operation_name(&self) -> &str {
        self.operation.strip_prefix("OperationType").unwrap_or(&self.operation)
    }

    /// "held for 3 min", "held for 2 days".
    pub fn age(&self) -> Option<String> {
        let s = self.age_seconds?.max(0);
        Some(match s {
            0..60 => format!("{s} s"),
            60..3600 => format!("{} min", s / 60),
            3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
            _ => format!("{} days", s / 86400),
        })
    }
}

/// `GET /api/v1/environments/{env}/state`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StateOverview {
    pub environment: String,
    /// `s3://bucket/key`.
    pub location: String,
    pub lock_mode: LockMode,
    /// Newest first.
    pub versions: Vec<StateVersion>,
    pub lock: Option<StateLock>,
    /// Only the newest versions are listed.
    pub truncated: bool,
}

/// A resource instance in a state version, by address (`module.x.aws_ecs_service.y["a"]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StateResource {
    pub address: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    /// `managed` or `data`.
    pub mode: String,
}

/// `GET …/state/versions/{version_id}`: what a version holds, without any value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StateVersionDetail {
    pub environment: String,
    pub version: StateVersion,
    pub resources: Vec<StateResource>,
    pub outputs: Vec<String>,
}

/// `GET …/state/diff?from=&to=`: resource addresses, sorted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StateDiff {
    pub from: String,
    pub to: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// In both, with different attributes (or dependencies).
    pub changed: Vec<String>,
}

/// The state page: the overview, the diff asked for, and what the viewer may do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatePage {
    pub environment: super::Environment,
    pub overview: Result<StateOverview, String>,
    pub diff: Option<Result<StateDiff, String>>,
    /// Download versions and force-unlock (admins).
    pub can_administer: bool,
}
