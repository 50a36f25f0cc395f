use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tessera_admin::AuditRequest;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiQuery;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::AuditView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// `since` is an RFC 3339 time; `after` the id of the last event already read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditParams {
    since: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams), responses((status = 200, body = Vec<AuditView>)))]
async fn list_audit(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditView>>, ApiError> {
    let request = AuditRequest { since: params.since, after: params.after, limit: params.limit.unwrap_or(1000) };
    let events = state.admin.audit_events(&request).await?;
    Ok(Json(events.iter().map(AuditView::from).collect()))
}
