//! Administrators and their roles, for full administrators (auditors read them).

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use tessera_admin::RoleRequest;
use tessera_core::{Actor, AdminRole};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiJson;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::AdminView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_admins)).routes(routes!(set_role))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    /// `admin`, `app-admin` or `auditor`.
    pub role: String,
    /// An application administrator's applications (ids or labels); none for other roles.
    #[serde(default)]
    pub apps: Vec<String>,
}

#[utoipa::path(get, path = "/admins", tag = "admins", responses((status = 200, body = Vec<AdminView>)))]
async fn list_admins(State(state): State<AppState>) -> Result<Json<Vec<AdminView>>, ApiError> {
    let mut views = Vec::new();
    for admin in state.admin.list_admins().await? {
        let authority = state.admin.admin_authority(&admin).await?;
        views.push(AdminView::new(&admin, &authority));
    }
    Ok(Json(views))
}

#[utoipa::path(put, path = "/admins/{admin}/role", tag = "admins", request_body = SetRole,
    params(("admin" = String, Path, description = "id or name")),
    responses((status = 200, body = AdminView), (status = 404, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_role(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<SetRole>,
) -> Result<Json<AdminView>, ApiError> {
    let role: AdminRole =
        body.role.parse().map_err(|e: tessera_core::CoreError| ApiError::invalid("role", e.to_string()))?;
    let changed = state.admin.set_admin_role(&actor, &key, &RoleRequest { role, apps: body.apps }).await?;
    let authority = state.admin.admin_authority(&changed).await?;
    Ok(Json(AdminView::new(&changed, &authority)))
}
