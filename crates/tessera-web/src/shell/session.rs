//! The session as the browser holds it: a cookie carrying the id that `tessera-auth`'s session
//! lifecycle gives out, and the CSRF token our forms carry.

use axum::http::StatusCode;
use tessera_auth::secret::{constant_time_eq, new_session_id};
use tessera_auth::session::{Current, Sessions};
use tessera_core::User;
use tessera_core::policy::{AuthnContext, Factor};
use tessera_store::Store;

use super::context::RequestContext;
use super::cookies::{self, CookiePolicy, Site};
use super::pages;
use crate::error::AppError;
use crate::state::AppState;

pub fn cookie_policy(state: &AppState) -> CookiePolicy {
    CookiePolicy { secure: state.public_url.starts_with("https://") }
}

fn sessions(state: &AppState) -> Sessions<'_, dyn Store> {
    state.sessions()
}

/// The session this request carries, if it is live.
pub async fn current(state: &AppState, ctx: &RequestContext) -> Result<Option<Current>, AppError> {
    match &ctx.session_id {
        Some(id) => Ok(sessions(state).current(id).await?),
        None => Ok(None),
    }
}

/// As [`current`], for a sign-on that answers with a token (`Sessions::current_for_token`).
pub async fn current_for_token(state: &AppState, ctx: &RequestContext) -> Result<Option<Current>, AppError> {
    match &ctx.session_id {
        Some(id) => Ok(sessions(state).current_for_token(id).await?),
        None => Ok(None),
    }
}

/// Makes a session under a new id (replacing the one the browser had, if any); returns the
/// cookie that carries it.
pub async fn establish(
    state: &AppState,
    ctx: &RequestContext,
    user: &User,
    authn: AuthnContext,
    complete: bool,
) -> Result<String, AppError> {
    establish_since(state, ctx, user, authn, complete, None).await
}

/// As [`establish`], for a sign-in that began at `started_at` (the absolute timeout counts
/// from it), now if `None`.
pub async fn establish_since(
    state: &AppState,
    ctx: &RequestContext,
    user: &User,
    authn: AuthnContext,
    complete: bool,
    started_at: Option<tessera_core::UnixMillis>,
) -> Result<String, AppError> {
    let made = sessions(state).establish(ctx.session_id.as_deref(), user, authn, complete, started_at).await?;
    Ok(cookie_policy(state).set(cookies::SESSION, &made.id, Site::CrossSite, None))
}

/// Adds a factor to the current session, under a new id; returns the cookie.
pub async fn step_up(
    state: &AppState,
    ctx: &RequestContext,
    current: &Current,
    factor: Factor,
) -> Result<String, AppError> {
    let id = ctx.session_id.as_deref().ok_or_else(|| AppError::internal("a step up without a session"))?;
    let made = sessions(state).step_up(id, current, factor).await?;
    Ok(cookie_policy(state).set(cookies::SESSION, &made.id, Site::CrossSite, None))
}

/// Ends the browser's session, if it has one, with its audit row (`signin.logout`, with
/// `summary`); returns the cookie that clears it.
pub async fn sign_out(
    state: &AppState,
    ctx: &RequestContext,
    summary: serde_json::Value,
) -> Result<Option<String>, AppError> {
    let Some(id) = &ctx.session_id else { return Ok(None) };
    sessions(state).sign_out(id, summary).await?;
    Ok(Some(cookie_policy(state).clear(cookies::SESSION)))
}

/// Records the password-update notice as seen by the signed-in user.
pub async fn acknowledge_notice(state: &AppState, current: &mut Current) -> Result<(), AppError> {
    current.user.notice_acknowledged_at = Some(sessions(state).acknowledge_notice(current).await?);
    Ok(())
}

/// The CSRF token for this browser's forms, and the cookie to set when it is new.
pub fn csrf_token(state: &AppState, ctx: &RequestContext) -> (String, Option<String>) {
    if let Some(token) = &ctx.csrf_cookie {
        return (token.clone(), None);
    }
    let token = new_session_id().unwrap_or_default();
    let cookie = cookie_policy(state).set(cookies::CSRF, &token, Site::Strict, None);
    (token, Some(cookie))
}

/// Refuses a form post that is not ours: from another site, or from a page that expired.
pub fn require_our_form(state: &AppState, ctx: &RequestContext, form_token: &str) -> Result<(), AppError> {
    if csrf_ok(state, ctx, form_token) {
        return Ok(());
    }
    Err(AppError::refused(
        StatusCode::FORBIDDEN,
        "form_refused",
        "Request refused",
        "This form expired or did not come from this site. Open the page again and retry.",
    ))
}

/// A form post is ours if it carries the token of its browser's cookie, and, where the
/// browser says where it comes from, it comes from us.
fn csrf_ok(state: &AppState, ctx: &RequestContext, form_token: &str) -> bool {
    let Some(cookie) = &ctx.csrf_cookie else { return false };
    if !constant_time_eq(cookie.as_bytes(), form_token.as_bytes()) {
        return false;
    }
    if let Some(site) = ctx.fetch_site.as_deref()
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    match &ctx.origin {
        Some(origin) => pages::origin_of(&state.public_url) == Some(origin.to_ascii_lowercase()),
        None => true,
    }
}

/// A `continue` value is a parked request id or nothing: never a URL.
pub fn continue_id(value: &str) -> String {
    let ok = value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { value.to_string() } else { String::new() }
}
