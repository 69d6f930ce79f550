//! A local webhook receiver for the notification tests: it records every request and answers
//! as told (a queue of replies, then 200), on port 0 or on an address chosen before it starts
//! (to be "down" first and come up later).

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zelly_control::config::notifications::{Destination, DestinationKind};

#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("the body is JSON ({e}): {}", self.body))
    }

    pub fn event(&self) -> String {
        self.header("x-zelly-event").to_string()
    }
}

/// A signed webhook destination to `url`, hearing every event.
pub fn webhook(name: &str, url: &str, signing_key: &str) -> Destination {
    Destination {
        name: name.into(),
        kind: DestinationKind::Webhook,
        url: Some(url.into()),
        url_secret: None,
        signing_key: Some(signing_key.into()),
        signing_key_secret: None,
        events: vec![],
        environments: vec![],
    }
}

/// How to answer one request.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<&'static str>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, retry_after: None, delay: Duration::ZERO }
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    replies: VecDeque<Reply>,
    /// Answers after the queue is empty.
    otherwise: Option<Reply>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// An address nothing listens on yet (for a receiver that is down, then comes up).
    pub fn free_address() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    pub async fn start_on(addr: SocketAddr) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let reply = {
                    let mut s = state.lock().unwrap();
                    s.received.push(Received { at: Instant::now(), headers, body: String::from_utf8_lossy(&body).into_owned() });
                    s.replies.pop_front().or_else(|| s.otherwise.clone()).unwrap_or(Reply::status(200))
                };
                tokio::time::sleep(reply.delay).await;
                let mut headers = HeaderMap::new();
                if let Some(after) = reply.retry_after {
                    headers.insert("retry-after", after.parse().unwrap());
                }
                (StatusCode::from_u16(reply.status).unwrap(), headers, format!("receiver says {}", reply.status))
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// A signed webhook destination named `name` to this receiver, hearing every event.
    pub fn webhook(&self, name: &str, signing_key: &str) -> Destination {
        webhook(name, &self.url(), signing_key)
    }

    /// Answers the next requests with `replies`, in order, then 200.
    pub fn reply_with(&self, replies: Vec<Reply>) {
        self.shared.lock().unwrap().replies.extend(replies);
    }

    /// Answers every request (after the queued replies) with `reply`.
    pub fn always(&self, reply: Reply) {
        self.shared.lock().unwrap().otherwise = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The requests carrying event `event`.
    pub fn of(&self, event: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.event() == event).collect()
    }

    /// Waits until `n` requests of `event` arrived, and returns them.
    pub async fn wait_for(&self, event: &str, n: usize) -> Vec<Received> {
        super::until(&format!("{n} {event} requests"), async || self.of(event).len() >= n).await;
        self.of(event)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
