use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tessera_admin::NewUserRequest;
use tessera_core::{Actor, UserState};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiQuery};
use super::{PageParams, PageView};
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::{GroupView, UserView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, delete_user))
        .routes(routes!(set_password))
        .routes(routes!(suspend_user))
        .routes(routes!(activate_user))
        .routes(routes!(user_groups))
        .routes(routes!(sign_out_user))
        .routes(routes!(reset_mfa))
        .routes(routes!(user_passkeys))
        .routes(routes!(remove_user_passkey))
        // A CSV file is read to its own cap (as the CLI's), not the API's JSON body cap.
        .routes(routes!(import_users))
}

/// `dry_run=true` checks everything and writes nothing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportParams {
    dry_run: Option<bool>,
}

/// What an import did (or, on a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
struct ImportView {
    dry_run: bool,
    written: bool,
    users: usize,
    memberships: usize,
    new_groups: Vec<String>,
    emails: Vec<String>,
}

#[utoipa::path(post, path = "/users/import", tag = "users", params(ImportParams),
    request_body(content = String, content_type = "text/csv", description = "columns email, upn, first_name, last_name, immutable_id, groups (';'-separated)"),
    responses((status = 200, body = ImportView), (status = 422, body = crate::error::ErrorBody)))]
async fn import_users(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiQuery(params): ApiQuery<ImportParams>,
    request: axum::extract::Request,
) -> Result<Json<ImportView>, ApiError> {
    let cap = tessera_core::import::MAX_IMPORT_BYTES;
    let body = axum::body::to_bytes(request.into_body(), cap).await.map_err(|_| {
        ApiError::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Request refused",
            format!("the file is larger than {cap} bytes: split it"),
        )
    })?;
    let dry_run = params.dry_run.unwrap_or(false);
    let report = state.admin.import_users(&actor, &body, dry_run).await?;
    Ok(Json(ImportView {
        dry_run,
        written: report.outcome.written,
        users: report.outcome.users,
        memberships: report.outcome.memberships,
        new_groups: report.outcome.new_groups,
        emails: report.rows.iter().map(|r| r.user.email.clone()).collect(),
    }))
}

/// How many sessions an action ended, or factors it removed.
#[derive(Debug, Serialize, ToSchema)]
struct Done {
    user_id: String,
    count: u64,
}

#[utoipa::path(post, path = "/users/{user}/sign-out", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = Done), (status = 404, body = crate::error::ErrorBody)))]
async fn sign_out_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let (user, ended) = state.admin.sign_out_user(&actor, &key).await?;
    Ok(Json(Done { user_id: user.id.to_string(), count: ended }))
}

#[utoipa::path(post, path = "/users/{user}/mfa/reset", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = Done), (status = 404, body = crate::error::ErrorBody)))]
async fn reset_mfa(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<Json<Done>, ApiError> {
    let (user, removed) = state.admin.reset_mfa(&actor, &key).await?;
    Ok(Json(Done { user_id: user.id.to_string(), count: u64::from(removed) }))
}

/// A user's passkey or security key, as `tessera user passkey list --json` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; null until it first signs in.
    pub last_used_at: Option<i64>,
}

#[utoipa::path(get, path = "/users/{user}/passkeys", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = [PasskeyView]), (status = 404, body = crate::error::ErrorBody)))]
async fn user_passkeys(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Vec<PasskeyView>>, ApiError> {
    let (_, passkeys) = state.admin.passkeys(&key).await?;
    Ok(Json(
        passkeys
            .into_iter()
            .map(|p| PasskeyView { name: p.name, created_at: p.created_at, last_used_at: p.last_used_at })
            .collect(),
    ))
}

/// Removes a lost or retired passkey: it signs in no more, and the user's sessions end.
#[utoipa::path(delete, path = "/users/{user}/passkeys/{name}", tag = "users",
    params(("user" = String, Path, description = "id, email or UPN"), ("name" = String, Path, description = "the passkey's name")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn remove_user_passkey(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((key, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admin.remove_passkey(&actor, &key, &name).await?;
    Ok(StatusCode::NO_CONTENT)
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
    let page = state.admin.list_users(&page.to_request()?).await?;
    Ok(Json(PageView { items: page.items.iter().map(UserView::from).collect(), next: page.next }))
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let CreateUser { email, upn, first_name, last_name, immutable_id, password } = body;
    let request = NewUserRequest { email, upn, first_name, last_name, immutable_id, password };
    let user = state.admin.create_user(&actor, request).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[utoipa::path(get, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 200, body = UserView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_user(State(state): State<AppState>, Path(key): Path<String>) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(&state.admin.find_user(&key).await?)))
}

#[utoipa::path(delete, path = "/users/{user}", tag = "users", params(("user" = String, Path, description = "id, email or UPN")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.delete_user(&actor, &key).await?;
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
    state.admin.set_password(&actor, &key, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_state(state: &AppState, actor: &Actor, key: &str, to: UserState) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(&state.admin.set_user_state(actor, key, to).await?)))
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
    let (_, groups) = state.admin.groups_of_user(&key).await?;
    Ok(Json(groups.iter().map(GroupView::from).collect()))
}
