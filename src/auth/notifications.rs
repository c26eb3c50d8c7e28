//! Notification mails each person can switch off, and the one identity sends itself: a sign-in
//! from a device the account has not used before. A missing `notification_preference` row means
//! on, so a new kind needs no backfill.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{AuthError, Authenticated, ClientInfo, accounts};
use crate::app::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::mail::{OutgoingMail, Template};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_preferences, set_preferences))
}

/// The notifications a person may switch; the values of `notification_preference.kind`.
pub const KINDS: &[&str] =
    &["new_sign_in", "lecture_ready", "enrolment", "purchase_receipt", "certificate_issued", "refund"];

/// Each kind and whether it is on.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    #[schema(example = json!({"new_sign_in": true, "lecture_ready": true, "enrolment": true,
        "purchase_receipt": true, "certificate_issued": true, "refund": false}))]
    pub notifications: BTreeMap<String, bool>,
}

/// Whether the account wants notifications of `kind`.
pub async fn wants<'e>(executor: impl sqlx::PgExecutor<'e>, account_id: Uuid, kind: &str) -> Result<bool, AuthError> {
    let stored = sqlx::query_scalar!(
        r#"select enabled from notification_preference where account_id = $1 and kind = $2"#,
        account_id,
        kind,
    )
    .fetch_optional(executor)
    .await?;
    Ok(stored.unwrap_or(true))
}

async fn preferences(pool: &sqlx::PgPool, account_id: Uuid) -> Result<Preferences, AuthError> {
    let rows = sqlx::query!(r#"select kind, enabled from notification_preference where account_id = $1"#, account_id)
        .fetch_all(pool)
        .await?;
    let mut notifications: BTreeMap<String, bool> = KINDS.iter().map(|kind| ((*kind).to_owned(), true)).collect();
    for row in rows {
        notifications.insert(row.kind, row.enabled);
    }
    Ok(Preferences { notifications })
}

/// The caller's notification switches (every kind, on unless switched off).
#[utoipa::path(get, path = "/v1/me/notifications", tag = "identity", security(("bearer" = [])),
    responses((status = OK, description = "Every kind and whether it is on", body = Preferences)))]
async fn get_preferences(
    State(state): State<AppState>,
    caller: Authenticated,
) -> Result<axum::Json<Preferences>, ApiError> {
    Ok(axum::Json(preferences(&state.pool, caller.account_id).await?))
}

/// Switch notifications on or off; kinds not named keep their setting.
#[utoipa::path(put, path = "/v1/me/notifications", tag = "identity", security(("bearer" = [])),
    request_body = Preferences,
    responses(
        (status = OK, description = "Every kind and whether it is on", body = Preferences),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_notification_kind`", body = ErrorBody),
    ))]
async fn set_preferences(
    State(state): State<AppState>,
    caller: Authenticated,
    Json(request): Json<Preferences>,
) -> Result<axum::Json<Preferences>, ApiError> {
    if let Some(unknown) = request.notifications.keys().find(|kind| !KINDS.contains(&kind.as_str())) {
        return Err(AuthError::InvalidNotificationKind(format!(
            "{unknown:?} is not a notification; the kinds are {}",
            KINDS.join(", ")
        ))
        .into());
    }
    let mut tx = state.pool.begin().await.map_err(AuthError::from)?;
    for (kind, enabled) in &request.notifications {
        sqlx::query!(
            r#"
            insert into notification_preference (account_id, kind, enabled) values ($1, $2, $3)
            on conflict (account_id, kind) do update set enabled = excluded.enabled
            "#,
            caller.account_id,
            kind,
            enabled,
        )
        .execute(&mut *tx)
        .await
        .map_err(AuthError::from)?;
    }
    tx.commit().await.map_err(AuthError::from)?;
    Ok(axum::Json(preferences(&state.pool, caller.account_id).await?))
}

/// Before a new session starts: when the account has signed in before but never from this
/// device (its user agent), and wants to know, queue the "new sign-in" mail. Best effort: a
/// failure here is logged and never stops the sign-in.
pub(crate) async fn notify_new_device(state: &AppState, account_id: Uuid, client: &ClientInfo) {
    if let Err(error) = try_notify_new_device(state, account_id, client).await {
        tracing::warn!(error = %crate::error_chain(&error), %account_id, "cannot queue the new sign-in notice");
    }
}

async fn try_notify_new_device(state: &AppState, account_id: Uuid, client: &ClientInfo) -> Result<(), AuthError> {
    let seen = sqlx::query!(
        r#"
        select exists(select 1 from auth_session where account_id = $1) as "any!",
               exists(select 1 from auth_session where account_id = $1
                      and user_agent is not distinct from $2) as "this_device!"
        "#,
        account_id,
        client.user_agent.as_deref(),
    )
    .fetch_one(&state.pool)
    .await?;
    if !seen.any || seen.this_device || !wants(&state.pool, account_id, "new_sign_in").await? {
        return Ok(());
    }
    let Some(profile) = accounts::mail_profile(&state.pool, account_id).await? else { return Ok(()) };
    let sessions_link = state.http.public_url.join("settings").map(String::from).unwrap_or_default();
    let mail = OutgoingMail {
        to: profile.email,
        locale: profile.locale,
        template: Template::NewSignIn {
            device: client.user_agent.clone().unwrap_or_else(|| "unknown".to_owned()),
            ip: client.ip.to_string(),
            link: sessions_link,
        },
    };
    let mut conn = state.pool.acquire().await?;
    crate::mail::enqueue_in(&mut conn, &mail).await.map_err(AuthError::Mail)?;
    tracing::info!(%account_id, event = "new_device_sign_in", "sign-in from a new device");
    Ok(())
}
