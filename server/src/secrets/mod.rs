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
pub mod parity;
mod write;
mod writers;

use app::model::audit::AuditAction;
use crate::config::Config;
use crate::db::audit::NewAuditEvent;
use crate::db::{Db, DbError};
use crate::live::ecs::LiveStatus;
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
    listed: crate::live::cache::Recent<SecretList>,
}

impl Secrets {
    pub async fn new(config: &Config, db: Db, environments: Environments, live: LiveStatus) -> Secrets {
        let clients = crate::live::clients::per_environment(config, |sdk| crate::aws_client!(aws_sdk_secretsmanager, sdk)).await;
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
                listed: crate::live::cache::Recent::new(Duration::from_secs(config.aws.repeat_read_seconds)),
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

    /// The secrets page: every environment's list, and the keys each one lacks.
    pub async fn overview(&self) -> app::server_fns::SecretsOverview {
        let lists = self.lists().await;
        let parity = parity::parity_of(&lists);
        let environments = lists
            .into_iter()
            .filter_map(|(name, list)| Some((self.inner.environments.get(&name)?.clone(), list.map_err(|e| e.to_string()))))
            .collect();
        app::server_fns::SecretsOverview { environments, parity }
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
        self.audit(who, AuditAction::SecretView, environment, &name, json!({ "version_id": current.version_id })).await?;
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
        self.audit(who, AuditAction::SecretReveal, environment, &name, json!({ "key": key, "version_id": current.version_id })).await?;
        Ok((value, current.version_id))
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

    async fn audit(&self, who: &Identity, action: AuditAction, env: &Environment, name: &SecretName, details: serde_json::Value) -> Result<Option<i64>> {
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

