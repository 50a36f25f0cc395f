//! Sessions: a random 256-bit id in a cookie, its SHA-256 in the store; idle and absolute
//! timeouts; a new id at every authentication step; and the CSRF token our forms carry.

use axum::http::HeaderMap;
use tessera_auth::secret::{constant_time_eq, new_session_id, sha256_hex};
use tessera_core::policy::{AuthnContext, Factor};
use tessera_core::{Clock, SystemClock, User, UserState};
use tessera_store::{Session, StoreError};

use super::cookies::{self, CookiePolicy, Site};
use crate::AppState;

pub fn cookie_policy(state: &AppState) -> CookiePolicy {
    CookiePolicy { secure: state.public_url.starts_with("https://") }
}

pub fn now() -> i64 {
    SystemClock.now_millis()
}

/// The signed-in (or half signed-in) user of this request.
pub struct Current {
    pub session: Session,
    pub user: User,
}

/// The session this request carries, if it is live: within both timeouts and its user still
/// active. A dead session is removed.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Current>, StoreError> {
    let Some(id) = cookies::read(headers, cookies::SESSION) else { return Ok(None) };
    let hash = sha256_hex(&id);
    let Some((session, user)) = state.store.find_session_with_user(&hash).await? else { return Ok(None) };
    let now = now();
    if now >= session.expires_at
        || now - session.last_seen_at >= state.signin.idle_timeout_ms
        || user.state != UserState::Active
    {
        state.store.delete_session(&hash).await?;
        return Ok(None);
    }
    // Activity is recorded at most once a minute, to spare the store a write per request.
    if now - session.last_seen_at > 60_000 {
        state.store.touch_session(&hash, now).await?;
    }
    Ok(Some(Current { session, user }))
}

/// Makes a session under a new id (replacing the one the browser had, if any) and returns the
/// cookie that carries it.
pub async fn establish(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    authn: AuthnContext,
    complete: bool,
    created_at: Option<i64>,
) -> Result<(Session, String), SessionError> {
    let id = new_session_id().map_err(|e| SessionError::Random(e.to_string()))?;
    let now = now();
    let created_at = created_at.unwrap_or(now);
    let session = Session {
        id_hash: sha256_hex(&id),
        user_id: user.id,
        authn,
        complete,
        created_at,
        last_seen_at: now,
        expires_at: created_at + state.signin.absolute_timeout_ms,
    };
    match cookies::read(headers, cookies::SESSION) {
        Some(old) => state.store.rotate_session(&sha256_hex(&old), &session).await?,
        None => state.store.create_session(&session).await?,
    }
    let cookie = cookie_policy(state).set(cookies::SESSION, &id, Site::CrossSite, None);
    Ok((session, cookie))
}

/// Ends the browser's session, if it has one: the audit row (`signin.logout` with `summary`)
/// first, then the session. Returns the cookie that clears it.
pub async fn sign_out(
    state: &AppState,
    headers: &HeaderMap,
    summary: serde_json::Value,
) -> Result<Option<String>, StoreError> {
    let Some(id) = cookies::read(headers, cookies::SESSION) else { return Ok(None) };
    let hash = sha256_hex(&id);
    if let Some(session) = state.store.find_session(&hash).await? {
        let event = tessera_core::NewAuditEvent::new("signin.logout", "user", session.user_id, summary);
        state.store.append_audit(&tessera_core::Actor(format!("user:{}", session.user_id)), event).await?;
    }
    state.store.delete_session(&hash).await?;
    Ok(Some(cookie_policy(state).clear(cookies::SESSION)))
}

/// Adds a factor to the current session, under a new id.
pub async fn step_up(
    state: &AppState,
    headers: &HeaderMap,
    current: &Current,
    factor: Factor,
) -> Result<(Session, String), SessionError> {
    let authn = current.session.authn.clone().with(factor, now());
    establish(state, headers, &current.user, authn, true, Some(current.session.created_at)).await
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("random source failed: {0}")]
    Random(String),
}

/// The CSRF token for this browser's forms, and the cookie to set when it is new.
pub fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    if let Some(token) = cookies::read(headers, cookies::CSRF) {
        return (token, None);
    }
    let token = new_session_id().unwrap_or_default();
    let cookie = cookie_policy(state).set(cookies::CSRF, &token, Site::Strict, None);
    (token, Some(cookie))
}

/// A form post is ours if it carries the token of its browser's cookie, and, where the
/// browser says where it comes from, it comes from us.
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, form_token: &str) -> bool {
    let Some(cookie) = cookies::read(headers, cookies::CSRF) else { return false };
    if !constant_time_eq(cookie.as_bytes(), form_token.as_bytes()) {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even for our own
    // forms; the token and Sec-Fetch-Site still decide then.
    match headers.get("origin").and_then(|v| v.to_str().ok()).filter(|o| *o != "null") {
        Some(origin) => super::pages::origin_of(&state.public_url) == Some(origin.to_ascii_lowercase()),
        None => true,
    }
}

/// A `continue` value is a parked request id or nothing: never a URL.
pub fn continue_id(value: &str) -> String {
    let ok = value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { value.to_string() } else { String::new() }
}
