//! A Microsoft 365 connector's Doctor tab: `tessera doctor APP` as a page. The checks run when
//! asked (a button, with an optional test user whose password is used once and kept nowhere),
//! from this server against its own public URL, with the stored Graph credentials when there
//! are any; the page lists each check, its result and what to do.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::doctor::{Check, DoctorRequest, Severity, TestUser};

use super::application::refusal;
use super::federation::domain_of;
use super::form::Fields;
use super::pages::{Frame, Panel};
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

/// A check as the table shows it.
pub struct CheckView {
    pub name: &'static str,
    /// "Passed", "Failed" or "Warning".
    pub result: &'static str,
    pub failed: bool,
    pub detail: String,
    pub fix: String,
}

impl CheckView {
    fn of(check: &Check) -> CheckView {
        let result = match (check.ok, check.severity) {
            (true, _) => "Passed",
            (false, Severity::Error) => "Failed",
            (false, Severity::Warning) => "Warning",
        };
        let fix = if check.ok { String::new() } else { check.fix.clone().unwrap_or_default() };
        CheckView { name: check.name, result, failed: check.fails(), detail: check.detail.clone(), fix }
    }
}

#[derive(Template)]
#[template(path = "admin_app_doctor.html")]
pub struct DoctorTab {
    pub frame: Frame,
    pub panel: Panel,
    pub domain: String,
    pub public_url: String,
    /// The checks of the last run, when the form was sent.
    pub checks: Option<Vec<CheckView>>,
    pub failures: usize,
    pub test_user: String,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let domain = domain_of(&app)?;
    let panel = Panel::new(&app, "doctor");
    let public_url = state.admin.public_url().to_string();
    Ok(render(&state, &ctx, StatusCode::OK, &session, move |frame| DoctorTab {
        frame,
        panel,
        domain,
        public_url,
        checks: None,
        failures: 0,
        test_user: String::new(),
    }))
}

pub async fn run(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.find_app(&app).await?;
    let domain = domain_of(&app)?;
    let test_user = fields.one("test_user").trim().to_string();
    let password = fields.one("test_password").to_string();
    let mut panel = Panel::new(&app, "doctor");
    let request = DoctorRequest {
        app: Some(app.id.to_string()),
        test_user: (!test_user.is_empty()).then(|| TestUser { name: test_user.clone(), password }),
        ca_pem: None,
    };
    let graph = match state.admin.m365_graph().await {
        Ok(graph) => graph,
        Err(e) => {
            panel = panel.telling(None, Some(format!("Microsoft Graph is not used: {}", refusal(e)?.1)));
            None
        }
    };
    let (status, checks) = match state.admin.doctor(&actor, &request, graph.as_ref()).await {
        Ok(report) => {
            let checks: Vec<CheckView> =
                report.connectors.iter().flat_map(|c| c.checks.iter().map(CheckView::of)).collect();
            (StatusCode::OK, Some(checks))
        }
        Err(e) => {
            let (status, message) = refusal(e)?;
            panel = panel.telling(None, Some(message));
            (status, None)
        }
    };
    let failures = checks.as_ref().map(|c| c.iter().filter(|c| c.failed).count()).unwrap_or(0);
    let public_url = state.admin.public_url().to_string();
    Ok(render(&state, &ctx, status, &session, move |frame| DoctorTab {
        frame,
        panel,
        domain,
        public_url,
        checks,
        failures,
        test_user,
    }))
}
