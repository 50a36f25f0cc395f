use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use tessera_core::{Actor, NewUser, UserState};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{PageParams, PageView};
use crate::extract::{ApiJson, ApiQuery};
use crate::views::{GroupView, UserView};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(set_password))
        .routes(routes!(suspend_user))
        .routes(routes!(activate_user))
        .routes(routes!(user_groups))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// Defaults to the email.
    pub upn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Defaults to base64 of 16 random bytes.
    pub immutable_id: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    pub password: String,
}

#[utoipa::path(get, path = "/users", tag = "users", params(PageParams),
    responses((status = 200, body = PageView<UserView>)))]
async fn list_users(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<PageView<UserView>>, ApiError> {
    let page = state.store.list_users(&page.to_request()?).await?;
    Ok(Json(PageView { items: page.items.iter().map(UserView::from).collect(), next: page.next }))
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let generated = tessera_auth::secret::new_immutable_id()?;
    let mut new = NewUser::new(
        &body.email,
        body.upn.as_deref(),
        body.first_name.as_deref(),
        body.last_name.as_deref(),
        body.immutable_id.as_deref(),
        || generated,
    )?;
    if let Some(password) = &body.password {
        new.password_hash = Some(tessera_auth::password::hash_password(password)?);
    }
    let user = state.store.create_user(&actor, new).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[utoipa::path(get, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_user(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(&state.store.find_user(&key).await?)))
}

#[utoipa::path(delete, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = state.store.find_user(&key).await?;
    state.store.delete_user(&actor, user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/users/{user}/password", tag = "users", request_body = SetPassword,
    params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn set_password(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<SetPassword>,
) -> Result<StatusCode, ApiError> {
    let user = state.store.find_user(&key).await?;
    let hash = tessera_auth::password::hash_password(&body.password)?;
    state.store.set_password(&actor, user.id, &hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_state(state: &AppState, actor: &Actor, key: &str, to: UserState) -> Result<Json<UserView>, ApiError> {
    let user = state.store.find_user(key).await?;
    Ok(Json(UserView::from(&state.store.set_user_state(actor, user.id, to).await?)))
}

#[utoipa::path(post, path = "/users/{user}/suspend", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)))]
async fn suspend_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    set_state(&state, &actor, &key, UserState::Suspended).await
}

#[utoipa::path(post, path = "/users/{user}/activate", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)))]
async fn activate_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    set_state(&state, &actor, &key, UserState::Active).await
}

#[utoipa::path(get, path = "/users/{user}/groups", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = Vec<GroupView>), (status = 404, body = crate::error::ErrorBody)))]
async fn user_groups(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<Vec<GroupView>>, ApiError> {
    let user = state.store.find_user(&key).await?;
    Ok(Json(state.store.groups_of_user(user.id).await?.iter().map(GroupView::from).collect()))
}
