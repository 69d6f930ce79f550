//! API tokens verified recently, so a script or dashboard polling the API costs no database
//! read per call (that read was the largest part of a warm API answer). An entry lives
//! `auth.token_cache_seconds`; a revocation through this server forgets the token at once, one
//! made elsewhere (the CLI, another replica) applies within that time.

use app::model::Identity;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are dropped.
const MAX_ENTRIES: usize = 10_000;

pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    token_id: i64,
    identity: Identity,
    at: Instant,
}

impl TokenCache {
    /// `ttl_seconds = 0` turns the cache off: every call reads the database.
    pub fn new(ttl_seconds: u32) -> TokenCache {
        TokenCache { ttl: Duration::from_secs(u64::from(ttl_seconds)), entries: Mutex::new(HashMap::new()) }
    }

    /// The token (by hash) and whose it is, if verified less than the TTL ago.
    pub fn get(&self, token_hash: &str) -> Option<(i64, Identity)> {
        let entries = self.entries.lock().expect("token cache lock");
        entries.get(token_hash).filter(|e| e.at.elapsed() < self.ttl).map(|e| (e.token_id, e.identity.clone()))
    }

    pub fn put(&self, token_hash: &str, token_id: i64, identity: &Identity) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("token cache lock");
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, e| e.at.elapsed() < ttl);
        }
        entries.insert(token_hash.to_string(), Entry { token_id, identity: identity.clone(), at: Instant::now() });
    }

    /// After a revocation: the token is checked against the database again on its next use.
    pub fn forget(&self, token_id: i64) {
        self.entries.lock().expect("token cache lock").retain(|_, e| e.token_id != token_id);
    }

    /// After a user was disabled or their role changed: their tokens are checked again.
    pub fn forget_user(&self, user_id: i64) {
        self.entries.lock().expect("token cache lock").retain(|_, e| e.identity.user_id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Role;

    fn asha() -> Identity {
        Identity { user_id: 1, name: "asha".into(), display_name: "Asha".into(), role: Role::Admin }
    }

    #[test]
    fn remembers_for_its_ttl_and_forgets_a_revoked_token() {
        let cache = TokenCache::new(60);
        assert!(cache.get("h1").is_none());
        cache.put("h1", 7, &asha());
        cache.put("h2", 8, &asha());
        assert_eq!(cache.get("h1").map(|(id, who)| (id, who.name)), Some((7, "asha".into())));
        cache.forget(7);
        assert!(cache.get("h1").is_none(), "revoked: asked again");
        assert!(cache.get("h2").is_some(), "other tokens stay");
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = TokenCache::new(0);
        cache.put("h1", 7, &asha());
        assert!(cache.get("h1").is_none());
    }
}
