//! The application: every service a request handler, a worker or a command needs, built once
//! from the configuration. The HTTP server (`http`) and the command line (`cli`) both start
//! from it; it knows nothing of either.

use crate::auth::{oidc, rate_limit::RateLimit, token_cache::TokenCache};
use crate::config::Config;
use crate::costs::Costs;
use crate::db::Db;
use crate::live::ecs::LiveStatus;
use crate::environments::Environments;
use crate::live::cloudwatch::MetricsService;
use crate::notifications::Notifications;
use crate::runs::Runs;
use crate::secrets::Secrets;
use crate::state::States;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;

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
    pub metrics: MetricsService,
    pub secrets: Secrets,
    pub states: States,
    pub notifications: Notifications,
    pub costs: Costs,
    pub leptos: LeptosOptions,
    /// When this process last recorded each token's or session's activity.
    pub recent_activity: crate::auth::activity::RecentActivity,
    /// Sign-in attempts per client address.
    pub login_limit: Arc<RateLimit>,
    /// API tokens verified recently.
    pub token_cache: Arc<TokenCache>,
    /// The identity provider, when signing in with single sign-on.
    pub oidc: Option<Arc<oidc::Provider>>,
}


impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
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
        let site = crate::site::dir(config.server.site_dir.as_deref());
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
        let costs = Costs::new(&config, clock).await?;
        let live = LiveStatus::new(&config).await;
        let metrics = MetricsService::new(&config).await;
        let secrets = Secrets::new(&config, db.clone(), environments.clone(), live.clone()).await;
        let states = States::new(&config, db.clone(), environments.clone()).await;
        let runs = Runs::new(db.clone(), config.clone(), environments.clone(), costs.clone(), secrets.clone(), states.clone()).await?;
        if runs.simulated {
            tracing::warn!("terraform.bin is the simulated terraform of the test fixtures: runs change nothing real");
        }
        let notifications = Notifications::new(config.clone(), db.clone(), secrets.clone(), states.clone());
        let login_limit = Arc::new(RateLimit::new(config.auth.login_attempts_per_minute));
        let oidc = oidc::Provider::from_config(&config)?.map(Arc::new);
        Ok(AppState(Arc::new(Services {
            token_cache: Arc::new(TokenCache::new(config.auth.token_cache_seconds)),
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
            leptos: crate::site::leptos_options(&site),
            config,
            db,
            recent_activity: Default::default(),
        })))
    }
}
