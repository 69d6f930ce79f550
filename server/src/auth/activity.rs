//! When tokens, sessions and their users were last used. The database keeps it to a minute's
//! precision, so this process writes at most once a minute per token or session (an UPDATE that
//! changes nothing still takes SQLite's write lock), and off the request path: a slow write must
//! not slow a page.

use crate::db::Db;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a request was authenticated with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Activity {
    Token(i64),
    /// The session's id hash: an active session does not go idle.
    Session(String),
}

/// When this process last wrote each token's or session's activity.
pub type RecentActivity = Arc<Mutex<HashMap<Activity, Instant>>>;

/// Records that `user_id` used `activity` now, unless this process wrote it less than a minute ago.
pub fn record(db: &Db, recent: &RecentActivity, user_id: i64, activity: Activity) {
    {
        let mut recent = recent.lock().expect("activity lock");
        let now = Instant::now();
        if recent.get(&activity).is_some_and(|at| now.duration_since(*at) < Duration::from_secs(60)) {
            return;
        }
        if recent.len() > 10_000 {
            recent.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
        }
        recent.insert(activity.clone(), now);
    }
    let db = db.clone();
    tokio::spawn(async move {
        let result = match &activity {
            Activity::Token(id) => db.touch_token(*id).await.and(db.touch_user(user_id).await),
            Activity::Session(id_hash) => db.touch_session(id_hash).await.and(db.touch_user(user_id).await),
        };
        if let Err(e) = result {
            tracing::warn!("could not record activity: {e}");
        }
    });
}
