//! The write pipeline: every change to a secret (edit, rotate, roll back, a confirmed pending
//! change) goes through `write`: the caller's permission, the write lease in the database, the
//! version check against what the caller read, the audit row, the new version in Secrets Manager,
//! then the notification and the redeploy of the services that read it.

use super::*;

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
                let holder = crate::auth::random_id(24);
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
                (AuditAction::SecretRollback, details, Apply::MakeCurrent(target, changed))
            }
            write => {
                let doc = current.document.as_ref().map_err(|why| SecretError::ReadOnly(why.clone()))?;
                let (action, change) = match write {
                    Write::Edit(change) => (AuditAction::SecretUpdate, change.clone()),
                    Write::Rotate(keys) => {
                        missing_keys(doc, keys.iter().map(|(k, _)| k))?;
                        let set = keys.iter().map(|(k, options)| (k.clone(), generate::value(options))).collect();
                        (AuditAction::SecretRotate, Change { set, remove: BTreeSet::new() })
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
                if let Err(audit) = self.audit(req.who, AuditAction::SecretWriteFailed, req.env, req.name, failed).await {
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
