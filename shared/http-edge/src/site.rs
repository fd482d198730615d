//! What the API serves besides its operations: its OpenAPI description and
//! the web page, compiled into the binary (`web/` at the repository's top).

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

/// The API's OpenAPI 3.1 description: the contract the tests hold every
/// route and response to.
pub const OPENAPI_JSON: &str = include_str!("../../../web/openapi.json");
const INDEX_HTML: &str = include_str!("../../../web/index.html");
const APP_JS: &str = include_str!("../../../web/app.js");
const APP_CSS: &str = include_str!("../../../web/app.css");

/// The page talks only to this origin and runs only its own script: an
/// injected `<script>` or a foreign form target is refused by the browser.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse + Clone {
    let headers: [(HeaderName, HeaderValue); 5] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // Small, and they change with each deployment: revalidate.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_POLICY)),
    ];
    (headers, body)
}

/// `GET /`, `/app.js`, `/app.css` and `/openapi.json`, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let page = asset("text/html; charset=utf-8", INDEX_HTML);
    let script = asset("text/javascript; charset=utf-8", APP_JS);
    let style = asset("text/css; charset=utf-8", APP_CSS);
    let openapi = asset("application/json", OPENAPI_JSON);
    Router::new()
        .route("/", get(move || async move { page }))
        .route("/app.js", get(move || async move { script }))
        .route("/app.css", get(move || async move { style }))
        .route("/openapi.json", get(move || async move { openapi }))
}
