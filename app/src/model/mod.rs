//! The estate the control plane manages, as configured, and the identity of whoever is looking.
//!
//! These types are shared by the server (which loads them from configuration and serves them as
//! JSON) and the UI (whose pages render them on the server and whose islands carry some of them
//! to the browser), so they are plain data.

pub mod api_reference;
pub mod audit;
pub mod cost;
pub mod metrics;
pub mod notifications;
pub mod plan;
pub mod query;
pub mod run;
pub mod secret;
pub mod secret_form;
pub mod shared;
pub mod state;
pub mod status;
pub mod users;
pub mod variables;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One Terraform-managed AWS environment, e.g. production in ap-south-1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// The key of the environment in configuration (`[environments.<name>]`); used in URLs.
    #[serde(default)]
    pub name: String,
    pub display_name: String,
    /// Environments are shown in ascending `order`, then by name.
    #[serde(default)]
    pub order: i32,
    pub region: String,
    /// Named AWS profile for this environment's credentials (default credential chain if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_profile: Option<String>,
    /// A role to assume (with the profile's or the default credentials) to read this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_role_arn: Option<String>,
    pub ecs_cluster: String,
    /// Approvals a Terraform apply needs from users other than the requester; 0 means the
    /// requester confirms the plan themself.
    #[serde(default)]
    pub approvals_required: u32,
    /// Who may edit, rotate and roll back this environment's secrets and redeploy its services
    /// (default: approver where applies need approval, else operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_write_role: Option<Role>,
    /// Who may reveal one secret value (default: as `secret_write_role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_reveal_role: Option<Role>,
    pub deletion_protection: bool,
    pub ecr: EcrMode,
    pub estimated_monthly_cost_usd: f64,
    pub terraform: TerraformRoot,
    pub network: Network,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aurora: Option<Aurora>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<Redis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clickhouse: Option<ClickHouse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs: Option<Efs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bastion: Option<Bastion>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// The environment whose applies this one follows: an apply here may only use a commit that
    /// environment has applied (or an ancestor of one). Production promotes from staging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_from: Option<String>,
    /// Minutes between scheduled drift checks of this environment (0: none); unset:
    /// `runs.drift_check_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_check_minutes: Option<f64>,
    /// The usage its cost estimate assumes.
    #[serde(default)]
    pub cost_assumptions: cost::CostAssumptions,
    /// Its value of the cost allocation tag, when actual spend is read by tag (default: its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_tag_value: Option<String>,
}

/// Whether this environment's Terraform root creates the ECR repositories or reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EcrMode {
    Managed,
    DataSource,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TerraformRoot {
    /// Directory of the root module inside the infra repository checkout.
    pub root_dir: String,
    pub state_bucket: String,
    pub state_key: String,
    pub lock_table: String,
    /// Region of the state bucket and the lock table (they may live outside the environment).
    pub backend_region: String,
    /// How terraform locks the state: `dynamodb` (the lock table) or `s3` (a `.tflock` object).
    #[serde(default)]
    pub lock: state::LockMode,
    /// Input variables with plain values, written for every run of this root. Sensitive ones
    /// belong in `variables_secret`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// The Secrets Manager secret (in the environment's region) holding the sensitive input
    /// variables, a JSON object keyed by variable name. Unset: `<secrets.prefix>terraform/<name>`,
    /// which may be missing (no sensitive variables); a configured one must be readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables_secret: Option<String>,
}

impl Environment {
    pub fn secret_write_role(&self) -> Role {
        self.secret_write_role.unwrap_or(if self.approvals_required > 0 { Role::Approver } else { Role::Operator })
    }

    pub fn secret_reveal_role(&self) -> Role {
        self.secret_reveal_role.unwrap_or_else(|| self.secret_write_role())
    }

    /// The secret holding this environment's sensitive Terraform variables, and whether it was
    /// configured (a configured one must exist; the default one may be missing).
    pub fn variables_secret(&self, prefix: &str) -> (String, bool) {
        match &self.terraform.variables_secret {
            Some(name) => (name.clone(), true),
            None => (format!("{prefix}terraform/{}", self.name), false),
        }
    }

    /// Browser writes to this environment's secrets wait for a confirmation that lists the keys
    /// (where applies need approval: production).
    pub fn confirms_secret_writes(&self) -> bool {
        self.approvals_required > 0
    }
}

impl TerraformRoot {
    pub fn state_url(&self) -> String {
        format!("s3://{}/{}", self.state_bucket, self.state_key)
    }

    /// The lock table item's key (and the `Path` of terraform's lock info).
    pub fn lock_id(&self) -> String {
        format!("{}/{}", self.state_bucket, self.state_key)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub vpc_cidr: String,
    /// Zone suffixes (`a`, `b`, `c`): one public and one private subnet in each.
    pub availability_zones: Vec<String>,
    pub nat_gateways: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Aurora {
    pub engine: String,
    pub publicly_accessible: bool,
    pub min_acu: f64,
    pub max_acu: f64,
    pub deletion_protection: bool,
    pub master_secret: String,
    /// The `DBClusterIdentifier` of its CloudWatch metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub engine_version: String,
    pub node_type: String,
    pub auth_secret: String,
    /// The `CacheClusterId` of its CloudWatch metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClickHouse {
    pub version: String,
    pub instance_type: String,
    pub disk_gb: u32,
    pub volume_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Efs {
    pub mount_path: String,
    pub service: String,
}

/// The VPN host (WireGuard) in a public subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Bastion {
    pub instance_type: String,
}

/// An ECS (Fargate) service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub vcpu: f64,
    pub memory_mb: u32,
    pub min_tasks: u32,
    pub max_tasks: u32,
    /// Target CPU utilisation (%) of the autoscaling policy; none means a fixed task count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_cpu_target: Option<u8>,
    /// How traffic reaches the service, in words ("ALB HTTPS", "none (queue worker)").
    pub ingress: String,
    pub log_group: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerKind {
    Alb,
    Nlb,
}

impl fmt::Display for LoadBalancerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Alb => "ALB",
            Self::Nlb => "NLB",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    pub name: String,
    pub kind: LoadBalancerKind,
    /// The `LoadBalancer` dimension of its CloudWatch metrics (`app/<name>/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch_id: Option<String>,
    /// What it routes to, e.g. `fastify-nova:3000` or `Caddy :80 and :443`.
    pub routes_to: String,
    #[serde(default)]
    pub notes: String,
}

/// A Secrets Manager secret the environment's services read, with the keys it is expected to hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub name: String,
    #[serde(default)]
    pub keys: Vec<String>,
}

/// The signed-in browser session's CSRF token, which every form it posts carries (`_csrf`).
/// The server puts it into the request for the page and its server functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// What a user may do. Ordered: each role can do everything the roles before it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: expected one of viewer, operator, approver, admin"))
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The authenticated caller of a request, as seen by pages and handlers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Identity {
    pub user_id: i64,
    pub name: String,
    pub display_name: String,
    /// The effective role: for an API token, the lower of the token's and the user's role.
    pub role: Role,
}

impl Identity {
    pub fn can(&self, needed: Role) -> bool {
        self.role >= needed
    }
}
