//! Administrators and their roles: the list (name, role, applications, second factor), and a
//! full administrator's change of someone's role (an application administrator's applications
//! as checkboxes). Nobody else reaches it: an application administrator cannot see it, an
//! auditor reads it; nobody changes their own reach except through a full administrator.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::{AdminError, RoleRequest};
use tessera_core::AdminRole;
use tessera_store::PageRequest;

use super::application::said;
use super::form::Fields;
use super::pages::Frame;
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::state::AppState;

pub struct AdminRow {
    pub id: String,
    pub name: String,
    pub role: AdminRole,
    /// Each application: id, label, and whether this administrator has it.
    pub apps: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "admin_administrators.html")]
pub struct AdministratorsPage {
    pub frame: Frame,
    pub rows: Vec<AdminRow>,
    pub roles: [AdminRole; 3],
    pub notice: Option<String>,
    pub error: Option<String>,
}

async fn rows(state: &AppState) -> Result<Vec<AdminRow>, AppError> {
    let mut apps = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = state.admin.list_apps(&page).await?;
        apps.extend(got.items.into_iter().map(|a| (a.id, a.label)));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let mut rows = Vec::new();
    for admin in state.admin.list_admins().await? {
        let authority = state.admin.admin_authority(&admin).await?;
        rows.push(AdminRow {
            id: admin.id.clone(),
            name: admin.username.clone(),
            role: admin.role,
            apps: apps.iter().map(|(id, label)| (id.to_string(), label.clone(), authority.apps.contains(id))).collect(),
        });
    }
    Ok(rows)
}

async fn page(
    state: &AppState,
    notice: Option<String>,
    error: Option<String>,
) -> Result<impl FnOnce(Frame) -> AdministratorsPage + use<>, AppError> {
    let rows = rows(state).await?;
    Ok(move |frame| AdministratorsPage { frame, rows, roles: AdminRole::ALL, notice, error })
}

pub async fn list(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let page = page(&state, None, None).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, page))
}

pub async fn set_role(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(admin): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let outcome = match fields.one("role").parse::<AdminRole>() {
        Ok(role) => {
            let request = RoleRequest { role, apps: fields.all("app").into_iter().map(str::to_string).collect() };
            state
                .admin
                .set_admin_role(&actor, &admin, &request)
                .await
                .map(|changed| format!("{} is now: {}.", changed.username, changed.role.title()))
        }
        Err(e) => Err(AdminError::from(e)),
    };
    let (status, notice, error) = said(outcome)?;
    let page = page(&state, notice, error).await?;
    Ok(render(&state, &ctx, status, &session, page))
}
