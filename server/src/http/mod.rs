//! The HTTP server: one router per concern, assembled here, behind the authentication layer.

pub mod api;
pub mod authenticate;
pub mod client;
pub mod compression;
pub mod costs;
pub mod error;
pub mod extract;
pub mod health;
pub mod hosts;
pub mod notifications;
pub mod openapi;
pub mod redirect;
pub mod page_cache;
pub mod run_forms;
pub mod runs;
pub mod secret_forms;
pub mod secrets;
pub mod security;
pub mod services;
pub mod sign_in;
pub mod state;
pub mod telemetry;
pub mod ui;
pub mod users;

use crate::app_state::AppState;
use crate::auth;
use crate::config::Config;
use crate::db::Db;
use axum::{middleware, Router};
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

/// Every `/api/v1` operation, each with its OpenAPI declaration (see `openapi`).
fn api_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    api::router()
        .merge(runs::router())
        .merge(secrets::router())
        .merge(services::api_router())
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
        .merge(sign_in::router())
        .merge(run_forms::router())
        .merge(secret_forms::router())
        .merge(services::form_router())
        .merge(state::form_router())
        .merge(users::form_router())
        .merge(notifications::form_router())
        .merge(ui::router(state.clone()).layer(middleware::from_fn_with_state(page_cache::PageCache::new(state.clone()), page_cache::dashboard)))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate::authenticate))
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
