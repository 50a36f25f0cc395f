//! What a request carries that handlers and the sign-in rules need, read once at the edge: the
//! client's addresses (forwarded headers believed from trusted proxies only), our cookies, and
//! what the browser says about where the request comes from and what it will show.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use tessera_auth::client::ClientAddresses;

use super::{client, cookies};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct RequestContext {
    /// `None` when a trusted proxy's forwarding header cannot be read: the request is then
    /// refused rather than attributed to the proxy (which allow-lists often cover).
    addresses: Option<ClientAddresses>,
    /// The session cookie's value, if the request carries exactly one.
    pub session_id: Option<String>,
    /// The cookie binding parked requests to this browser.
    pub browser_id: Option<String>,
    /// The cookie our forms' CSRF token must match.
    pub csrf_cookie: Option<String>,
    /// The admin portal's session cookie (sent to `/admin` only).
    pub admin_session_id: Option<String>,
    /// `Sec-Fetch-Site`: where the browser says the request comes from.
    pub fetch_site: Option<String>,
    /// `Sec-Fetch-Dest`: what the browser will do with the answer.
    pub fetch_dest: Option<String>,
    /// `Origin`, unless the browser sent `null`.
    pub origin: Option<String>,
}

impl RequestContext {
    /// Reads a request's parts. `peer` is the connection's address (127.0.0.1 where there is no
    /// listener, as in in-process tests).
    pub fn read(peer: IpAddr, headers: &HeaderMap, state: &AppState) -> RequestContext {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        RequestContext {
            addresses: client::client_addresses(peer, headers, &state.signin.trusted_proxies),
            session_id: cookies::read(headers, cookies::SESSION),
            browser_id: cookies::read(headers, cookies::BROWSER),
            csrf_cookie: cookies::read(headers, cookies::CSRF),
            admin_session_id: cookies::read(headers, cookies::ADMIN_SESSION),
            fetch_site: text("sec-fetch-site"),
            fetch_dest: text("sec-fetch-dest"),
            // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even for our
            // own forms; the token and Sec-Fetch-Site decide then.
            origin: text("origin").filter(|o| o != "null"),
        }
    }

    /// The client's addresses, or the page that refuses a request whose forwarding header
    /// cannot be read.
    pub fn client(&self) -> Result<&ClientAddresses, AppError> {
        self.addresses.as_ref().ok_or_else(|| {
            AppError::refused(
                StatusCode::BAD_REQUEST,
                "unreadable_forwarding",
                "Request refused",
                "Your request came through a proxy whose forwarding header could not be read. Try again.",
            )
        })
    }

    /// The client's address as audit rows record it: `unreadable` where a trusted proxy's
    /// header cannot be read.
    pub fn audit_ip(&self) -> String {
        self.addresses.as_ref().map(|a| a.client.to_string()).unwrap_or_else(|| "unreadable".into())
    }

    /// Whether the browser shows the answer as a page (not an image or script of another site,
    /// which must not, say, sign anyone out). A client that does not say is taken at its word.
    pub fn shows_a_page(&self) -> bool {
        self.fetch_dest.as_deref().is_none_or(|d| d == "document")
    }

    pub fn fetch_dest(&self) -> &str {
        self.fetch_dest.as_deref().unwrap_or("document")
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(RequestContext::read(peer, &parts.headers, state))
    }
}
