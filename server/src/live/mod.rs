//! Live AWS data, one module per service it talks to: ECS (`ecs`: services' status and
//! rollouts; `deploy`: forcing a new deployment), CloudWatch (`cloudwatch`: the dashboard's
//! metrics), the SDK clients every AWS caller builds from (`clients`: region, credentials,
//! endpoint, timeouts, retries), and the cache they share (`cache`: a refresh window, one fetch
//! at a time, the last good answer kept when AWS fails).

pub mod cache;
pub mod clients;
pub mod cloudwatch;
pub mod deploy;
pub mod ecs;
