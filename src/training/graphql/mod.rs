//! A read-only GraphQL endpoint for apps: a course outline with the signed-in learner's progress
//! and resume point, the dashboard, the catalogue and an instructor's courses, in one round trip.
//! REST and OpenAPI stay the primary API; this is a second door onto the same functions.
//!
//! - **Nothing is computed twice.** Every field is answered by the function behind the
//!   matching REST endpoint (`learner_routes::learner_course`, `learner_routes::dashboard`,
//!   `learner_routes::catalog_page`, `routes::managed_courses_page`), and the objects are the
//!   REST views themselves (`views`, deriving `SimpleObject`), so a field equals its REST value.
//! - **Authorisation is REST's.** The caller is the [`Principal`] extractor's, built from the
//!   request's parts; the learner's fields take a person's access token like `/v1/me/…` and the
//!   catalogue (an API key is refused there with `invalid_token`, as REST refuses it), `myCourses`
//!   takes either like `GET /v1/courses`. Refusals and failures carry REST's stable code in
//!   `extensions.code` (`missing_token`, `course_not_found`, `invalid_field`…); a server failure
//!   shows no detail, as in REST. Errors of the query itself carry `invalid_query`,
//!   `query_too_deep`, `query_too_complex` or `operation_not_supported`.
//! - **Queries only.** There is no mutation or subscription type, and an operation of either
//!   kind is refused before validation ([`limits`]). Mounted inside the JSON API's layers, so its
//!   body limit and request timeout apply.
//! - **Bounded work.** [`limits`] refuses, before anything runs, documents whose fragments
//!   cycle or expand past a bound, and queries deeper or more complex than
//!   [`GraphQlSettings`] allow; introspection counts like any other field. Root fields resolve
//!   concurrently, so database reads take turns on one permit per request: a query holds at most
//!   one pool connection at a time, like a REST request.
//!
//! The HTTP side is ours, on async-graphql's core, rather than async-graphql-axum's extractor:
//! that one reads the body past axum's `DefaultBodyLimit` (the API's body limit would not apply),
//! also accepts multipart uploads and batches, and needs axum's WebSocket feature for
//! subscriptions this schema does not have. `POST` takes `application/json` through the API's
//! JSON extractor (its 413/415/422 answers); `GET` takes `query`, `operationName` and
//! `variables` from the URL.

mod limits;
mod query;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, ErrorExtensions, Name, PathSegment, Schema, Value};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use query::Query;

use super::GraphQlSettings;
use crate::app::AppState;
use crate::auth::{AuthError, Authenticated, Principal};
use crate::http::error::{ApiError, ErrorBody, HttpError};
use crate::http::extract::Json;

/// The schema: queries only.
pub type TrainingSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The code of an error in the query itself (syntax, unknown fields, wrong argument types).
const INVALID_QUERY: &str = "invalid_query";

/// The schema with the limits of `settings`.
pub fn schema(settings: GraphQlSettings) -> TrainingSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription).extension(limits::QueryLimits::new(settings)).finish()
}

/// `GET` and `POST /graphql`, for the composition root to mount inside the JSON API's layers.
pub fn routes(settings: GraphQlSettings) -> Router<AppState> {
    Router::new().route("/graphql", get(query_in_url).post(query_in_body)).layer(Extension(Arc::new(schema(settings))))
}

/// A GraphQL request: the query, the name of the operation to run when it holds several, and
/// the values of its variables.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GraphQlRequestBody {
    #[schema(example = "query Outline($id: UUID!) { course(id: $id) { title resume { lessonId positionMs } } }")]
    pub query: String,
    pub operation_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub variables: Option<serde_json::Value>,
}

/// A GraphQL response: `data`, and `errors` each with `message`, `path` and `extensions.code`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct GraphQlResponseBody {
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub errors: Option<Vec<serde_json::Value>>,
}

/// Runs a GraphQL query sent as JSON. The schema (`type Query`) is available through
/// introspection and in the README; there are no mutations.
#[utoipa::path(post, path = "/graphql", tag = "graphql",
    security(("bearer" = []), ("api_key" = [])),
    request_body = GraphQlRequestBody,
    responses(
        (status = OK, description = "The result; refusals are in `errors[].extensions.code`, e.g. `missing_token`, `course_not_found`, `query_too_deep`", body = GraphQlResponseBody),
        (status = PAYLOAD_TOO_LARGE, description = "`payload_too_large`", body = ErrorBody),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "`unsupported_media_type`: not JSON", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_json`", body = ErrorBody),
    ))]
async fn query_in_body(
    State(state): State<AppState>,
    Extension(schema): Extension<Arc<TrainingSchema>>,
    principal: Result<Principal, ApiError>,
    Json(request): Json<async_graphql::Request>,
) -> Response {
    execute(state, &schema, principal, request).await
}

/// Runs a GraphQL query given in the URL (`?query=…&operationName=…&variables=<JSON>`).
#[utoipa::path(get, path = "/graphql", tag = "graphql",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("query" = String, Query, description = "The GraphQL document"),
        ("operationName" = Option<String>, Query, description = "The operation to run, when the document holds several"),
        ("variables" = Option<String>, Query, description = "The variables, as a JSON object"),
    ),
    responses(
        (status = OK, description = "The result, as for POST", body = GraphQlResponseBody),
        (status = BAD_REQUEST, description = "`invalid_query`: the parameters cannot be read", body = ErrorBody),
    ))]
async fn query_in_url(
    State(state): State<AppState>,
    Extension(schema): Extension<Arc<TrainingSchema>>,
    principal: Result<Principal, ApiError>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let request = async_graphql::http::parse_query_string(query.as_deref().unwrap_or_default()).map_err(|error| {
        ApiError::bad_request(INVALID_QUERY, format!("cannot read the GraphQL parameters: {error}"))
    })?;
    Ok(execute(state, &schema, principal, request).await)
}

/// The OpenAPI description of `/graphql` (the transport; the schema is GraphQL's own).
#[derive(utoipa::OpenApi)]
#[openapi(paths(query_in_body, query_in_url))]
pub struct GraphQlApi;

async fn execute(
    state: AppState,
    schema: &TrainingSchema,
    principal: Result<Principal, ApiError>,
    request: async_graphql::Request,
) -> Response {
    let caller = Caller { state, principal, database: tokio::sync::Semaphore::new(1) };
    let mut response = schema.execute(request.data(caller)).await;
    null_failed_fields(&mut response);
    // Errors of the query itself (syntax, validation) come from async-graphql without a code.
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", INVALID_QUERY);
        }
    }
    // A learner's progress is theirs alone: no cache keeps it, whatever the method.
    ([(header::CACHE_CONTROL, "private, no-store")], axum::Json(response)).into_response()
}

/// Puts back, as `null`, the fields that failed. async-graphql leaves a failed field out of
/// `data` (and answers `"data": null` when every root field failed), where GraphQL has it present
/// and null, which is what clients' caches look for. Errors without a path are the request's own
/// (syntax, limits) and keep `"data": null`.
fn null_failed_fields(response: &mut async_graphql::Response) {
    'errors: for error in &response.errors {
        let Some((PathSegment::Field(key), parents)) = error.path.split_last() else { continue };
        if parents.is_empty() && response.data == Value::Null {
            response.data = Value::Object(Default::default());
        }
        let mut target = &mut response.data;
        for segment in parents {
            target = match (segment, target) {
                (PathSegment::Field(name), Value::Object(fields)) => match fields.get_mut(name.as_str()) {
                    Some(value) => value,
                    None => continue 'errors,
                },
                (PathSegment::Index(index), Value::List(items)) => match items.get_mut(*index) {
                    Some(value) => value,
                    None => continue 'errors,
                },
                _ => continue 'errors,
            };
        }
        if let Value::Object(fields) = target {
            fields.entry(Name::new(key)).or_insert(Value::Null);
        }
    }
}

/// Who is asking, as REST's extractor found it, and what the resolvers need.
pub(crate) struct Caller {
    state: AppState,
    principal: Result<Principal, ApiError>,
    /// One database read at a time per request (see the module's docs).
    database: tokio::sync::Semaphore,
}

impl Caller {
    fn of<'a>(ctx: &async_graphql::Context<'a>) -> &'a Self {
        // `execute` attaches a caller to every request this schema runs.
        ctx.data_unchecked::<Self>()
    }

    /// A person with an access token, as `/v1/me/…` requires. REST reads any `lk_…` credential
    /// there as an access token and refuses it as `invalid_token`; so does this.
    fn person(&self) -> Result<&Authenticated, async_graphql::Error> {
        match &self.principal {
            Ok(Principal::User(user)) => Ok(user),
            Ok(Principal::ApiKey(_)) => Err(domain_error(AuthError::InvalidToken)),
            Err(refusal) if refusal.code == AuthError::InvalidApiKey.error_code() => {
                Err(domain_error(AuthError::InvalidToken))
            }
            Err(refusal) => Err(field_error(refusal)),
        }
    }

    /// A person or an API key, as the endpoints applications may call require.
    fn principal(&self) -> Result<&Principal, async_graphql::Error> {
        self.principal.as_ref().map_err(field_error)
    }

    /// Waits for this request's turn at the database.
    async fn database_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed, so this always gives a permit.
        self.database.acquire().await.ok()
    }
}

/// A GraphQL error with the message and code REST would answer with.
fn field_error(error: &ApiError) -> async_graphql::Error {
    let code = error.code;
    async_graphql::Error::new(error.message.clone()).extend_with(|_, extensions| extensions.set("code", code))
}

/// A domain error as REST would answer it: its code, its message, or for a failure of ours a
/// message without detail (and the cause chain in the log).
fn domain_error(error: impl HttpError) -> async_graphql::Error {
    field_error(&ApiError::from(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema is a public contract: a change to it (a view's new field shows up here too)
    /// is seen in review as a change of this snapshot.
    #[test]
    fn the_schema_is_the_reviewed_one() {
        insta::assert_snapshot!(schema(GraphQlSettings::default()).sdl());
    }
}
