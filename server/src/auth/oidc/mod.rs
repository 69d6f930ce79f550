//! Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE.
//!
//! `begin` sends the browser to the provider with a fresh `state`, `nonce` and PKCE challenge,
//! kept in the database (any replica may take the callback) and the state also in a cookie (the
//! callback must come back to the browser that started it). `finish` takes that attempt once,
//! exchanges the code, validates the ID token (`id_token`) and maps the user to a role (`roles`).
//! The provider's discovery document and keys are fetched on first use and cached.

pub mod id_token;
pub mod roles;

use crate::config::OidcConfig;
use crate::db::{Db, DbError, SignInAttempt};
use jsonwebtoken::jwk::JwkSet;
use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a user may spend at the provider's sign-in page.
const ATTEMPT_MINUTES: i64 = 10;
/// The discovery document and keys are read again after this long (providers rotate keys).
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// A token signed with an unknown key re-reads the keys, but not more often than this.
const KEY_REFRESH_MIN: Duration = Duration::from_secs(60);

pub const STATE_COOKIE: &str = "zelly_sign_in";

/// The token response's OpenID Connect part.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdTokenField {
    id_token: String,
}
impl ExtraTokenFields for IdTokenField {}

type OidcClient = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdTokenField, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The parts of the discovery document Zelly uses.
#[derive(Clone, Debug, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Discovered {
    metadata: Metadata,
    client: OidcClient,
    keys: JwkSet,
    at: Instant,
}

/// A user the provider vouched for.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Lowercased: it becomes the user name.
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    /// The provider's account: the user is bound to it at their first sign-in.
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("The identity provider could not be reached: {0}. Try again in a moment; if it persists, tell an administrator.")]
    Unreachable(String),
    #[error("Too many sign-ins are under way on this server right now. Try again in a few minutes.")]
    Busy,
    #[error("This sign-in link was already used or has expired. Start again.")]
    UnknownState,
    #[error("This sign-in was started in another browser or tab. Start again here.")]
    OtherBrowser,
    #[error("The identity provider did not sign you in: {0}")]
    Refused(String),
    #[error("The identity provider's answer could not be verified: {0}.")]
    Invalid(String),
    #[error("The identity provider did not say which e-mail address you have, so Zelly cannot tell who you are.")]
    NoEmail,
    #[error("The identity provider has not verified the e-mail address {0}.")]
    UnverifiedEmail(String),
    #[error("The Zelly user {0} belongs to another account at the identity provider. Ask an administrator.")]
    OtherAccount(String),
    #[error("{0} has no access to Zelly. Ask an administrator to grant you a role.")]
    NoRole(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What an OAuth error code (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6) means, in fixed
/// words: the description that comes with it is whatever the link said.
pub fn refusal_text(error: &str) -> &'static str {
    match error {
        "access_denied" => "you cancelled, or it did not allow you to sign in here.",
        "login_required" | "interaction_required" | "consent_required" | "account_selection_required" => {
            "it needs you to sign in or give consent there first. Start again."
        }
        "temporarily_unavailable" | "server_error" => "it had a problem. Try again in a moment.",
        _ => "it refused this sign-in. Start again; if it persists, tell an administrator.",
    }
}

pub struct Provider {
    config: OidcConfig,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Arc<Discovered>>>,
    keys_read_at: Mutex<Option<Instant>>,
}

impl Provider {
    /// The provider when the server signs in with single sign-on; its callback is
    /// `server.public_url` + `/auth/callback` (both checked when the configuration loaded).
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<Provider>> {
        let (crate::config::AuthMode::Oidc, Some(oidc), Some(public)) = (config.auth.mode, &config.auth.oidc, &config.server.public_url) else {
            return Ok(None);
        };
        Ok(Some(Provider::new(oidc.clone(), public.join("/auth/callback")?)?))
    }

    /// `callback` is this server's public `/auth/callback` address, registered with the provider.
    pub fn new(config: OidcConfig, callback: url::Url) -> anyhow::Result<Provider> {
        let http = reqwest::Client::builder()
            // The token endpoint must answer itself: following a redirect could send the code
            // and client secret elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            // A fresh connection for every call: sign-ins are seconds apart, and a kept one may be
            // closed by the provider (Node's default keep-alive is 5 s) just as a code is sent on it,
            // which fails that sign-in and cannot be retried (a code is good for one try).
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Provider {
            config,
            redirect: RedirectUrl::from_url(callback),
            http,
            discovered: tokio::sync::Mutex::new(None),
            keys_read_at: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.config.provider_name
    }

    /// Where to send the browser, and the state to set in its cookie.
    pub async fn begin(&self, db: &Db, next: &str) -> Result<(url::Url, String), SignInError> {
        let discovered = self.discovered(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = super::random_id(40);
        let (url, state) = discovered
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", &nonce)
            .url();
        let attempt = SignInAttempt { pkce_verifier: verifier.secret().clone(), nonce, next: next.to_string() };
        let expires = chrono::Utc::now() + chrono::Duration::minutes(ATTEMPT_MINUTES);
        if !db.insert_sign_in_attempt(&super::hash_secret(state.secret()), &attempt, expires).await? {
            return Err(SignInError::Busy);
        }
        Ok((url, state.secret().clone()))
    }

    /// Completes the sign-in the provider sent back: returns the user and where they were going.
    /// `cookie_state` is the state cookie of the browser making the callback.
    pub async fn finish(&self, db: &Db, state: &str, code: &str, cookie_state: Option<&str>) -> Result<(Verified, String), SignInError> {
        // Taken before anything else, so that whatever happens next this state never works again.
        let attempt = db.take_sign_in_attempt(&super::hash_secret(state)).await?.ok_or(SignInError::UnknownState)?;
        if cookie_state != Some(state) {
            return Err(SignInError::OtherBrowser);
        }
        let discovered = self.discovered(false).await?;
        let response = discovered
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                oauth2::RequestTokenError::ServerResponse(r) => {
                    tracing::warn!(answer = %crate::telemetry::printable(&r.to_string()), "the identity provider refused the code");
                    SignInError::Refused(refusal_text(&r.error().to_string()).into())
                }
                other => SignInError::Unreachable(format!("the token request failed ({other})")),
            })?;
        let token = &response.extra_fields().id_token;
        let claims = match self.validate(&discovered, token, &attempt.nonce) {
            Err(id_token::IdTokenError::UnknownKey) if self.may_reread_keys() => {
                // The provider may have rotated its keys since they were read.
                let fresh = self.discovered(true).await?;
                self.validate(&fresh, token, &attempt.nonce)
            }
            other => other,
        }
        .map_err(|e| SignInError::Invalid(e.to_string()))?;
        let email = claims.email.as_deref().map(str::to_ascii_lowercase).ok_or(SignInError::NoEmail)?;
        // A provider that lets users type their own address and does not say it checked it
        // would let anyone be anyone: only a verified address counts, unless configured.
        if claims.email_verified != Some(true) && !self.config.trust_unverified_email {
            return Err(SignInError::UnverifiedEmail(email));
        }
        let groups = claims.groups(&self.config.groups_claim);
        let name = claims.name.clone().unwrap_or_default();
        let (issuer, subject) = (discovered.metadata.issuer.clone(), claims.sub.clone());
        Ok((Verified { email, name, groups, issuer, subject }, attempt.next))
    }

    fn validate(&self, discovered: &Discovered, token: &str, nonce: &str) -> Result<id_token::Claims, id_token::IdTokenError> {
        id_token::validate(token, &discovered.keys, &discovered.metadata.issuer, &self.config.client_id, nonce)
    }

    fn may_reread_keys(&self) -> bool {
        let mut at = self.keys_read_at.lock().expect("key refresh lock");
        let now = Instant::now();
        if at.is_some_and(|t| now.duration_since(t) < KEY_REFRESH_MIN) {
            return false;
        }
        *at = Some(now);
        true
    }

    /// The provider's metadata and keys, read once an hour (or now, with `refresh`).
    async fn discovered(&self, refresh: bool) -> Result<Arc<Discovered>, SignInError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref().filter(|d| !refresh && d.at.elapsed() < METADATA_TTL) {
            return Ok(d.clone());
        }
        let fresh = Arc::new(self.discover().await.map_err(SignInError::Unreachable)?);
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn discover(&self) -> Result<Discovered, String> {
        let issuer = &self.config.issuer_url;
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let metadata: Metadata = self.get_json(&url).await?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if metadata.issuer != *issuer {
            return Err(format!("its discovery document names the issuer {:?}, not {issuer:?}", metadata.issuer));
        }
        let keys: JwkSet = self.get_json(&metadata.jwks_uri).await?;
        let endpoint = |u: &str| url::Url::parse(u).map_err(|e| format!("its discovery document has a bad endpoint {u:?}: {e}"));
        let client = oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.config.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::from_url(endpoint(&metadata.authorization_endpoint)?))
            .set_token_uri(TokenUrl::from_url(endpoint(&metadata.token_endpoint)?))
            .set_redirect_uri(self.redirect.clone());
        Ok(Discovered { metadata, client, keys, at: Instant::now() })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self.http.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        response.json().await.map_err(|e| format!("{url}: not the expected JSON ({e})"))
    }
}
