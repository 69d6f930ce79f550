//! The development sign-in: pick a configured user from a list. The server refuses to start
//! with it unless it listens on loopback (see `config::validate::check_serve`).

use super::middleware::safe_next;
use super::sessions;
use crate::config::{AuthMode, DevUser};
use crate::db::audit::NewAuditEvent;
use crate::http::{error::ApiError, AppState};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    dev_mode: bool,
    users: Vec<DevUser>,
    next: &'a str,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    next: Option<String>,
}

fn render(state: &AppState, next: &str, error: Option<String>, status: StatusCode) -> Result<Response, ApiError> {
    let users = state
        .config
        .auth
        .dev_users
        .iter()
        .cloned()
        .map(|mut u| {
            if u.display_name.is_empty() {
                u.display_name = u.name.clone();
            }
            u
        })
        .collect();
    let page = LoginPage { dev_mode: state.config.auth.mode == AuthMode::Dev, users, next, error };
    let html = page.render().map_err(|e| ApiError::Internal(e.into()))?;
    Ok((status, Html(html)).into_response())
}

pub async fn page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Result<Response, ApiError> {
    render(&state, safe_next(q.next.as_deref()), None, StatusCode::OK)
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let next = safe_next(form.next.as_deref());
    let address = client.map(|c| c.0 .0.ip().to_string()).unwrap_or_default();
    if let Err(wait) = state.login_limit.check(&address) {
        let message = format!("Too many sign-in attempts from this address. Try again in {} seconds.", wait.as_secs().max(1));
        return render(&state, next, Some(message), StatusCode::TOO_MANY_REQUESTS);
    }
    if state.config.auth.mode != AuthMode::Dev {
        return render(&state, next, Some("The development sign-in is turned off.".into()), StatusCode::FORBIDDEN);
    }
    let Some(chosen) = state.config.auth.dev_users.iter().find(|u| u.name == form.user) else {
        return render(&state, next, Some(format!("There is no user called {:?}.", form.user)), StatusCode::BAD_REQUEST);
    };
    let (user, _) = state.db.ensure_user(&chosen.name, &chosen.display_name, chosen.role, "dev-login").await?;
    let cookie = sessions::start(&state.db, user.id, state.config.auth.session_hours, state.config.secure_cookies()).await?;
    state
        .db
        .append_audit(&NewAuditEvent {
            actor: user.name.clone(),
            action: "auth.signed_in",
            environment: None,
            target: None,
            details: serde_json::json!({ "method": "dev" }),
        })
        .await?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response())
}

pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(id) = sessions::id_from_headers(&headers) {
        sessions::end(&state.db, &id).await?;
    }
    let cookie = sessions::clearing_cookie(state.config.secure_cookies());
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}
