//! Terraform runs as the API and the UI see them, and the rules of their state machine.
//!
//! ```text
//! queued -> planning -> planned -------> applying -> applied
//!                  |        |  (approve/confirm)      \-> errored
//!                  |        |-> discarded (rejected)
//!                  |        \-> expired   (stale plan)
//!                  |-> no_changes | planned_and_finished (kind plan) | errored
//! any non-terminal state -> canceled
//! ```

use super::plan::PlanSummary;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Speculative: plans and stops.
    Plan,
    /// Plans, waits for approval, applies the saved plan.
    Apply,
    /// A drift check: plans the branch head against the real infrastructure (refreshed), never
    /// applies, and does not count as a change.
    Drift,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
            Self::Drift => "drift",
        }
    }
}

impl std::str::FromStr for RunKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "plan" => Ok(Self::Plan),
            "apply" => Ok(Self::Apply),
            "drift" => Ok(Self::Drift),
            other => Err(format!("unknown run kind {other:?}: expected \"plan\" or \"apply\"")),
        }
    }
}

impl TryFrom<String> for RunKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Planning,
    Planned,
    Applying,
    Applied,
    PlannedAndFinished,
    NoChanges,
    Discarded,
    Expired,
    Errored,
    Canceled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 11] = [
        Self::Queued,
        Self::Planning,
        Self::Planned,
        Self::Applying,
        Self::Applied,
        Self::PlannedAndFinished,
        Self::NoChanges,
        Self::Discarded,
        Self::Expired,
        Self::Errored,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Planning => "planning",
            Self::Planned => "planned",
            Self::Applying => "applying",
            Self::Applied => "applied",
            Self::PlannedAndFinished => "planned_and_finished",
            Self::NoChanges => "no_changes",
            Self::Discarded => "discarded",
            Self::Expired => "expired",
            Self::Errored => "errored",
            Self::Canceled => "canceled",
        }
    }

    /// What a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Queued => "Queued",
            Self::Planning => "Planning",
            Self::Planned => "Needs approval",
            Self::Applying => "Applying",
            Self::Applied => "Applied",
            Self::PlannedAndFinished => "Planned",
            Self::NoChanges => "No changes",
            Self::Discarded => "Discarded",
            Self::Expired => "Expired",
            Self::Errored => "Errored",
            Self::Canceled => "Canceled",
        }
    }

    /// Holds the environment: at most one run per environment is active.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Planning | Self::Planned | Self::Applying)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Planning | Self::Planned | Self::Applying)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| format!("unknown run status {s:?}"))
    }
}

impl TryFrom<String> for RunStatus {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Approval {
    pub user: String,
    pub decision: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// A run as `GET /api/v1/runs/{id}` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Run {
    pub id: i64,
    pub environment: String,
    pub kind: RunKind,
    pub status: RunStatus,
    pub requested_by: String,
    pub message: String,
    /// The commit of the infra repository the run plans and applies (40 hex digits); `None`
    /// when runs come from a plain directory, which has no commits.
    pub commit: Option<String>,
    /// What the requester asked for (a branch, tag or commit), resolved once to `commit`.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The commit's subject line and author, as git records them.
    pub commit_subject: Option<String>,
    pub commit_author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub planned_at: Option<DateTime<Utc>>,
    pub apply_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub plan: Option<PlanSummary>,
    /// What the plan does to the monthly cost; `null` until the plan exists (or if it could
    /// not be priced).
    pub cost_diff: Option<super::cost::CostDiff>,
    pub approvals: Vec<Approval>,
    pub error: Option<String>,
    pub log_bytes: i64,
    /// A cancel was asked for and terraform is being stopped.
    pub canceling: bool,
    /// An admin's reason for applying what the environment's promotion source has not.
    #[serde(default)]
    pub promotion_override: Option<String>,
}

/// `GET /api/v1/environments/{env}/runs`: newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunList {
    pub runs: Vec<Run>,
}

/// What the signed-in user may do to a run right now: the page shows only these buttons.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunActions {
    pub approve: bool,
    pub reject: bool,
    pub cancel: bool,
    pub force_cancel: bool,
    /// The approval must carry the environment's name (destroying plan, deletion protection).
    pub confirm_name: Option<String>,
    /// Why approving is not possible for this user, when the run waits for approval.
    pub approve_blocked: Option<String>,
}

/// The run page's data: the run, its environment's rules, and what the viewer may do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RunView {
    pub run: Run,
    /// A link to the commit (from `terraform.commit_url`), when configured.
    pub commit_url: Option<String>,
    pub environment_display_name: String,
    pub approvals_required: u32,
    pub actions: RunActions,
    pub simulated_terraform: bool,
    /// The environment's state page, when the run's error concerns the state lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_page: Option<String>,
}

/// One environment's run activity, for the environments page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EnvironmentActivity {
    pub environment: String,
    pub active: Option<Run>,
    pub last: Option<Run>,
    /// The last run that applied: what the environment runs, as far as we know.
    pub applied: Option<Run>,
    pub queued: i64,
    /// Who holds the state lock, if anyone.
    pub lock: Option<super::state::StateLock>,
    /// Why the lock could not be read.
    pub lock_error: Option<String>,
    /// Where it stands against the environment it promotes from (`promote_from`).
    pub promotion: Option<Promotion>,
    /// Whether the real infrastructure matches the code, by the last drift check.
    pub drift: Option<Drift>,
    /// The viewer may start a drift check (operators).
    pub can_check_drift: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// The last drift check planned no changes.
    InSync,
    /// It planned changes: the infrastructure or the code moved since the last apply.
    Drifted,
    /// It could not plan (see its run).
    Failed,
    /// No drift check has finished yet.
    Unknown,
}

/// The last finished drift check of an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Drift {
    pub status: DriftState,
    pub checked_at: Option<DateTime<Utc>>,
    pub run_id: Option<i64>,
    pub commit: Option<String>,
    pub add: i64,
    pub change: i64,
    pub destroy: i64,
    /// A drift check queued or running now.
    pub checking: Option<i64>,
}

impl Drift {
    pub fn changes(&self) -> i64 {
        self.add + self.change + self.destroy
    }
}

/// An environment that applies only what another has applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Promotion {
    /// The source environment's name.
    pub from: String,
    /// False with a plain infra directory: no commits to compare.
    pub enforced: bool,
    /// Commits the source has applied that this environment has not (when both applied one).
    pub source_ahead: Option<u64>,
}

/// Where an environment's runs take their Terraform code from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CodeSource {
    /// A git repository read at commits (a mirror of `terraform.repo_url`, or
    /// `terraform.infra_dir` itself); false for a plain directory, copied as it is.
    pub git: bool,
    /// The repository's URL (without credentials) or the directory.
    pub location: String,
    /// The branch a run plans unless it names another ref.
    pub branch: Option<String>,
}

impl Run {
    /// The first seven digits of the commit, as git shows it.
    pub fn short_commit(&self) -> Option<&str> {
        self.commit.as_deref().map(|c| &c[..c.len().min(7)])
    }
}
