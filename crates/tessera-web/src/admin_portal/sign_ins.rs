//! An application's Sign-ins tab: what its users did with it lately (tokens issued, launches
//! from the User Portal, denials), newest first, from the audit trail, each with its trace;
//! the tracing switch (keep the tokens sent, for a while); and one sign-in's trace page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::AdminError;
use tessera_core::tracing::{MAX_KEEP_DAYS, MAX_TRACING_MINUTES, TraceSubject};
use tessera_core::{Application, AuditEvent, format_millis};

use super::application::refusal;
use super::form::Fields;
use super::pages::{Frame, Panel, SignInRow, SignInsTab};
use super::{administrator_or_gate, changing_or_gate, render};
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
        "signin.denied" | "saml.denied" | "wsfed.denied" | "wstrust.denied" => "Denied".into(),
        "saml.status" => "Answered without a token".into(),
        other => other.to_string(),
    }
}

/// Whether tracing is on for the application now, said in words.
async fn tracing_state(state: &AppState, app: &Application) -> Result<Option<String>, AppError> {
    let now = state.clock.now_millis();
    let switches = state.admin.tracing_switches().await?;
    Ok(switches
        .switches
        .iter()
        .find(|s| s.subject == TraceSubject::App && s.id == app.id.to_string() && s.until > now)
        .map(|s| {
            format!("Tracing is on until {} (UTC); tokens are kept {} days.", format_millis(s.until), s.keep_days)
        }))
}

async fn tab(
    state: &AppState,
    app: &str,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<impl FnOnce(Frame) -> SignInsTab + use<>, AppError> {
    let (app, events) = state.admin.app_sign_ins(app, SHOWN).await?;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::with_capacity(events.len());
    for event in &events {
        rows.push(row(state, event, &mut names).await);
    }
    let tracing = tracing_state(state, &app).await?;
    let mut panel = Panel::new(&app, "sign-ins");
    if let Some(notice) = notice {
        panel = panel.saying(notice);
    }
    if let Some(error) = error {
        panel = panel.refusing(error);
    }
    Ok(move |frame| SignInsTab {
        frame,
        panel,
        rows,
        tracing,
        max_minutes: MAX_TRACING_MINUTES,
        max_days: MAX_KEEP_DAYS,
    })
}

pub async fn sign_ins(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let page = tab(&state, &app, None, None).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, page))
}

/// Switches tracing on (for so many minutes, keeping tokens so many days) or off.
pub async fn set_tracing(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let number = |name: &str| -> Result<u32, AdminError> {
        fields.one(name).trim().parse().map_err(|_| AdminError::invalid(name, format!("{name} must be a whole number")))
    };
    let outcome = match fields.one("tracing") {
        "off" => state.admin.set_tracing(&actor, TraceSubject::App, &app, None, 1).await.map(|_| "Tracing is off."),
        _ => match (number("minutes"), number("keep_days")) {
            (Ok(minutes), Ok(days)) => state
                .admin
                .set_tracing(&actor, TraceSubject::App, &app, Some(minutes), days)
                .await
                .map(|_| "Tracing is on."),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
    };
    state.tracing.forget();
    let (status, page) = match outcome {
        Ok(notice) => (StatusCode::OK, tab(&state, &app, Some(notice), None).await?),
        Err(e) => {
            let (status, message) = refusal(e)?;
            (status, tab(&state, &app, None, Some(message)).await?)
        }
    };
    Ok(render(&state, &ctx, status, &session, page))
}

async fn user_name(state: &AppState, user_id: &str, names: &mut HashMap<String, String>) -> String {
    if let Some(name) = names.get(user_id) {
        return name.clone();
    }
    // A user deleted since is shown by id.
    let name = state.admin.find_user(user_id).await.map(|u| u.email).unwrap_or_else(|_| user_id.to_string());
    names.insert(user_id.to_string(), name.clone());
    name
}

async fn row(state: &AppState, event: &AuditEvent, names: &mut HashMap<String, String>) -> SignInRow {
    let user_id = event.actor.strip_prefix("user:").unwrap_or(&event.actor).to_string();
    let user = user_name(state, &user_id, names).await;
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
    let trace = event.summary.get("trace").and_then(|v| v.as_str()).map(str::to_string);
    SignInRow { at: format_millis(event.at), user, what, ip: text("ip"), mfa, trace }
}

/// One step of a trace, in words.
pub struct Step {
    pub at: String,
    pub action: String,
    pub said: String,
    /// A refusal (or failure) rather than a step forward.
    pub refused: bool,
}

fn step(event: &AuditEvent) -> Step {
    let text = |key: &str| event.summary.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let flag = |key: &str| event.summary.get(key).and_then(|v| v.as_bool()).unwrap_or(false);
    let (said, refused) = match event.action.as_str() {
        "signin.password" if flag("mfa_next") => ("Password accepted; a second factor comes next.".to_string(), false),
        "signin.password" => ("Password accepted.".to_string(), false),
        "signin.failure" => (format!("Password refused: {}.", text("reason").replace('_', " ")), true),
        "signin.throttled" => (format!("Throttled: {}.", text("reason").replace('_', " ")), true),
        "signin.mfa" => (format!("Second factor shown: {}.", text("factor").replace('_', " ")), false),
        "signin.mfa_failure" => (format!("Second factor refused: {}.", text("reason").replace('_', " ")), true),
        "saml.issued" | "wsfed.issued" | "wstrust.issued" | "signin.launch" => {
            let session = event
                .summary
                .get("session_since")
                .and_then(|v| v.as_i64())
                .map(|at| format!(" The session was signed in at {} (UTC).", format_millis(at)))
                .unwrap_or_default();
            let mfa = if flag("mfa") { "with a second factor" } else { "with a password only" };
            (format!("Policy and authorization allowed it; {} ({mfa}).{session}", what(&event.action)), false)
        }
        "saml.status" => {
            (format!("Answered without a token: {}.", text("status").rsplit(':').next().unwrap_or("")), true)
        }
        action if action.ends_with(".denied") => {
            (format!("Refused by policy or authorization: {}.", text("reason").replace('_', " ")), true)
        }
        other => (other.to_string(), false),
    };
    Step { at: format_millis(event.at), action: event.action.clone(), said, refused }
}

#[derive(Template)]
#[template(path = "admin_trace.html")]
pub struct TracePage {
    pub frame: Frame,
    pub app_id: String,
    pub app_label: String,
    pub id: String,
    pub user: String,
    /// The request as it was read: name and value.
    pub request: Vec<(String, String)>,
    pub steps: Vec<Step>,
    pub outcome: String,
    pub token: Option<String>,
}

pub async fn trace(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path((app, id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let trace = state.admin.sign_in_trace(&id).await?;
    // A trace is the application's when its sign-on was for it: another's is not found here.
    let app_id = app.id.to_string();
    if !trace.events.iter().any(|e| e.target_kind == "app" && e.target_id == app_id) {
        return Err(AdminError::Missing("no such sign-in trace".into()).into());
    }
    let mut names = HashMap::new();
    let user = match trace.events.iter().find_map(|e| e.actor.strip_prefix("user:").map(str::to_string)) {
        Some(user_id) => user_name(&state, &user_id, &mut names).await,
        None => "(not signed in)".to_string(),
    };
    let request = trace
        .events
        .iter()
        .find_map(|e| e.summary.get("request").and_then(|r| r.as_object()).cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Null => "—".to_string(),
                other => other.to_string(),
            };
            (name, value)
        })
        .collect();
    let steps: Vec<Step> = trace.events.iter().map(step).collect();
    let outcome = steps.last().map(|s| s.said.clone()).unwrap_or_default();
    let token = trace.token.map(|t| t.token);
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| TracePage {
        frame,
        app_id,
        app_label: app.label.clone(),
        id: trace.id,
        user,
        request,
        steps,
        outcome,
        token,
    }))
}
