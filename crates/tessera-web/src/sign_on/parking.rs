//! Parked sign-ons: stored under a random id while their user signs in, bound to the browser
//! that parked them by a cookie. The browser comes back with the id only, never a URL, and only
//! that browser can take it.

use serde_json::json;
use tessera_auth::secret::{new_session_id, sha256_hex};
use tessera_core::{Actor, AuditAction, NewAuditEvent};
use tessera_store::ParkedRequest;

use super::{PendingSignOn, Reply};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::cookies::{self, Site};
use crate::shell::session::cookie_policy;
use crate::state::AppState;

/// Parks `pending` for this browser: its id, and the cookies to set (the browser binding, when
/// the browser has none yet).
pub(super) async fn park<R: Clone + Into<Reply>>(
    state: &AppState,
    ctx: &RequestContext,
    pending: &PendingSignOn<R>,
) -> Result<(String, Vec<String>), AppError> {
    let mut set_cookies = Vec::new();
    let browser = match &ctx.browser_id {
        Some(browser) => browser.clone(),
        None => {
            let browser = new_session_id()?;
            set_cookies.push(cookie_policy(state).set(cookies::BROWSER, &browser, Site::CrossSite, Some(400 * 86_400)));
            browser
        }
    };
    let pending = pending.clone().with_reply(pending.reply.clone().into());
    let id = new_session_id()?;
    let now = state.clock.now_millis();
    let parked = ParkedRequest {
        id: id.clone(),
        browser_hash: sha256_hex(&browser),
        kind: pending.reply.name().to_string(),
        payload: serde_json::to_value(&pending)?,
        created_at: now,
        expires_at: now + state.signin.parked_ttl_ms,
    };
    state.parking.park_request(&parked).await?;
    Ok((id, set_cookies))
}

/// The sign-on this browser parked as `id`, left in place, if it has not expired: the sign-in
/// pages name its application and tag their audit events with its trace. A read of one row by
/// its key.
pub async fn peek(state: &AppState, ctx: &RequestContext, id: &str) -> Result<Option<PendingSignOn>, AppError> {
    let (Some(browser), false) = (&ctx.browser_id, id.is_empty()) else { return Ok(None) };
    let now = state.clock.now_millis();
    let Some(parked) = state.parking.peek_parked_request(id, &sha256_hex(browser), now).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_value(parked.payload).ok())
}

/// Takes the sign-on parked as `id`, if it is this browser's and has not expired; a refused
/// attempt is audited.
pub(super) async fn take(state: &AppState, ctx: &RequestContext, id: &str) -> Result<Option<PendingSignOn>, AppError> {
    let Some(browser) = &ctx.browser_id else { return Ok(None) };
    let now = state.clock.now_millis();
    let Some(parked) = state.parking.take_parked_request(id, &sha256_hex(browser), now).await? else {
        let event = NewAuditEvent::new(AuditAction::SigninResumeRefused, "parked_request", id, json!({}));
        state.audit.append_audit(&Actor::system(), event).await?;
        return Ok(None);
    };
    // A request parked by an older release, in another shape, cannot continue; its user starts
    // again from the application.
    Ok(serde_json::from_value(parked.payload).ok())
}
