//! The cache in front of AWS for live data (ECS status, CloudWatch metrics): one value per key,
//! shared by every viewer, refreshed at most once per TTL by one call at a time.
//!
//! A viewer never waits for a refresh when there is something to show: an expired value is
//! answered at once while one background refresh runs. A refresh that fails keeps the last good
//! data, marked with the error, so a page never turns into an error page because of AWS.

use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub trait Live: Clone + Send + Sync + 'static {
    /// This value, marked with the error of a refresh that failed; its data stays as it was.
    fn with_error(self, error: String) -> Self;
    /// Whether it holds data read from AWS (rather than only an error).
    fn has_data(&self) -> bool;
}

/// Large values are kept shared: a cache hit then costs a reference count, not a copy.
impl<T: Live + serde::Serialize> Live for app::model::shared::Shared<T> {
    fn with_error(self, error: String) -> Self {
        Self::new((*self).clone().with_error(error))
    }

    fn has_data(&self) -> bool {
        (**self).has_data()
    }
}

/// Reads a fresh value from AWS.
pub type Fetch<T> = Arc<dyn Fn() -> BoxFuture<'static, Result<T, String>> + Send + Sync>;
/// The value to show when there has never been good data, from the error.
pub type Unavailable<T> = Arc<dyn Fn(String) -> T + Send + Sync>;

pub struct LiveCache<T> {
    /// Its name in `/metrics` (`ecs`, `cloudwatch`).
    name: &'static str,
    ttl: Duration,
    slots: Mutex<HashMap<String, Arc<Slot<T>>>>,
}

struct Slot<T> {
    cached: RwLock<Option<(T, Instant)>>,
    /// Held while a refresh runs: concurrent viewers share one call to AWS.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl<T: Live> LiveCache<T> {
    pub fn new(name: &'static str, ttl: Duration) -> Self {
        LiveCache { name, ttl, slots: Mutex::new(HashMap::new()) }
    }

    fn slot(&self, key: &str) -> Arc<Slot<T>> {
        let mut slots = self.slots.lock().expect("live cache lock");
        slots
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Slot { cached: RwLock::new(None), refreshing: Arc::new(tokio::sync::Mutex::new(())) }))
            .clone()
    }

    /// The value for `key`. `refresher` builds the fetch (and the "unavailable" value) and is
    /// only called when AWS must be asked: a cache hit costs a lookup and a clone, nothing more.
    pub async fn get(&self, key: &str, refresher: impl FnOnce() -> (Fetch<T>, Unavailable<T>)) -> T {
        let slot = self.slot(key);
        let cached = slot.cached.read().expect("live cache lock").clone();
        let lookup = |result| crate::telemetry::prometheus::record_cache_lookup(self.name, result);
        match cached {
            Some((value, at)) if at.elapsed() < self.ttl => {
                lookup("hit");
                value
            }
            Some((value, _)) => {
                lookup("stale");
                if let Ok(guard) = slot.refreshing.clone().try_lock_owned() {
                    let (fetch, unavailable) = refresher();
                    tokio::spawn(async move {
                        refresh(&slot, &fetch, &unavailable).await;
                        drop(guard);
                    });
                }
                value
            }
            None => {
                lookup("miss");
                let _guard = slot.refreshing.lock().await;
                // Another viewer may have filled it while we waited.
                if let Some((value, at)) = slot.cached.read().expect("live cache lock").clone() {
                    if at.elapsed() < self.ttl {
                        return value;
                    }
                }
                let (fetch, unavailable) = refresher();
                refresh(&slot, &fetch, &unavailable).await
            }
        }
    }

    /// Marks `key`'s value as expired (AWS changed under it): the next viewer still sees it at
    /// once and triggers the refresh.
    pub fn expire(&self, key: &str) {
        let slot = self.slot(key);
        let mut cached = slot.cached.write().expect("live cache lock");
        if let Some((_, at)) = cached.as_mut() {
            if let Some(past) = Instant::now().checked_sub(self.ttl) {
                *at = past;
            }
        }
    }
}

async fn refresh<T: Live>(slot: &Slot<T>, fetch: &Fetch<T>, unavailable: &Unavailable<T>) -> T {
    let value = match fetch().await {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!("live data unavailable: {error}");
            let previous = slot.cached.read().expect("live cache lock").clone();
            match previous {
                Some((previous, _)) if previous.has_data() => previous.with_error(error),
                _ => unavailable(error),
            }
        }
    };
    *slot.cached.write().expect("live cache lock") = Some((value.clone(), Instant::now()));
    value
}

/// Fresh reads that a page or script may repeat in a loop (a rollout being followed, the
/// secrets list): each answer is kept for a moment and shared, and one read per key runs at a
/// time, so however many viewers poll, AWS sees about one call per key per `ttl`. Failures are
/// not kept (the next caller tries again). Keys must come from the configuration (an
/// environment, a configured service), so the map stays small.
pub struct Recent<T> {
    ttl: Duration,
    entries: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<(T, Instant)>>>>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(ttl: Duration) -> Self {
        Recent { ttl, entries: Default::default() }
    }

    /// The answer for `key` kept within the last `ttl`, or what `read` gives now.
    pub async fn get<E>(&self, key: &str, read: impl std::future::Future<Output = Result<T, E>>) -> Result<T, E> {
        let slot = self.entries.lock().expect("recent reads lock").entry(key.to_string()).or_default().clone();
        let mut kept = slot.lock().await;
        if let Some((value, _)) = kept.as_ref().filter(|(_, at)| at.elapsed() < self.ttl) {
            return Ok(value.clone());
        }
        let value = read.await?;
        *kept = Some((value.clone(), Instant::now()));
        Ok(value)
    }

    /// After a change: the next caller reads again (its own read, even while one that may have
    /// started before the change is still under way).
    pub fn forget(&self, key: &str) {
        self.entries.lock().expect("recent reads lock").remove(key);
    }
}
