use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tessera_admin::AuditRequest;
use tessera_core::tracing::TraceSubject;
use tessera_core::{Actor, format_millis};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiQuery};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::AuditView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(get_trace))
        .routes(routes!(set_tracing, stop_tracing))
        .routes(routes!(dashboard))
}

/// One sign-in's trace: its events, oldest first, and the token kept for it (without its
/// signature value) while tracing was on.
#[derive(Debug, Serialize, ToSchema)]
struct TraceView {
    id: String,
    events: Vec<AuditView>,
    token: Option<String>,
}

#[utoipa::path(get, path = "/traces/{trace}", tag = "audit", params(("trace" = String, Path, description = "32 hex digits")),
    responses((status = 200, body = TraceView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_trace(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<TraceView>, ApiError> {
    let trace = state.admin.sign_in_trace(&id).await?;
    Ok(Json(TraceView {
        id: trace.id,
        events: trace.events.iter().map(AuditView::from).collect(),
        token: trace.token.map(|t| t.token),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Tracing {
    /// 1 to 1440.
    minutes: u32,
    /// 1 to 30 (default 7).
    keep_days: Option<u32>,
}

#[utoipa::path(put, path = "/apps/{app}/tracing", tag = "audit", request_body = Tracing,
    params(("app" = String, Path, description = "id or label")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_tracing(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<Tracing>,
) -> Result<StatusCode, ApiError> {
    let days = body.keep_days.unwrap_or(7);
    state.admin.set_tracing(&actor, TraceSubject::App, &app, Some(body.minutes), days).await?;
    state.tracing.forget();
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/apps/{app}/tracing", tag = "audit", params(("app" = String, Path, description = "id or label")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn stop_tracing(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(app): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.set_tracing(&actor, TraceSubject::App, &app, None, 1).await?;
    state.tracing.forget();
    Ok(StatusCode::NO_CONTENT)
}

/// `days` (1 to 31, default 7) and `app` (id or label; all when absent).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DashboardParams {
    days: Option<u32>,
    app: Option<String>,
}

/// Sign-ins, failures and refusals per hour from `first_hour` (RFC 3339), totals per
/// application, and certificates expiring within 60 days.
#[derive(Debug, Serialize, ToSchema)]
struct DashboardView {
    first_hour: String,
    signed_in: Vec<i64>,
    failed: Vec<i64>,
    refused: Vec<i64>,
    #[schema(value_type = Object)]
    apps: serde_json::Value,
    #[schema(value_type = Object)]
    expiring_certificates: serde_json::Value,
}

#[utoipa::path(get, path = "/dashboard", tag = "audit", params(DashboardParams), responses((status = 200, body = DashboardView)))]
async fn dashboard(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<DashboardParams>,
) -> Result<Json<DashboardView>, ApiError> {
    let figures = state.admin.dashboard(params.days.unwrap_or(7), params.app.as_deref()).await?;
    let apps = figures
        .apps
        .iter()
        .map(|a| {
            serde_json::json!({"id": a.id, "label": a.label, "signed_in": a.signed_in, "refused": a.refused,
                               "signed_in_per_hour": a.series.signed_in, "refused_per_hour": a.series.refused})
        })
        .collect();
    let expiring = figures
        .expiring
        .iter()
        .map(|c| serde_json::json!({"app_id": c.app_id, "label": c.label, "which": c.which, "not_after": format_millis(c.not_after)}))
        .collect();
    Ok(Json(DashboardView {
        first_hour: format_millis(figures.first_hour_ms),
        signed_in: figures.series.signed_in,
        failed: figures.series.failed,
        refused: figures.series.refused,
        apps: serde_json::Value::Array(apps),
        expiring_certificates: serde_json::Value::Array(expiring),
    }))
}

/// `since` and `until` are RFC 3339 times; `after` the id of the last event already read;
/// `actor`, `action` (or a prefix ending in `.`), `app` and `user` filter; `order=desc` reads
/// newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    since: Option<String>,
    until: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
    actor: Option<String>,
    action: Option<String>,
    app: Option<String>,
    user: Option<String>,
    order: Option<String>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams), responses((status = 200, body = Vec<AuditView>)))]
async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let newest_first = match params.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::invalid("order", "must be asc or desc")),
    };
    let request = AuditRequest {
        since: params.since,
        until: params.until,
        after: params.after,
        limit: params.limit.unwrap_or(1000),
        actor: params.actor,
        action: params.action,
        app: params.app,
        user: params.user,
        newest_first,
    };
    let events = state.admin.audit_events(&request).await?;
    Ok(Json(events.iter().map(AuditView::from).collect()))
}
