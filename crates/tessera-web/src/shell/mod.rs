//! The shell every page and protocol endpoint stands in: what a request carries (addresses,
//! cookies, session, CSRF), pages, their language and their security headers, which
//! application a URL names, and refusals. It knows no protocol.

pub mod apps;
pub mod body_limit;
pub mod client;
pub mod context;
pub mod cookies;
pub mod localize;
pub mod pages;
pub mod reach;
pub mod refusal;
pub mod session;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;

use crate::state::AppState;

/// The static assets.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/tessera.css", get(stylesheet))
        .route("/static/autopost.js", get(autopost_script))
        .route("/static/copy.js", get(copy_script))
        .route("/static/passkey.js", get(passkey_script))
}

async fn passkey_script() -> Response {
    asset(include_str!("../../static/passkey.js"), "text/javascript; charset=utf-8")
}

async fn copy_script() -> Response {
    asset(include_str!("../../static/copy.js"), "text/javascript; charset=utf-8")
}

async fn stylesheet() -> Response {
    asset(include_str!("../../static/tessera.css"), "text/css; charset=utf-8")
}

async fn autopost_script() -> Response {
    asset(include_str!("../../static/autopost.js"), "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Around every page: its language and brand ([`localize::localize`]), then the headers of
/// SECURITY.md §1.6. One layer, not two: each `from_fn` layer costs every request its boxed
/// future and a clone of the service inside it (bench/README.md, twelfth look).
pub async fn around_pages(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let https = state.public_url.starts_with("https://");
    let mut response = localize::localize(axum::extract::State(state), request, next).await;
    security_headers(https, response.headers_mut());
    response
}

/// The headers of SECURITY.md §1.6 on every page: no framing, no sniffing, no referrer, a
/// strict CSP (no script at all on these pages), HSTS when the public URL is https, nothing
/// cached.
fn security_headers(https: bool, headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    // A page that set its own policy (the auto-POST form) keeps it.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            headers,
            "content-security-policy",
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
        );
    }
    set(headers, "x-frame-options", "DENY");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    if https {
        set(headers, "strict-transport-security", "max-age=31536000; includeSubDomains");
    }
}
