//! ID token validation (OpenID Connect Core §3.1.3.7): the signature against the provider's
//! published keys, then issuer, audience, expiry and the nonce this sign-in was started with.
//! Each failure is its own error, so the sign-in page and the log say which check refused.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Asymmetric algorithms only: `none` and the HMAC family (keyed with the client secret, which
/// this server holds too) would let a token be made without the provider.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Clock difference tolerated between this server and the provider.
const LEEWAY_SECONDS: u64 = 60;

/// What Zelly reads from a valid ID token.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    /// Everything else, for the configured groups claim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Claims {
    /// The groups in claim `claim`: a list of strings, or one string.
    pub fn groups(&self, claim: &str) -> Vec<String> {
        match self.other.get(claim) {
            Some(serde_json::Value::Array(items)) => items.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a signed JWT")]
    Malformed,
    #[error("the ID token is signed with {0:?}, which is not accepted")]
    Algorithm(Algorithm),
    #[error("the ID token is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature does not verify")]
    BadSignature,
    #[error("the ID token was issued by someone else than the configured provider")]
    WrongIssuer,
    #[error("the ID token was issued to another application")]
    WrongAudience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the ID token carries no nonce, so it cannot be tied to this sign-in")]
    MissingNonce,
    #[error("the ID token's nonce is not this sign-in's")]
    WrongNonce,
}

/// Checks `token` and returns its claims. `issuer` is the provider's issuer exactly; `client_id`
/// the audience; `nonce` the value this sign-in sent in its authorization request.
pub fn validate(token: &str, keys: &JwkSet, issuer: &str, client_id: &str, nonce: &str) -> Result<Claims, IdTokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(IdTokenError::Algorithm(header.alg));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a key id, a provider that publishes a single key means that one.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(IdTokenError::UnknownKey)?;
    // A key published for one algorithm is not used for another (algorithm confusion).
    if jwk.common.key_algorithm.is_some_and(|alg| alg != header.alg.into()) {
        return Err(IdTokenError::UnknownKey);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| IdTokenError::UnknownKey)?;

    let mut validation = Validation::new(header.alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.into_kind() {
            ErrorKind::InvalidSignature => IdTokenError::BadSignature,
            ErrorKind::InvalidIssuer => IdTokenError::WrongIssuer,
            ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
            ErrorKind::ExpiredSignature => IdTokenError::Expired,
            ErrorKind::MissingRequiredClaim(claim) => IdTokenError::MissingClaim(claim),
            _ => IdTokenError::Malformed,
        })?
        .claims;
    // Several audiences: the party the token was issued for must be this client (§3.1.3.7 ¶5).
    if claims.azp.as_deref().is_some_and(|azp| azp != client_id) {
        return Err(IdTokenError::WrongAudience);
    }
    match claims.nonce.as_deref() {
        None => Err(IdTokenError::MissingNonce),
        Some(n) if n != nonce => Err(IdTokenError::WrongNonce),
        Some(_) => Ok(claims),
    }
}

#[cfg(test)]
mod tests {
    //! Tokens signed here with a test key (testdata/, never used elsewhere) stand for the
    //! provider's; the browser tests sign in through a real provider.
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{json, Value};

    const ISSUER: &str = "https://idp.example.com";
    const CLIENT: &str = "zelly";
    const NONCE: &str = "n-0S6_WzA2Mj";

    fn keys() -> JwkSet {
        serde_json::from_str(include_str!("testdata/jwks.json")).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn good_claims() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "248289761001", "exp": now() + 300, "iat": now(),
            "nonce": NONCE, "email": "asha@zelly.example", "email_verified": true, "groups": ["platform"],
        })
    }

    fn sign_with(pem: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
    }

    fn sign(claims: &Value) -> String {
        sign_with(include_str!("testdata/provider-key.pem"), Some("test-key-1"), claims)
    }

    fn with(changes: Value) -> Value {
        let mut claims = good_claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn check(token: &str) -> Result<Claims, IdTokenError> {
        validate(token, &keys(), ISSUER, CLIENT, NONCE)
    }

    #[test]
    fn a_good_token_gives_its_claims() {
        let claims = check(&sign(&good_claims())).unwrap();
        assert_eq!(claims.email.as_deref(), Some("asha@zelly.example"));
        assert_eq!(claims.groups("groups"), ["platform"]);
        assert!(claims.groups("roles").is_empty());
        // Several audiences are fine when the token was issued for this client.
        assert!(check(&sign(&with(json!({ "aud": ["other", CLIENT], "azp": CLIENT })))).is_ok());
    }

    #[test]
    fn wrong_issuer() {
        assert_eq!(check(&sign(&with(json!({ "iss": "https://evil.example.com" })))).unwrap_err(), IdTokenError::WrongIssuer);
        assert_eq!(check(&sign(&with(json!({ "iss": "https://idp.example.com/" })))).unwrap_err(), IdTokenError::WrongIssuer, "exactly the issuer");
        assert_eq!(check(&sign(&with(json!({ "iss": null })))).unwrap_err(), IdTokenError::MissingClaim("iss".into()));
    }

    #[test]
    fn wrong_audience() {
        assert_eq!(check(&sign(&with(json!({ "aud": "another-app" })))).unwrap_err(), IdTokenError::WrongAudience);
        assert_eq!(check(&sign(&with(json!({ "aud": ["other", CLIENT], "azp": "other" })))).unwrap_err(), IdTokenError::WrongAudience);
        assert_eq!(check(&sign(&with(json!({ "aud": null })))).unwrap_err(), IdTokenError::MissingClaim("aud".into()));
    }

    #[test]
    fn expired() {
        assert_eq!(check(&sign(&with(json!({ "exp": now() - 3600 })))).unwrap_err(), IdTokenError::Expired);
        // Within the leeway for clock skew it still passes; a token without exp never does.
        assert!(check(&sign(&with(json!({ "exp": now() - 10 })))).is_ok());
        assert_eq!(check(&sign(&with(json!({ "exp": null })))).unwrap_err(), IdTokenError::MissingClaim("exp".into()));
    }

    #[test]
    fn bad_signature() {
        let impostor = include_str!("testdata/impostor-key.pem");
        assert_eq!(check(&sign_with(impostor, Some("test-key-1"), &good_claims())).unwrap_err(), IdTokenError::BadSignature);
        assert_eq!(check(&sign_with(impostor, Some("made-up"), &good_claims())).unwrap_err(), IdTokenError::UnknownKey);
        // A good token with its payload swapped keeps a signature that no longer matches.
        let good = sign(&good_claims());
        let forged_payload = sign(&with(json!({ "email": "mallory@zelly.example" })));
        let parts: Vec<&str> = good.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload.split('.').nth(1).unwrap(), parts[2]);
        assert_eq!(check(&tampered).unwrap_err(), IdTokenError::BadSignature);
        // Unsigned and HMAC tokens are refused before any key is looked at.
        let hmac = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &good_claims(), &EncodingKey::from_secret(b"client-secret")).unwrap();
        assert_eq!(check(&hmac).unwrap_err(), IdTokenError::Algorithm(Algorithm::HS256));
        assert_eq!(check("not.a.jwt").unwrap_err(), IdTokenError::Malformed);
    }

    #[test]
    fn missing_or_wrong_nonce() {
        assert_eq!(check(&sign(&with(json!({ "nonce": null })))).unwrap_err(), IdTokenError::MissingNonce);
        assert_eq!(check(&sign(&with(json!({ "nonce": "another-sign-in" })))).unwrap_err(), IdTokenError::WrongNonce);
    }
}
