//! Redeploying an ECS service (`UpdateService` with `forceNewDeployment`, so new tasks read
//! their secrets again) and watching its rollout with fresh reads rather than the shared cache.

use app::model::audit::AuditAction;
use super::ecs::{ecs_call, service_status, LiveStatus};
use crate::db::audit::NewAuditEvent;
use crate::db::{Db, DbError};
use app::model::status::ServiceStatus;
use app::model::{Environment, Identity};
use serde_json::json;

/// A rollout page follows this many services at most (a page asks for them by name).
const MAX_FOLLOWED: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no environment {0:?}")]
    UnknownEnvironment(String),
    #[error("{0}")]
    UnknownService(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Aws(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl LiveStatus {
    /// The environment's ECS client (none when AWS is turned off).
    pub fn ecs(&self, env: &str) -> Option<aws_sdk_ecs::Client> {
        self.inner.environments.iter().find(|(e, _)| e.name == env).and_then(|(_, c)| c.clone())
    }

    fn service(&self, env: &str, service: &str) -> Result<(&Environment, aws_sdk_ecs::Client), DeployError> {
        let (environment, ecs) = self
            .inner
            .environments
            .iter()
            .find(|(e, _)| e.name == env)
            .ok_or_else(|| DeployError::UnknownEnvironment(env.into()))?;
        if !environment.services.iter().any(|s| s.name == service) {
            return Err(DeployError::UnknownService(format!("{env} has no service {service:?}")));
        }
        let ecs = ecs.clone().ok_or_else(|| DeployError::Aws("AWS is turned off (aws.enabled = false)".into()))?;
        Ok((environment, ecs))
    }

    /// The service as ECS sees it now, not from the dashboard's cache: for following a rollout.
    /// Everyone following it within `aws.repeat_read_seconds` shares one read.
    pub async fn service_now(&self, env: &str, service: &str) -> Result<ServiceStatus, DeployError> {
        let (environment, ecs) = self.service(env, service)?;
        let key = format!("{env}/{service}");
        self.inner.followed.get(&key, self.read_service(environment, ecs, service)).await
    }

    /// Several services followed at once (a secret's consumers after a redeploy), at most
    /// `MAX_FOLLOWED` of them: each as ECS sees it now, or why it could not be read.
    pub async fn rollout(&self, env: &str, services: &[String]) -> Vec<app::server_fns::Rollout> {
        let reads = services.iter().take(MAX_FOLLOWED).map(|service| async move {
            app::server_fns::Rollout { service: service.clone(), status: self.service_now(env, service).await.map_err(|e| e.to_string()) }
        });
        futures_util::future::join_all(reads).await
    }

    async fn read_service(&self, environment: &Environment, ecs: aws_sdk_ecs::Client, service: &str) -> Result<ServiceStatus, DeployError> {
        let call = ecs.describe_services().cluster(&environment.ecs_cluster).services(service).send();
        let out = ecs_call(self.inner.timeout, "DescribeServices", call).await.map_err(DeployError::Aws)?;
        let found = out.services().first().ok_or_else(|| DeployError::UnknownService(format!("{service} is not in {}", environment.ecs_cluster)))?;
        Ok(ServiceStatus { name: service.to_string(), ..service_status(found) })
    }

    /// Starts a new deployment of `service` with its current task definition. Audited first.
    pub async fn redeploy(&self, db: &Db, who: &Identity, env: &str, service: &str, reason: &str) -> Result<ServiceStatus, DeployError> {
        let (environment, ecs) = self.service(env, service)?;
        let role = environment.secret_write_role();
        if !who.can(role) {
            return Err(DeployError::Forbidden(format!("redeploying a service in {env} needs the {role} role")));
        }
        let reason: String = reason.trim().chars().take(500).collect();
        let event = |action, details| NewAuditEvent {
            actor: who.name.clone(),
            action,
            environment: Some(env.to_string()),
            target: Some(service.to_string()),
            details,
        };
        db.append_audit(&event(AuditAction::ServiceRedeploy, json!({ "cluster": environment.ecs_cluster, "reason": reason }))).await?;
        let call = ecs.update_service().cluster(&environment.ecs_cluster).service(service).force_new_deployment(true).send();
        let out = match ecs_call(self.inner.timeout, "UpdateService", call).await {
            Ok(out) => out,
            Err(why) => {
                // The audit log says it was asked for; it must also say it did not happen.
                db.append_audit(&event(AuditAction::ServiceRedeployFailed, json!({ "cluster": environment.ecs_cluster, "error": why }))).await?;
                return Err(DeployError::Aws(why));
            }
        };
        // Everyone's dashboard should show the new deployment on its next look.
        self.inner.cache.expire(env);
        self.inner.followed.forget(&format!("{env}/{service}"));
        let svc = out.service().ok_or_else(|| DeployError::Aws("ECS UpdateService answered without the service".into()))?;
        Ok(ServiceStatus { name: service.to_string(), ..service_status(svc) })
    }
}
