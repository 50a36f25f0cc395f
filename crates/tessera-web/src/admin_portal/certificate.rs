//! An application's certificate page ("Regenerate certificate" on the SSO tab): the rollover
//! timeline, and the staged flow that replaces a certificate with no outage (stage, promote
//! with a grace period, stop publishing the old one), with the immediate replacement kept
//! behind its warning for a key that must stop counting now.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::rollover::Timeline;
use tessera_admin::{AdminError, KeyOptions};
use tessera_core::{AppKind, Application};

use super::application::said;
use super::form::Fields;
use super::pages::{Frame, Panel};
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

/// A time as an administrator reads it: `2027-01-30 14:05 UTC`.
pub(super) fn when(rfc3339: &str) -> String {
    format!("{} UTC", rfc3339.replacen('T', " ", 1).chars().take(16).collect::<String>())
}

/// One certificate on the timeline.
pub struct TimelineRow {
    pub role: &'static str,
    pub sha256: String,
    pub until: String,
}

/// The timeline as the certificate page and the Federation tab show it.
pub struct TimelineView {
    pub rows: Vec<TimelineRow>,
    /// What the automatic rollover does next, and when.
    pub automatic: Vec<(&'static str, String)>,
    pub warning: Option<String>,
    pub staged: bool,
    pub previous: bool,
    pub connector: bool,
}

impl TimelineView {
    pub fn new(app: &Application, timeline: Timeline) -> TimelineView {
        let mut rows = Vec::new();
        if let Some(c) = &timeline.current {
            rows.push(TimelineRow {
                role: "Signing now",
                sha256: c.sha256.clone(),
                until: format!("expires {}", when(&c.not_after)),
            });
        }
        if let Some(c) = &timeline.staged {
            rows.push(TimelineRow {
                role: "Staged: published, signs once promoted",
                sha256: c.sha256.clone(),
                until: format!("expires {}", when(&c.not_after)),
            });
        }
        if let (Some(c), Some(until)) = (&timeline.previous, &timeline.previous_published_until) {
            rows.push(TimelineRow {
                role: "Previous: still published as next",
                sha256: c.sha256.clone(),
                until: format!("published until {}", when(until)),
            });
        }
        let mut automatic = Vec::new();
        if let Some(at) = &timeline.automatic_stage_at {
            automatic.push(("Stage the next certificate", when(at)));
        }
        if let Some(at) = &timeline.automatic_promote_at {
            automatic.push(("Promote it", when(at)));
        }
        TimelineView {
            warning: timeline.warning.map(|w| {
                format!("The automatic rollover failed at its {} step ({}): {}", w.step, when(&w.at), w.error)
            }),
            staged: timeline.staged.is_some(),
            previous: timeline.previous.is_some(),
            connector: matches!(app.kind, AppKind::M365(_)),
            rows,
            automatic,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_certificate.html")]
pub struct CertificatePage {
    pub frame: Frame,
    pub panel: Panel,
    pub timeline: TimelineView,
    pub grace_days: u32,
}

async fn page(
    state: &AppState,
    app: &Application,
    panel: Panel,
) -> Result<impl FnOnce(Frame) -> CertificatePage, AppError> {
    let timeline = TimelineView::new(app, state.admin.certificate_timeline(&app.id.to_string()).await?);
    Ok(move |frame| CertificatePage { frame, panel, timeline, grace_days: tessera_admin::rollover::DEFAULT_GRACE_DAYS })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    if !app.kind.signs() {
        return Err(AppError::not_found("A bookmark has no certificate."));
    }
    let panel = Panel::new(&app, "sso");
    Ok(render(&state, &ctx, StatusCode::OK, &session, page(&state, &app, panel).await?))
}

/// One step of the rollover, as the form names it.
async fn act(state: &AppState, actor: &tessera_core::Actor, app: &str, fields: &Fields) -> Result<String, AdminError> {
    Ok(match fields.one("action") {
        "stage" => {
            state.admin.stage_certificate(actor, app, KeyOptions::default()).await?;
            "A next certificate is staged: it is published now (metadata, and Graph at its next push) and signs once promoted.".into()
        }
        "promote" => {
            let grace_days =
                fields.one("grace_days").trim().parse::<u32>().map_err(|_| {
                    AdminError::invalid("grace_days", "give the grace period as a whole number of days")
                })?;
            let force = fields.one("force") == "on";
            // Forced, nothing is asked of Graph (it may be what is broken).
            let graph = if force { None } else { state.admin.m365_graph().await? };
            state.admin.promote_certificate(actor, app, Some(grace_days), force, graph.as_ref()).await?;
            format!(
                "The staged certificate signs from now on; the old one stays published as next for {grace_days} days."
            )
        }
        "clear" => {
            state.admin.clear_previous_certificate(actor, app).await?;
            "The previous certificate is no longer published.".into()
        }
        "rotate" => {
            state.admin.rotate_key(actor, app, KeyOptions::default()).await?;
            "The certificate was regenerated. Export Metadata now and update the relying party.".into()
        }
        _ => return Err(AdminError::invalid("action", "choose stage, promote, clear or rotate")),
    })
}

pub async fn change(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let found = state.admin.find_app(&app).await?;
    let (status, notice, error) = said(act(&state, &actor, &found.id.to_string(), &fields).await)?;
    let app = state.admin.find_app(&found.id.to_string()).await?;
    let panel = Panel::new(&app, "sso").telling(notice, error);
    Ok(render(&state, &ctx, status, &session, page(&state, &app, panel).await?))
}
