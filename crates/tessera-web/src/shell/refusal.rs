//! A protocol message refused before anything is sent to its relying party (SECURITY.md §0.6:
//! its return address is not trusted yet): an audit row with a stable reason code, and a page
//! at the IdP saying what was wrong.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tessera_core::{Actor, Application, AuditAction, NewAuditEvent};

use super::context::RequestContext;
use super::pages;
use crate::error::AppError;
use crate::state::AppState;
use crate::ui::Arg;

/// Which kind of message a protocol refuses: its audit action and the page's message (its
/// title: `{page}-title`).
pub struct Refusal {
    pub action: AuditAction,
    pub page: &'static str,
}

/// Audits the refusal, then says why on a page.
pub async fn refuse(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    refusal: &Refusal,
    reason: &str,
    detail: &str,
) -> Result<Response, AppError> {
    let ip = ctx.audit_ip();
    let event =
        NewAuditEvent::new(refusal.action, "app", app.id, json!({"reason": reason, "detail": detail, "ip": ip}));
    state.audit.append_audit(&Actor::ip(&ip), event).await?;
    // The detail is the protocol check's own words, for the administrator the user tells.
    Ok(pages::say_with(
        StatusCode::BAD_REQUEST,
        &format!("{}-title", refusal.page),
        refusal.page,
        &[("app", Arg::Text(&app.label)), ("detail", Arg::Text(detail))],
    ))
}
