use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use tessera_store::AuditQuery;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::ApiQuery;
use crate::views::AuditView;
use crate::{ApiError, AppState};

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
    let since = params.since.as_deref().map(tessera_core::parse_rfc3339_millis).transpose()?;
    let limit = params.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 10000"));
    }
    let events = state.store.list_audit(&AuditQuery { since, after_id: params.after, limit }).await?;
    Ok(Json(events.iter().map(AuditView::from).collect()))
}
