//! A Microsoft 365 connector's Entra users tab: `tessera m365 users` as a page. Tessera's users
//! of the domain against Entra's, read through Graph with the stored credentials: whose
//! ImmutableID matches, and who could not sign in once the domain is federated. Read-only;
//! the fixes are the CLI's (`m365 users --fix`, `--from-entra`), each with its dry run.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_m365::coverage::{Coverage, Report};

use super::application::refusal;
use super::federation::domain_of;
use super::pages::{Frame, Panel};
use super::{administrator_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

/// A row as the table shows it.
pub struct RowView {
    pub upn: String,
    pub status: &'static str,
    /// The status is one that fails a sign-in.
    pub failing: bool,
    pub tessera: String,
    pub entra: String,
    pub source: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "admin_app_entra_users.html")]
pub struct EntraUsersTab {
    pub frame: Frame,
    pub panel: Panel,
    pub domain: String,
    pub credentials: bool,
    pub graph_error: Option<String>,
    pub report: Option<Report>,
    /// Each status with its count, as the summary says them.
    pub counts: Vec<(&'static str, usize)>,
    pub rows: Vec<RowView>,
}

pub fn status_text(status: Coverage) -> &'static str {
    match status {
        Coverage::Match => "Matches",
        Coverage::MissingInEntra => "No ImmutableID in Entra",
        Coverage::Different => "Different ImmutableID",
        Coverage::NoEntraUser => "No Entra user",
        Coverage::EntraOnly => "Not in Tessera",
    }
}

fn rows(report: &Report) -> Vec<RowView> {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    report
        .users
        .iter()
        .map(|r| RowView {
            upn: r.upn.clone(),
            status: status_text(r.status),
            failing: r.status != Coverage::Match,
            tessera: dash(&r.tessera_immutable_id),
            entra: dash(&r.entra_immutable_id),
            source: dash(&r.source),
            active: r.active,
        })
        .collect()
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let domain = domain_of(&app)?;
    let credentials = state.admin.m365_stored_credentials().await?.is_some();
    let (mut report, mut graph_error) = (None, None);
    if credentials {
        let asked = match state.admin.m365_graph().await {
            Ok(Some(graph)) => state.admin.m365_users(&graph, &domain).await.map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match asked {
            Ok(found) => report = found,
            Err(e) => graph_error = Some(refusal(e)?.1),
        }
    }
    let counts = report
        .as_ref()
        .map(|r| {
            Coverage::ALL.iter().map(|s| (status_text(*s), r.counts.get(s.as_str()).copied().unwrap_or(0))).collect()
        })
        .unwrap_or_default();
    let rows = report.as_ref().map(rows).unwrap_or_default();
    let panel = Panel::new(&app, "entra-users");
    Ok(render(&state, &ctx, StatusCode::OK, &session, move |frame| EntraUsersTab {
        frame,
        panel,
        domain,
        credentials,
        graph_error,
        report,
        counts,
        rows,
    }))
}
