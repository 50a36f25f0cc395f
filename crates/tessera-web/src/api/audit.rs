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
