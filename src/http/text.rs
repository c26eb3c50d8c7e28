//! The one check every text from outside passes before it can reach PostgreSQL: no NUL
//! character. PostgreSQL cannot store U+0000 in `text` (nor `\u0000` in `jsonb`), so a NUL that
//! got through would fail the statement and answer 500. Checked once at the edge of the JSON API
//! (JSON and form bodies and query strings, see [`reject_nul_text`]) and by the few routes that decode text of
//! their own (tus `Upload-Metadata`, through [`has_nul`]).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The error code of a text that holds a NUL character.
pub const NUL_CODE: &str = "invalid_text";

/// Whether `text` holds a NUL character.
pub fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// The 422 for a text holding a NUL character; `what` names the field or part of the request.
pub fn nul_error(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        NUL_CODE,
        format!("{what} contains a NUL character (U+0000), which text may not hold"),
    )
}

/// Whether a JSON document holds a NUL character in any string (value or key). In JSON a NUL can
/// only be written as the escape `\u0000`, so this looks for that escape where its backslash
/// starts an escape (is preceded by an even number of backslashes); outside strings a valid
/// document holds no backslash at all.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    const ESCAPE: &[u8] = b"\\u0000";
    let mut start = 0;
    while let Some(found) = bytes[start..].windows(ESCAPE.len()).position(|window| window == ESCAPE) {
        let at = start + found;
        let preceding = bytes[..at].iter().rev().take_while(|&&byte| byte == b'\\').count();
        if preceding % 2 == 0 {
            return true;
        }
        start = at + 1;
    }
    false
}

/// Whether a raw query string holds a NUL once percent-decoded (`%00`, in either case).
pub fn query_has_nul(query: &str) -> bool {
    query.as_bytes().windows(3).any(|window| window == b"%00") || query.contains('\0')
}

/// Refuses a JSON API request whose query string, JSON body or form body
/// (`application/x-www-form-urlencoded`: the LTI login and launch, OAuth token requests) holds
/// a NUL character, with `422 invalid_text`. Other bodies pass untouched; JSON and form bodies
/// are read whole (the API's extractors read them whole anyway) up to `max_body`, beyond which
/// the request is answered 413 as the extractors would.
pub async fn reject_nul_text(State(max_body): State<usize>, request: Request, next: Next) -> Response {
    if request.uri().query().is_some_and(query_has_nul) {
        return nul_error("the query string").into_response();
    }
    let media_type = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    let has_nul: fn(&[u8]) -> bool = if media_type == "application/json" || media_type.ends_with("+json") {
        json_has_nul
    } else if media_type == "application/x-www-form-urlencoded" {
        form_has_nul
    } else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            .into_response();
    };
    if has_nul(&bytes) {
        return nul_error("the request body").into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether a form body holds a NUL once decoded: encoded like a query string.
fn form_has_nul(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|window| window == b"%00") || bytes.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_escape_is_found_only_where_it_escapes() {
        assert!(json_has_nul(br#"{"title":"a\u0000b"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(br#"["\\\u0000"]"#), "an escaped backslash, then the escape");
        assert!(!json_has_nul(br#"{"title":"a\\u0000b"}"#), "the text \\u0000, not a NUL");
        assert!(!json_has_nul(br#"{"title":"\u0001"}"#));
        assert!(!json_has_nul(b"{}"));
    }

    #[test]
    fn a_nul_in_a_form_body_is_found_encoded_or_raw() {
        assert!(form_has_nul(b"iss=i%00x&client_id=1"));
        assert!(form_has_nul(b"iss=a\0b"));
        assert!(!form_has_nul(b"iss=a%2500b&client_id=1"));
    }

    #[test]
    fn a_percent_encoded_nul_in_a_query_is_found() {
        assert!(query_has_nul("q=a%00b"));
        assert!(!query_has_nul("q=a%2500b"));
        assert!(!query_has_nul("limit=10"));
    }
}
