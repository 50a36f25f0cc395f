//! The dashboard: sign-ins, failures and refusals per hour over the last days, for every
//! application or one, as a server-drawn SVG chart with a table of the same figures; totals
//! per application; and the signing certificates that expire within 60 days.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_core::format_millis;

use super::chart;
use super::pages::Frame;
use super::{administrator_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct Choice {
    #[serde(default)]
    app: String,
    days: Option<u32>,
}

/// One day's totals, for the table under the chart.
pub struct DayRow {
    pub date: String,
    pub signed_in: i64,
    pub failed: i64,
    pub refused: i64,
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
pub struct DashboardPage {
    pub frame: Frame,
    pub days: u32,
    /// The application chosen, by id, and its label.
    pub app: Option<(String, String)>,
    pub chart: String,
    pub legend: Vec<(&'static str, String)>,
    pub table: Vec<DayRow>,
    /// Each application: id, label, sign-ins, refusals, and its small chart.
    pub apps: Vec<(String, String, i64, i64, String)>,
    /// Label, which certificate, expiry date, app id.
    pub expiring: Vec<(String, &'static str, String, String)>,
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(choice): Query<Choice>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let days = choice.days.unwrap_or(7);
    let app = match choice.app.trim() {
        "" => None,
        key => Some(state.admin.find_app(key).await?),
    };
    let figures = state.admin.dashboard(days, app.as_ref().map(|a| a.id.to_string()).as_deref()).await?;
    let series = &figures.series;
    let table = (0..series.signed_in.len())
        .step_by(24)
        .map(|start| {
            let day = |line: &[i64]| line.iter().skip(start).take(24).sum();
            DayRow {
                date: format_millis(figures.first_hour_ms + start as i64 * 3_600_000)
                    .chars()
                    .take(13)
                    .collect::<String>()
                    + "h",
                signed_in: day(&series.signed_in),
                failed: day(&series.failed),
                refused: day(&series.refused),
            }
        })
        .collect();
    let app = app.map(|a| (a.id.to_string(), a.label));
    let chart = chart::hourly(series, figures.first_hour_ms);
    let apps = figures
        .apps
        .iter()
        .map(|a| (a.id.clone(), a.label.clone(), a.signed_in, a.refused, chart::sparkline(&a.series)))
        .collect();
    let expiring = figures
        .expiring
        .into_iter()
        .map(|c| (c.label, c.which, format_millis(c.not_after).chars().take(10).collect(), c.app_id))
        .collect();
    Ok(render(&state, &ctx, StatusCode::OK, &session, move |frame| DashboardPage {
        frame,
        days,
        app,
        chart,
        legend: chart::legend(),
        table,
        apps,
        expiring,
    }))
}
