//! One application's configuration panel: General, User Groups (checkboxes; users are denied
//! until a granted group holds them) and Access policy. The SSO tab is `sso.rs`, Sign-ins
//! `sign_ins.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::{AdminError, DetailsChange, ImageChange, PolicyChange};
use tessera_core::policy::MfaRequirement;
use tessera_core::{AppKind, Application};
use tessera_store::PageRequest;

use super::catalog::IMAGE_FIELD;
use super::form::{Fields, Form};
use super::pages::{Frame, GeneralTab, GroupChoice, GroupsTab, Panel, PolicyTab};
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::{AppError, Failure};
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::state::AppState;

pub(super) fn kind_name(app: &Application) -> &'static str {
    match &app.kind {
        AppKind::M365(_) => "Microsoft 365",
        AppKind::Saml(_) => "SAML 2.0",
        AppKind::WsFed(_) => "WS-Federation",
        AppKind::Bookmark { .. } => "Bookmark",
    }
}

/// A row of the list: the application's configuration panel opens on General.
pub async fn open(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    Ok(pages::redirect(&format!("/admin/applications/{}/general", app.id), &[]))
}

pub async fn general(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let panel = Panel::new(&app, "general");
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| GeneralTab { frame, panel, kind: kind_name(&app) }))
}

async fn group_choices(state: &AppState, app: &Application) -> Result<Vec<GroupChoice>, AppError> {
    let (_, granted) = state.admin.granted_groups(&app.id.to_string()).await?;
    let mut choices = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = state.admin.list_groups(&page).await?;
        choices.extend(got.items.iter().map(|g| GroupChoice {
            id: g.id.to_string(),
            name: g.name.clone(),
            granted: granted.iter().any(|h| h.id == g.id),
        }));
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(choices),
        }
    }
}

pub async fn groups(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let groups = group_choices(&state, &app).await?;
    let panel = Panel::new(&app, "groups");
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| GroupsTab { frame, panel, groups }))
}

/// Grants the checked groups and revokes the unchecked ones that were granted, in one
/// transaction: a bad form, or a failure half-way, changes nothing.
pub async fn save_groups(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.find_app(&app).await?;
    let before = group_choices(&state, &app).await?;
    let checked = fields.all("group");
    // Only the ids this form offered: a name typed into a forged form is not a group here.
    if let Some(unknown) = checked.iter().find(|id| !before.iter().any(|g| g.id == **id)) {
        return Err(AppError::invalid("group", format!("there is no group {unknown:?}")));
    }
    state.admin.set_grants(&actor, &app.id.to_string(), &checked).await?;
    let groups = group_choices(&state, &app).await?;
    let panel = Panel::new(&app, "groups").saying("Saved.");
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| GroupsTab { frame, panel, groups }))
}

/// What the admin service refuses, said on the tab (with the fields as they are stored).
pub(super) fn refusal(e: AdminError) -> Result<(StatusCode, String), AppError> {
    match Failure::from(e) {
        Failure::Refused { status, message, .. } => Ok((status, message)),
        other => Err(AppError::new(other)),
    }
}

/// How a change on a page went: the status, and the notice to show or the refusal to say.
pub(super) fn said(
    outcome: Result<String, AdminError>,
) -> Result<(StatusCode, Option<String>, Option<String>), AppError> {
    Ok(match outcome {
        Ok(notice) => (StatusCode::OK, Some(notice), None),
        Err(e) => {
            let (status, message) = refusal(e)?;
            (status, None, Some(message))
        }
    })
}

/// After a save: the application as it now stands with its tab saying "Saved.", or as it was
/// with what the admin service refused.
pub(super) fn after_save(
    before: Application,
    outcome: Result<Application, AdminError>,
    tab: &'static str,
) -> Result<(StatusCode, Application, Panel), AppError> {
    Ok(match outcome {
        Ok(changed) => {
            let panel = Panel::new(&changed, tab).saying("Saved.");
            (StatusCode::OK, changed, panel)
        }
        Err(e) => {
            let (status, message) = refusal(e)?;
            let panel = Panel::new(&before, tab).refusing(message);
            (status, before, panel)
        }
    })
}

pub async fn save_general(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    // Who asks is settled before the body (an image, perhaps) is read.
    administrator_or_gate!(state, ctx);
    let mut form = Form::read(&state, request, &[IMAGE_FIELD]).await?;
    let (session, actor) = changing_or_gate!(state, ctx, form.fields);
    let app = state.admin.find_app(&app).await?;
    let image = match form.take_file(IMAGE_FIELD.name) {
        Some(upload) => ImageChange::Replace(upload),
        None if form.fields.one("remove_image") == "on" => ImageChange::Remove,
        None => ImageChange::Keep,
    };
    let change = DetailsChange {
        label: form.fields.one("label").to_string(),
        description: form.fields.one("description").to_string(),
        image,
        show_in_portal: form.fields.one("show_in_portal") == "on",
    };
    let outcome = state.admin.change_details(&actor, &app.id.to_string(), change).await;
    let (status, app, panel) = after_save(app, outcome, "general")?;
    Ok(render(&state, &ctx, status, &session, |frame| GeneralTab { frame, panel, kind: kind_name(&app) }))
}

fn policy_tab(app: &Application, panel: Panel) -> impl FnOnce(Frame) -> PolicyTab + use<> {
    let require_mfa = app.policy.mfa_requirement().as_str();
    let passwordless = app.policy.passwordless;
    let networks = app.policy.allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    move |frame| PolicyTab { frame, panel, require_mfa, passwordless, networks }
}

pub async fn policy(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, policy_tab(&app, Panel::new(&app, "policy"))))
}

pub async fn save_policy(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.find_app(&app).await?;
    let networks: Vec<String> =
        fields.one("networks").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    let outcome = match mfa_requirement(fields.one("require_mfa")) {
        Ok(require_mfa) => {
            let passwordless = Some(fields.one("passwordless") == "on");
            let change =
                PolicyChange { require_mfa: Some(require_mfa), passwordless, allowed_networks: Some(networks) };
            state.admin.set_policy(&actor, &app.id.to_string(), &change).await
        }
        Err(refused) => Err(refused.into()),
    };
    let (status, app, panel) = after_save(app, outcome, "policy")?;
    Ok(render(&state, &ctx, status, &session, policy_tab(&app, panel)))
}

/// The policy form's second factor: a choice, or a checkbox's `on` (or nothing) from a form of
/// the release before.
fn mfa_requirement(value: &str) -> Result<MfaRequirement, tessera_core::CoreError> {
    match value {
        "" => Ok(MfaRequirement::No),
        value => value.parse(),
    }
}
