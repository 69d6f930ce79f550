//! The HTTP server: one router per concern, assembled here, behind the authentication layer.

pub mod api;
pub mod client;
pub mod compression;
pub mod costs;
pub mod error;
pub mod extract;
pub mod health;
pub mod hosts;
pub mod notifications;
pub mod openapi;
pub mod page_cache;
pub mod run_forms;
pub mod runs;
pub mod secret_forms;
pub mod secrets;
pub mod security;
pub mod state;
pub mod telemetry;
pub mod ui;
pub mod users;

use crate::auth;
use crate::config::Config;
use crate::db::Db;
use crate::environments::status::LiveStatus;
use crate::environments::Environments;
use crate::runs::Runs;
use axum::extract::FromRef;
use axum::{middleware, Router};
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;

/// A CSV body as a download named `<stem>-<date>.csv`.
pub fn csv_download(stem: &str, date_format: &str, body: String) -> axum::response::Response {
    let filename = format!("{stem}-{}.csv", chrono::Utc::now().format(date_format));
    attachment("text/csv; charset=utf-8", &filename, body)
}

/// `body` as a file to save, named `filename`.
pub fn attachment(content_type: &str, filename: &str, body: impl Into<axum::body::Body>) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (http::header::CONTENT_TYPE, content_type.to_string()),
            (http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body.into(),
    )
        .into_response()
}

/// A form's way back to `page` when the operation was refused: the reason, readable there.
pub fn back_with_error(page: &str, why: &impl std::fmt::Display) -> axum::response::Redirect {
    axum::response::Redirect::to(&format!("{page}?error={}", crate::auth::middleware::urlencode(&why.to_string())))
}

/// Everything a request handler needs. axum's extractors and layers clone the state several
/// times per request, so it is one shared pointer (cloning a dozen services' handles and the
/// UI options each time was a tenth of a warm dashboard refresh's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub environments: Environments,
    pub runs: Runs,
    pub live: LiveStatus,
    pub metrics: crate::metrics::MetricsService,
    pub secrets: crate::secrets::Secrets,
    pub states: crate::state::States,
    pub notifications: crate::notifications::Notifications,
    pub costs: crate::costs::Costs,
    pub leptos: LeptosOptions,
    pub recent_activity: RecentActivity,
    /// Sign-in attempts per client address.
    pub login_limit: Arc<crate::auth::rate_limit::RateLimit>,
    /// API tokens verified recently.
    pub token_cache: Arc<crate::auth::token_cache::TokenCache>,
    /// The identity provider, when signing in with single sign-on.
    pub oidc: Option<Arc<crate::auth::oidc::Provider>>,
}

/// When this process last recorded activity of a token or session, to write it once a minute.
pub type RecentActivity = Arc<std::sync::Mutex<std::collections::HashMap<auth::middleware::Activity, std::time::Instant>>>;

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

impl AppState {
    /// Connects to the database (applying migrations) and prepares everything a request needs.
    pub async fn new(config: Config) -> anyhow::Result<AppState> {
        AppState::with_clock(config, crate::clock::Clock::System).await
    }

    /// The same, on the days `clock` says (tests pin a day).
    pub async fn with_clock(config: Config, clock: crate::clock::Clock) -> anyhow::Result<AppState> {
        let db = Db::connect(&config.database_url(), config.database.max_connections).await?;
        let site = ui::site_dir(config.server.site_dir.as_deref());
        if !site.join("pkg").is_dir() {
            tracing::warn!(
                "UI assets not found in {}: pages render, but without styles or interactivity. \
                 Build them with `scripts/build-site`, or set server.site_dir.",
                site.display()
            );
        }
        let config = Arc::new(config);
        // Installed before any request or AWS call, so the first ones are counted too.
        crate::telemetry::prometheus::recorder();
        let environments = Environments::from_config(&config);
        let costs = crate::costs::Costs::new(&config, clock).await?;
        let live = LiveStatus::new(&config).await;
        let metrics = crate::metrics::MetricsService::new(&config).await;
        let secrets = crate::secrets::Secrets::new(&config, db.clone(), environments.clone(), live.clone()).await;
        let states = crate::state::States::new(&config, db.clone(), environments.clone()).await;
        let runs = Runs::new(db.clone(), config.clone(), environments.clone(), costs.clone(), secrets.clone(), states.clone()).await?;
        if runs.simulated {
            tracing::warn!("terraform.bin is the simulated terraform of the test fixtures: runs change nothing real");
        }
        let notifications = crate::notifications::Notifications::new(config.clone(), db.clone(), secrets.clone(), states.clone());
        let login_limit = Arc::new(crate::auth::rate_limit::RateLimit::new(config.auth.login_attempts_per_minute));
        let oidc = crate::auth::oidc::Provider::from_config(&config)?.map(Arc::new);
        Ok(AppState(Arc::new(Services {
            token_cache: Arc::new(crate::auth::token_cache::TokenCache::new(config.auth.token_cache_seconds)),
            oidc,
            login_limit,
            secrets,
            states,
            notifications,
            costs,
            environments,
            runs,
            live,
            metrics,
            leptos: ui::leptos_options(&site),
            config,
            db,
            recent_activity: Default::default(),
        })))
    }
}

/// Every `/api/v1` operation, each with its OpenAPI declaration (see `openapi`).
fn api_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    api::router()
        .merge(runs::router())
        .merge(secrets::router())
        .merge(costs::router())
        .merge(state::api_router())
        .merge(users::api_router())
        .merge(notifications::api_router())
}

/// The whole server, for one listening on `local` (which decides the names it answers to).
pub fn router(state: AppState, local: std::net::SocketAddr) -> Router {
    let hosts = Arc::new(hosts::AllowedHosts::new(&state.config.server, local));
    Router::new()
        .merge(health::router())
        .merge(telemetry::router())
        .merge(openapi::api())
        .merge(auth::login::router())
        .merge(run_forms::router())
        .merge(secret_forms::router())
        .merge(state::form_router())
        .merge(users::form_router())
        .merge(notifications::form_router())
        .merge(ui::router(state.clone()))
        .layer(middleware::from_fn_with_state(state.clone(), auth::middleware::authenticate))
        .layer(middleware::from_fn(security::headers))
        // Bodies over 1 MiB are refused by the extractors (a JSON 413, see `ApiJson`).
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .layer(middleware::from_fn_with_state(Arc::new(compression::CompressedAnswers::default()), compression::compress_repeated))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(hosts, hosts::check))
        .layer(middleware::from_fn_with_state(Arc::new(telemetry::RequestIds::new(&state.config.log)), telemetry::observe))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` completes. Tests pass a listener on port 0.
pub async fn launch_with_listener(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    spawn_housekeeping(state.db.clone(), state.config.clone());
    let workers = crate::runs::engine::spawn(state.runs.clone(), state.config.runs.workers);
    crate::runs::drift::spawn_schedule(state.runs.clone());
    let sender = crate::notifications::Sender::spawn(state.notifications.clone(), state.runs.wakeup.subscribe());
    let runs = state.runs.clone();
    // The client's address is kept for the sign-in rate limit.
    let local = listener.local_addr()?;
    let app = router(state, local).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    crate::runs::engine::stop(&runs, workers).await;
    sender.stop();
    served
}

/// Expired sessions and sign-in attempts are refused at once, and old notification deliveries
/// are history: this only keeps the tables small.
fn spawn_housekeeping(db: Db, config: Arc<Config>) {
    tokio::spawn(async move {
        let period = Duration::from_secs(3600);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            every.tick().await;
            let purged = db.purge_expired_sessions(auth::sessions::idle_since(&config.auth)).await;
            let attempts = db.purge_expired_sign_in_attempts().await;
            match purged.and_then(|n| attempts.map(|m| n + m)) {
                Ok(n) if n > 0 => tracing::info!("removed {n} expired sessions and sign-in attempts"),
                Ok(_) => {}
                Err(e) => tracing::warn!("could not remove expired sessions: {e}"),
            }
            let keep = chrono::Duration::days(i64::from(config.notifications.keep_days));
            match db.prune_notifications(chrono::Utc::now() - keep).await {
                Ok(n) if n > 0 => tracing::info!("removed {n} notification deliveries older than {} days", keep.num_days()),
                Ok(_) => {}
                Err(e) => tracing::warn!("could not remove old notification deliveries: {e}"),
            }
        }
    });
}
