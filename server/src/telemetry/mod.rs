//! What the server tells the people who run it about itself: its log lines (text or JSON) and
//! its Prometheus metrics (requests, runs, AWS calls, caches, notifications).

pub mod aws;
pub mod logs;
pub mod prometheus;
