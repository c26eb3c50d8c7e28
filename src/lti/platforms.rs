//! All SQL of `lti_platform`: the LMS platforms an administrator registered, and the checks a
//! registration passes.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use url::Url;
use utoipa::ToSchema;
use uuid::Uuid;

use super::LtiError;

/// A registered platform, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Platform {
    pub platform_id: Uuid,
    #[schema(example = "University Moodle")]
    pub name: String,
    /// The platform's `iss` (Moodle: its site URL; Canvas: `https://canvas.instructure.com`).
    #[schema(example = "https://moodle.example.edu")]
    pub issuer: String,
    /// The client id the platform gave Lectern.
    pub client_id: String,
    /// Deployments that may launch Lectern.
    pub deployment_ids: Vec<String>,
    /// The platform's OIDC authorization endpoint.
    pub auth_login_url: String,
    /// The platform's OAuth 2 token endpoint (grade passback).
    pub auth_token_url: String,
    /// The platform's public key set.
    pub jwks_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A platform to register: what the LMS shows after Lectern is added as an external tool.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewPlatform {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub deployment_ids: Vec<String>,
    pub auth_login_url: String,
    pub auth_token_url: String,
    pub jwks_url: String,
}

/// A registration whose every field has been checked.
struct Checked {
    name: String,
    issuer: String,
    client_id: String,
    deployment_ids: Vec<String>,
    auth_login_url: String,
    auth_token_url: String,
    jwks_url: String,
}

fn check(new: &NewPlatform) -> Result<Checked, LtiError> {
    let invalid = |message: String| LtiError::InvalidField(message);
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(invalid("name must be 1 to 200 characters".to_owned()));
    }
    let issuer = new.issuer.trim();
    if issuer.is_empty() || issuer.len() > 2000 {
        return Err(invalid("issuer must be 1 to 2000 characters (the platform's `iss`)".to_owned()));
    }
    let client_id = new.client_id.trim();
    if client_id.is_empty() || client_id.len() > 255 {
        return Err(invalid("client_id must be 1 to 255 characters".to_owned()));
    }
    let mut deployment_ids = Vec::new();
    for id in &new.deployment_ids {
        let id = id.trim();
        if id.is_empty() || id.len() > 255 {
            return Err(invalid("each deployment id must be 1 to 255 characters".to_owned()));
        }
        if !deployment_ids.iter().any(|known: &String| known == id) {
            deployment_ids.push(id.to_owned());
        }
    }
    if deployment_ids.is_empty() || deployment_ids.len() > 100 {
        return Err(invalid("deployment_ids must list 1 to 100 deployments".to_owned()));
    }
    let url = |field: &str, raw: &str| -> Result<String, LtiError> {
        let url = Url::parse(raw.trim()).map_err(|e| invalid(format!("{field} is not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(format!("{field} must be an http or https URL")));
        }
        Ok(url.into())
    };
    Ok(Checked {
        name: name.to_owned(),
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        deployment_ids,
        auth_login_url: url("auth_login_url", &new.auth_login_url)?,
        auth_token_url: url("auth_token_url", &new.auth_token_url)?,
        jwks_url: url("jwks_url", &new.jwks_url)?,
    })
}

/// Registers a platform (`lti_platform_exists` when its issuer and client id are taken).
pub async fn create(pool: &PgPool, new: &NewPlatform, created_by: Uuid) -> Result<Platform, LtiError> {
    let checked = check(new)?;
    sqlx::query_as!(
        Platform,
        r#"
        insert into lti_platform (name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url,
                                  created_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        returning platform_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url,
                  created_at, updated_at
        "#,
        checked.name,
        checked.issuer,
        checked.client_id,
        &checked.deployment_ids,
        checked.auth_login_url,
        checked.auth_token_url,
        checked.jwks_url,
        created_by,
    )
    .fetch_one(pool)
    .await
    .map_err(on_unique)
}

/// Replaces a platform's registration (the same checks as [`create`]).
pub async fn update(pool: &PgPool, platform_id: Uuid, new: &NewPlatform) -> Result<Platform, LtiError> {
    let checked = check(new)?;
    sqlx::query_as!(
        Platform,
        r#"
        update lti_platform set name = $2, issuer = $3, client_id = $4, deployment_ids = $5, auth_login_url = $6,
                                auth_token_url = $7, jwks_url = $8
        where platform_id = $1
        returning platform_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url,
                  created_at, updated_at
        "#,
        platform_id,
        checked.name,
        checked.issuer,
        checked.client_id,
        &checked.deployment_ids,
        checked.auth_login_url,
        checked.auth_token_url,
        checked.jwks_url,
    )
    .fetch_optional(pool)
    .await
    .map_err(on_unique)?
    .ok_or(LtiError::PlatformNotFound)
}

fn on_unique(error: sqlx::Error) -> LtiError {
    match &error {
        sqlx::Error::Database(db) if db.constraint() == Some("lti_platform_issuer_client_id_key") => {
            LtiError::PlatformExists
        }
        _ => LtiError::Database(error),
    }
}

pub async fn get(pool: &PgPool, platform_id: Uuid) -> Result<Platform, LtiError> {
    sqlx::query_as!(
        Platform,
        r#"
        select platform_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url,
               created_at, updated_at
        from lti_platform where platform_id = $1
        "#,
        platform_id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(LtiError::PlatformNotFound)
}

pub async fn list(pool: &PgPool) -> Result<Vec<Platform>, LtiError> {
    Ok(sqlx::query_as!(
        Platform,
        r#"
        select platform_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url,
               created_at, updated_at
        from lti_platform order by created_at, platform_id
        "#,
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes a registration with its identities' links (the accounts stay).
pub async fn delete(pool: &PgPool, platform_id: Uuid) -> Result<(), LtiError> {
    let deleted = sqlx::query!(r#"delete from lti_platform where platform_id = $1"#, platform_id).execute(pool).await?;
    if deleted.rows_affected() == 0 {
        return Err(LtiError::PlatformNotFound);
    }
    Ok(())
}

/// The registration a login initiation names. `client_id` is optional in LTI's login
/// initiation; without it the issuer must have exactly one registration.
pub async fn find(pool: &PgPool, issuer: &str, client_id: Option<&str>) -> Result<Platform, LtiError> {
    let rows = sqlx::query_as!(
        Platform,
        r#"
        select platform_id, name, issuer, client_id, deployment_ids, auth_login_url, auth_token_url, jwks_url,
               created_at, updated_at
        from lti_platform where issuer = $1 and ($2::text is null or client_id = $2)
        order by created_at limit 2
        "#,
        issuer,
        client_id,
    )
    .fetch_all(pool)
    .await?;
    let unknown =
        || LtiError::UnknownPlatform { issuer: issuer.to_owned(), client_id: client_id.unwrap_or("").to_owned() };
    match rows.len() {
        1 => rows.into_iter().next().ok_or_else(unknown),
        0 => Err(unknown()),
        _ => Err(LtiError::BadLogin(
            "this issuer has several registrations; the login initiation must name its client_id".to_owned(),
        )),
    }
}
