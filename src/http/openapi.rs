//! The refusals of the JSON API's shared layers and extractors, documented by construction.
//!
//! A handler's `#[utoipa::path]` lists what the handler itself answers. Some answers come from
//! code every route shares instead: the JSON extractor ([`super::extract::Json`]: a malformed body,
//! a wrong content type, an oversized body), the query extractor (a missing or mistyped parameter,
//! rewritten by [`super::middleware::json_rejections`]), the NUL check of [`super::text`], the typed
//! path ids (a malformed id is that resource's 404), and authentication (401). Writing those into
//! every annotation by hand is how they went missing; [`document_shared_refusals`] adds them to
//! every operation whose shape calls for them, keeping any the handler documents itself.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds to every operation of `document` the refusals the shared layers answer for an operation
/// of its shape (only where the operation does not document that status itself):
/// - with a request body: `413 payload_too_large`, `415 unsupported_media_type`, `422
///   invalid_json` or `invalid_text`;
/// - with query parameters: `400 invalid_query`, `422 invalid_text`;
/// - with path parameters: `404` (a malformed id is answered as a missing one);
/// - with a security requirement: `401`.
///
/// Call it on the JSON API's operations only: routes mounted beside the API (tus, the origin,
/// presigned storage URLs, `/play`) have their own extractors and document their answers
/// themselves.
pub fn document_shared_refusals(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let shared_path_parameters = has_parameters(item.parameters.as_deref(), &ParameterIn::Path);
        for operation in operations_mut(item) {
            let parameters = operation.parameters.as_deref();
            let has_query = has_parameters(parameters, &ParameterIn::Query);
            let has_path = shared_path_parameters || has_parameters(parameters, &ParameterIn::Path);
            let has_body = operation.request_body.is_some();
            let secured = operation.security.as_ref().is_some_and(|requirements| !requirements.is_empty());
            if has_body {
                add(operation, "413", "`payload_too_large`: the body is larger than the API takes");
                add(operation, "415", "`unsupported_media_type`: the body is not sent as `application/json`");
                add(
                    operation,
                    "422",
                    "`invalid_json` (the body does not parse as this request), `invalid_text` (a NUL character), or a field's own code",
                );
            }
            if has_query {
                add(operation, "400", "`invalid_query`: a query parameter is missing or of the wrong type");
                add(operation, "422", "`invalid_text`: the query string holds a NUL character");
            }
            if has_path {
                add(
                    operation,
                    "404",
                    "`not_found` (or the resource's own code): no such resource, also for a malformed id",
                );
            }
            if secured {
                add(operation, "401", "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`");
            }
        }
    }
}

fn has_parameters(parameters: Option<&[RefOr<utoipa::openapi::path::Parameter>]>, kind: &ParameterIn) -> bool {
    parameters.unwrap_or_default().iter().any(|parameter| match parameter {
        RefOr::T(parameter) => parameter.parameter_in == *kind,
        RefOr::Ref(_) => false,
    })
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Documents `status` with the error body, unless the operation already documents it.
fn add(operation: &mut Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
    });
}
