//! One application's configuration panel: General, SSO (IdP Entity ID, Login URL, IDP URL,
//! Export Metadata, the federation PowerShell, Regenerate certificate behind its warning) and
//! User Groups (checkboxes; users are denied until a granted group holds them).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::{AdminError, KeyOptions, MetadataProtocol, PolicyChange};
use tessera_core::{AppKind, Application, format_millis};
use tessera_store::PageRequest;

use super::pages::{Frame, GeneralTab, GroupChoice, GroupsTab, Panel, PolicyTab, Regenerate, SsoDetails, SsoTab};
use super::{Fields, administrator_or_gate, changing_or_gate, render};
use crate::error::{AppError, Failure};
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::state::AppState;

fn kind_name(app: &Application) -> &'static str {
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

async fn sso_details(state: &AppState, app: &Application) -> Result<Option<SsoDetails>, AppError> {
    let (Some(entity_id), Some(certificate)) = (app.issuer.clone(), app.certificates.current.as_deref()) else {
        return Ok(None);
    };
    let (login_url, idp_path, powershell) = match &app.kind {
        AppKind::M365(config) => {
            let (_, powershell) = state
                .admin
                .federation_command(&app.id.to_string(), tessera_m365::Protocol::WsFed, tessera_m365::Style::Graph)
                .await?;
            (Some(config.login_url()), Some(config.idp_path().to_string()), Some(powershell))
        }
        _ => (None, None, None),
    };
    let expires = tessera_keys::certificate_not_after(certificate)
        .map(|at| format_millis(at).chars().take(10).collect())
        .unwrap_or_else(|| "—".to_string());
    Ok(Some(SsoDetails {
        entity_id,
        login_url,
        idp_path,
        expires,
        thumbprint: tessera_keys::certificate_thumbprint_sha256(certificate),
        powershell,
    }))
}

fn sso_tab<'a>(app: &'a Application, panel: Panel, sso: Option<SsoDetails>) -> impl FnOnce(Frame) -> SsoTab<'a> {
    let kind = match &app.kind {
        AppKind::Bookmark { url } => url.as_str(),
        _ => kind_name(app),
    };
    move |frame| SsoTab { frame, panel, kind, sso }
}

pub async fn sso(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let sso = sso_details(&state, &app).await?;
    Ok(render(&state, &ctx, StatusCode::OK, &session, sso_tab(&app, Panel::new(&app, "sso"), sso)))
}

/// Export Metadata: the IdP metadata, downloaded as `tessera-<domain>-metadata.xml`.
pub async fn export_metadata(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    let protocol = match app.kind {
        AppKind::WsFed(_) => MetadataProtocol::WsFed,
        _ => MetadataProtocol::Saml,
    };
    let metadata = state.admin.metadata(&app.id.to_string(), protocol).await?;
    Ok(pages::metadata_document(metadata.xml, Some(&metadata.file_name)))
}

pub async fn regenerate_page(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let app = state.admin.find_app(&app).await?;
    if !app.kind.signs() {
        return Err(AppError::not_found("A bookmark has no certificate."));
    }
    let panel = Panel::new(&app, "sso");
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| Regenerate { frame, panel }))
}

pub async fn regenerate(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.rotate_key(&actor, &app, KeyOptions::default()).await?;
    let sso = sso_details(&state, &app).await?;
    let panel = Panel::new(&app, "sso")
        .saying("The certificate was regenerated. Export Metadata now and update the relying party.");
    Ok(render(&state, &ctx, StatusCode::OK, &session, sso_tab(&app, panel, sso)))
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

/// Grants the checked groups and revokes the unchecked ones that were granted. Every group
/// named is checked first, so a bad form changes nothing.
pub async fn save_groups(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.find_app(&app).await?;
    let app_key = app.id.to_string();
    let before = group_choices(&state, &app).await?;
    let checked = fields.all("group");
    if let Some(unknown) = checked.iter().find(|id| !before.iter().any(|g| g.id == **id)) {
        return Err(AppError::invalid("group", format!("there is no group {unknown:?}")));
    }
    for group in &before {
        let wanted = checked.contains(&group.id.as_str());
        if wanted && !group.granted {
            state.admin.grant(&actor, &app_key, &group.id).await?;
        } else if !wanted && group.granted {
            state.admin.revoke(&actor, &app_key, &group.id).await?;
        }
    }
    let groups = group_choices(&state, &app).await?;
    let panel = Panel::new(&app, "groups").saying("Saved.");
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| GroupsTab { frame, panel, groups }))
}

/// What the admin service refuses, said on the tab (with the fields as they are stored).
fn refusal(e: AdminError) -> Result<(StatusCode, String), AppError> {
    match Failure::from(e) {
        Failure::Refused { status, message, .. } => Ok((status, message)),
        other => Err(AppError::new(other)),
    }
}

pub async fn save_general(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.find_app(&app).await?;
    let show = fields.one("show_in_portal") == "on";
    let outcome = state
        .admin
        .change_details(&actor, &app.id.to_string(), fields.one("label"), fields.one("description"), show)
        .await;
    let (status, app, panel) = match outcome {
        Ok(changed) => (StatusCode::OK, changed.clone(), Panel::new(&changed, "general").saying("Saved.")),
        Err(e) => {
            let (status, message) = refusal(e)?;
            (status, app.clone(), Panel::new(&app, "general").refusing(message))
        }
    };
    Ok(render(&state, &ctx, status, &session, |frame| GeneralTab { frame, panel, kind: kind_name(&app) }))
}

fn policy_tab(app: &Application, panel: Panel) -> impl FnOnce(Frame) -> PolicyTab + use<> {
    let require_mfa = app.policy.require_mfa;
    let networks = app.policy.allowed_networks.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    move |frame| PolicyTab { frame, panel, require_mfa, networks }
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
    let change =
        PolicyChange { require_mfa: Some(fields.one("require_mfa") == "on"), allowed_networks: Some(networks) };
    let (status, shown) = match state.admin.set_policy(&actor, &app.id.to_string(), &change).await {
        Ok(changed) => (StatusCode::OK, policy_tab(&changed, Panel::new(&changed, "policy").saying("Saved."))),
        Err(e) => {
            let (status, message) = refusal(e)?;
            (status, policy_tab(&app, Panel::new(&app, "policy").refusing(message)))
        }
    };
    Ok(render(&state, &ctx, status, &session, shown))
}
