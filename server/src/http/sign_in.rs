//! Signing in and out in the browser: the sign-in page, single sign-on (`/auth/login` sends the
//! browser to the identity provider, `/auth/callback` brings it back), the development sign-in
//! (`/auth/dev/login`: pick a configured user; the server refuses to start with it unless it
//! listens on loopback, see `config::validate::check_serve`) and `/auth/logout`.

use app::model::audit::AuditAction;
use super::authenticate::{append_cookie, cookie_value, session_id};
use super::client::ClientAddress;
use super::error::ApiError;
use crate::telemetry::printable;
use super::redirect::{safe_next, urlencode};
use crate::app_state::AppState;
use crate::auth::oidc::{self, SignInError};
use crate::auth::{hash_secret, sessions};
use crate::config::{AuthMode, DevUser};
use crate::db::audit::NewAuditEvent;
use crate::db::UserRecord;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use http::{header, HeaderMap, StatusCode};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(page))
        .route("/auth/login", get(start_single_sign_on))
        .route("/auth/callback", get(callback))
        .route("/auth/dev/login", post(dev_sign_in))
        .route("/auth/logout", post(sign_out))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    mode: AuthMode,
    provider: &'a str,
    users: Vec<DevUser>,
    next: &'a str,
    next_encoded: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// The sign-in page, with `error` above the ways to sign in.
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
    let page = LoginPage {
        mode: state.config.auth.mode,
        provider: state.oidc.as_ref().map(|p| p.name()).unwrap_or_default(),
        users,
        next,
        next_encoded: urlencode(next),
        error,
    };
    let html = page.render().map_err(|e| ApiError::Internal(e.into()))?;
    Ok((status, Html(html)).into_response())
}

async fn page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Result<Response, ApiError> {
    render(&state, safe_next(q.next.as_deref()), None, StatusCode::OK)
}

/// Takes one sign-in attempt from the client address's allowance, or renders the refusal.
/// Every attempt counts, so failed ones do too.
fn within_rate_limit(state: &AppState, client: ClientAddress, next: &str) -> Result<(), Result<Response, ApiError>> {
    state.login_limit.check(&client.key()).map_err(|wait| {
        let message = format!("Too many sign-in attempts from this address. Try again in {} seconds.", wait.as_secs().max(1));
        render(state, next, Some(message), StatusCode::TOO_MANY_REQUESTS)
    })
}

/// Starts a session for `user` (ending any the browser had), audited, and sends the browser on;
/// a disabled user is refused instead.
async fn complete(state: &AppState, client: ClientAddress, headers: &HeaderMap, user: &UserRecord, method: &str, next: &str) -> Result<Response, ApiError> {
    if user.disabled_at.is_some() {
        audit_refusal(state, client, &user.name, method, "disabled", serde_json::json!(null)).await?;
        return render(state, next, Some(format!("{} is disabled. Ask an administrator if you need access again.", user.name)), StatusCode::FORBIDDEN);
    }
    let secure = state.config.secure_cookies();
    let cookie = sessions::start(&state.db, session_id(headers, secure).as_deref(), user.id, state.config.auth.session_hours, secure).await?;
    state
        .db
        .append_audit(&NewAuditEvent {
            actor: user.name.clone(),
            action: AuditAction::AuthSignedIn,
            environment: None,
            target: None,
            details: serde_json::json!({ "method": method, "address": client.key() }),
        })
        .await?;
    let mut response = Redirect::to(next).into_response();
    append_cookie(&mut response, cookie);
    Ok(response)
}

/// An `auth.sign_in_refused` row: who tried, how, from where, and why not.
async fn audit_refusal(state: &AppState, client: ClientAddress, who: &str, method: &str, reason: &str, more: serde_json::Value) -> Result<(), ApiError> {
    let mut details = serde_json::json!({ "method": method, "reason": reason, "address": client.key() });
    if let (Some(details), serde_json::Value::Object(more)) = (details.as_object_mut(), more) {
        details.extend(more);
    }
    let event = NewAuditEvent { actor: who.to_string(), action: AuditAction::AuthSignInRefused, environment: None, target: None, details };
    state.db.append_audit(&event).await?;
    Ok(())
}

async fn start_single_sign_on(
    State(state): State<AppState>,
    client: ClientAddress,
    Query(q): Query<LoginQuery>,
) -> Result<Response, ApiError> {
    let next = safe_next(q.next.as_deref());
    let Some(provider) = state.oidc.clone() else {
        return render(&state, next, Some("Single sign-on is not configured on this server.".into()), StatusCode::NOT_FOUND);
    };
    if let Err(refused) = within_rate_limit(&state, client, next) {
        return refused;
    }
    match provider.begin(&state.db, next).await {
        Ok((to, sign_in_state)) => {
            let cookie = state_cookie(sign_in_state, cookie::time::Duration::minutes(10), state.config.secure_cookies());
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(to.as_str())).into_response())
        }
        Err(e) => refused(&state, next, e),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, ApiError> {
    let Some(provider) = state.oidc.clone() else {
        return render(&state, "/", Some("Single sign-on is not configured on this server.".into()), StatusCode::NOT_FOUND);
    };
    if let Err(refused) = within_rate_limit(&state, client, "/") {
        return refused;
    }
    let cookie_state = cookie_value(&headers, oidc::STATE_COOKIE);
    let verified = match (q.error, q.code, q.state) {
        (Some(error), _, sign_in_state) => {
            // The user cancelled or the provider refused: the attempt is over either way.
            if let Some(s) = sign_in_state {
                state.db.take_sign_in_attempt(&hash_secret(&s)).await?;
            }
            // Anyone can send a browser here with any text: the page says what the error code
            // means in our words, the log keeps the provider's (one line, no control characters).
            tracing::info!(error = %printable(&error), description = %printable(q.error_description.as_deref().unwrap_or_default()), "the identity provider refused a sign-in");
            Err(SignInError::Refused(oidc::refusal_text(&error).into()))
        }
        (None, Some(code), Some(sign_in_state)) => provider.finish(&state.db, &sign_in_state, &code, cookie_state.as_deref()).await,
        _ => Err(SignInError::UnknownState),
    };
    let (who, next) = match verified {
        Ok(v) => v,
        Err(e) => return refused(&state, "/", e),
    };
    let config = state.config.auth.oidc.as_ref().expect("a provider has its configuration");
    // Once seen, a user is that account at the provider: another account that claims the same
    // address (or this one, claiming another) is not let in as them.
    if let Some(bound) = state.db.find_user_by_subject(&who.issuer, &who.subject).await? {
        if bound.name != who.email {
            audit_refusal(&state, client, &who.email, "oidc", "subject bound to another user", serde_json::json!({ "bound_to": bound.name })).await?;
            return refused(&state, "/", SignInError::OtherAccount(who.email));
        }
    }
    let Some(role) = oidc::roles::role_for(config, &who.email, &who.groups) else {
        audit_refusal(&state, client, &who.email, "oidc", "no role", serde_json::json!({ "groups": who.groups })).await?;
        return refused(&state, "/", SignInError::NoRole(who.email));
    };
    if !crate::config::validate::is_user_name(&who.email) {
        let message = format!("{} cannot be a Zelly user name ({}).", who.email, crate::config::validate::USER_NAME_RULE);
        return render(&state, "/", Some(message), StatusCode::FORBIDDEN);
    }
    let (user, _) = state.db.ensure_user(&who.email, &who.name, role, "oidc").await?;
    if user.disabled_at.is_none() && !state.db.bind_user_subject(user.id, &who.issuer, &who.subject).await? {
        audit_refusal(&state, client, &who.email, "oidc", "user bound to another subject", serde_json::json!(null)).await?;
        return refused(&state, "/", SignInError::OtherAccount(who.email));
    }
    // The configuration decides roles: a rule changed there applies at the next sign-in.
    let user = if user.disabled_at.is_none() { state.db.set_user_role(&user, role, "oidc").await? } else { user };
    let mut response = complete(&state, client, &headers, &user, "oidc", safe_next(Some(&next))).await?;
    forget_state_cookie(&state, &mut response);
    Ok(response)
}

/// The sign-in page explaining why signing in did not work; the log gets the same.
fn refused(state: &AppState, next: &str, e: SignInError) -> Result<Response, ApiError> {
    let status = match &e {
        SignInError::Db(_) => return Err(ApiError::Internal(e.into())),
        SignInError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        SignInError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        SignInError::NoRole(_) | SignInError::NoEmail | SignInError::UnverifiedEmail(_) | SignInError::OtherAccount(_) => StatusCode::FORBIDDEN,
        SignInError::UnknownState | SignInError::OtherBrowser | SignInError::Refused(_) | SignInError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    tracing::warn!("single sign-on refused: {}", printable(&e.to_string()));
    let mut response = render(state, next, Some(e.to_string()), status)?;
    forget_state_cookie(state, &mut response);
    Ok(response)
}

/// The cookie that ties a sign-in's `state` to the browser that started it. Lax, so that it comes
/// back with the provider's redirect (a top-level GET); scoped to the callback.
fn state_cookie(value: String, max_age: cookie::time::Duration, secure: bool) -> String {
    sessions::cookie(oidc::STATE_COOKIE, value, "/auth/callback", max_age, secure)
}

/// The sign-in is over, whichever way it ended.
fn forget_state_cookie(state: &AppState, response: &mut Response) {
    append_cookie(response, state_cookie(String::new(), cookie::time::Duration::ZERO, state.config.secure_cookies()));
}

async fn sign_out(State(state): State<AppState>, who: Option<Extension<app::model::Identity>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(id) = session_id(&headers, state.config.secure_cookies()) {
        sessions::end(&state.db, &id).await?;
    }
    if let Some(Extension(who)) = who {
        let event = NewAuditEvent { actor: who.name, action: AuditAction::AuthSignedOut, environment: None, target: None, details: serde_json::json!({}) };
        state.db.append_audit(&event).await?;
    }
    let cookie = sessions::clearing_cookie(state.config.secure_cookies());
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response())
}

/// The development sign-in's form: the chosen user, and where to go then.
#[derive(Deserialize)]
struct DevLoginForm {
    user: String,
    next: Option<String>,
}

async fn dev_sign_in(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    Form(form): Form<DevLoginForm>,
) -> Result<Response, ApiError> {
    let next = safe_next(form.next.as_deref());
    if let Err(refused) = within_rate_limit(&state, client, next) {
        return refused;
    }
    if state.config.auth.mode != AuthMode::Dev {
        return render(&state, next, Some("The development sign-in is turned off.".into()), StatusCode::FORBIDDEN);
    }
    let Some(chosen) = state.config.auth.dev_users.iter().find(|u| u.name == form.user) else {
        return render(&state, next, Some(format!("There is no user called {:?}.", form.user)), StatusCode::BAD_REQUEST);
    };
    let (user, _) = state.db.ensure_user(&chosen.name, &chosen.display_name, chosen.role, "dev-login").await?;
    complete(&state, client, &headers, &user, "dev", next).await
}
