//! Live ECS status of every environment, read with one `DescribeServices` call per cluster (up to
//! 10 services a call) and shared by all viewers for `aws.cache_ttl_seconds`.
//!
//! A viewer never waits on a refresh when there is something to show: stale data is answered at
//! once while one background refresh runs. When AWS is slow or failing, the last good data stays,
//! carrying its age and the error, so a page never becomes an error page.

use crate::config::Config;
use app::model::status::{DeploymentStatus, EnvironmentStatus, Health, ServiceEvent, ServiceStatus};
use app::model::Environment;
use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct LiveStatus {
    inner: Arc<Inner>,
}

struct Inner {
    environments: Vec<EnvironmentSlot>,
    ttl: Duration,
    timeout: Duration,
    /// Why live status is not read at all (AWS turned off), if it is not.
    disabled: Option<String>,
}

struct EnvironmentSlot {
    environment: Environment,
    ecs: Option<aws_sdk_ecs::Client>,
    cached: RwLock<Option<Cached>>,
    /// Held while a refresh runs: concurrent viewers share one call to AWS.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
struct Cached {
    status: EnvironmentStatus,
    at: Instant,
}

impl LiveStatus {
    pub async fn new(config: &Config) -> LiveStatus {
        let mut environments = Vec::new();
        for env in config.environments() {
            let ecs = if config.aws.enabled {
                Some(aws_sdk_ecs::Client::new(&crate::aws::sdk_config(&config.aws, &env).await))
            } else {
                None
            };
            environments.push(EnvironmentSlot {
                environment: env,
                ecs,
                cached: RwLock::new(None),
                refreshing: Arc::new(tokio::sync::Mutex::new(())),
            });
        }
        let disabled = (!config.aws.enabled).then(|| "Live status is turned off (aws.enabled = false).".to_string());
        LiveStatus {
            inner: Arc::new(Inner {
                environments,
                ttl: Duration::from_secs(config.aws.cache_ttl_seconds),
                timeout: Duration::from_secs(config.aws.timeout_seconds),
                disabled,
            }),
        }
    }

    /// Every environment's status, fetched in parallel.
    pub async fn all(&self) -> Vec<EnvironmentStatus> {
        let names: Vec<String> = self.inner.environments.iter().map(|s| s.environment.name.clone()).collect();
        let lookups = names.iter().map(|n| self.get(n));
        futures_util::future::join_all(lookups).await.into_iter().flatten().collect()
    }

    pub async fn get(&self, environment: &str) -> Option<EnvironmentStatus> {
        let index = self.inner.environments.iter().position(|s| s.environment.name == environment)?;
        let slot = &self.inner.environments[index];
        let cached = slot.cached.read().expect("status cache lock").clone();
        match cached {
            Some(c) if c.at.elapsed() < self.inner.ttl => Some(c.status),
            Some(c) => {
                self.refresh_in_background(index);
                Some(c.status)
            }
            None => Some(self.refresh(index).await),
        }
    }

    fn refresh_in_background(&self, index: usize) {
        let slot = &self.inner.environments[index];
        let Ok(guard) = slot.refreshing.clone().try_lock_owned() else { return };
        let this = self.clone();
        tokio::spawn(async move {
            this.fetch_and_store(index).await;
            drop(guard);
        });
    }

    async fn refresh(&self, index: usize) -> EnvironmentStatus {
        let slot = &self.inner.environments[index];
        let _guard = slot.refreshing.lock().await;
        // Someone else may have refreshed while we waited for the lock.
        if let Some(c) = slot.cached.read().expect("status cache lock").clone() {
            if c.at.elapsed() < self.inner.ttl {
                return c.status;
            }
        }
        self.fetch_and_store(index).await
    }

    async fn fetch_and_store(&self, index: usize) -> EnvironmentStatus {
        let slot = &self.inner.environments[index];
        let env = &slot.environment;
        let result = match (&slot.ecs, &self.inner.disabled) {
            (Some(ecs), _) => fetch(ecs, env, self.inner.timeout).await,
            (None, why) => Err(why.clone().unwrap_or_default()),
        };
        let status = match result {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(environment = %env.name, "live status unavailable: {error}");
                // Keep the last good data, saying how old it is and why it is not newer.
                let previous = slot.cached.read().expect("status cache lock").clone();
                match previous.filter(|c| c.status.fetched_at.is_some()) {
                    Some(c) => EnvironmentStatus { error: Some(error), ..c.status },
                    None => EnvironmentStatus {
                        environment: env.name.clone(),
                        health: Health::Unknown,
                        services: Vec::new(),
                        fetched_at: None,
                        error: Some(error),
                    },
                }
            }
        };
        *slot.cached.write().expect("status cache lock") = Some(Cached { status: status.clone(), at: Instant::now() });
        status
    }
}

async fn fetch(ecs: &aws_sdk_ecs::Client, env: &Environment, timeout: Duration) -> Result<EnvironmentStatus, String> {
    let names: Vec<String> = env.services.iter().map(|s| s.name.clone()).collect();
    let mut services = Vec::new();
    for chunk in names.chunks(10) {
        let call = ecs.describe_services().cluster(&env.ecs_cluster).set_services(Some(chunk.to_vec())).send();
        let out = match tokio::time::timeout(timeout, call).await {
            Err(_) => return Err(format!("ECS did not answer within {} s", timeout.as_secs())),
            Ok(Err(e)) => return Err(format!("ECS DescribeServices failed: {}", aws_sdk_ecs::error::DisplayErrorContext(&e))),
            Ok(Ok(out)) => out,
        };
        for svc in out.services() {
            services.push(service_status(svc));
        }
        for failure in out.failures() {
            services.push(missing(failure.arn().unwrap_or_default(), failure.reason().unwrap_or("not found")));
        }
    }
    // Keep the configured order; a configured service ECS did not mention is unknown.
    let mut ordered = Vec::new();
    for name in &names {
        let found = services.iter().position(|s| &s.name == name || s.name.ends_with(&format!("/{name}")));
        ordered.push(match found {
            Some(i) => ServiceStatus { name: name.clone(), ..services.swap_remove(i) },
            None => missing(name, "not found in the cluster"),
        });
    }
    Ok(EnvironmentStatus {
        environment: env.name.clone(),
        health: overall(&ordered),
        services: ordered,
        fetched_at: Some(Utc::now()),
        error: None,
    })
}

fn missing(name: &str, reason: &str) -> ServiceStatus {
    ServiceStatus {
        name: name.to_string(),
        desired: 0,
        running: 0,
        pending: 0,
        rollout: format!("MISSING ({reason})"),
        task_definition: String::new(),
        deployments: Vec::new(),
        events: Vec::new(),
        health: Health::Unknown,
    }
}

/// `arn:aws:ecs:…:task-definition/fastify-nova:12` → `fastify-nova:12`.
fn short_task_definition(arn: Option<&str>) -> String {
    arn.map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default()
}

fn time(t: Option<&aws_sdk_ecs::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn service_status(svc: &aws_sdk_ecs::types::Service) -> ServiceStatus {
    let deployments: Vec<DeploymentStatus> = svc
        .deployments()
        .iter()
        .map(|d| DeploymentStatus {
            status: d.status().unwrap_or_default().to_string(),
            rollout: d.rollout_state().map(|r| r.as_str().to_string()).unwrap_or_else(|| "COMPLETED".into()),
            task_definition: short_task_definition(d.task_definition()),
            desired: d.desired_count(),
            running: d.running_count(),
            pending: d.pending_count(),
            updated_at: time(d.updated_at()),
        })
        .collect();
    let primary = deployments.iter().find(|d| d.status == "PRIMARY");
    let rollout = primary.map(|d| d.rollout.clone()).unwrap_or_else(|| "COMPLETED".into());
    let (desired, running, pending) = (svc.desired_count(), svc.running_count(), svc.pending_count());
    let health = if rollout == "FAILED" || (desired > 0 && running == 0) {
        Health::Down
    } else if running < desired || rollout == "IN_PROGRESS" || deployments.len() > 1 {
        Health::Degraded
    } else {
        Health::Healthy
    };
    ServiceStatus {
        name: svc.service_name().unwrap_or_default().to_string(),
        desired,
        running,
        pending,
        task_definition: primary
            .map(|d| d.task_definition.clone())
            .unwrap_or_else(|| short_task_definition(svc.task_definition())),
        rollout,
        events: svc
            .events()
            .iter()
            .take(5)
            .map(|e| ServiceEvent { at: time(e.created_at()), message: e.message().unwrap_or_default().to_string() })
            .collect(),
        deployments,
        health,
    }
}

/// The environment is as healthy as its least healthy service (a missing one counts as unknown).
fn overall(services: &[ServiceStatus]) -> Health {
    let rank = |h: Health| match h {
        Health::Healthy => 0,
        Health::Unknown => 1,
        Health::Degraded => 2,
        Health::Down => 3,
    };
    services.iter().map(|s| s.health).max_by_key(|h| rank(*h)).unwrap_or(Health::Unknown)
}
