//! The external sign-in endpoints: `/v1/auth/oauth/…` (providers, start, callback, login-code
//! exchange) and `/v1/me/identities…` (list, link, unlink).

use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::identity::{self, IdentityView};
use super::{AuthorizeRequest, CallbackParams, ExchangeRequest, OAuthError, ProviderId, flow};
use crate::app::AppState;
use crate::auth::routes::{TokenPair, limit};
use crate::auth::{Authenticated, ClientInfo, accounts};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::IdentityId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(start))
        .routes(routes!(callback_get, callback_post))
        .routes(routes!(exchange_login_code))
        .routes(routes!(list_identities))
        // One path for both (the router allows one parameter name per position): POST takes a
        // provider, DELETE an identity id.
        .routes(routes!(link_identity, unlink_identity))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderInfo {
    pub id: ProviderId,
    /// The name to put on the sign-in button.
    #[schema(example = "Google")]
    pub name: String,
    /// Where the button points (add `?return_to=…` for an app).
    pub start_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderInfo>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StartQuery {
    /// Where to send the browser when the sign-in is over, with `login_code` (or `error`) added
    /// to its query. Its origin must be allowed by `LECTERN_OAUTH_REDIRECT_ORIGINS`. Without it
    /// the callback answers the token pair as JSON.
    pub return_to: Option<String>,
}

/// What a provider sends to the callback, in the query or (Apple's `form_post`) in a form body.
#[derive(Deserialize, IntoParams, ToSchema)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    /// `access_denied` when the person cancelled.
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// VK ID only.
    pub device_id: Option<String>,
}

/// Not `Debug`: the code signs someone in.
#[derive(Deserialize, ToSchema)]
pub struct LoginCodeRequest {
    pub login_code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeUrl {
    /// Send the person's browser here; the callback then links the provider to this account.
    pub authorize_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityList {
    pub identities: Vec<IdentityView>,
}

/// The enabled sign-in providers, for drawing the sign-in buttons.
#[utoipa::path(get, path = "/v1/auth/oauth/providers", tag = "identity",
    responses((status = OK, description = "Enabled providers", body = ProviderList)))]
async fn providers(State(state): State<AppState>) -> axum::Json<ProviderList> {
    let oauth = &state.auth.oauth;
    let providers = oauth
        .providers
        .iter()
        .map(|(id, provider)| ProviderInfo {
            id: *id,
            name: provider.display_name().to_owned(),
            start_url: format!("{}/{}/start", oauth.callback_base, id.as_str()),
        })
        .collect();
    axum::Json(ProviderList { providers })
}

/// Records a flow and returns the provider's authorization URL.
async fn begin(
    state: &AppState,
    provider: &str,
    return_to: Option<&str>,
    link_account_id: Option<Uuid>,
) -> Result<Url, OAuthError> {
    let oauth = &state.auth.oauth;
    let (id, provider) = oauth.provider(provider)?;
    let return_to = return_to.map(|raw| oauth.check_return_to(raw)).transpose()?;
    let started =
        flow::start(&state.pool, id, provider.uses_nonce(), return_to.as_ref().map(Url::as_str), link_account_id)
            .await?;
    let redirect_uri = oauth.redirect_uri(id);
    provider
        .authorize_url(&AuthorizeRequest {
            state: &started.state,
            code_challenge: &started.code_challenge,
            nonce: started.nonce.as_deref(),
            redirect_uri: &redirect_uri,
        })
        .await
}

/// Start signing in with a provider: redirects the browser to the provider's sign-in page.
#[utoipa::path(get, path = "/v1/auth/oauth/{provider}/start", tag = "identity",
    params(("provider" = ProviderId, Path, description = "google, apple, yandex, vk or oidc"), StartQuery),
    responses(
        (status = FOUND, description = "Redirect to the provider (Location)"),
        (status = BAD_REQUEST, description = "`invalid_return_to`", body = ErrorBody),
        (status = NOT_FOUND, description = "`unknown_provider`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
        (status = BAD_GATEWAY, description = "`oauth_provider_unavailable`", body = ErrorBody),
    ))]
async fn start(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, ApiError> {
    // Every start stores a row until it expires, so starts are limited like callbacks.
    let limits = state.auth.settings.rate_limits.oauth_callback;
    limit(&state, "oauth_start:ip", &client.ip.to_string(), limits).await?;
    let url = begin(&state, &provider, query.return_to.as_deref(), None).await?;
    Ok(found(url.as_str()))
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned()), (header::CACHE_CONTROL, "no-store".to_owned())])
        .into_response()
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location.to_owned()), (header::CACHE_CONTROL, "no-store".to_owned())])
        .into_response()
}

/// `return_to` with one more query parameter.
fn with_param(return_to: &str, name: &str, value: &str) -> String {
    match Url::parse(return_to) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair(name, value);
            url.into()
        }
        // It was checked when the flow started; an unparseable one cannot be stored.
        Err(_) => return_to.to_owned(),
    }
}

/// How a successful callback answers.
enum Outcome {
    /// Tokens, or the two-factor challenge of an account that has it.
    SignedIn(crate::auth::two_factor::SignIn),
    Linked(IdentityView),
    Redirect(String),
}

/// The provider sends the browser back here (GET, or a form POST for Apple).
#[utoipa::path(get, path = "/v1/auth/oauth/{provider}/callback", tag = "identity",
    params(("provider" = ProviderId, Path, description = "The provider that started the flow"), CallbackQuery),
    responses(
        (status = OK, description = "Without return_to: the token pair (or, when linking, the linked identity)", body = TokenPair),
        (status = SEE_OTHER, description = "With return_to: redirect with `login_code` (or `linked`, or `error`)"),
        (status = BAD_REQUEST, description = "`invalid_oauth_state`, `oauth_denied`, `invalid_id_token` or `oauth_provider_error`", body = ErrorBody),
        (status = CONFLICT, description = "`email_unverified` or `identity_in_use`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`email_required`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
        (status = BAD_GATEWAY, description = "`oauth_provider_unavailable`", body = ErrorBody),
    ))]
async fn callback_get(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(provider): Path<String>,
    Query(params): Query<CallbackQuery>,
) -> Response {
    callback(&state, &client, &provider, params).await
}

/// The same callback as a form POST (`response_mode=form_post`, which Apple uses).
#[utoipa::path(post, path = "/v1/auth/oauth/{provider}/callback", tag = "identity",
    params(("provider" = ProviderId, Path, description = "The provider that started the flow")),
    request_body(content = CallbackQuery, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = OK, description = "Without return_to: the token pair", body = TokenPair),
        (status = SEE_OTHER, description = "With return_to: redirect with `login_code` (or `error`)"),
        (status = BAD_REQUEST, description = "`invalid_oauth_state`, `oauth_denied`, `invalid_id_token` or `oauth_provider_error`", body = ErrorBody),
        (status = CONFLICT, description = "`email_unverified` or `identity_in_use`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn callback_post(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(provider): Path<String>,
    Form(params): Form<CallbackQuery>,
) -> Response {
    callback(&state, &client, &provider, params).await
}

async fn callback(state: &AppState, client: &ClientInfo, provider: &str, params: CallbackQuery) -> Response {
    let limits = state.auth.settings.rate_limits.oauth_callback;
    if let Err(error) = limit(state, "oauth_callback:ip", &client.ip.to_string(), limits).await {
        return ApiError::from(error).into_response();
    }
    let Some(raw_state) = params.state.clone().filter(|s| !s.is_empty()) else {
        return ApiError::from(OAuthError::InvalidState).into_response();
    };
    let flow = match flow::take(&state.pool, &raw_state).await {
        Ok(flow) => flow,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let return_to = flow.return_to.clone();
    match finish(state, client, provider, flow, params, &raw_state).await {
        Ok(Outcome::SignedIn(signed_in)) => signed_in.into_response(),
        Ok(Outcome::Linked(identity)) => axum::Json(identity).into_response(),
        Ok(Outcome::Redirect(location)) => see_other(&location),
        Err(error) => match return_to {
            Some(return_to) => {
                if error.is_client_error() {
                    tracing::info!(error = %error, code = error.error_code(), "external sign-in refused");
                } else {
                    tracing::error!(error = %crate::error_chain(&error), "external sign-in failed");
                }
                see_other(&with_param(&return_to, "error", error.error_code()))
            }
            None => ApiError::from(error).into_response(),
        },
    }
}

async fn finish(
    state: &AppState,
    client: &ClientInfo,
    provider: &str,
    flow: flow::Flow,
    params: CallbackQuery,
    raw_state: &str,
) -> Result<Outcome, OAuthError> {
    let oauth = &state.auth.oauth;
    let (id, provider) = oauth.provider(provider)?;
    // A state started for one provider cannot finish at another's callback.
    if flow.provider != id {
        return Err(OAuthError::InvalidState);
    }
    if let Some(error) = params.error {
        if error == "access_denied" {
            return Err(OAuthError::Denied);
        }
        let detail = params.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        return Err(OAuthError::ProviderRefused(format!("{error}{detail}")));
    }
    let code = params
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::ProviderRefused("the callback has no code".to_owned()))?;
    let callback = CallbackParams { code, device_id: params.device_id };
    let redirect_uri = oauth.redirect_uri(id);
    let external = provider
        .exchange(&ExchangeRequest {
            callback: &callback,
            pkce_verifier: &flow.pkce_verifier,
            nonce: flow.nonce.as_deref(),
            redirect_uri: &redirect_uri,
            state: raw_state,
        })
        .await?;

    if let Some(account_id) = flow.link_account_id {
        let identity = identity::link(&state.pool, id, &external, account_id).await?;
        return Ok(match flow.return_to {
            Some(return_to) => Outcome::Redirect(with_param(&return_to, "linked", id.as_str())),
            None => Outcome::Linked(identity),
        });
    }

    let resolved = identity::sign_in(&state.pool, id, &external).await?;
    if let Some(return_to) = flow.return_to {
        let login_code = flow::issue_login_code(&state.pool, resolved.account_id, id).await?;
        return Ok(Outcome::Redirect(with_param(&return_to, "login_code", &login_code)));
    }
    let account = accounts::find(&state.pool, resolved.account_id).await?.ok_or(OAuthError::InvalidState)?;
    Ok(Outcome::SignedIn(crate::auth::two_factor::sign_in(state, account.account_id, account.roles, client).await?))
}

/// Trade the `login_code` from the callback's redirect for the usual token pair. A code works
/// once, for a minute.
#[utoipa::path(post, path = "/v1/auth/oauth/token", tag = "identity", request_body = LoginCodeRequest,
    responses(
        (status = OK, description = "Tokens for a new session", body = TokenPair),
        (status = ACCEPTED, description = "Two-factor sign-in: the challenge", body = crate::auth::two_factor::TwoFactorChallenge),
        (status = BAD_REQUEST, description = "`invalid_login_code`", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn exchange_login_code(
    State(state): State<AppState>,
    client: ClientInfo,
    Json(request): Json<LoginCodeRequest>,
) -> Result<Response, ApiError> {
    let limits = state.auth.settings.rate_limits.login;
    limit(&state, "oauth_token:ip", &client.ip.to_string(), limits).await?;
    let account_id = flow::spend_login_code(&state.pool, &request.login_code).await?;
    let account = accounts::find(&state.pool, account_id).await?.ok_or(OAuthError::InvalidLoginCode)?;
    let signed_in = crate::auth::two_factor::sign_in(&state, account.account_id, account.roles, &client).await?;
    Ok(signed_in.into_response())
}

/// The external identities that sign in to your account.
#[utoipa::path(get, path = "/v1/me/identities", tag = "identity", security(("bearer" = [])),
    responses(
        (status = OK, description = "Linked identities, oldest first", body = IdentityList),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn list_identities(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<IdentityList>, ApiError> {
    let identities = identity::list(&state.pool, caller.account_id).await?;
    Ok(axum::Json(IdentityList { identities }))
}

/// Link a provider to your account: answers the URL to send your browser to; the provider's
/// callback then links the identity to this account (`identity_in_use` if it already signs in
/// another account).
#[utoipa::path(post, path = "/v1/me/identities/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = ProviderId, Path, description = "The provider: google, apple, yandex, vk or oidc"), StartQuery),
    responses(
        (status = OK, description = "The provider's authorization URL", body = AuthorizeUrl),
        (status = BAD_REQUEST, description = "`invalid_return_to`", body = ErrorBody),
        (status = NOT_FOUND, description = "`unknown_provider`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn link_identity(
    State(state): State<AppState>,
    caller: Authenticated,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<axum::Json<AuthorizeUrl>, ApiError> {
    let url = begin(&state, &provider, query.return_to.as_deref(), Some(caller.account_id)).await?;
    Ok(axum::Json(AuthorizeUrl { authorize_url: url.into() }))
}

/// Unlink an external identity. The last way into an account (no password, one identity) cannot
/// be removed: `last_sign_in_method`.
#[utoipa::path(delete, path = "/v1/me/identities/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "An identity_id from GET /v1/me/identities")),
    responses(
        (status = NO_CONTENT, description = "Unlinked"),
        (status = NOT_FOUND, description = "No such identity of yours", body = ErrorBody),
        (status = CONFLICT, description = "`last_sign_in_method`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn unlink_identity(
    State(state): State<AppState>,
    caller: Authenticated,
    identity_id: IdentityId,
) -> Result<StatusCode, ApiError> {
    identity::unlink(&state.pool, caller.account_id, identity_id.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
