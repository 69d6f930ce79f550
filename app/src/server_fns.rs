//! Server functions: the operations the UI needs. On the server they run in-process against the
//! `Backend` the server provides as context; in the browser they are HTTP calls to `/app/…`
//! (outside `/api/v1`, which is the public JSON API), authenticated by the session cookie.

use crate::model::run::{EnvironmentActivity, Run, RunView};
use crate::model::metrics::Metrics;
use crate::model::shared::Shared;
use crate::model::secret::{Parity, PendingSummary, SecretDetail, SecretList};
use crate::model::status::{EnvironmentStatus, ServiceStatus};
use crate::model::{Environment, Identity};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The end of a run's log, as the run page first shows it (the rest streams in live).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogTail {
    pub text: String,
    /// Byte offset where `text` starts; above 0, the beginning was left out.
    pub from: i64,
    /// Byte offset where it ends: live updates continue from here.
    pub to: i64,
    /// The run had finished when this was read, so this is the whole log's end.
    pub finished: bool,
}

/// An environment's run list page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunsPage {
    pub environment: Environment,
    pub runs: Vec<Run>,
    pub can_start: bool,
    /// May apply what the promotion source has not applied, giving a reason (admins).
    pub can_override_promotion: bool,
    pub simulated_terraform: bool,
    /// Where the runs' code comes from.
    pub source: crate::model::run::CodeSource,
    /// The environment's Terraform variables (names and sources; sensitive values masked).
    pub variables: crate::model::variables::Variables,
}

#[server(prefix = "/app")]
pub async fn whoami() -> Result<Option<Identity>, ServerFnError> {
    Ok(backend::identity())
}

#[server(prefix = "/app")]
pub async fn list_environments() -> Result<Vec<Environment>, ServerFnError> {
    Ok(backend::get()?.environments().await)
}

#[server(prefix = "/app")]
pub async fn load_environment_activity() -> Result<Vec<EnvironmentActivity>, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.activity(&who).await.map_err(ServerFnError::new)
}

/// An environment's state page; `from` and `to` (version ids) ask for their diff.
#[server(prefix = "/app")]
pub async fn load_state_page(environment: String, from: Option<String>, to: Option<String>) -> Result<crate::model::state::StatePage, ServerFnError> {
    let who = backend::caller()?;
    let versions = from.zip(to).filter(|(f, t)| !f.is_empty() && !t.is_empty());
    backend::get()?.state_page(&who, &environment, versions).await.map_err(ServerFnError::new)
}

/// What the dashboard reads from AWS: every environment's ECS status and its metrics for one
/// range. One call, so the server reads them all at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub statuses: Vec<Shared<EnvironmentStatus>>,
    /// Shared with the server's cache, JSON included: answering neither copies nor serializes
    /// thousands of points.
    pub metrics: Vec<Shared<Metrics>>,
    /// How often the server refreshes this from AWS: the page refreshes on the same beat.
    pub refresh_seconds: u64,
}

/// Never an error for AWS trouble: a failing call shows up as `error` on the environment.
#[server(prefix = "/app")]
pub async fn load_dashboard(range: String) -> Result<Dashboard, ServerFnError> {
    let range = range.parse().map_err(ServerFnError::new)?;
    Ok(backend::get()?.dashboard(range).await)
}

#[server(prefix = "/app")]
pub async fn load_runs_page(environment: String) -> Result<RunsPage, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.runs_page(&who, &environment).await.map_err(ServerFnError::new)
}

#[server(prefix = "/app")]
pub async fn load_run_view(id: i64) -> Result<RunView, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.run_view(&who, id).await.map_err(ServerFnError::new)
}

#[server(prefix = "/app")]
pub async fn load_run_log_tail(id: i64) -> Result<LogTail, ServerFnError> {
    backend::get()?.log_tail(id).await.map_err(ServerFnError::new)
}

/// The secrets page: every environment's list, side by side, and where their keys differ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretsOverview {
    /// Each environment with its list, or why it could not be read.
    pub environments: Vec<(Environment, Result<SecretList, String>)>,
    pub parity: Parity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretPage {
    pub environment: Environment,
    pub detail: SecretDetail,
    /// The change waiting for this user's confirmation, when the page was opened to confirm it.
    pub pending: Option<PendingSummary>,
}

/// A secret's page, or why there is none: the secret or its environment does not exist (the
/// page then answers 404, like any address with nothing behind it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SecretPageAnswer {
    Found(Box<SecretPage>),
    Missing(String),
}

/// A redeployed service as ECS sees it now, or why it could not be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub service: String,
    pub status: Result<ServiceStatus, String>,
}

#[server(prefix = "/app")]
pub async fn load_secrets_overview() -> Result<SecretsOverview, ServerFnError> {
    Ok(backend::get()?.secrets_overview().await)
}

/// Opening a secret's page is audited (as a view).
#[server(prefix = "/app")]
pub async fn load_secret_page(environment: String, name: String, confirm: Option<String>) -> Result<SecretPageAnswer, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.secret_page(&who, &environment, &name, confirm.as_deref()).await.map_err(ServerFnError::new)
}

/// One value, for a user allowed to see it; audited. Only this call's answer carries it. It
/// changes something (the audit log), so it carries the page's CSRF token like a form would.
#[server(prefix = "/app")]
pub async fn reveal_secret_value(environment: String, name: String, key: String, csrf: String) -> Result<String, ServerFnError> {
    // No cache on the way (the server's own compression cache included) keeps a copy.
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    }
    backend::check_csrf(&csrf)?;
    let who = backend::caller()?;
    backend::get()?.reveal(&who, &environment, &name, &key).await.map_err(ServerFnError::new)
}

/// Every user with their API tokens (the domain lets only admins see them).
#[server(prefix = "/app")]
pub async fn load_users() -> Result<Vec<crate::model::users::UserSummary>, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.users(&who).await.map_err(ServerFnError::new)
}

/// The audit log (the domain lets only admins read it).
#[server(prefix = "/app")]
pub async fn load_audit(query: crate::model::audit::AuditQuery) -> Result<crate::model::audit::AuditPage, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.audit(&who, &query).await.map_err(ServerFnError::new)
}

/// Notification destinations and deliveries (the domain lets only admins see them).
#[server(prefix = "/app")]
pub async fn load_notifications(
    // Default: an unfiltered query has no fields, so the browser sends none.
    #[server(default)] query: crate::model::notifications::DeliveryQuery,
) -> Result<crate::model::notifications::NotificationsPage, ServerFnError> {
    let who = backend::caller()?;
    backend::get()?.notifications(&who, &query).await.map_err(ServerFnError::new)
}

#[server(prefix = "/app")]
pub async fn load_costs() -> Result<crate::model::cost::CostOverview, ServerFnError> {
    Ok(backend::get()?.costs().await)
}

#[server(prefix = "/app")]
pub async fn load_rollout(environment: String, services: Vec<String>) -> Result<Vec<Rollout>, ServerFnError> {
    Ok(backend::get()?.rollout(&environment, &services).await)
}

/// The API reference page: the OpenAPI document of `/api/v1`, arranged to be read.
#[server(prefix = "/app")]
pub async fn load_api_reference() -> Result<crate::model::api_reference::ApiReference, ServerFnError> {
    Ok(backend::get()?.api_reference())
}

#[cfg(feature = "ssr")]
pub mod backend {
    //! What the server must provide for the UI to work.
    use super::{Dashboard, LogTail, Rollout, RunsPage, SecretPageAnswer, SecretsOverview};
    use crate::model::metrics::Range;
    use crate::model::run::{EnvironmentActivity, RunView};
    use crate::model::{Environment, Identity};
    use leptos::prelude::*;
    use std::sync::Arc;

    #[async_trait::async_trait]
    pub trait Backend: Send + Sync + 'static {
        async fn environments(&self) -> Vec<Environment>;
        async fn activity(&self, who: &Identity) -> Result<Vec<EnvironmentActivity>, String>;
        async fn state_page(&self, who: &Identity, environment: &str, diff: Option<(String, String)>) -> Result<crate::model::state::StatePage, String>;
        async fn dashboard(&self, range: Range) -> Dashboard;
        async fn runs_page(&self, who: &Identity, environment: &str) -> Result<RunsPage, String>;
        async fn run_view(&self, who: &Identity, id: i64) -> Result<RunView, String>;
        async fn log_tail(&self, id: i64) -> Result<LogTail, String>;
        async fn secrets_overview(&self) -> SecretsOverview;
        async fn secret_page(&self, who: &Identity, environment: &str, name: &str, confirm: Option<&str>) -> Result<SecretPageAnswer, String>;
        async fn reveal(&self, who: &Identity, environment: &str, name: &str, key: &str) -> Result<String, String>;
        async fn rollout(&self, environment: &str, services: &[String]) -> Vec<Rollout>;
        async fn costs(&self) -> crate::model::cost::CostOverview;
        async fn users(&self, who: &Identity) -> Result<Vec<crate::model::users::UserSummary>, String>;
        async fn audit(&self, who: &Identity, query: &crate::model::audit::AuditQuery) -> Result<crate::model::audit::AuditPage, String>;
        fn api_reference(&self) -> crate::model::api_reference::ApiReference;
        async fn notifications(
            &self,
            who: &Identity,
            query: &crate::model::notifications::DeliveryQuery,
        ) -> Result<crate::model::notifications::NotificationsPage, String>;
    }

    pub type SharedBackend = Arc<dyn Backend>;

    pub fn get() -> Result<SharedBackend, ServerFnError> {
        use_context::<SharedBackend>().ok_or_else(|| ServerFnError::new("backend missing from context"))
    }

    /// The caller, as the server's authentication middleware put it into the request.
    pub fn identity() -> Option<Identity> {
        use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<Identity>().cloned())
    }

    /// The CSRF token of the caller's browser session (none for API tokens).
    pub fn csrf_token() -> Option<String> {
        use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<crate::model::CsrfToken>().map(|t| t.0.clone()))
    }

    /// Fails unless `given` is the session's CSRF token (calls with an API token have none).
    pub fn check_csrf(given: &str) -> Result<(), ServerFnError> {
        match csrf_token() {
            Some(expected) if expected != given => Err(ServerFnError::new("this page has expired: reload it and try again")),
            _ => Ok(()),
        }
    }

    /// The caller, for the operations that decide by who asks (the server's domain does, and
    /// refuses what the caller may not do). The middleware already turned away anonymous callers.
    pub fn caller() -> Result<Identity, ServerFnError> {
        identity().ok_or_else(|| ServerFnError::new("sign in first"))
    }
}
