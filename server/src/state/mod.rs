//! Where each environment stands in its Terraform state backend: the state object's versions
//! (and which of our runs wrote them), what a version holds, the difference between two, and
//! the state lock, which admins may release.
//!
//! Rules kept here, for every caller (API, forms, pages):
//! - state holds secrets: nothing but resource addresses, types and output names leaves this
//!   module, except a version's bytes for an admin, and that download is audited first;
//! - a lock is released only by an admin who names it (its ID) and the environment, only while
//!   it is still the same lock, and never while one of our runs is using it;
//! - every read of a version's contents is cached by version ID (a version never changes), so a
//!   page view costs one listing and one lock read, whatever the number of versions.

pub mod backend;
pub mod document;

use app::model::audit::AuditAction;
use crate::config::Config;
use crate::db::audit::NewAuditEvent;
use crate::db::state_versions::Writer;
use crate::db::{Db, DbError};
use crate::environments::Environments;
use app::model::run::RunStatus;
use app::model::state::{StateDiff, StateLock, StateOverview, StateVersion, StateVersionDetail};
use app::model::{Environment, Identity, Role};
use backend::{HeldLock, StateBackend};
use document::StateDocument;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The newest versions listed on the state page and in the API.
pub const MAX_VERSIONS: usize = 50;
/// Parsed versions kept in memory (they are small: addresses and hashes).
const CACHED_DOCUMENTS: usize = 1000;
/// A lock taken this long before one of our runs started is not that run's (clock skew).
const CLOCK_SKEW_SECONDS: i64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no environment called {0:?}")]
    UnknownEnvironment(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Aws(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

type Result<T> = std::result::Result<T, StateError>;
/// A version's contents, or why they are not a state terraform can read.
type Parsed = std::result::Result<Arc<StateDocument>, String>;

#[derive(Clone)]
pub struct States {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    environments: Environments,
    /// One backend per environment; none when AWS is turned off.
    backends: HashMap<String, Option<StateBackend>>,
    terraform: crate::config::TerraformConfig,
    documents: Mutex<HashMap<(String, String), Parsed>>,
    /// The lock holder as the environments page shows it, shared for `aws.repeat_read_seconds`:
    /// every view of the page would otherwise read each environment's lock from AWS.
    /// A failed read is shared too: a broken lock table must not be asked again per page view.
    shown_locks: crate::live::cache::Recent<std::result::Result<Option<StateLock>, String>>,
}

/// A state version's bytes, for download.
pub struct Download {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// Who may download state versions and release the lock.
pub fn may_administer(who: &Identity) -> bool {
    who.can(Role::Admin)
}

fn require(who: &Identity, role: Role, what: &str) -> Result<()> {
    match who.can(role) {
        true => Ok(()),
        false => Err(StateError::Forbidden(format!("{what} needs the {role} role; you have {}", who.role))),
    }
}

impl States {
    pub async fn new(config: &Config, db: Db, environments: Environments) -> States {
        let mut backends = HashMap::new();
        for env in config.environments() {
            let backend = match config.aws.enabled {
                true => {
                    let sdk = crate::live::clients::sdk_config_in(&config.aws, &env, &env.terraform.backend_region).await;
                    Some(StateBackend::new(&sdk, &env.terraform))
                }
                false => None,
            };
            backends.insert(env.name.clone(), backend);
        }
        let shown_locks = crate::live::cache::Recent::new(std::time::Duration::from_secs(config.aws.repeat_read_seconds));
        States { inner: Arc::new(Inner { db, environments, backends, terraform: config.terraform.clone(), documents: Mutex::default(), shown_locks }) }
    }

    fn environment(&self, env: &str) -> Result<(&Environment, &StateBackend)> {
        let environment = self.inner.environments.get(env).ok_or_else(|| StateError::UnknownEnvironment(env.into()))?;
        match self.inner.backends.get(env) {
            Some(Some(backend)) => Ok((environment, backend)),
            _ => Err(StateError::Aws("AWS is turned off (aws.enabled = false): the state backend cannot be read".into())),
        }
    }

    /// The newest versions (contents read once per version) and the lock.
    pub async fn overview(&self, who: &Identity, env: &str) -> Result<StateOverview> {
        require(who, Role::Viewer, "reading the state")?;
        let (environment, backend) = self.environment(env)?;
        let (listed, lock) = tokio::join!(backend.versions(MAX_VERSIONS), self.held_lock(env, backend));
        let ((listed, truncated), lock) = (listed?, lock?);
        let ids: Vec<String> = listed.iter().map(|v| v.version_id.clone()).collect();
        let writers = self.inner.db.state_version_writers(env, &ids).await?;
        let documents: HashMap<String, Parsed> = futures_util::stream::iter(ids.clone())
            .map(|id| async move {
                let doc = self.document(env, backend, &id).await;
                (id, doc)
            })
            .buffer_unordered(8)
            .filter_map(|(id, doc)| async move { doc.ok().flatten().map(|d| (id, d)) })
            .collect()
            .await;
        let versions = listed
            .into_iter()
            .map(|v| {
                let (doc, writer) = (documents.get(&v.version_id), writers.get(&v.version_id));
                self.describe(v, doc, writer)
            })
            .collect();
        Ok(StateOverview {
            environment: env.to_string(),
            location: environment.terraform.state_url(),
            lock_mode: environment.terraform.lock,
            versions,
            lock: lock.map(|held| held.lock),
            truncated,
        })
    }

    /// The lock of one environment (the environments page shows its holder).
    pub async fn lock(&self, who: &Identity, env: &str) -> Result<Option<StateLock>> {
        require(who, Role::Viewer, "reading the state lock")?;
        let (_, backend) = self.environment(env)?;
        let read = async {
            match self.held_lock(env, backend).await {
                Ok(held) => Ok(Ok(held.map(|h| h.lock))),
                Err(StateError::Aws(why)) => Ok(Err(why)),
                Err(other) => Err(other),
            }
        };
        self.inner.shown_locks.get(env, read).await?.map_err(StateError::Aws)
    }

    /// What one version holds: addresses and output names.
    pub async fn version(&self, who: &Identity, env: &str, version_id: &str) -> Result<StateVersionDetail> {
        require(who, Role::Viewer, "reading the state")?;
        let (_, backend) = self.environment(env)?;
        let (head, latest) = tokio::try_join!(backend.head(version_id), backend.current_version())?;
        let mut listed = head.ok_or_else(|| no_version(env, version_id))?;
        listed.is_latest = latest.as_deref() == Some(version_id);
        let doc = self.parsed(env, backend, version_id).await?;
        let writers = self.inner.db.state_version_writers(env, &[version_id.to_string()]).await?;
        let version = self.describe(listed, Some(&Ok(doc.clone())), writers.get(version_id));
        Ok(StateVersionDetail { environment: env.to_string(), version, resources: doc.resources(), outputs: doc.outputs.clone() })
    }

    /// A listed version with what its contents and our records say of it.
    fn describe(&self, listed: backend::Listed, doc: Option<&Parsed>, writer: Option<&Writer>) -> StateVersion {
        let parsed = doc.and_then(|d| d.as_ref().ok());
        let commit = writer.and_then(|w| w.commit.clone());
        StateVersion {
            serial: parsed.map(|d| d.serial),
            lineage: parsed.map(|d| d.lineage.clone()),
            terraform_version: parsed.map(|d| d.terraform_version.clone()),
            resources: parsed.map(|d| d.instances.len()),
            unreadable: match doc {
                Some(Err(why)) => Some(why.clone()),
                None => Some("its contents could not be read from S3".into()),
                Some(Ok(_)) => None,
            },
            run_id: writer.map(|w| w.run_id),
            commit_url: self.inner.terraform.commit_link(commit.as_deref()),
            commit,
            version_id: listed.version_id,
            last_modified: listed.last_modified,
            size: listed.size,
            is_latest: listed.is_latest,
        }
    }

    /// The resource addresses added, removed and changed from one version to another.
    pub async fn diff(&self, who: &Identity, env: &str, from: &str, to: &str) -> Result<StateDiff> {
        require(who, Role::Viewer, "reading the state")?;
        let (_, backend) = self.environment(env)?;
        let (before, after) = tokio::try_join!(self.parsed(env, backend, from), self.parsed(env, backend, to))?;
        Ok(StateDiff { from: from.to_string(), to: to.to_string(), ..before.diff(&after) })
    }

    /// A version's bytes, for an admin; audited before they are handed over.
    pub async fn download(&self, who: &Identity, env: &str, version_id: &str) -> Result<Download> {
        require(who, Role::Admin, "downloading a state version")?;
        let (_, backend) = self.environment(env)?;
        let bytes = backend.read(version_id).await?.ok_or_else(|| no_version(env, version_id))?;
        let serial = StateDocument::parse(&bytes).ok().map(|d| d.serial);
        self.inner
            .db
            .append_audit(&NewAuditEvent {
                actor: who.name.clone(),
                action: AuditAction::StateDownloaded,
                environment: Some(env.to_string()),
                target: Some(format!("state version {version_id}")),
                details: serde_json::json!({ "version_id": version_id, "serial": serial, "bytes": bytes.len() }),
            })
            .await?;
        let filename = format!("{env}-{}.tfstate", serial.map(|s| format!("serial-{s}")).unwrap_or_else(|| short(version_id)));
        Ok(Download { filename, bytes })
    }

    /// Releases the state lock `lock_id`: for an admin who confirms with the environment's name,
    /// while that is still the lock and no run of ours is using it.
    pub async fn force_unlock(&self, who: &Identity, env: &str, lock_id: &str, confirm: &str) -> Result<StateLock> {
        require(who, Role::Admin, "releasing the state lock")?;
        let (_, backend) = self.environment(env)?;
        if lock_id.trim().is_empty() {
            return Err(StateError::Invalid("name the lock to release (lock_id: the ID the state page shows)".into()));
        }
        if confirm != env {
            return Err(StateError::Invalid(format!("to confirm, type the environment's name ({env}) in confirm")));
        }
        let held = self.held_lock(env, backend).await?.ok_or_else(|| StateError::Conflict(format!("nobody holds the state lock of {env} now")))?;
        let lock = &held.lock;
        if lock.id != lock_id {
            return Err(StateError::Conflict(format!(
                "the state lock of {env} is now {} (held by {}), not {lock_id}: check the state page again",
                lock.id, lock.who
            )));
        }
        if let Some(run) = lock.run_id {
            return Err(StateError::Conflict(format!("run {run} holds this lock and is still running: cancel the run instead")));
        }
        let details = serde_json::json!({
            "lock_id": lock.id, "who": lock.who, "operation": lock.operation, "created": lock.created,
            "version": lock.version, "path": lock.path, "source": lock.source,
        });
        let event = |action| NewAuditEvent {
            actor: who.name.clone(),
            action,
            environment: Some(env.to_string()),
            target: Some(format!("state lock {}", lock.id)),
            details: details.clone(),
        };
        // The row first: a release nobody can account for must not happen. Its notification
        // waits until the lock is gone.
        let notification = self.inner.db.append_audit(&event(AuditAction::StateForceUnlocked)).await?;
        let released = backend.delete_lock(&held).await;
        self.inner.shown_locks.forget(env);
        if let Some(id) = notification {
            let settled = match released {
                Ok(true) => self.inner.db.release_notification(id).await,
                _ => self.inner.db.void_notification(id).await,
            };
            if let Err(e) = settled {
                tracing::warn!("could not settle the notification of a forced unlock: {e}");
            }
        }
        match released {
            Ok(true) => {
                tracing::warn!(environment = env, lock = %lock.id, holder = %lock.who, by = %who.name, "state lock released by force");
                Ok(held.lock)
            }
            outcome => {
                self.inner.db.append_audit(&event(AuditAction::StateForceUnlockFailed)).await?;
                outcome?;
                Err(StateError::Conflict(format!("the state lock of {env} changed while it was being released: check the state page again")))
            }
        }
    }

    /// Whether lock `lock_id` of `env` is gone: whether a forced unlock that may have been
    /// interrupted happened.
    pub async fn lock_released(&self, env: &str, lock_id: &str) -> Result<bool> {
        let (_, backend) = self.environment(env)?;
        Ok(self.held_lock(env, backend).await?.is_none_or(|held| held.lock.id != lock_id))
    }

    /// The version terraform reads next, when AWS is on and the state exists. The engine reads
    /// it around each apply, to know which version the apply wrote.
    pub async fn current_version(&self, env: &str) -> Option<String> {
        let (_, backend) = self.environment(env).ok()?;
        match backend.current_version().await {
            Ok(version) => version,
            Err(e) => {
                tracing::warn!(environment = env, "could not read the state's current version: {e}");
                None
            }
        }
    }

    /// Records that `run_id` wrote the state's current version, if it is not `before`.
    pub async fn record_apply(&self, env: &str, run_id: i64, before: Option<&str>) {
        let Some(after) = self.current_version(env).await else { return };
        if before == Some(after.as_str()) {
            return;
        }
        if let Err(e) = self.inner.db.record_state_version(env, &after, run_id).await {
            tracing::warn!(environment = env, run = run_id, "could not record which run wrote state version {after}: {e}");
        }
    }

    /// The lock, with the run of ours holding it (if one is running and started before it).
    async fn held_lock(&self, env: &str, backend: &StateBackend) -> Result<Option<HeldLock>> {
        let Some(mut held) = backend.lock().await? else { return Ok(None) };
        if let Some(run) = self.inner.db.active_run(env).await? {
            let started = match run.status {
                RunStatus::Planning => run.started_at,
                RunStatus::Applying => run.apply_started_at,
                _ => None,
            };
            let skew = chrono::Duration::seconds(CLOCK_SKEW_SECONDS);
            if let (Some(started), Some(created)) = (started, held.lock.created_at) {
                if created + skew >= started {
                    held.lock.run_id = Some(run.id);
                }
            }
        }
        Ok(Some(held))
    }

    async fn parsed(&self, env: &str, backend: &StateBackend, version_id: &str) -> Result<Arc<StateDocument>> {
        match self.document(env, backend, version_id).await? {
            None => Err(no_version(env, version_id)),
            Some(Ok(doc)) => Ok(doc),
            Some(Err(why)) => Err(StateError::Invalid(format!("state version {version_id} cannot be read: {why}"))),
        }
    }

    /// A version's parsed contents, from the cache or S3; `None` when there is no such version.
    async fn document(&self, env: &str, backend: &StateBackend, version_id: &str) -> Result<Option<Parsed>> {
        let key = (env.to_string(), version_id.to_string());
        if let Some(doc) = self.inner.documents.lock().unwrap().get(&key) {
            return Ok(Some(doc.clone()));
        }
        let Some(bytes) = backend.read(version_id).await? else { return Ok(None) };
        let doc: Parsed = StateDocument::parse(&bytes).map(Arc::new);
        let mut cache = self.inner.documents.lock().unwrap();
        if cache.len() >= CACHED_DOCUMENTS {
            cache.clear();
        }
        cache.insert(key, doc.clone());
        Ok(Some(doc))
    }
}

fn no_version(env: &str, version_id: &str) -> StateError {
    StateError::NotFound(format!("the state of {env} has no version {version_id:?}"))
}

fn short(version_id: &str) -> String {
    version_id.chars().take(12).collect()
}
