//! An application's SSO tab: what the relying party is told (IdP Entity ID, Login URL, IDP URL,
//! Export Metadata, the federation PowerShell, Regenerate certificate behind its warning), what
//! it declared (its SP settings), and what its tokens carry (NameID source and format,
//! additional attributes), saved through the admin service.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_admin::{AdminError, MetadataProtocol};
use tessera_core::app::{AttributeMapping, NAMEID_EMAIL, NAMEID_PERSISTENT, NAMEID_UNSPECIFIED, SettingsChange};
use tessera_core::{AppKind, Application, UserAttribute, format_millis};

use super::application::{after_save, kind_name};
use super::form::Fields;
use super::pages::{Frame, Panel, SsoDetails, SsoSettings, SsoTab};
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::state::AppState;

/// The user attributes a token can carry, as the forms name them.
const SOURCES: [&str; 7] = ["id", "email", "upn", "first_name", "last_name", "display_name", "immutable_id"];
const FORMATS: [(&str, &str); 3] =
    [(NAMEID_EMAIL, "Email address"), (NAMEID_PERSISTENT, "Persistent"), (NAMEID_UNSPECIFIED, "Unspecified")];

fn source_name(source: UserAttribute) -> String {
    serde_json::to_value(source).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn attribute_lines(mappings: &[AttributeMapping]) -> String {
    mappings.iter().map(|m| format!("{}={}", m.name, source_name(m.source))).collect::<Vec<_>>().join("\n")
}

fn sources(chosen: UserAttribute) -> Vec<(&'static str, bool)> {
    let chosen = source_name(chosen);
    SOURCES.iter().map(|s| (*s, *s == chosen)).collect()
}

/// The formats offered: the usual three, and the app's own when it is another.
fn formats(chosen: &str) -> Vec<(String, String, bool)> {
    let mut formats: Vec<(String, String, bool)> =
        FORMATS.iter().map(|(uri, name)| (uri.to_string(), name.to_string(), *uri == chosen)).collect();
    if !FORMATS.iter().any(|(uri, _)| *uri == chosen) {
        formats.push((chosen.to_string(), chosen.to_string(), true));
    }
    formats
}

/// What the SSO tab shows and edits of an application's settings (nothing for a bookmark).
fn settings_of(app: &Application) -> Option<SsoSettings> {
    match &app.kind {
        AppKind::M365(c) => Some(SsoSettings {
            sp: vec![("Domain", c.domain.clone()), ("NameID", "the user's ImmutableID (Entra requires it)".into())],
            formats: Vec::new(),
            sources: Vec::new(),
            attributes: attribute_lines(&c.attributes),
            sign_response: None,
            idp_initiated: None,
            device_realms: Some(c.device_realms.join("\n")),
        }),
        AppKind::Saml(c) => {
            let mut sp = vec![("SP Entity ID", c.entity_id.clone())];
            sp.extend(c.acs.iter().map(|a| ("ACS URL", format!("{} ({})", a.url, a.binding.uri()))));
            if let Some(slo) = &c.slo {
                sp.push(("Single Logout URL", slo.url.clone()));
            }
            sp.push(("Signs its requests", if c.sign_requests { "yes" } else { "no" }.into()));
            Some(SsoSettings {
                sp,
                formats: formats(&c.name_id_format),
                sources: sources(c.name_id_source),
                attributes: attribute_lines(&c.attribute_mappings),
                sign_response: Some(c.sign_response),
                idp_initiated: Some(c.idp_initiated),
                device_realms: None,
            })
        }
        AppKind::WsFed(c) => {
            let mut sp = vec![("Realm", c.realm.clone())];
            sp.extend(c.reply_urls.iter().map(|u| ("Reply URL", u.clone())));
            Some(SsoSettings {
                sp,
                formats: Vec::new(),
                sources: sources(c.name_id_source),
                attributes: attribute_lines(&c.attribute_mappings),
                sign_response: None,
                idp_initiated: None,
                device_realms: None,
            })
        }
        AppKind::Bookmark { .. } => None,
    }
}

/// The settings the form describes, for the admin service (which checks their values).
fn settings_change(app: &Application, fields: &Fields) -> Result<SettingsChange, AdminError> {
    let attributes = fields
        .one("attributes")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(AttributeMapping::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let mut change = SettingsChange { attributes: Some(attributes), ..SettingsChange::default() };
    let source = || fields.one("name_id_source").parse::<UserAttribute>().map_err(AdminError::from);
    match &app.kind {
        // A form without the field (a page from before it) leaves the realms as they are.
        AppKind::M365(_) if fields.has("device_realms") => {
            let realms = fields.one("device_realms").lines().map(str::trim).filter(|l| !l.is_empty());
            change.device_realms = Some(realms.map(str::to_string).collect());
        }
        AppKind::M365(_) => {}
        AppKind::Saml(c) => {
            let format = fields.one("name_id_format");
            if !formats(&c.name_id_format).iter().any(|(uri, _, _)| uri == format) {
                return Err(AdminError::invalid("name_id_format", "choose one of the NameID formats offered"));
            }
            change.name_id_format = Some(format.to_string());
            change.name_id_source = Some(source()?);
            change.sign_response = Some(fields.one("sign_response") == "on");
            change.idp_initiated = Some(fields.one("idp_initiated") == "on");
        }
        AppKind::WsFed(_) => change.name_id_source = Some(source()?),
        AppKind::Bookmark { .. } => return Err(AdminError::invalid("settings", "a bookmark has no SSO settings")),
    }
    Ok(change)
}

pub async fn save_sso(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(app): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let app = state.admin.find_app(&app).await?;
    let outcome = match settings_change(&app, &fields) {
        Ok(change) => state.admin.change_settings(&actor, &app.id.to_string(), &change).await,
        Err(e) => Err(e),
    };
    let (status, shown, panel) = after_save(app, outcome, "sso")?;
    let sso = sso_details(&state, &shown).await?;
    Ok(render(&state, &ctx, status, &session, sso_tab(&shown, panel, sso)))
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
    let settings = settings_of(app);
    move |frame| SsoTab { frame, panel, kind, sso, settings }
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
