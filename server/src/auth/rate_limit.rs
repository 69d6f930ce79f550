//! Rate limits for what is worth guessing or harvesting: sign-ins (per client address) and
//! secret reveals (per user). A token bucket per key: `per_minute` at once, then one every
//! 60/`per_minute` seconds. Per process: with several replicas each allows its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimit {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

/// Buckets kept before full (idle) ones are dropped.
const MAX_KEYS: usize = 10_000;

impl RateLimit {
    /// `per_minute = 0` turns the limit off.
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one from `key`'s bucket, or says how long until one is there.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = self.per_minute as f64;
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        if buckets.len() >= MAX_KEYS {
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * per_second < capacity);
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(((1.0 - *tokens) / per_second).ceil()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_with_the_wait_and_keys_are_separate() {
        let limit = RateLimit::new(3);
        for _ in 0..3 {
            assert_eq!(limit.check("10.0.0.1"), Ok(()));
        }
        let wait = limit.check("10.0.0.1").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(20), "{wait:?}");
        assert_eq!(limit.check("10.0.0.2"), Ok(()), "another address has its own bucket");
        let off = RateLimit::new(0);
        assert!((0..100).all(|_| off.check("x").is_ok()));
    }
}
