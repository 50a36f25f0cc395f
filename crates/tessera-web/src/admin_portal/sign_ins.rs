//! An application's Sign-ins tab: what its users did with it lately (tokens issued, launches
//! from the User Portal, denials), newest first, from the audit trail.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_core::{AuditEvent, format_millis};

use super::pages::{Panel, SignInRow, SignInsTab};
use super::{administrator_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

/// How many sign-ins the tab lists.
const SHOWN: u32 = 100;

fn what(action: &str) -> String {
    match action {
        "saml.issued" => "SAML token issued".into(),
        "wsfed.issued" => "WS-Federation token issued".into(),
        "wstrust.issued" => "WS-Trust token issued (password only)".into(),
        "signin.launch" => "Opened from the User Portal".into(),
        "signin.denied" => "Denied".into(),
        other => other.to_string(),
    }
}

pub async fn sign_ins(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let (app, events) = state.admin.app_sign_ins(&app, SHOWN).await?;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for event in &events {
        rows.push(row(&state, event, &mut names).await);
    }
    let panel = Panel::new(&app, "sign-ins");
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| SignInsTab { frame, panel, rows }))
}

async fn row(state: &AppState, event: &AuditEvent, names: &mut HashMap<String, String>) -> SignInRow {
    let user_id = event.actor.strip_prefix("user:").unwrap_or(&event.actor).to_string();
    let user = match names.get(&user_id) {
        Some(name) => name.clone(),
        None => {
            // A user deleted since is shown by id.
            let name = state.admin.find_user(&user_id).await.map(|u| u.email).unwrap_or_else(|_| user_id.clone());
            names.insert(user_id, name.clone());
            name
        }
    };
    let text = |key: &str| event.summary.get(key).and_then(|v| v.as_str()).unwrap_or("—").to_string();
    let mfa = match event.summary.get("mfa").and_then(|v| v.as_bool()) {
        Some(true) => "yes",
        Some(false) => "no",
        None => "—",
    };
    let mut what = what(&event.action);
    if let Some(reason) = event.summary.get("reason").and_then(|v| v.as_str()) {
        what = format!("{what} ({reason})");
    }
    SignInRow { at: format_millis(event.at), user, what, ip: text("ip"), mfa }
}
