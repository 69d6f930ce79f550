//! Live ECS status of every environment, read with one `DescribeServices` call per cluster (up to
//! 10 services a call), shared by all viewers through the `LiveCache`.

use crate::config::Config;
use crate::live::cache::{Fetch, Live, LiveCache, Unavailable};
use app::model::shared::Shared;
use app::model::status::{DeploymentStatus, EnvironmentStatus, Health, ServiceEvent, ServiceStatus};
use app::model::Environment;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

impl Live for EnvironmentStatus {
    fn with_error(self, error: String) -> Self {
        EnvironmentStatus { error: Some(error), ..self }
    }

    fn has_data(&self) -> bool {
        self.fetched_at.is_some()
    }
}

#[derive(Clone)]
pub struct LiveStatus {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    /// Each environment with its ECS client (none when AWS is turned off).
    pub(super) environments: Vec<(Environment, Option<aws_sdk_ecs::Client>)>,
    /// Each value carries its JSON: the most requested answer of the API is made of these.
    pub(super) cache: LiveCache<Shared<EnvironmentStatus>>,
    pub(super) timeout: Duration,
    /// Services read fresh (rollouts), shared for `aws.repeat_read_seconds`.
    pub(super) followed: crate::live::cache::Recent<ServiceStatus>,
}

impl LiveStatus {
    pub async fn new(config: &Config) -> LiveStatus {
        let environments = crate::live::clients::per_environment(config, |sdk| crate::aws_client!(aws_sdk_ecs, sdk)).await;
        LiveStatus {
            inner: Arc::new(Inner {
                environments,
                cache: LiveCache::new("ecs", Duration::from_secs(config.aws.cache_ttl_seconds)),
                timeout: Duration::from_secs(config.aws.timeout_seconds),
                followed: crate::live::cache::Recent::new(Duration::from_secs(config.aws.repeat_read_seconds)),
            }),
        }
    }

    /// Every environment's status, fetched in parallel.
    pub async fn all(&self) -> Vec<Shared<EnvironmentStatus>> {
        let reads = self.inner.environments.iter().map(|(e, _)| self.get(&e.name));
        futures_util::future::join_all(reads).await.into_iter().flatten().collect()
    }

    pub async fn get(&self, environment: &str) -> Option<Shared<EnvironmentStatus>> {
        let (env, ecs) = self.inner.environments.iter().find(|(e, _)| e.name == environment)?;
        Some(self.inner.cache.get(environment, || self.refresher(env, ecs)).await)
    }

    fn refresher(
        &self,
        env: &Environment,
        ecs: &Option<aws_sdk_ecs::Client>,
    ) -> (Fetch<Shared<EnvironmentStatus>>, Unavailable<Shared<EnvironmentStatus>>) {
        let (env, ecs, timeout) = (env.clone(), ecs.clone(), self.inner.timeout);
        let name = env.name.clone();
        let fetch: Fetch<Shared<EnvironmentStatus>> = Arc::new(move || {
            let (env, ecs) = (env.clone(), ecs.clone());
            Box::pin(async move {
                match ecs {
                    Some(ecs) => fetch(&ecs, &env, timeout).await.map(Shared::new),
                    None => Err("Live status is turned off (aws.enabled = false).".to_string()),
                }
            })
        });
        let unavailable: Unavailable<Shared<EnvironmentStatus>> = Arc::new(move |error| {
            Shared::new(EnvironmentStatus {
                environment: name.clone(),
                health: Health::Unknown,
                services: Vec::new(),
                fetched_at: None,
                error: Some(error),
            })
        });
        (fetch, unavailable)
    }
}

async fn fetch(ecs: &aws_sdk_ecs::Client, env: &Environment, timeout: Duration) -> Result<EnvironmentStatus, String> {
    let names: Vec<String> = env.services.iter().map(|s| s.name.clone()).collect();
    let mut services = Vec::new();
    for chunk in names.chunks(10) {
        let call = ecs.describe_services().cluster(&env.ecs_cluster).set_services(Some(chunk.to_vec())).send();
        let out = ecs_call(timeout, "DescribeServices", call).await?;
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

/// One ECS call under `timeout`, its failure as a message naming the operation.
pub(super) async fn ecs_call<T, E: std::error::Error>(
    timeout: Duration,
    operation: &str,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(format!("ECS did not answer within {} s", timeout.as_secs())),
        Ok(Err(e)) => Err(format!("ECS {operation} failed: {}", aws_sdk_ecs::error::DisplayErrorContext(&e))),
        Ok(Ok(out)) => Ok(out),
    }
}

pub(super) fn service_status(svc: &aws_sdk_ecs::types::Service) -> ServiceStatus {
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
