//! This process's side of "one writer per secret". Writers of one secret queue on an async
//! mutex here (woken as soon as the one before is done, no polling) before they take the
//! database lease that serialises replicas. Versions this process has just seen replaced are
//! remembered for a few seconds, so a burst of writers that all read the same version is
//! answered 409 at once instead of one AWS read at a time under the lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Long enough to cover a burst; short, because a version can become current again (a rollback
/// from the console) and must then be writable again.
const REMEMBERED_FOR: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Replaced(Vec<(String, Instant)>);

impl Replaced {
    pub fn contains(&self, version: &str) -> bool {
        self.0.iter().any(|(v, at)| v == version && at.elapsed() < REMEMBERED_FOR)
    }

    pub fn record(&mut self, version: &str) {
        self.0.retain(|(v, at)| v != version && at.elapsed() < REMEMBERED_FOR);
        self.0.push((version.to_string(), Instant::now()));
    }

    /// `version` is current now (a rollback made it so).
    pub fn forget(&mut self, version: &str) {
        self.0.retain(|(v, _)| v != version);
    }
}

#[derive(Default)]
pub struct Writers(Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<Replaced>>>>);

impl Writers {
    /// The queue of writers of secret `name` in `environment`.
    pub fn of(&self, environment: &str, name: &str) -> Arc<tokio::sync::Mutex<Replaced>> {
        let mut all = self.0.lock().expect("writers lock");
        all.entry((environment.to_string(), name.to_string())).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_versions_are_remembered_until_current_again() {
        let mut replaced = Replaced::default();
        replaced.record("v1");
        assert!(replaced.contains("v1") && !replaced.contains("v2"));
        replaced.forget("v1");
        assert!(!replaced.contains("v1"));
    }
}
