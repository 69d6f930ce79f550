//! Production writes from the browser wait here between "review" and "confirm", so the
//! confirmation page lists what will change (key names) without the new values ever being sent
//! back to the browser. They live in this process's memory only, for a few minutes: a value typed
//! into a form is never written to our database. With several replicas, the confirmation must
//! reach the replica that holds it (sticky sessions); elsewhere it reads as expired and the user
//! enters the change again — nothing is written either way.

use super::document::Change;
use super::name::SecretName;
use app::model::secret::{PendingSummary, RotationOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LIFETIME: Duration = Duration::from_secs(600);
/// Each user has at most this many changes waiting (the oldest goes first).
const PER_USER: usize = 10;

#[derive(Clone, Debug)]
pub enum Write {
    Edit(Change),
    Rotate(Vec<(String, RotationOptions)>),
    /// To this version, or AWSPREVIOUS.
    Rollback(Option<String>),
}

#[derive(Clone, Debug)]
pub struct Pending {
    pub user_id: i64,
    pub environment: String,
    pub name: SecretName,
    pub expected_version: String,
    pub write: Write,
    pub existing_keys: Vec<String>,
    created: Instant,
    /// Order of arrival (instants can tie).
    seq: u64,
}

impl Pending {
    /// Still waiting, and for this user's confirmation.
    fn waits_for(&self, user_id: i64) -> bool {
        self.user_id == user_id && self.created.elapsed() < LIFETIME
    }
}

#[derive(Clone, Default)]
pub struct PendingChanges(Arc<Mutex<HashMap<String, Pending>>>, Arc<std::sync::atomic::AtomicU64>);

impl PendingChanges {
    pub fn add(
        &self,
        user_id: i64,
        environment: &str,
        name: SecretName,
        expected_version: String,
        write: Write,
        existing_keys: Vec<String>,
    ) -> PendingSummary {
        let id = crate::auth::random_id(32);
        let pending = Pending {
            user_id,
            environment: environment.to_string(),
            name,
            expected_version,
            write,
            existing_keys,
            created: Instant::now(),
            seq: self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        let summary = summary(&id, &pending);
        let mut all = self.0.lock().expect("pending lock");
        all.retain(|_, p| p.created.elapsed() < LIFETIME);
        let mut mine: Vec<(String, u64)> =
            all.iter().filter(|(_, p)| p.user_id == user_id).map(|(k, p)| (k.clone(), p.seq)).collect();
        mine.sort_by_key(|(_, seq)| *seq);
        for (old, _) in mine.iter().take((mine.len() + 1).saturating_sub(PER_USER)) {
            all.remove(old);
        }
        all.insert(id, pending);
        summary
    }

    /// The change `id`, if it is this user's and still waiting.
    pub fn get(&self, id: &str, user_id: i64) -> Option<Pending> {
        let all = self.0.lock().expect("pending lock");
        all.get(id).filter(|p| p.waits_for(user_id)).cloned()
    }

    pub fn summary(&self, id: &str, user_id: i64) -> Option<PendingSummary> {
        self.get(id, user_id).map(|p| summary(id, &p))
    }

    /// Takes the change out: a confirmation is used once.
    pub fn take(&self, id: &str, user_id: i64) -> Option<Pending> {
        let mut all = self.0.lock().expect("pending lock");
        let found = all.get(id).is_some_and(|p| p.waits_for(user_id));
        found.then(|| all.remove(id)).flatten()
    }
}

fn summary(id: &str, p: &Pending) -> PendingSummary {
    let mut s = PendingSummary {
        id: id.to_string(),
        environment: p.environment.clone(),
        secret: p.name.to_string(),
        description: String::new(),
        set: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
        rotated: Vec::new(),
        rollback_to: None,
    };
    match &p.write {
        Write::Edit(change) => {
            for key in change.set.keys() {
                if p.existing_keys.contains(key) { s.set.push(key.clone()) } else { s.added.push(key.clone()) }
            }
            s.removed = change.remove.iter().cloned().collect();
            s.description = "Edit keys".into();
        }
        Write::Rotate(keys) => {
            s.rotated = keys.iter().map(|(k, _)| k.clone()).collect();
            s.description = "Rotate keys (new random values)".into();
        }
        Write::Rollback(to) => {
            s.rollback_to = Some(to.clone().unwrap_or_else(|| "AWSPREVIOUS".into()));
            s.description = "Roll back".into();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SecretName {
        super::super::name::check("zelly/", "zelly/redis/auth").unwrap()
    }

    #[test]
    fn a_change_is_confirmed_once_by_its_owner() {
        let pending = PendingChanges::default();
        let s = pending.add(7, "production", name(), "v1".into(), Write::Rollback(None), vec![]);
        assert!(pending.take(&s.id, 8).is_none(), "another user cannot confirm it");
        assert!(pending.take(&s.id, 7).is_some());
        assert!(pending.take(&s.id, 7).is_none(), "used once");
    }

    #[test]
    fn each_user_keeps_only_the_newest_few() {
        let pending = PendingChanges::default();
        let ids: Vec<String> = (0..PER_USER + 3)
            .map(|_| pending.add(1, "production", name(), "v1".into(), Write::Rollback(None), vec![]).id)
            .collect();
        assert!(pending.get(&ids[0], 1).is_none());
        assert!(pending.get(ids.last().unwrap(), 1).is_some());
        assert_eq!(ids.iter().filter(|id| pending.get(id, 1).is_some()).count(), PER_USER);
    }
}
