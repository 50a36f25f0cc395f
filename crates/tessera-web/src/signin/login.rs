//! The login page: email or UPN and password, with smart lockout and spray throttling, and
//! one answer for every kind of failure.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tessera_core::User;
use tessera_core::policy::{AuthnContext, Factor};

use super::pages::{self, Login};
use super::password::{PasswordAccepted, PasswordRefusal, check_password};
use super::session::{self, continue_id, csrf_ok, csrf_token};
use super::{client_addresses, peer};
use crate::AppState;

/// What every failed sign-in is told, whatever the reason.
pub const GENERIC_FAILURE: &str = "The email or password is incorrect, or the account cannot sign in now.";

#[derive(Deserialize, Default)]
pub struct ContinueQuery {
    #[serde(default, rename = "continue")]
    pub continue_id: String,
    /// Set when the parked request demands a fresh sign-in (SAML ForceAuthn): the form is
    /// shown even to a signed-in browser.
    #[serde(default)]
    pub fresh: Option<String>,
    /// A login hint from the relying party (WS-Federation `username`): pre-fills the form.
    #[serde(default)]
    pub username: Option<String>,
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<ContinueQuery>) -> Response {
    let continue_id = continue_id(&query.continue_id);
    let fresh = query.fresh.is_some() && !continue_id.is_empty();
    match session::current(&state, &headers).await {
        Ok(Some(current)) if current.session.complete && !fresh => {
            return after_sign_in(&current.user, true, &continue_id);
        }
        Ok(_) => {}
        Err(e) => return pages::failure(e),
    }
    let (csrf, cookie) = csrf_token(&state, &headers);
    let hint = query.username.as_deref().filter(|u| u.len() <= 254).unwrap_or("");
    let page = Login { csrf: &csrf, continue_id: &continue_id, username: hint, error: None };
    pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

/// Where a user goes once a sign-in step is done: the second factor, then the notice, then
/// the parked request or the portal.
pub fn after_sign_in(user: &User, complete: bool, continue_id: &str) -> Response {
    let query = if continue_id.is_empty() { String::new() } else { format!("?continue={continue_id}") };
    if !complete {
        return pages::redirect(&format!("/login/mfa{query}"), &[]);
    }
    if user.notice_acknowledged_at.is_none() {
        return pages::redirect(&format!("/notice{query}"), &[]);
    }
    if continue_id.is_empty() {
        pages::redirect("/", &[])
    } else {
        pages::redirect(&format!("/resume/{continue_id}"), &[])
    }
}

/// A request a trusted proxy forwarded with a header we cannot read.
pub fn unreadable_forwarding() -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        "Request refused",
        "Your request came through a proxy whose forwarding header could not be read. Try again.",
    )
}

fn failed(csrf: &str, continue_id: &str, username: &str) -> Response {
    let page = Login { csrf, continue_id, username, error: Some(GENERIC_FAILURE) };
    pages::html(StatusCode::OK, &page, &[])
}

pub async fn submit(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let continue_id = continue_id(&form.continue_id);
    if !csrf_ok(&state, &headers, &form.csrf) {
        return pages::form_refused();
    }
    let Some(addresses) = client_addresses(peer(&extensions), &headers, &state.signin.trusted_proxies) else {
        return unreadable_forwarding();
    };
    let username = form.username.trim().to_string();
    let now = session::now();
    let checked = check_password(&state, &addresses, &username, &form.password, "login").await;
    let PasswordAccepted { user, has_totp } = match checked {
        Ok(accepted) => accepted,
        Err(PasswordRefusal::Throttled) => {
            return pages::message(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "There have been too many failed sign-ins from your network. Wait a few minutes and try again.",
            );
        }
        Err(PasswordRefusal::Failed) => return failed(&form.csrf, &continue_id, &username),
        Err(PasswordRefusal::Store(e)) => return pages::failure(e),
    };
    let authn = AuthnContext::default().with(Factor::Password, now);
    let (_, cookie) = match session::establish(&state, &headers, &user, authn, !has_totp, None).await {
        Ok(made) => made,
        Err(e) => return pages::failure(e),
    };
    let mut response = after_sign_in(&user, !has_totp, &continue_id);
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(axum::http::header::SET_COOKIE, value);
    }
    response
}
