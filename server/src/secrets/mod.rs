//! Secrets Manager secrets of every environment: list, read (masked), reveal one key, edit,
//! rotate, roll back, and the services that read them.
//!
//! Rules kept here, for every caller (API, forms, pages):
//! - only names under `secrets.prefix` are reachable (`name::check`);
//! - values never leave this module except in the answer to a reveal; audit rows, errors and
//!   logs carry key names and version ids only (`document::Sensitive` cannot be printed);
//! - every view, reveal and write is audited, and the audit row is written before the change or
//!   the answer: if it cannot be written, nothing happens;
//! - a write names the version it was read at and is refused (409, with the names of the keys
//!   that changed) if the secret moved on since; writes to one secret are serialised by a lease
//!   in the database, so of N writers that read the same version exactly one wins.

pub mod consumers;
pub mod document;
pub mod generate;
pub mod name;
pub mod pending;
pub mod store;
mod writers;

use crate::config::Config;
use crate::db::audit::NewAuditEvent;
use crate::db::{Db, DbError};
use crate::environments::status::LiveStatus;
use crate::environments::Environments;
use app::model::secret::{
    is_credential, Parity, ParityRow, PendingSummary, RotationOptions, SecretDetail, SecretKey, SecretList,
    SecretPermissions, SecretSummary, WriteOutcome, MASK,
};
use app::model::{Environment, Identity};
use chrono::{DateTime, Utc};
use document::{Change, ChangeError, Document, KeyRule, Sensitive};
use name::SecretName;
use pending::{PendingChanges, Write};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no environment {0:?}")]
    UnknownEnvironment(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    ReadOnly(String),
    /// The secret changed since the version the change was read at.
    #[error("{message}")]
    Stale { message: String, current_version: String, changed_keys: Option<Vec<String>> },
    #[error("{0}")]
    Busy(String),
    /// Too many reveals: the seconds until the next is allowed.
    #[error("too many reveals: try again in {0} s")]
    RateLimited(u64),
    #[error("{0}")]
    Aws(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ChangeError> for SecretError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Invalid(m) => SecretError::Invalid(m),
            ChangeError::TooLarge(m) => SecretError::TooLarge(m),
        }
    }
}

type Result<T> = std::result::Result<T, SecretError>;

#[derive(Clone)]
pub struct Secrets {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    environments: Environments,
    /// One store per environment; none when AWS is turned off.
    stores: HashMap<String, Option<Store>>,
    live: LiveStatus,
    consumers: consumers::Consumers,
    pending: PendingChanges,
    writers: writers::Writers,
    prefix: String,
    warning_days: u32,
    lock_wait: Duration,
    reveal_limit: crate::auth::rate_limit::RateLimit,
    /// Each environment's list, shared for `aws.repeat_read_seconds` (forgotten on a write).
    listed: crate::live_cache::Recent<SecretList>,
}

/// A write to one secret, as the caller asked for it.
struct WriteRequest<'a> {
    who: &'a Identity,
    env: &'a Environment,
    name: &'a SecretName,
    /// The version the caller read; none means "whatever is current" (API rotations).
    expected: Option<&'a str>,
    write: Write,
}

impl Secrets {
    pub async fn new(config: &Config, db: Db, environments: Environments, live: LiveStatus) -> Secrets {
        let clients = crate::aws::per_environment(config, |sdk| crate::aws_client!(aws_sdk_secretsmanager, sdk)).await;
        Secrets {
            inner: Arc::new(Inner {
                db,
                environments,
                stores: clients.into_iter().map(|(env, client)| (env.name, client.map(Store::new))).collect(),
                live,
                consumers: Default::default(),
                pending: Default::default(),
                writers: Default::default(),
                prefix: config.secrets.prefix.clone(),
                warning_days: config.secrets.rotation_warning_days,
                lock_wait: Duration::from_secs(config.secrets.lock_wait_seconds),
                reveal_limit: crate::auth::rate_limit::RateLimit::new(config.secrets.reveals_per_minute),
                listed: crate::live_cache::Recent::new(Duration::from_secs(config.aws.repeat_read_seconds)),
            }),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn environment(&self, env: &str) -> Result<(&Environment, &Store)> {
        let environment = self.inner.environments.get(env).ok_or_else(|| SecretError::UnknownEnvironment(env.into()))?;
        match self.inner.stores.get(env) {
            Some(Some(store)) => Ok((environment, store)),
            _ => Err(SecretError::Aws("AWS is turned off (aws.enabled = false): secrets cannot be read".into())),
        }
    }

    fn name(&self, raw: &str) -> Result<SecretName> {
        name::check(&self.inner.prefix, raw).map_err(SecretError::NotFound)
    }

    /// Whether `env`'s secrets are read from AWS at all (not with `aws.enabled = false`).
    pub fn reads_aws(&self, env: &str) -> bool {
        matches!(self.inner.stores.get(env), Some(Some(_)))
    }

    /// The environment's variables secret holds Terraform variables, whose names are not
    /// environment variable names.
    fn key_rule(&self, env: &Environment, name: &SecretName) -> KeyRule {
        if env.variables_secret(&self.inner.prefix).0 == name.as_str() {
            KeyRule::TerraformVariable
        } else {
            KeyRule::EnvironmentVariable
        }
    }

    /// The current value of `raw_name` for terraform (a run's sensitive variables): the one use
    /// of a value that is not a person's reveal, so it is not audited as one; it goes only into
    /// the run's variables file. `None` when the secret does not exist.
    pub async fn read_for_terraform(&self, env: &str, raw_name: &str) -> Result<Option<(String, Sensitive)>> {
        let (_, store) = self.environment(env)?;
        let name = self.name(raw_name)?;
        match store.current_text(name.as_str()).await {
            Ok((version, Some(text))) => Ok(Some((version, text))),
            Ok((_, None)) => Err(SecretError::ReadOnly(format!("{name} is a binary secret, not a JSON object of variables"))),
            Err(SecretError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn age(&self, last_changed: Option<DateTime<Utc>>) -> (Option<i64>, bool) {
        let age = last_changed.map(|t| (Utc::now() - t).num_days().max(0));
        (age, age.is_some_and(|d| d > i64::from(self.inner.warning_days)))
    }

    /// The environment's secrets under the prefix, with their key names.
    pub async fn list(&self, env: &str) -> Result<SecretList> {
        let (environment, store) = self.environment(env)?;
        self.inner.listed.get(&environment.name, self.read_list(environment, store)).await
    }

    /// The list as AWS has it now: a listing and one read per secret.
    async fn read_list(&self, environment: &Environment, store: &Store) -> Result<SecretList> {
        let listed = store.list(&self.inner.prefix).await?;
        let listed: Vec<_> = listed.into_iter().filter(|s| name::is_reachable(&self.inner.prefix, &s.name)).collect();
        let reads = futures_util::future::join_all(listed.iter().map(|s| store.current(&s.name))).await;
        let mut secrets = Vec::new();
        for (entry, value) in listed.into_iter().zip(reads) {
            let (age_days, rotation_due) = self.age(entry.last_changed);
            let (keys, read_only, version_id) = match value {
                Ok(v) => match v.document {
                    Ok(doc) => (doc.keys(), None, Some(v.version_id)),
                    Err(why) => (Vec::new(), Some(why), Some(v.version_id)),
                },
                // Deleted between the listing and the read, or unreadable: say so on its row.
                Err(e) => (Vec::new(), Some(e.to_string()), entry.current_version),
            };
            secrets.push(SecretSummary { name: entry.name, keys, version_id, last_changed: entry.last_changed, age_days, rotation_due, read_only });
        }
        secrets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(SecretList {
            environment: environment.name.clone(),
            prefix: self.inner.prefix.clone(),
            rotation_warning_days: self.inner.warning_days,
            secrets,
            error: None,
        })
    }

    /// Every environment's list, read in parallel.
    pub async fn lists(&self) -> Vec<(String, Result<SecretList>)> {
        let envs: Vec<String> = self.inner.environments.all().iter().map(|e| e.name.clone()).collect();
        let lists = futures_util::future::join_all(envs.iter().map(|e| self.list(e))).await;
        envs.into_iter().zip(lists).collect()
    }

    pub async fn parity(&self) -> Parity {
        parity_of(&self.lists().await)
    }

    fn permissions(&self, who: &Identity, env: &Environment) -> SecretPermissions {
        let (write_role, reveal_role) = (env.secret_write_role(), env.secret_reveal_role());
        SecretPermissions {
            write_role,
            reveal_role,
            can_write: who.can(write_role),
            can_reveal: who.can(reveal_role),
            confirm_writes: env.confirms_secret_writes(),
        }
    }

    /// One secret with masked values, its versions and its consumers. Audited as a view.
    pub async fn detail(&self, who: &Identity, env: &str, raw_name: &str) -> Result<SecretDetail> {
        let (environment, store) = self.environment(env)?;
        let name = self.name(raw_name)?;
        let (described, current, versions) =
            tokio::join!(store.describe(name.as_str()), store.current(name.as_str()), store.versions(name.as_str()));
        let (described, current, versions) = (described?, current?, versions?);
        let (consumers, consumers_error) = match self.consumers(environment, name.as_str(), &described.arn).await {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        self.audit(who, "secret.view", environment, &name, json!({ "version_id": current.version_id })).await?;
        let (age_days, rotation_due) = self.age(described.last_changed);
        let (keys, read_only) = match &current.document {
            Ok(doc) => (doc.keys(), None),
            Err(why) => (Vec::new(), Some(why.clone())),
        };
        Ok(SecretDetail {
            environment: environment.name.clone(),
            name: name.to_string(),
            description: described.description,
            version_id: current.version_id,
            last_changed: described.last_changed,
            age_days,
            rotation_due,
            rotation_warning_days: self.inner.warning_days,
            keys: keys
                .into_iter()
                .map(|k| SecretKey { masked: MASK.to_string(), credential: is_credential(&k), rotation: RotationOptions::for_key(&k), name: k })
                .collect(),
            read_only,
            versions,
            consumers,
            consumers_error,
            permissions: self.permissions(who, environment),
            terraform_variables: self.key_rule(environment, &name) == KeyRule::TerraformVariable,
        })
    }

    async fn consumers(&self, env: &Environment, name: &str, arn: &str) -> std::result::Result<Vec<app::model::secret::Consumer>, String> {
        let ecs = self.inner.live.ecs(&env.name).ok_or("ECS is not available (aws.enabled = false)")?;
        let status = self.inner.live.get(&env.name).await.ok_or("no such environment")?;
        if status.services.is_empty() {
            return Err(status.error.clone().unwrap_or_else(|| "ECS status is not available".into()));
        }
        self.inner.consumers.of(&ecs, &env.region, &status.services, name, arn).await
    }

    /// The current value of one key, for a user allowed to see it. Audited before it is read out.
    pub async fn reveal(&self, who: &Identity, env: &str, raw_name: &str, key: &str) -> Result<(Sensitive, String)> {
        let (environment, store) = self.environment(env)?;
        let role = environment.secret_reveal_role();
        if !who.can(role) {
            return Err(SecretError::Forbidden(format!("revealing a secret in {} needs the {role} role", environment.name)));
        }
        let name = self.name(raw_name)?;
        self.inner.reveal_limit.check(&who.name).map_err(|wait| SecretError::RateLimited(wait.as_secs().max(1)))?;
        let current = store.current(name.as_str()).await?;
        let doc = current.document.map_err(SecretError::ReadOnly)?;
        let value = doc.get(key).cloned().ok_or_else(|| SecretError::NotFound(format!("{name} has no key {key:?}")))?;
        self.audit(who, "secret.reveal", environment, &name, json!({ "key": key, "version_id": current.version_id })).await?;
        Ok((value, current.version_id))
    }

    pub async fn edit(&self, who: &Identity, env: &str, raw_name: &str, expected: &str, change: Change) -> Result<WriteOutcome> {
        let (environment, _) = self.environment(env)?;
        let name = self.name(raw_name)?;
        change.validate(self.key_rule(environment, &name))?;
        self.write(WriteRequest { who, env: environment, name: &name, expected: Some(expected), write: Write::Edit(change) }).await
    }

    /// New random values for `keys`, each with its own options.
    pub async fn rotate(
        &self,
        who: &Identity,
        env: &str,
        raw_name: &str,
        expected: Option<&str>,
        keys: Vec<(String, RotationOptions)>,
    ) -> Result<WriteOutcome> {
        let (environment, _) = self.environment(env)?;
        let name = self.name(raw_name)?;
        check_rotation(&keys, self.key_rule(environment, &name))?;
        self.write(WriteRequest { who, env: environment, name: &name, expected, write: Write::Rotate(keys) }).await
    }

    /// Makes `to` (default: AWSPREVIOUS) the current version again.
    pub async fn rollback(&self, who: &Identity, env: &str, raw_name: &str, expected: Option<&str>, to: Option<String>) -> Result<WriteOutcome> {
        let (environment, _) = self.environment(env)?;
        let name = self.name(raw_name)?;
        self.write(WriteRequest { who, env: environment, name: &name, expected, write: Write::Rollback(to) }).await
    }

    /// Checks a browser write and holds it for confirmation (environments that confirm writes).
    /// Nothing is written; the summary names the keys that would change.
    pub async fn prepare(&self, who: &Identity, env: &str, raw_name: &str, expected: &str, write: Write) -> Result<PendingSummary> {
        let (environment, store) = self.environment(env)?;
        self.may_write(who, environment)?;
        let name = self.name(raw_name)?;
        let rule = self.key_rule(environment, &name);
        match &write {
            Write::Edit(change) => change.validate(rule)?,
            Write::Rotate(keys) => check_rotation(keys, rule)?,
            Write::Rollback(_) => {}
        }
        let current = store.current(name.as_str()).await?;
        if current.version_id != expected {
            return Err(self.stale(store, &name, expected, &current).await);
        }
        let existing = match (&write, &current.document) {
            (Write::Rollback(_), _) => Vec::new(),
            (_, Ok(doc)) => {
                // Catch what the write would refuse now, not after the confirmation.
                if let Write::Edit(change) = &write {
                    doc.apply(change)?;
                } else if let Write::Rotate(keys) = &write {
                    missing_keys(doc, keys.iter().map(|(k, _)| k))?;
                }
                doc.keys()
            }
            (_, Err(why)) => return Err(SecretError::ReadOnly(why.clone())),
        };
        Ok(self.inner.pending.add(who.user_id, &environment.name, name, current.version_id, write, existing))
    }

    pub fn pending(&self, who: &Identity, id: &str) -> Option<PendingSummary> {
        self.inner.pending.summary(id, who.user_id)
    }

    /// Writes a change held by `prepare`, if the secret is still at the version it was read at.
    pub async fn confirm(&self, who: &Identity, id: &str) -> Result<WriteOutcome> {
        let pending = self
            .inner
            .pending
            .take(id, who.user_id)
            .ok_or_else(|| SecretError::NotFound("this confirmation has expired or was already used: enter the change again".into()))?;
        let (environment, _) = self.environment(&pending.environment)?;
        self.write(WriteRequest {
            who,
            env: environment,
            name: &pending.name,
            expected: Some(&pending.expected_version),
            write: pending.write,
        })
        .await
    }

    /// Whether `who` may change `env`'s secrets (every write checks this again itself).
    pub fn may_write_in(&self, who: &Identity, env: &str) -> Result<()> {
        self.may_write(who, self.environment(env)?.0)
    }

    fn may_write(&self, who: &Identity, env: &Environment) -> Result<()> {
        let role = env.secret_write_role();
        if who.can(role) {
            Ok(())
        } else {
            Err(SecretError::Forbidden(format!("changing secrets in {} needs the {role} role", env.name)))
        }
    }

    /// Every write goes through here: role, this process's queue for the secret, the database
    /// lease, version check, audit row, then AWS. The 409's list of changed keys takes two AWS
    /// reads: it is worked out after the locks are released, so the next writer need not wait.
    async fn write(&self, req: WriteRequest<'_>) -> Result<WriteOutcome> {
        self.may_write(req.who, req.env)?;
        let result = self.write_queued(&req).await;
        // Whatever happened, the list is read again: it may show a new version.
        self.inner.listed.forget(&req.env.name);
        result
    }

    async fn write_queued(&self, req: &WriteRequest<'_>) -> Result<WriteOutcome> {
        let (_, store) = self.environment(&req.env.name)?;
        let queue = self.inner.writers.of(&req.env.name, req.name.as_str());
        let mut replaced = queue.lock().await;
        let stale = match req.expected.filter(|v| replaced.contains(v)) {
            Some(_) => None,
            None => {
                let holder = crate::auth::new_secret("")[..24].to_string();
                self.lock(&req.env.name, req.name, &holder).await?;
                let result = self.write_locked(store, req).await;
                if let Err(e) = self.inner.db.unlock_secret(&req.env.name, req.name.as_str(), &holder).await {
                    // The lease runs out on its own; the write itself is done.
                    tracing::warn!("could not release the write lease on {}: {e}", req.name);
                }
                match result {
                    Ok(done) => {
                        replaced.record(&done.previous_version_id);
                        replaced.forget(&done.version_id);
                        return Ok(done);
                    }
                    Err(Locked::Failed(e)) => return Err(e),
                    Err(Locked::Stale(current)) => Some(current),
                }
            }
        };
        let expected = req.expected.unwrap_or_default();
        replaced.record(expected);
        drop(replaced);
        let current = match stale {
            Some(current) => current,
            None => store.current(req.name.as_str()).await?,
        };
        Err(self.stale(store, req.name, expected, &current).await)
    }

    async fn lock(&self, env: &str, name: &SecretName, holder: &str) -> Result<()> {
        // Long enough for a write (a few AWS calls under their own timeouts) to finish.
        let ttl = chrono::Duration::seconds(60);
        let deadline = tokio::time::Instant::now() + self.inner.lock_wait;
        let mut pause = Duration::from_millis(10);
        loop {
            if self.inner.db.try_lock_secret(env, name.as_str(), holder, ttl).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(SecretError::Busy(format!("another change to {name} is being written: try again in a moment")));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    async fn write_locked(&self, store: &Store, req: &WriteRequest<'_>) -> std::result::Result<WriteOutcome, Locked> {
        let name = req.name.as_str();
        let current = store.current(name).await?;
        if req.expected.is_some_and(|expected| expected != current.version_id) {
            return Err(Locked::Stale(current));
        }
        let (action, details, apply) = match &req.write {
            Write::Rollback(to) => {
                let versions = store.versions(name).await?;
                let target = match to {
                    Some(id) => versions.iter().find(|v| &v.version_id == id),
                    None => versions.iter().find(|v| v.stages.iter().any(|s| s == "AWSPREVIOUS")),
                }
                .ok_or_else(|| match to {
                    Some(id) => SecretError::NotFound(format!("{name} has no version {id:?}")),
                    None => SecretError::Invalid(format!("{name} has no previous version to roll back to")),
                })?
                .version_id
                .clone();
                if target == current.version_id {
                    return Err(SecretError::Invalid(format!("version {target} is already the current one")).into());
                }
                let changed = match (&current.document, store.version(name, &target).await?.document) {
                    (Ok(now), Ok(then)) => now.changed_keys(&then),
                    _ => Vec::new(),
                };
                let details = json!({ "version_id": target, "previous_version_id": current.version_id, "changed_keys": changed });
                ("secret.rollback", details, Apply::MakeCurrent(target, changed))
            }
            write => {
                let doc = current.document.as_ref().map_err(|why| SecretError::ReadOnly(why.clone()))?;
                let (action, change) = match write {
                    Write::Edit(change) => ("secret.update", change.clone()),
                    Write::Rotate(keys) => {
                        missing_keys(doc, keys.iter().map(|(k, _)| k))?;
                        let set = keys.iter().map(|(k, options)| (k.clone(), generate::value(options))).collect();
                        ("secret.rotate", Change { set, remove: BTreeSet::new() })
                    }
                    Write::Rollback(_) => unreachable!("handled above"),
                };
                let next = doc.apply(&change)?;
                let changed = doc.changed_keys(&next);
                if changed.is_empty() {
                    return Err(SecretError::Invalid("nothing would change: the new values equal the current ones".into()).into());
                }
                let version = new_version_id();
                let added: Vec<&String> = change.set.keys().filter(|k| doc.get(k).is_none()).collect();
                let details = json!({
                    "version_id": version,
                    "previous_version_id": current.version_id,
                    "changed_keys": changed,
                    "added": added,
                    "removed": change.remove,
                });
                (action, details, Apply::Put(version, next, changed))
            }
        };
        // The row comes first: a change that cannot be audited is not made. Its notification
        // waits until AWS has the change.
        let held = self.audit(req.who, action, req.env, req.name, details).await?;
        let (version_id, changed_keys) = match apply {
            Apply::Put(version, next, changed) => (store.put(name, &version, &next).await.map(|_| version), changed),
            Apply::MakeCurrent(target, changed) => {
                (store.make_current(name, &target, &current.version_id).await.map(|_| target), changed)
            }
        };
        self.settle_notification(held, version_id.is_ok()).await;
        match version_id {
            Ok(version_id) => Ok(WriteOutcome {
                environment: req.env.name.clone(),
                secret: name.to_string(),
                version_id,
                previous_version_id: current.version_id,
                changed_keys,
            }),
            Err(e) => {
                let failed = json!({ "action": action, "error": e.to_string() });
                if let Err(audit) = self.audit(req.who, "secret.write_failed", req.env, req.name, failed).await {
                    tracing::error!("could not record the failed write to {name}: {audit}");
                }
                Err(e.into())
            }
        }
    }

    /// The 409 for a write read at `expected`: which keys changed since (names only).
    async fn stale(&self, store: &Store, name: &SecretName, expected: &str, current: &store::Value) -> SecretError {
        let changed_keys = match (store.version(name.as_str(), expected).await, &current.document) {
            (Ok(then), Ok(now)) => then.document.ok().map(|then| then.changed_keys(now)),
            _ => None,
        };
        let message = match &changed_keys {
            Some(keys) if !keys.is_empty() => format!(
                "{name} changed since you read it (version {expected}; now {}): changed keys {}. Reload it and apply your change again.",
                current.version_id,
                keys.join(", ")
            ),
            _ => format!("{name} changed since you read it (version {expected}; now {}). Reload it and apply your change again.", current.version_id),
        };
        SecretError::Stale { message, current_version: current.version_id.clone(), changed_keys }
    }

    /// Sends (or, when the write failed, drops) the notification of a write. If this fails, the
    /// sender settles it later by looking for the version in AWS (`version_exists`).
    async fn settle_notification(&self, held: Option<i64>, written: bool) {
        let Some(id) = held else { return };
        let settled = match written {
            true => self.inner.db.release_notification(id).await,
            false => self.inner.db.void_notification(id).await,
        };
        if let Err(e) = settled {
            tracing::warn!("could not settle the notification of a secret write: {e}");
        }
    }

    /// Whether `version_id` of secret `raw_name` exists in `env`: whether a write that may have
    /// been interrupted was made.
    pub async fn version_exists(&self, env: &str, raw_name: &str, version_id: &str) -> Result<bool> {
        let (_, store) = self.environment(env)?;
        let name = self.name(raw_name)?;
        match store.version(name.as_str(), version_id).await {
            Ok(_) => Ok(true),
            Err(SecretError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The current version id of `raw_name` in `env`; `None` when the secret does not exist.
    pub async fn current_version(&self, env: &str, raw_name: &str) -> Result<Option<String>> {
        let (_, store) = self.environment(env)?;
        let name = self.name(raw_name)?;
        match store.current(name.as_str()).await {
            Ok(value) => Ok(Some(value.version_id)),
            Err(SecretError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One key of a secret's JSON object, for the control plane's own use (a notification
    /// destination's URL or signing key); not audited as a person's reveal.
    pub async fn read_key(&self, env: &str, raw_name: &str, key: &str) -> Result<Sensitive> {
        let (_, store) = self.environment(env)?;
        let name = self.name(raw_name)?;
        let current = store.current(name.as_str()).await?;
        let document = current.document.map_err(SecretError::ReadOnly)?;
        document.get(key).cloned().ok_or_else(|| SecretError::NotFound(format!("{name} has no key {key}")))
    }

    async fn audit(&self, who: &Identity, action: &'static str, env: &Environment, name: &SecretName, details: serde_json::Value) -> Result<Option<i64>> {
        let event = NewAuditEvent {
            actor: who.name.clone(),
            action,
            environment: Some(env.name.clone()),
            target: Some(name.to_string()),
            details,
        };
        Ok(self.inner.db.append_audit(&event).await?)
    }
}

/// For secrets present in more than one environment, the key names each one lacks.
pub fn parity_of(lists: &[(String, Result<SecretList>)]) -> Parity {
    let mut errors = BTreeMap::new();
    let mut keys: BTreeMap<&str, BTreeMap<&str, BTreeSet<&String>>> = BTreeMap::new();
    for (env, list) in lists {
        match list {
            Ok(list) => {
                for s in list.secrets.iter().filter(|s| s.read_only.is_none()) {
                    keys.entry(&s.name).or_default().insert(env, s.keys.iter().collect());
                }
            }
            Err(e) => {
                errors.insert(env.clone(), e.to_string());
            }
        }
    }
    let secrets = keys
        .into_iter()
        .filter(|(_, per_env)| per_env.len() > 1)
        .map(|(name, per_env)| {
            let all: BTreeSet<&String> = per_env.values().flatten().copied().collect();
            let missing = per_env
                .iter()
                .map(|(env, have)| (env.to_string(), all.iter().filter(|k| !have.contains(*k)).map(|k| (*k).clone()).collect()))
                .collect();
            ParityRow { name: name.to_string(), missing }
        })
        .collect();
    Parity { environments: lists.iter().map(|(e, _)| e.clone()).collect(), secrets, errors }
}

/// How a write under the locks ended without writing.
enum Locked {
    /// The secret is no longer at the version the caller read; this is what it is at.
    Stale(store::Value),
    Failed(SecretError),
}

impl<E: Into<SecretError>> From<E> for Locked {
    fn from(e: E) -> Self {
        Locked::Failed(e.into())
    }
}

enum Apply {
    Put(String, Document, Vec<String>),
    MakeCurrent(String, Vec<String>),
}

fn check_rotation(keys: &[(String, RotationOptions)], rule: KeyRule) -> Result<()> {
    if keys.is_empty() {
        return Err(SecretError::Invalid("choose at least one key to rotate".into()));
    }
    for (key, options) in keys {
        document::check_key_name(key, rule)?;
        generate::check(options).map_err(|e| SecretError::Invalid(format!("{key}: {e}")))?;
    }
    Ok(())
}

fn missing_keys<'a>(doc: &Document, keys: impl Iterator<Item = &'a String>) -> Result<()> {
    let missing: Vec<&String> = keys.filter(|k| doc.get(k).is_none()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        let names: Vec<&str> = missing.iter().map(|k| k.as_str()).collect();
        Err(SecretError::Invalid(format!("not in the secret, so not rotated: {} (add a key by editing)", names.join(", "))))
    }
}

/// A version id of our own (a UUID), so the audit row can name the version before it exists.
fn new_version_id() -> String {
    let hex = hex::encode(rand::random::<[u8; 16]>());
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}
