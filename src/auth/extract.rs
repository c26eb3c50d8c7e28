//! Request extractors: who is calling (`Authenticated`) and from where (`ClientInfo`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use uuid::Uuid;

use super::{sessions, AuthError, Role};
use crate::app::AppState;
use crate::http::error::ApiError;

/// A caller with a valid access token whose session is still active. `roles` are the account's
/// roles now (read with the session), not the ones frozen into the token, so a demotion takes
/// effect on the next request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account_id: Uuid,
    pub roles: Vec<Role>,
    pub session_id: Uuid,
}

impl Authenticated {
    /// `forbidden` unless the caller has `role`.
    pub fn require(&self, role: Role) -> Result<(), AuthError> {
        if self.roles.contains(&role) { Ok(()) } else { Err(AuthError::Forbidden) }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(AuthError::MissingToken)?;
        let token = bearer_token(header.as_bytes()).ok_or(AuthError::InvalidToken)?;
        let claims = state.auth.tokens.verify(token)?;
        let roles = sessions::active_roles(&state.pool, claims.sid, claims.sub).await?.ok_or(AuthError::InvalidToken)?;
        Ok(Self { account_id: claims.sub, roles, session_id: claims.sid })
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive).
fn bearer_token(header: &[u8]) -> Option<&str> {
    let header = std::str::from_utf8(header).ok()?;
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Where a request comes from, for rate limits and the list of signed-in devices.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Without connection info (a router driven by `oneshot` in a test) every request looks
        // like one unspecified client, which is the conservative choice for rate limits.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let ip = client_ip(peer, forwarded, &state.auth.settings.trusted_proxies);
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|agent| agent.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}

/// The peer address, unless the peer is a trusted proxy: then the address that proxy saw, which is
/// the right-most entry of `X-Forwarded-For` (entries further left were written by the client and
/// prove nothing).
fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    forwarded_for
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_found_whatever_the_case_of_the_scheme() {
        assert_eq!(bearer_token(b"Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token(b"bearer  abc"), Some("abc"));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let stranger: IpAddr = "203.0.113.9".parse().expect("ip");
        let header = Some("1.2.3.4, 198.51.100.7");
        assert_eq!(client_ip(proxy, header, &[proxy]), "198.51.100.7".parse::<IpAddr>().expect("ip"));
        assert_eq!(client_ip(stranger, header, &[proxy]), stranger);
        assert_eq!(client_ip(proxy, Some("garbage"), &[proxy]), proxy);
    }
}
