//! The development sign-in: pick a configured user from a list. The server refuses to start
//! with it unless it listens on loopback (see `config::validate::check_serve`).

use super::login;
use super::middleware::safe_next;
use crate::config::AuthMode;
use crate::http::{error::ApiError, AppState};
use crate::http::client::ClientAddress;
use axum::extract::State;
use axum::response::Response;
use axum::Form;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let next = safe_next(form.next.as_deref());
    if let Err(refused) = login::within_rate_limit(&state, client, next) {
        return refused;
    }
    if state.config.auth.mode != AuthMode::Dev {
        return login::render(&state, next, Some("The development sign-in is turned off.".into()), StatusCode::FORBIDDEN);
    }
    let Some(chosen) = state.config.auth.dev_users.iter().find(|u| u.name == form.user) else {
        return login::render(&state, next, Some(format!("There is no user called {:?}.", form.user)), StatusCode::BAD_REQUEST);
    };
    let (user, _) = state.db.ensure_user(&chosen.name, &chosen.display_name, chosen.role, "dev-login").await?;
    login::complete(&state, client, &headers, &user, "dev", next).await
}
