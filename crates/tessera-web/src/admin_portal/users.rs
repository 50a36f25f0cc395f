//! Users: the list (search, pages), a new user, and one user's page: their groups, the
//! applications those open and why, and what an administrator does for them (suspend or
//! activate, a new password, reset their second factor, sign them out everywhere).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_admin::{AdminError, NewUserRequest, UserAccess};
use tessera_core::{User, UserState, format_millis};
use tessera_store::{PageRequest, PasskeyCredential};

use super::application::{refusal, said};
use super::form::Fields;
use super::pages::Frame;
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::state::AppState;

const PAGE: u32 = 100;
const MAX_QUERY: usize = 128;

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub upn: String,
    pub suspended: bool,
}

impl From<&User> for UserRow {
    fn from(u: &User) -> Self {
        UserRow {
            id: u.id.to_string(),
            email: u.email.clone(),
            name: format!("{} {}", u.first_name, u.last_name).trim().to_string(),
            upn: u.upn.clone(),
            suspended: u.state == UserState::Suspended,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    pub frame: Frame,
    pub query: String,
    pub rows: Vec<UserRow>,
    /// The next page's cursor, when there is one.
    pub next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<ListQuery>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let needle: String = query.q.trim().chars().take(MAX_QUERY).collect();
    let lower = needle.to_lowercase();
    let mut page = PageRequest { after: query.after.filter(|a| !a.is_empty()), limit: PAGE };
    let mut rows = Vec::new();
    // A search reads on until a page is full (or the directory ends).
    let next = loop {
        let got = state.admin.list_users(&page).await?;
        rows.extend(got.items.iter().map(UserRow::from).filter(|r| {
            lower.is_empty() || [&r.email, &r.name, &r.upn].iter().any(|field| field.to_lowercase().contains(&lower))
        }));
        match got.next {
            Some(next) if rows.len() < PAGE as usize && !lower.is_empty() => page.after = Some(next),
            next => break next,
        }
    };
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| UsersPage { frame, query: needle, rows, next }))
}

#[derive(Template)]
#[template(path = "admin_user_new.html")]
pub struct NewUserPage {
    pub frame: Frame,
    pub email: String,
    pub upn: String,
    pub first_name: String,
    pub last_name: String,
    pub immutable_id: String,
    pub error: Option<String>,
}

pub async fn new_form(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| NewUserPage {
        frame,
        email: String::new(),
        upn: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        immutable_id: String::new(),
        error: None,
    }))
}

fn filled(fields: &Fields, name: &str) -> Option<String> {
    Some(fields.one(name).trim().to_string()).filter(|v| !v.is_empty())
}

pub async fn create(State(state): State<AppState>, ctx: RequestContext, body: String) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let request = NewUserRequest {
        email: fields.one("email").to_string(),
        upn: filled(&fields, "upn"),
        first_name: filled(&fields, "first_name"),
        last_name: filled(&fields, "last_name"),
        immutable_id: filled(&fields, "immutable_id"),
        password: Some(fields.one("password").to_string()).filter(|p| !p.is_empty()),
    };
    match state.admin.create_user(&actor, request).await {
        Ok(user) => Ok(pages::redirect(&format!("/admin/users/{}", user.id), &[])),
        Err(e) => {
            let (status, message) = refusal(e)?;
            Ok(render(&state, &ctx, status, &session, |frame| NewUserPage {
                frame,
                email: fields.one("email").to_string(),
                upn: fields.one("upn").to_string(),
                first_name: fields.one("first_name").to_string(),
                last_name: fields.one("last_name").to_string(),
                immutable_id: fields.one("immutable_id").to_string(),
                error: Some(message),
            }))
        }
    }
}

pub struct AppAccessRow {
    pub id: String,
    pub label: String,
    pub via: String,
}

/// One passkey on a user's page.
pub struct PasskeyRow {
    pub name: String,
    pub enrolled: String,
    pub last_used: String,
}

impl From<&PasskeyCredential> for PasskeyRow {
    fn from(passkey: &PasskeyCredential) -> PasskeyRow {
        let at = |millis| super::certificate::when(&format_millis(millis));
        PasskeyRow {
            name: passkey.name.clone(),
            enrolled: at(passkey.created_at),
            last_used: passkey.last_used_at.map_or_else(|| "Never".to_string(), at),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_user.html")]
pub struct UserPage {
    pub frame: Frame,
    pub user: UserRow,
    pub immutable_id: String,
    pub has_password: bool,
    pub groups: Vec<(String, String)>,
    pub apps: Vec<AppAccessRow>,
    pub passkeys: Vec<PasskeyRow>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// What a user's page shows: the user, their access, their passkeys.
async fn user_view(state: &AppState, user: &str) -> Result<(UserAccess, Vec<PasskeyCredential>), AppError> {
    let access = state.admin.user_access(user).await?;
    let passkeys = state.passkeys.passkeys(access.user.id).await?;
    Ok((access, passkeys))
}

fn user_page(
    (access, passkeys): (UserAccess, Vec<PasskeyCredential>),
    notice: Option<String>,
    error: Option<String>,
) -> impl FnOnce(Frame) -> UserPage {
    move |frame| UserPage {
        frame,
        user: UserRow::from(&access.user),
        immutable_id: access.user.immutable_id.clone(),
        has_password: access.user.password_hash.is_some(),
        groups: access.groups.iter().map(|g| (g.id.to_string(), g.name.clone())).collect(),
        apps: access
            .apps
            .iter()
            .map(|(app, via)| AppAccessRow { id: app.id.to_string(), label: app.label.clone(), via: via.join(", ") })
            .collect(),
        passkeys: passkeys.iter().map(PasskeyRow::from).collect(),
        notice,
        error,
    }
}

pub async fn show(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(user): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let view = user_view(&state, &user).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, user_page(view, None, None)))
}

/// What a button on a user's page asks for, by the last segment of the form's path.
enum Act {
    Suspend,
    Activate,
    Password,
    ResetMfa,
    RemovePasskey,
    SignOut,
}

impl Act {
    fn named(action: &str) -> Option<Act> {
        Some(match action {
            "suspend" => Act::Suspend,
            "activate" => Act::Activate,
            "password" => Act::Password,
            "mfa-reset" => Act::ResetMfa,
            "passkey-remove" => Act::RemovePasskey,
            "sign-out" => Act::SignOut,
            _ => return None,
        })
    }
}

/// `/admin/users/{user}/{action}`: a button on a user's page; the page again, saying how it went.
pub async fn act(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path((user, action)): Path<(String, String)>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let Some(act) = Act::named(&action) else { return Err(AppError::not_found("no such action on a user")) };
    let outcome: Result<String, AdminError> = match act {
        Act::Suspend => {
            state.admin.set_user_state(&actor, &user, UserState::Suspended).await.map(|_| "Suspended.".into())
        }
        Act::Activate => {
            state.admin.set_user_state(&actor, &user, UserState::Active).await.map(|_| "Activated.".into())
        }
        Act::Password if fields.one("password") != fields.one("confirm") => {
            Err(AdminError::invalid("password", "The two passwords are not the same."))
        }
        Act::Password => state
            .admin
            .set_password(&actor, &user, fields.one("password").to_string())
            .await
            .map(|_| "The password was set.".into()),
        Act::ResetMfa => state.admin.reset_mfa(&actor, &user).await.map(|(_, removed)| match removed {
            true => "Every second factor was removed (authenticator app, recovery codes, passkeys).".into(),
            false => "The user had no second factor to reset.".into(),
        }),
        Act::RemovePasskey => {
            let name = fields.one("name").to_string();
            state.admin.remove_passkey(&actor, &user, &name).await.map(|_| format!("The passkey {name:?} was removed."))
        }
        Act::SignOut => state
            .admin
            .sign_out_user(&actor, &user)
            .await
            .map(|(_, ended)| format!("Signed out everywhere: {ended} session(s) ended.")),
    };
    let (status, notice, error) = said(outcome)?;
    let view = user_view(&state, &user).await?;
    Ok(render(&state, &ctx, status, &session, user_page(view, notice, error)))
}
