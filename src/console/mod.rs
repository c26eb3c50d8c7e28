//! The web console (`web/`): the built single-page app, served at `/`.
//!
//! `web/dist` (made by `scripts/build-ui.sh`: `npm ci` + `vite build`) is embedded in release
//! builds and read from disk in debug builds (rust-embed's behaviour), so `cargo build` never
//! needs Node: without a built UI, the console's pages answer a short page saying how to build it.
//!
//! Caching: files under `/assets/` carry a content hash in their names, so they are immutable for
//! a year; `index.html` is `no-cache` (revalidated every time), so a new release is picked up at
//! once. Every page of the app's own routes answers `index.html` (the SPA fallback); anything
//! else keeps the API's JSON 404.
//!
//! Behind a path prefix (`LECTERN_PUBLIC_URL=https://host/lectern/`, with the proxy stripping the
//! prefix), `index.html` gets a `<base href>` of that path: the built files refer to their assets
//! relatively, and the app reads its base from `document.baseURI`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::ApiError;

#[derive(rust_embed::RustEmbed)]
#[folder = "web/dist/"]
#[allow_missing = true]
struct Built;

/// The first path segments of the app's own pages; each answers `index.html`.
pub const APP_SECTIONS: &[&str] = &["setup", "sign-in", "sign-up", "studio", "learn", "courses", "my", "settings"];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Clone)]
struct Console {
    /// The public URL's path, ending with `/` (`/` without a prefix).
    base_path: String,
}

/// The console's routes; `public_url` gives the path prefix the pages are served under.
pub fn routes(public_url: &url::Url) -> Router {
    let mut base_path = public_url.path().to_owned();
    if !base_path.ends_with('/') {
        base_path.push('/');
    }
    let mut router = Router::new().route("/", get(index)).route("/assets/{*file}", get(asset));
    for section in APP_SECTIONS {
        router = router.route(&format!("/{section}"), get(index)).route(&format!("/{section}/{{*rest}}"), get(index));
    }
    router.with_state(Console { base_path })
}

/// Whether `web/dist` was built (and, in release builds, embedded).
pub fn is_built() -> bool {
    Built::get("index.html").is_some()
}

async fn index(State(console): State<Console>) -> Response {
    let Some(file) = Built::get("index.html") else {
        return not_built(&console.base_path);
    };
    let html = String::from_utf8_lossy(&file.data);
    let base = format!("<head>\n    <base href=\"{}\" />", html_escape(&console.base_path));
    let html = html.replacen("<head>", &base, 1);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
            // The console is never framed (the embeddable player is a page of its own).
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        html,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("assets/{file}");
    let Some(embedded) = Built::get(&path) else {
        return ApiError::not_found(format!("no console file {path}")).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(embedded.metadata.sha256_hash()));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { embedded.data.into_owned().into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

fn not_built(base_path: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lectern</title></head>\
        <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;line-height:1.5\">\
        <h1>Lectern is running; its web console is not built</h1>\
        <p>This binary was compiled without the console's files (<code>web/dist</code>). Build them with \
        <code>scripts/build-ui.sh</code> (Node 20.19 or newer: <code>npm ci</code> and <code>vite build</code> in \
        <code>web/</code>), then rebuild or restart <code>lectern</code>. <code>scripts/run.sh</code> does both.</p>\
        <p>The API answers meanwhile: <a href=\"{}openapi.json\">openapi.json</a>.</p></body></html>",
        html_escape(base_path)
    );
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        page,
    )
        .into_response()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).as_deref() {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json" | "map") => "application/json",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_assets_get_the_types_browsers_need() {
        assert_eq!(content_type("assets/index-abc.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("assets/index-abc.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("assets/blob"), "application/octet-stream");
    }

    #[test]
    fn the_base_path_cannot_break_out_of_its_attribute() {
        assert_eq!(html_escape("/a\"><script>/"), "/a&quot;&gt;&lt;script&gt;/");
    }
}
