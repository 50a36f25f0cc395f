use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use tessera_core::Actor;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiQuery};
use super::{PageParams, PageView};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{AppView, GroupView, UserView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, delete_group))
        .routes(routes!(list_members))
        .routes(routes!(add_member, remove_member))
        .routes(routes!(group_apps))
        .routes(routes!(grant_from_group, revoke_from_group))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    pub description: Option<String>,
}

#[utoipa::path(get, path = "/groups", tag = "groups", params(PageParams), responses((status = 200, body = PageView<GroupView>)))]
async fn list_groups(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageView<GroupView>>, ApiError> {
    let page = state.admin.list_groups(&page.to_request()?).await?;
    Ok(Json(PageView { items: page.items.iter().map(GroupView::from).collect(), next: page.next }))
}

#[utoipa::path(post, path = "/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = GroupView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_group(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Result<(StatusCode, Json<GroupView>), ApiError> {
    let group = state.admin.create_group(&actor, &body.name, body.description.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(GroupView::from(&group))))
}

#[utoipa::path(get, path = "/groups/{group}", tag = "groups", params(("group" = String, Path, description = "id or name")),
    responses((status = 200, body = GroupView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_group(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<GroupView>, ApiError> {
    Ok(Json(GroupView::from(&state.admin.find_group(&key).await?)))
}

#[utoipa::path(delete, path = "/groups/{group}", tag = "groups", params(("group" = String, Path, description = "id or name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_group(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.delete_group(&actor, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/groups/{group}/members", tag = "groups", params(("group" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<UserView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_members(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Vec<UserView>>, ApiError> {
    let (_, members) = state.admin.group_members(&key).await?;
    Ok(Json(members.iter().map(UserView::from).collect()))
}

/// 201 when the membership was made, 204 when it existed already.
#[utoipa::path(put, path = "/groups/{group}/members/{user}", tag = "groups",
    params(("group" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or UPN")),
    responses((status = 201), (status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn add_member(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (_, _, added) = state.admin.add_member(&actor, &group, &user).await?;
    Ok(if added { StatusCode::CREATED } else { StatusCode::NO_CONTENT })
}

#[utoipa::path(delete, path = "/groups/{group}/members/{user}", tag = "groups",
    params(("group" = String, Path, description = "id or name"), ("user" = String, Path, description = "id, email or UPN")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((group, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admin.remove_member(&actor, &group, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/groups/{group}/apps", tag = "groups", params(("group" = String, Path, description = "id or name")),
    responses((status = 200, body = Vec<AppView>), (status = 404, body = crate::error::ErrorBody)))]
async fn group_apps(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Vec<AppView>>, ApiError> {
    let (_, apps) = state.admin.apps_of_group(&key).await?;
    Ok(Json(apps.iter().map(|a| AppView::new(a, &state.public_url)).collect()))
}

/// Authorizes the group for the app: the same grant as `PUT /apps/{app}/groups/{group}`.
#[utoipa::path(put, path = "/groups/{group}/apps/{app}", tag = "groups",
    params(("group" = String, Path, description = "id or name"), ("app" = String, Path, description = "id or label")),
    responses((status = 201), (status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn grant_from_group(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((group, app)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    super::apps::grant(&state, &actor, &app, &group).await
}

#[utoipa::path(delete, path = "/groups/{group}/apps/{app}", tag = "groups",
    params(("group" = String, Path, description = "id or name"), ("app" = String, Path, description = "id or label")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_from_group(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((group, app)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    super::apps::revoke(&state, &actor, &app, &group).await
}
