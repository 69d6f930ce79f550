//! Configuration: built-in defaults (the Zelly estate, `defaults.toml`), then an optional TOML
//! file, then `ZELLY_<SECTION>__<KEY>` environment variables, then command-line flags.
//!
//! Unknown keys and invalid values stop the server at start with a message that names the key.

pub mod auth;
pub mod hosts;
pub mod notifications;
pub mod validate;

pub use auth::{AuthConfig, AuthMode, DevUser, OidcConfig, Redacted, RoleRule};

use app::model::Environment;
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The built-in defaults, readable as a whole in one file.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub terraform: TerraformConfig,
    pub runs: RunsConfig,
    pub aws: AwsConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub secrets: SecretsConfig,
    pub costs: CostsConfig,
    pub notifications: notifications::NotificationsConfig,
    pub environments: BTreeMap<String, Environment>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostsConfig {
    /// A price catalog file (as `zelly-control prices refresh` writes) instead of the built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_file: Option<PathBuf>,
    pub hours_per_month: f64,
    /// How Cost Explorer's actual spend is attributed to environments.
    pub actual_spend: ActualSpendScope,
    /// The cost allocation tag when `actual_spend = "tag"`; each environment's value is its
    /// `cost_tag_value` (default: its name).
    pub tag_key: String,
    /// Cost Explorer bills every request: answers are kept this long.
    pub actual_cache_minutes: u64,
}

impl CostsConfig {
    /// The price catalog in effect: the configured file, or the built-in one.
    pub fn catalog(&self) -> Result<crate::costs::catalog::Catalog, String> {
        use crate::costs::catalog::Catalog;
        match &self.catalog_file {
            None => Ok(Catalog::built_in()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Catalog::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActualSpendScope {
    /// Everything billed in the environment's region.
    Region,
    /// Everything carrying the environment's cost allocation tag.
    Tag,
    Off,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Only secrets whose names start with this are reachable, through every path.
    pub prefix: String,
    /// A secret unchanged for longer than this is flagged for rotation.
    pub rotation_warning_days: u32,
    /// How long a write waits for another write to the same secret to finish before giving up.
    pub lock_wait_seconds: u64,
    /// Values one user may reveal per minute (0: no limit).
    pub reveals_per_minute: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// The incoming header a request id is taken from (a trusted proxy sets it); empty: none.
    pub request_id_header: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `/metrics` answers without a token.
    pub public: bool,
    pub panels: Vec<MetricPanel>,
}

/// A dashboard panel: one CloudWatch metric, read for every target of a kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricPanel {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub per: MetricTarget,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metric: String,
    /// `Average`, `Sum`, `Maximum`, `p99`, …
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stat: String,
    /// Dimension values may use `{cluster}`, `{service}`, `{load_balancer}`, `{redis}`, `{aurora}`.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Values are multiplied by this (e.g. 1000: seconds to milliseconds).
    #[serde(default = "one")]
    pub scale: f64,
    /// A derived panel: the first panel divided by the second, in percent, per target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_of: Option<Vec<String>>,
}

fn one() -> f64 {
    1.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricTarget {
    Service,
    Alb,
    Nlb,
    Redis,
    Aurora,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Read live state (ECS) from AWS. Off: the pages show the configuration only.
    pub enabled: bool,
    /// Send every AWS call here instead of AWS (an emulator such as moto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<url::Url>,
    /// Live data is shared by all viewers and refreshed at most this often.
    pub cache_ttl_seconds: u64,
    /// The longest an AWS call may take, retries included.
    pub timeout_seconds: u64,
    /// Reads that pages and scripts repeat in a loop (a service's rollout, the secrets list)
    /// are shared for this long, so polling cannot turn into a stream of AWS calls (0: off).
    pub repeat_read_seconds: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerraformConfig {
    /// The terraform executable: a name on PATH or a path.
    pub bin: String,
    /// The infra repository, as git takes it (a path, `file://`, `https://`, `ssh://`). The
    /// server keeps a mirror in the data directory and fetches it before each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<RepoUrl>,
    /// The branch runs plan unless they name another ref.
    pub branch: String,
    /// Without `repo_url`: the infra repository's checkout (read at `branch`'s last commit,
    /// never its uncommitted edits) or a plain directory (copied as it is for each run).
    pub infra_dir: PathBuf,
    /// A link to a commit, with `{sha}` for its hash: `https://github.com/zelly/infra/commit/{sha}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_url: Option<String>,
}

impl TerraformConfig {
    /// The link to `commit`, when `commit_url` is configured.
    pub fn commit_link(&self, commit: Option<&str>) -> Option<String> {
        Some(self.commit_url.as_ref()?.replace("{sha}", commit?))
    }
}

/// A repository URL, which may carry credentials (`https://user:token@…`): they never print.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RepoUrl(String);

impl RepoUrl {
    pub fn new(url: impl Into<String>) -> RepoUrl {
        RepoUrl(url.into())
    }

    /// The URL itself, for git.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced, for pages, logs and errors.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("redacted"));
                url.to_string()
            }
            // scp-like (git@host:path), paths, and URLs without a password carry no secret.
            _ => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for RepoUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsConfig {
    /// A plan older than this cannot be approved.
    pub plan_ttl_seconds: u64,
    /// Runs executed at once by this process (0: this process only serves, others run).
    pub workers: u32,
    /// A worker renews its hold on a run this often (/3); past it, the run is found abandoned.
    pub lease_seconds: u64,
    /// After SIGINT, how long terraform gets to stop before SIGKILL.
    pub cancel_grace_seconds: u64,
    /// Idle workers are woken when work arrives; they also look this often, in case a wake-up
    /// was lost (a dropped database connection, say).
    pub poll_seconds: u64,
    /// Minutes between scheduled drift checks of each environment (0: none); an environment's
    /// `drift_check_minutes` overrides it.
    pub drift_check_minutes: f64,
    /// Live log streams one user may hold open at once, in this process (then 429).
    pub live_streams_per_user: u32,
    /// Live log streams this process serves at once, everyone together (then 429).
    pub live_streams_total: u32,
}

impl RunsConfig {
    /// How often `env` is checked for drift; `None`: never by schedule.
    pub fn drift_period(&self, env: &Environment) -> Option<std::time::Duration> {
        let minutes = env.drift_check_minutes.unwrap_or(self.drift_check_minutes);
        (minutes > 0.0).then(|| std::time::Duration::from_secs_f64(minutes * 60.0))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Where the default SQLite database lives (relative paths are resolved against the
    /// working directory at start).
    pub data_dir: PathBuf,
    /// The URL users reach the server at; `https://` turns on Secure cookies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<url::Url>,
    /// Where the built UI assets (`pkg/`) are; found next to the binary when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_dir: Option<PathBuf>,
    /// The key that encrypts saved plans (32 bytes, base64). Unset: one is made at first start
    /// in the data directory (`data.key`). Replicas must share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<Redacted>,
    /// Further names this server answers to (`name` on any port, or `name:port`), besides the
    /// `public_url` host and, on loopback, `localhost`/`127.0.0.1`/`[::1]` with its port. Any
    /// other `Host` is refused: that is what stops DNS rebinding.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Load balancers and proxies in front of this server (CIDR blocks). From them the client is
    /// the right-most address in `X-Forwarded-For` that is not one of them; from anyone else
    /// the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; an SQLite file in `server.data_dir` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub max_connections: u32,
}

/// Values given as command-line flags (or their dedicated environment variables such as
/// `ZELLY_LISTEN` and `DATABASE_URL`); they win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads the configuration from the process environment and the given overrides.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(overrides, Env::prefixed("ZELLY_"))
    }

    /// The built-in defaults alone: the Zelly estate, as a fresh install shows it.
    pub fn defaults() -> Config {
        Self::load_from(&Overrides::default(), Env::prefixed("ZELLY_UNUSED_IN_DEFAULTS_"))
            .expect("the built-in defaults are valid")
    }

    fn load_from(overrides: &Overrides, env: Env) -> Result<Config, ConfigError> {
        let mut defaults: toml::Table = toml::from_str(DEFAULTS_TOML).expect("defaults.toml parses");
        let mut figment = Figment::new();

        if let Some(path) = &overrides.config_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?;
            let file: toml::Table = toml::from_str(&text)
                .map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?;
            // A file that describes environments describes all of them: merging it into the
            // built-in estate would leave Zelly's environments in another team's control plane.
            if file.contains_key("environments") {
                defaults.remove("environments");
            }
            figment = figment.merge(Serialized::defaults(defaults)).merge(Toml::string(&text));
        } else {
            figment = figment.merge(Serialized::defaults(defaults));
        }

        // ZELLY_SERVER__LISTEN -> server.listen. Variables without a section (ZELLY_LISTEN,
        // ZELLY_CONFIG, ZELLY_DATA_DIR) are flags, handled by the command line parser.
        figment = figment.merge(env.split("__").filter(|key| key.as_str().contains('.')));

        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("server.listen", listen));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("server.data_dir", dir));
        }
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }

        let mut config: Config = figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        for (name, env) in config.environments.iter_mut() {
            env.name = name.clone();
            // `promote_from = ""` turns the built-in rule off (an environment variable cannot unset it).
            env.promote_from = env.promote_from.take().filter(|from| !from.trim().is_empty());
        }
        validate::check(&config).map_err(ConfigError::Invalid)?;
        Ok(config)
    }

    /// The environments in display order.
    pub fn environments(&self) -> Vec<Environment> {
        let mut envs: Vec<Environment> = self.environments.values().cloned().collect();
        envs.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.name.cmp(&b.name)));
        envs
    }

    /// The database URL in effect: the configured one, or an SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => sqlite_url(&self.server.data_dir.join("zelly.db")),
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.server.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// One line per problem, each naming the key as a dotted path.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path.join(".")) };
            let source = match &e.metadata {
                Some(m) if m.name.contains("environment") => " (from an environment variable)".to_string(),
                Some(m) => m.source.as_ref().map(|s| format!(" (in {s})")).unwrap_or_default(),
                None => String::new(),
            };
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;
