//! The audit log: every administrative change and sign-in event, newest first, filtered by
//! actor, action, application, user and time, a page at a time. Full administrators and
//! auditors read it; an application administrator reads their applications' Sign-ins tabs.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_admin::{AdminError, AuditRequest};
use tessera_core::format_millis;

use super::application::refusal;
use super::pages::Frame;
use super::{administrator_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

const PAGE: u32 = 100;

/// The filters as typed (kept in the form and the paging links).
#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub app: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    pub before: Option<i64>,
}

impl Filters {
    fn optional(value: &str) -> Option<String> {
        Some(value.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The query string of these filters, for the next page's link.
    pub fn query(&self) -> String {
        let pairs = [
            ("actor", &self.actor),
            ("action", &self.action),
            ("app", &self.app),
            ("user", &self.user),
            ("since", &self.since),
            ("until", &self.until),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", tessera_protocols::percent::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub struct EventRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub summary: String,
    /// The trace page of a sign-in event: its application and trace.
    pub trace: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
pub struct AuditPage {
    pub frame: Frame,
    pub filters: Filters,
    pub rows: Vec<EventRow>,
    /// The cursor of the next (older) page.
    pub older: Option<i64>,
    pub error: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(filters): Query<Filters>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let authority = state.admin.admin_authority(&session.admin).await?;
    let request = AuditRequest {
        since: Filters::optional(&filters.since),
        until: Filters::optional(&filters.until),
        actor: Filters::optional(&filters.actor),
        action: Filters::optional(&filters.action),
        app: Filters::optional(&filters.app),
        user: Filters::optional(&filters.user),
        after: filters.before,
        limit: PAGE,
        newest_first: true,
    };
    let (status, rows, older, error) = match state.admin.audit_events_for(&authority, &request).await {
        Ok(events) => {
            let older = (events.len() == PAGE as usize).then(|| events.last().map(|e| e.id)).flatten();
            let rows = events
                .iter()
                .map(|e| EventRow {
                    id: e.id,
                    at: format_millis(e.at),
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    target: format!("{}:{}", e.target_kind, e.target_id),
                    summary: e.summary.to_string(),
                    trace: match (e.target_kind.as_str(), e.summary.get("trace").and_then(|t| t.as_str())) {
                        ("app", Some(trace)) => Some((e.target_id.clone(), trace.to_string())),
                        _ => None,
                    },
                })
                .collect();
            (StatusCode::OK, rows, older, None)
        }
        Err(e @ (AdminError::Invalid { .. } | AdminError::Store(_))) => {
            let (status, message) = refusal(e)?;
            (status, Vec::new(), None, Some(message))
        }
        Err(other) => return Err(other.into()),
    };
    Ok(render(&state, &ctx, status, &session, |frame| AuditPage { frame, filters, rows, older, error }))
}
