//! Signing in: the login page, sessions, MFA, the password-update notice, the user portal and
//! parked protocol requests. Every protocol endpoint starts from here.

pub(crate) mod client;
pub(crate) mod cookies;
pub(crate) mod login;
pub(crate) mod mfa;
pub(crate) mod pages;
pub(crate) mod parked;
pub(crate) mod password;
pub(crate) mod portal;
pub(crate) mod session;
pub(crate) mod sign_on;

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use tessera_auth::lockout::LockoutPolicy;
use tessera_core::policy::Cidr;

pub use client::{ClientAddresses, client_addresses};
pub use parked::park_and_sign_in;

use crate::AppState;

/// Sign-in settings; the defaults suit most organizations.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    pub idle_timeout_ms: i64,
    pub absolute_timeout_ms: i64,
    pub parked_ttl_ms: i64,
    pub lockout: LockoutPolicy,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// How far a protocol message's IssueInstant may be from our clock (SECURITY.md §1.4).
    pub clock_skew_ms: i64,
}

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig {
            idle_timeout_ms: 60 * 60 * 1000,
            absolute_timeout_ms: 12 * 60 * 60 * 1000,
            parked_ttl_ms: 10 * 60 * 1000,
            lockout: LockoutPolicy::default(),
            trusted_proxies: Vec::new(),
            clock_skew_ms: 5 * 60 * 1000,
        }
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(portal::portal))
        .route("/login", get(login::page).post(login::submit))
        .route("/login/mfa", get(mfa::page).post(mfa::submit))
        .route("/mfa/totp", get(mfa::enroll_page).post(mfa::enroll_submit))
        .route("/notice", get(portal::notice_page).post(portal::notice_submit))
        .route("/logout", post(portal::logout))
        .route("/launch/{app}", get(portal::launch))
        .route("/resume/{id}", get(parked::resume))
        .route("/static/tessera.css", get(stylesheet))
        .route("/static/autopost.js", get(autopost_script))
        .merge(crate::saml::router())
        .merge(crate::wsfed::router())
        .merge(crate::wstrust::router())
        .layer(axum::middleware::from_fn_with_state(state, security_headers))
}

async fn stylesheet() -> Response {
    let mut response = Response::new(axum::body::Body::from(include_str!("../../static/tessera.css")));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

async fn autopost_script() -> Response {
    let mut response = Response::new(axum::body::Body::from(include_str!("../../static/autopost.js")));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// The headers of SECURITY.md §1.6 on every page: no framing, no sniffing, no referrer, a
/// strict CSP (no script at all on these pages), HSTS when the public URL is https, nothing
/// cached.
async fn security_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let https = state.public_url.starts_with("https://");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    // A page that set its own policy (the auto-POST form) keeps it.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            headers,
            "content-security-policy",
            "default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; \
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
    response
}

/// The client's address as audit rows record it: from a trusted proxy's header where there is
/// one, "unreadable" where that header cannot be read.
pub(crate) fn audit_ip(state: &AppState, request_extensions: &axum::http::Extensions, headers: &HeaderMap) -> String {
    client_addresses(peer(request_extensions), headers, &state.signin.trusted_proxies)
        .map(|a| a.client.to_string())
        .unwrap_or_else(|| "unreadable".into())
}

/// The peer address: from the listener, or 127.0.0.1 where there is none (in-process tests).
pub(crate) fn peer(request_extensions: &axum::http::Extensions) -> IpAddr {
    request_extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}
