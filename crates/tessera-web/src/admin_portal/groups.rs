//! Groups: the list and a new group; one group's page with its members (add, remove) and the
//! applications it may use as checkboxes (the seed's "authorize from the Groups Configuration
//! panel"), saved in one transaction.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::AdminError;
use tessera_store::PageRequest;

use super::application::{refusal, said};
use super::form::Fields;
use super::pages::Frame;
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin_groups.html")]
pub struct GroupsPage {
    pub frame: Frame,
    /// Id, name, description.
    pub groups: Vec<(String, String, String)>,
    pub name: String,
    pub error: Option<String>,
}

async fn groups_page(state: &AppState) -> Result<Vec<(String, String, String)>, AppError> {
    let mut rows = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = state.admin.list_groups(&page).await?;
        rows.extend(got.items.iter().map(|g| (g.id.to_string(), g.name.clone(), g.description.clone())));
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(rows),
        }
    }
}

pub async fn list(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let groups = groups_page(&state).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| GroupsPage {
        frame,
        groups,
        name: String::new(),
        error: None,
    }))
}

pub async fn create(State(state): State<AppState>, ctx: RequestContext, body: String) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let description = Some(fields.one("description")).filter(|d| !d.trim().is_empty());
    match state.admin.create_group(&actor, fields.one("name"), description).await {
        Ok(group) => Ok(pages::redirect(&format!("/admin/groups/{}", group.id), &[])),
        Err(e) => {
            let (status, message) = refusal(e)?;
            let groups = groups_page(&state).await?;
            Ok(render(&state, &ctx, status, &session, |frame| GroupsPage {
                frame,
                groups,
                name: fields.one("name").to_string(),
                error: Some(message),
            }))
        }
    }
}

pub struct AppChoice {
    pub id: String,
    pub label: String,
    pub granted: bool,
}

#[derive(Template)]
#[template(path = "admin_group.html")]
pub struct GroupPage {
    pub frame: Frame,
    pub id: String,
    pub name: String,
    pub description: String,
    /// Id and email of each member.
    pub members: Vec<(String, String)>,
    pub apps: Vec<AppChoice>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

async fn group_page(
    state: &AppState,
    group: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<impl FnOnce(Frame) -> GroupPage + use<>, AppError> {
    let (group, members) = state.admin.group_members(group).await?;
    let (_, granted) = state.admin.apps_of_group(&group.id.to_string()).await?;
    let mut apps = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = state.admin.list_apps(&page).await?;
        apps.extend(got.items.iter().map(|a| AppChoice {
            id: a.id.to_string(),
            label: a.label.clone(),
            granted: granted.iter().any(|g| g.id == a.id),
        }));
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    Ok(move |frame| GroupPage {
        frame,
        id: group.id.to_string(),
        name: group.name.clone(),
        description: group.description.clone(),
        members: members.iter().map(|u| (u.id.to_string(), u.email.clone())).collect(),
        apps,
        notice,
        error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(group): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let page = group_page(&state, &group, None, None).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, page))
}

/// After a change on a group's page: the page as it now stands, saying what happened.
async fn after(
    state: AppState,
    ctx: RequestContext,
    session: tessera_store::AdminSession,
    group: &str,
    outcome: Result<String, AdminError>,
) -> Result<Response, AppError> {
    let (status, notice, error) = said(outcome)?;
    let page = group_page(&state, group, notice, error).await?;
    Ok(render(&state, &ctx, status, &session, page))
}

pub async fn add_member(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(group): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let outcome =
        state.admin.add_member(&actor, &group, fields.one("user")).await.map(|(_, user, added)| match added {
            true => format!("{} was added.", user.email),
            false => format!("{} was a member already.", user.email),
        });
    after(state, ctx, session, &group, outcome).await
}

pub async fn remove_member(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(group): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let outcome = state
        .admin
        .remove_member(&actor, &group, fields.one("user"))
        .await
        .map(|(_, user)| format!("{} was removed.", user.email));
    after(state, ctx, session, &group, outcome).await
}

/// Grants the checked applications to the group and revokes the unchecked ones, in one
/// transaction.
pub async fn save_apps(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(group): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let checked = fields.all("app");
    // Only ids: a label typed into a forged form names no application here.
    if let Some(bad) = checked.iter().find(|id| id.parse::<tessera_core::AppId>().is_err()) {
        return Err(AppError::invalid("app", format!("there is no application {bad:?}")));
    }
    let outcome = state
        .admin
        .set_group_apps(&actor, &group, &checked)
        .await
        .map(|(granted, revoked)| format!("Saved: {granted} granted, {revoked} revoked."));
    after(state, ctx, session, &group, outcome).await
}
