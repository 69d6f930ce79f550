//! The client's address, for sign-in limits and audit rows. Behind a load balancer every TCP
//! connection comes from the balancer, so keying on the peer would make one client's failed
//! attempts lock out everyone. From a peer in `server.trusted_proxies` the client is the
//! right-most address of `X-Forwarded-For` that is not a trusted proxy (each proxy appends the
//! address it saw; what is left of that a client can write itself). From anyone else the header
//! is ignored, so it cannot be used to pick a fresh address per attempt.

use crate::app_state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Where a request came from; `None` when the server does not know (a test's in-process call).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientAddress(pub Option<IpAddr>);

impl ClientAddress {
    /// As text for a rate-limit key or an audit row (`unknown` when there is none).
    pub fn key(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
        Ok(ClientAddress(peer.map(|peer| client_of(peer, &forwarded, &state.config.server.trusted_proxies))))
    }
}

/// The client behind `peer`, given the `X-Forwarded-For` list it sent.
pub fn client_of(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',').map(str::trim).filter(|h| !h.is_empty()) {
        let Some(ip) = parse_hop(hop) else {
            // A hop that is not an address was not written by a proxy we trust: stop at the
            // last one we can vouch for.
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:4711` or `203.0.113.7:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip())).map(canonical)
}

/// An IPv4 client of an IPv6 socket (`::ffff:10.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn from_a_trusted_proxy_the_right_most_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::/32".parse().unwrap()];
        let lb = ip("10.1.2.3");
        assert_eq!(client_of(lb, "203.0.113.7", &trusted), ip("203.0.113.7"));
        assert_eq!(client_of(lb, "198.51.100.1, 203.0.113.7, 10.9.9.9", &trusted), ip("203.0.113.7"), "a forged left part is not believed");
        assert_eq!(client_of(lb, "203.0.113.7:51000", &trusted), ip("203.0.113.7"));
        assert_eq!(client_of(lb, "", &trusted), lb, "no header: the proxy itself");
        assert_eq!(client_of(lb, "10.0.0.9", &trusted), ip("10.0.0.9"), "all trusted: the left-most");
        assert_eq!(client_of(lb, "not-an-ip, 10.0.0.9", &trusted), ip("10.0.0.9"));
        assert_eq!(client_of(ip("::ffff:10.1.2.3"), "203.0.113.7", &trusted), ip("203.0.113.7"), "a mapped IPv4 peer");
    }

    #[test]
    fn from_anyone_else_the_header_is_ignored() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(client_of(ip("203.0.113.7"), "198.51.100.1", &trusted), ip("203.0.113.7"));
        assert_eq!(client_of(ip("10.1.2.3"), "198.51.100.1", &[]), ip("10.1.2.3"), "no trusted proxies configured");
    }
}
