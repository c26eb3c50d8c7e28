//! Request extractors: who is calling (`Authenticated` for a signed-in person, `Principal` for a
//! person or an application's API key) and from where (`ClientInfo`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use uuid::Uuid;

use super::api_keys::{self, KeyPrincipal, Scope};
use super::{AuthError, Role, sessions};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::ids::AccountId;

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
        let token = presented_bearer(parts)?;
        Ok(Self::from_access_token(state, token).await?)
    }
}

impl Authenticated {
    async fn from_access_token(state: &AppState, token: &str) -> Result<Self, AuthError> {
        let claims = state.auth.tokens.verify(token)?;
        let mut roles =
            sessions::active_roles(&state.pool, claims.sid, claims.sub).await?.ok_or(AuthError::InvalidToken)?;
        // accounts (issue 21): with LECTERN_REQUIRE_ADMIN_TWO_FACTOR, an administrator without
        // two-factor sign-in acts without the admin role (one more lookup, for admins only).
        if state.auth.settings.require_admin_two_factor
            && roles.contains(&Role::Admin)
            && !super::two_factor::is_enabled(&state.pool, claims.sub).await?
        {
            roles.retain(|role| *role != Role::Admin);
        }
        Ok(Self { account_id: claims.sub, roles, session_id: claims.sid })
    }
}

/// Whoever is calling an endpoint that applications may call too: a signed-in person (an access
/// token) or an application (an API key, `Bearer lk_…`). Endpoints about the person's own
/// sessions keep using [`Authenticated`], so an API key cannot sign devices out.
#[derive(Debug, Clone)]
pub enum Principal {
    User(Authenticated),
    ApiKey(KeyPrincipal),
}

impl Principal {
    /// The account the request acts as: the person, or the key's owner.
    pub fn account_id(&self) -> uuid::Uuid {
        match self {
            Self::User(user) => user.account_id,
            Self::ApiKey(key) => key.owner,
        }
    }

    /// Whether the caller may see and change what `owner` owns (an asset, its uploads, jobs,
    /// grants and sessions, a webhook endpoint): the owner, acting in person or through a key, or
    /// an administrator in person. Everyone else is answered as if the thing did not exist.
    pub fn may_manage(&self, owner: AccountId) -> bool {
        self.account_id() == owner.0 || self.is_admin()
    }

    /// A person with the admin role. A key never acts as an administrator, whoever owns it.
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::User(user) if user.roles.contains(&Role::Admin))
    }

    /// Whether the caller may do what `scope` names: a key must carry it
    /// (`insufficient_scope`); a person's roles must allow it (`forbidden`), so one endpoint
    /// serves both with one check.
    pub fn require_scope(&self, scope: Scope) -> Result<(), AuthError> {
        match self {
            Self::User(user) if scope.allowed_for(&user.roles) => Ok(()),
            Self::User(_) => Err(AuthError::Forbidden),
            Self::ApiKey(key) => key.require_scope(scope),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = presented_bearer(parts)?;
        if token.starts_with(api_keys::SECRET_PREFIX) {
            Ok(Self::ApiKey(api_keys::authenticate(&state.pool, token).await?))
        } else {
            Ok(Self::User(Authenticated::from_access_token(state, token).await?))
        }
    }
}

/// The bearer token of the request: `missing_token` without an `Authorization` header,
/// `invalid_token` for another scheme.
fn presented_bearer(parts: &Parts) -> Result<&str, AuthError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(AuthError::MissingToken)?;
    bearer_token(header.as_bytes()).ok_or(AuthError::InvalidToken)
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
        let user_agent =
            parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(|agent| agent.chars().take(512).collect());
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
    forwarded_for.and_then(|list| list.rsplit(',').next()).and_then(|last| last.trim().parse().ok()).unwrap_or(peer)
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

    #[test]
    fn owners_and_administrators_in_person_may_manage() {
        let (owner, other) = (Uuid::new_v4(), Uuid::new_v4());
        let person = |account_id, roles: &[Role]| {
            Principal::User(Authenticated { account_id, roles: roles.to_vec(), session_id: Uuid::new_v4() })
        };
        let key = |owner| Principal::ApiKey(KeyPrincipal { api_key_id: Uuid::new_v4(), owner, scopes: Vec::new() });
        assert!(person(owner, &[Role::Instructor]).may_manage(AccountId(owner)));
        assert!(!person(other, &[Role::Instructor]).may_manage(AccountId(owner)));
        assert!(person(other, &[Role::Admin]).may_manage(AccountId(owner)));
        assert!(key(owner).may_manage(AccountId(owner)));
        // A key acts for its owner only, even an administrator's.
        assert!(!key(other).may_manage(AccountId(owner)));
    }
}
