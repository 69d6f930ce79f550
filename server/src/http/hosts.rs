//! Which names this server answers to, and which sites may post to it.
//!
//! A page on another site can make its own name resolve to 127.0.0.1 (DNS rebinding) and then
//! talk to a server on loopback as if it were that site: the browser sends the attacker's name in
//! `Host` and in `Origin`, so comparing the two proves nothing. So every request must name this
//! server: `localhost`, `127.0.0.1` or `[::1]` with its port when it listens there, the
//! `server.public_url` host, or one of `server.allowed_hosts`. Health checks are exempt (load
//! balancers call them by address) and so is `/metrics` (scrapers do too; it needs a token
//! unless `metrics.public`, and a rebinding page has none).
//!
//! Then, for every write a browser could send (anything but GET/HEAD/OPTIONS without an
//! `Authorization` header, signed in or not), an `Origin` must be this same site: a form on
//! another site cannot sign someone in, out, or anything else.

use super::error::ApiError;
use crate::config::hosts::{parse_entry, Name};
use crate::config::ServerConfig;
use crate::telemetry::printable;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::uri::Authority;
use http::{header, Method};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Debug)]
pub struct AllowedHosts {
    names: Vec<Name>,
    /// Ports a `Host` without one stands for, per name: the scheme's default.
    default_port: Vec<(String, u16)>,
}

impl AllowedHosts {
    /// The names of a server configured with `config` and listening on `local`.
    pub fn new(config: &ServerConfig, local: SocketAddr) -> AllowedHosts {
        let mut names = Vec::new();
        let mut default_port = Vec::new();
        // An unspecified address (0.0.0.0) takes loopback connections too.
        if local.ip().is_loopback() || local.ip().is_unspecified() {
            for host in ["localhost", "127.0.0.1", "[::1]"] {
                names.push(Name { host: host.into(), port: Some(local.port()) });
                default_port.push((host.to_string(), 80));
            }
        }
        if let Some(url) = &config.public_url {
            if let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) {
                let host = host.to_string().to_ascii_lowercase();
                names.push(Name { host: host.clone(), port: Some(port) });
                default_port.push((host, if url.scheme() == "https" { 443 } else { 80 }));
            }
        }
        names.extend(config.allowed_hosts.iter().filter_map(|entry| parse_entry(entry)));
        AllowedHosts { names, default_port }
    }

    /// Whether `authority` (a `Host` header's value) names this server.
    pub fn allows(&self, authority: &str) -> bool {
        let Ok(authority) = authority.parse::<Authority>() else { return false };
        if authority.as_str().contains('@') {
            return false;
        }
        let host = authority.host().to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        let port = authority.port_u16().or_else(|| self.default_port.iter().find(|(h, _)| h == host).map(|(_, p)| *p));
        self.names.iter().any(|n| n.host == host && (n.port.is_none() || n.port == port))
    }
}


/// The layer: refuses a request that names another host, or a browser's write from another site.
pub async fn check(State(hosts): State<Arc<AllowedHosts>>, req: Request, next: Next) -> Response {
    let named = req.headers().get(header::HOST).map(|h| h.to_str().unwrap_or_default().to_string());
    let named = named.or_else(|| req.uri().authority().map(|a| a.to_string()));
    if !matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        match &named {
            Some(host) if hosts.allows(host) => {}
            Some(host) => {
                tracing::warn!(host = %printable(host), "refused a request for a host this server is not");
                return ApiError::BadRequest(format!(
                    "this server does not answer to {:?}; if that is one of its names, add it to server.allowed_hosts",
                    printable(host)
                ))
                .into_response();
            }
            None => return ApiError::BadRequest("the request names no host".into()).into_response(),
        }
    }
    if !same_site_or_not_a_browser_write(&req, named.as_deref()) {
        return ApiError::Forbidden("cross-site request refused".into()).into_response();
    }
    next.run(req).await
}

/// A browser sends `Origin` with every POST; a write whose Origin is another site is a
/// cross-site request forgery (or a sign-in forced on someone). `host` (the name the request
/// gave, checked before) is one of ours. Bearer-token calls carry no ambient credentials and
/// need no Origin.
fn same_site_or_not_a_browser_write(req: &Request, host: Option<&str>) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || req.headers().contains_key(header::AUTHORIZATION) {
        return true;
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else { return true };
    let origin_host = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()).and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    match (origin_host, host) {
        (Some(origin), Some(host)) => origin.eq_ignore_ascii_case(host),
        _ => false,
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    fn server(public_url: Option<&str>, allowed: &[&str], listen: &str) -> AllowedHosts {
        let config = ServerConfig {
            listen: listen.parse().unwrap(),
            data_dir: "data".into(),
            public_url: public_url.map(|u| u.parse().unwrap()),
            site_dir: None,
            data_key: None,
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: vec![],
        };
        AllowedHosts::new(&config, listen.parse().unwrap())
    }

    #[test]
    fn on_loopback_the_loopback_names_with_its_port() {
        let hosts = server(None, &[], "127.0.0.1:8080");
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080", "localhost.:8080"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in ["rebind.attacker.example:8080", "127.0.0.1:8081", "localhost", "127.0.0.2:8080", "user@localhost:8080", "", "a b"] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn the_public_url_host_and_allowed_hosts() {
        let hosts = server(Some("https://zelly.example.com"), &["zelly.internal", "10.0.0.5:8080"], "0.0.0.0:8080");
        for ok in ["zelly.example.com", "zelly.example.com:443", "zelly.internal:9000", "zelly.internal", "10.0.0.5:8080", "localhost:8080"] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in ["zelly.example.com:80", "evil.example.com", "10.0.0.5", "10.0.0.5:9090", "example.com"] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        let behind = server(Some("https://zelly.example.com"), &[], "10.0.0.5:8080");
        assert!(!behind.allows("localhost:8080"), "not listening on loopback");
    }

}
