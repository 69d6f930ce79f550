//! The browser UI: Leptos pages rendered on the server (their islands and live regions brought
//! to life by the wasm bundle in `pkg/`), plus the static assets. The assets are found relative
//! to the binary, never the working directory, so the server runs from anywhere.

use crate::app_state::AppState;
use app::server_fns::backend::{Backend, SharedBackend};
use app::server_fns::{LogTail, Rollout, RunsPage, SecretPage, SecretPageAnswer, SecretsOverview};
use crate::secrets::SecretError;
use app::model::run::{EnvironmentActivity, RunView};
use app::model::{Environment, Identity};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;

/// What the UI's server functions call into.
struct UiBackend {
    state: AppState,
    /// What `/` shows, when it was read before the page renders (`page_cache`).
    inputs: Option<Arc<PageInputs>>,
}

/// What `/` shows that changes: read before the page renders, so that the page cache can
/// compare it with what a remembered page was rendered from, and the render uses exactly it.
#[derive(serde::Serialize)]
pub struct PageInputs {
    range: app::model::metrics::Range,
    activity: Result<Vec<EnvironmentActivity>, String>,
    dashboard: app::server_fns::Dashboard,
}

impl PageInputs {
    /// What `who` sees on `/` at `uri` (its `range`), read from the caches like the page would.
    pub async fn read(state: &AppState, who: &Identity, uri: &http::Uri) -> PageInputs {
        let query = axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
        let range = query.get("range").and_then(|r| r.parse().ok()).unwrap_or(app::model::metrics::Range::ThreeHours);
        let backend = UiBackend { state: state.clone(), inputs: None };
        let (activity, dashboard) = tokio::join!(backend.activity(who), backend.dashboard(range));
        PageInputs { range, activity, dashboard }
    }

    /// The answers as bytes: equal bytes, equal pages.
    pub fn fingerprint(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serializes")
    }
}

#[async_trait::async_trait]
impl Backend for UiBackend {
    async fn environments(&self) -> Vec<Environment> {
        self.state.environments.all().to_vec()
    }

    /// Runs from the database, the lock holders from each state backend (one read each, at once).
    async fn activity(&self, who: &Identity) -> Result<Vec<EnvironmentActivity>, String> {
        if let Some(inputs) = &self.inputs {
            return inputs.activity.clone();
        }
        let mut all = self.state.runs.activity().await.map_err(|e| e.to_string())?;
        let locks = futures_util::future::join_all(all.iter().map(|a| self.state.states.lock(who, &a.environment))).await;
        let can_check_drift = crate::runs::policy::may_start(who).is_ok();
        for (activity, lock) in all.iter_mut().zip(locks) {
            activity.can_check_drift = can_check_drift;
            match lock {
                Ok(lock) => activity.lock = lock,
                Err(e) => activity.lock_error = Some(e.to_string()),
            }
        }
        Ok(all)
    }

    async fn state_page(&self, who: &Identity, environment: &str, diff: Option<(String, String)>) -> Result<app::model::state::StatePage, String> {
        let env = self.environment(environment)?;
        let states = &self.state.states;
        let overview = states.overview(who, environment);
        let diff = async {
            let (from, to) = diff?;
            Some(states.diff(who, environment, &from, &to).await.map_err(|e| e.to_string()))
        };
        let (overview, diff) = tokio::join!(overview, diff);
        Ok(app::model::state::StatePage {
            environment: env,
            overview: overview.map_err(|e| e.to_string()),
            diff,
            can_administer: crate::state::may_administer(who),
        })
    }

    async fn dashboard(&self, range: app::model::metrics::Range) -> app::server_fns::Dashboard {
        if let Some(inputs) = self.inputs.as_ref().filter(|i| i.range == range) {
            return inputs.dashboard.clone();
        }
        // Both reads go to AWS at once: a cold dashboard costs one round trip, not two.
        let (statuses, metrics) = tokio::join!(self.state.live.all(), self.state.metrics.all(range));
        app::server_fns::Dashboard { statuses, metrics, refresh_seconds: self.state.config.aws.cache_ttl_seconds }
    }

    async fn runs_page(&self, who: &Identity, environment: &str) -> Result<RunsPage, String> {
        self.state.runs.page(who, environment).await.map_err(|e| e.to_string())
    }

    async fn run_view(&self, who: &Identity, id: i64) -> Result<RunView, String> {
        self.state.runs.view(who, id).await.map_err(|e| e.to_string())
    }

    async fn log_tail(&self, id: i64) -> Result<LogTail, String> {
        self.state.runs.log_tail(id).await.map_err(|e| e.to_string())
    }

    async fn users(&self, who: &Identity) -> Result<Vec<app::model::users::UserSummary>, String> {
        let users = crate::users::Users { db: &self.state.db, tokens: Some(&self.state.token_cache) };
        users.list(crate::users::Actor::User(who)).await.map_err(|e| match e {
            crate::users::UserError::Db(e) => unreadable("The users", e),
            refused => refused.to_string(),
        })
    }

    async fn audit(&self, who: &Identity, query: &app::model::audit::AuditQuery) -> Result<app::model::audit::AuditPage, String> {
        crate::audit::search(&self.state.db, who, query, crate::audit::MAX_PAGE).await.map_err(|e| match e {
            crate::audit::AuditError::Forbidden(m) | crate::audit::AuditError::BadQuery(m) => m,
            crate::audit::AuditError::Db(e) => unreadable("The audit log", e),
        })
    }

    fn api_reference(&self) -> app::model::api_reference::ApiReference {
        super::openapi::reference()
    }

    async fn notifications(
        &self,
        who: &Identity,
        query: &app::model::notifications::DeliveryQuery,
    ) -> Result<app::model::notifications::NotificationsPage, String> {
        self.state.notifications.page(who, query).await.map_err(|e| match e {
            crate::notifications::NotificationError::Db(e) => unreadable("The notifications", e),
            refused => refused.to_string(),
        })
    }

    async fn costs(&self) -> app::model::cost::CostOverview {
        self.state.costs.overview().await
    }

    async fn secrets_overview(&self) -> SecretsOverview {
        self.state.secrets.overview().await
    }

    async fn secret_page(&self, who: &Identity, environment: &str, name: &str, confirm: Option<&str>) -> Result<SecretPageAnswer, String> {
        let Ok(env) = self.environment(environment) else {
            return Ok(SecretPageAnswer::Missing(format!("There is no environment called {environment:?}.")));
        };
        let detail = match self.state.secrets.detail(who, environment, name).await {
            Ok(detail) => detail,
            Err(SecretError::NotFound(why)) => return Ok(SecretPageAnswer::Missing(why)),
            Err(e) => return Err(e.to_string()),
        };
        let pending = confirm.and_then(|id| self.state.secrets.pending(who, id));
        Ok(SecretPageAnswer::Found(Box::new(SecretPage { environment: env, detail, pending })))
    }

    async fn reveal(&self, who: &Identity, environment: &str, name: &str, key: &str) -> Result<String, String> {
        let (value, _) = self.state.secrets.reveal(who, environment, name, key).await.map_err(|e| e.to_string())?;
        Ok(value.expose().to_string())
    }

    async fn rollout(&self, environment: &str, services: &[String]) -> Vec<Rollout> {
        self.state.live.rollout(environment, services).await
    }
}

/// A database failure as the page shows it; the cause goes to the log only.
fn unreadable(what: &str, cause: crate::db::DbError) -> String {
    tracing::error!("{what} could not be read: {cause}");
    format!("{what} could not be read; see the server log.")
}

impl UiBackend {
    fn environment(&self, name: &str) -> Result<Environment, String> {
        self.state.environments.get(name).cloned().ok_or_else(|| format!("no environment {name:?}"))
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    let backend: SharedBackend = Arc::new(UiBackend { state: state.clone(), inputs: None });
    let routes = route_list();
    let options = state.leptos.clone();
    let for_pages = state.clone();
    Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                let inputs = use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<Arc<PageInputs>>().cloned());
                match inputs {
                    Some(inputs) => provide_context::<SharedBackend>(Arc::new(UiBackend { state: for_pages.clone(), inputs: Some(inputs) })),
                    None => provide_context(backend.clone()),
                }
                // The hydration scripts carry the nonce the Content-Security-Policy names.
                let nonce = use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<super::security::CspNonce>().cloned());
                if let Some(nonce) = nonce {
                    provide_context(leptos::nonce::Nonce::from_value(nonce.0));
                }
            },
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
}

/// The app's routes, listed once per process. Listing them renders the app with resource loading
/// suppressed through a flag that leptos keeps process-wide (leptos-rs/leptos#4773): a page
/// rendering on another thread at that moment would wait for its data forever. Listed once,
/// before the first server of the process is built, nothing renders meanwhile — this mattered
/// in the tests, which start many servers in one process.
fn route_list() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
