//! Security headers on every answer. The Content-Security-Policy allows scripts from this site
//! and, inline, only the app's own hydration script, which carries this request's nonce; pages
//! cannot be framed; MIME types are not guessed; other sites are not told our paths.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The nonce of one response's inline scripts (see `ui::router`, which hands it to Leptos).
#[derive(Clone, Debug)]
pub struct CspNonce(pub Arc<str>);

pub fn policy(nonce: &str) -> String {
    // Inline `style` attributes are allowed (the charts and grids set CSS variables with them);
    // `wasm-unsafe-eval` lets the app compile its WebAssembly; `ws://localhost` is
    // `cargo leptos watch`'s reload socket.
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self' ws://localhost:* ws://127.0.0.1:*; font-src 'self'; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

pub async fn headers(mut req: Request, next: Next) -> Response {
    let nonce: Arc<str> = hex::encode(rand::random::<[u8; 16]>()).into();
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&policy(&nonce)) {
        h.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
    }
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    res
}
