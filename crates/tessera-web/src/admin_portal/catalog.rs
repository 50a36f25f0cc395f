//! "+ Add New Application": the catalog, then the General settings, "Save Application", then
//! "Configure Application" or "Close".

use axum::extract::{FromRequest, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_admin::{AdminError, AppSpec, KeyOptions, NewApp};
use tessera_core::app::SettingsChange;

use super::pages::{Catalog, CatalogEntry, General, NewApplication, Saved};
use super::{Fields, administrator_or_gate, changing_or_gate, render};
use crate::error::{AppError, Failure};
use crate::shell::context::RequestContext;
use crate::state::AppState;

const ENTRIES: [CatalogEntry; 3] = [
    CatalogEntry {
        kind: "m365",
        name: "Microsoft 365",
        about: "Sign-in for a Microsoft 365 / Entra ID domain: SAML 2.0, WS-Federation and WS-Trust",
    },
    CatalogEntry {
        kind: "saml",
        name: "Custom SAML 2.0 App",
        about: "Any SAML 2.0 service provider, from its metadata",
    },
    CatalogEntry { kind: "bookmark", name: "Bookmark", about: "A tile in the User Portal that opens a URL" },
];

fn entry(kind: &str) -> Result<&'static CatalogEntry, AppError> {
    ENTRIES.iter().find(|e| e.kind == kind).ok_or_else(|| AppError::not_found("There is no such kind of application."))
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn catalog(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(search): Query<Search>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let query: String = search.q.trim().chars().take(200).collect();
    let needle = query.to_lowercase();
    let entries = ENTRIES
        .iter()
        .filter(|e| {
            needle.is_empty() || e.name.to_lowercase().contains(&needle) || e.about.to_lowercase().contains(&needle)
        })
        .collect();
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| Catalog { frame, query: &query, entries }))
}

pub async fn form(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(kind): Path<String>,
) -> Result<Response, AppError> {
    let session = administrator_or_gate!(state, ctx);
    let entry = entry(&kind)?;
    let general = General { domain: "", url: "", label: "", description: "", show_in_portal: true };
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| NewApplication { frame, entry, general, error: None }))
}

pub async fn save(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(kind): Path<String>,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    create(state, ctx, entry(&kind)?, fields, Vec::new()).await
}

/// The custom SAML app's form: its metadata comes as a file.
pub async fn saml_form(state: State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    form(state, ctx, Path("saml".to_string())).await
}

/// The largest SP metadata file the form takes (the parser's cap is 1 MiB).
const MAX_METADATA_BYTES: usize = 1024 * 1024;

pub async fn save_saml(
    State(state): State<AppState>,
    ctx: RequestContext,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    // Who asks is settled before the body is read (its form token is checked with the rest).
    administrator_or_gate!(state, ctx);
    let unreadable = || {
        AppError::refused(StatusCode::BAD_REQUEST, "malformed_form", "Request refused", "The form could not be read.")
    };
    let mut multipart = Multipart::from_request(request, &state).await.map_err(|_| unreadable())?;
    let mut pairs = Vec::new();
    let mut metadata = Vec::new();
    while let Some(mut field) = multipart.next_field().await.map_err(|_| unreadable())? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "sp_metadata" {
            while let Some(chunk) = field.chunk().await.map_err(|_| unreadable())? {
                if metadata.len() + chunk.len() > MAX_METADATA_BYTES {
                    return Err(AppError::invalid("sp_metadata", "The metadata file is larger than 1 MiB."));
                }
                metadata.extend_from_slice(&chunk);
            }
        } else {
            let value = field.text().await.map_err(|_| unreadable())?;
            if value.len() > 64 * 1024 {
                return Err(unreadable());
            }
            pairs.push((name, value));
        }
    }
    create(state, ctx, entry("saml")?, Fields(pairs), metadata).await
}

async fn create(
    state: AppState,
    ctx: RequestContext,
    entry: &'static CatalogEntry,
    fields: Fields,
    sp_metadata: Vec<u8>,
) -> Result<Response, AppError> {
    let (session, actor) = changing_or_gate!(state, ctx, fields);
    let general = General {
        domain: fields.one("domain").trim(),
        url: fields.one("url").trim(),
        label: fields.one("label").trim(),
        description: fields.one("description").trim(),
        show_in_portal: fields.one("show_in_portal") == "on",
    };
    let spec = match entry.kind {
        "m365" => AppSpec::M365 { domain: general.domain.to_string(), idp_path: None },
        "saml" => AppSpec::Saml { sp_metadata },
        _ => AppSpec::Bookmark { url: general.url.to_string() },
    };
    let new = NewApp {
        spec,
        label: (!general.label.is_empty()).then(|| general.label.to_string()),
        description: (!general.description.is_empty()).then(|| general.description.to_string()),
        portal_image: None,
        show_in_portal: general.show_in_portal,
        settings: SettingsChange::default(),
        key: KeyOptions::default(),
    };
    match state.admin.create_app(&actor, new).await {
        Ok(app) => {
            let id = app.id.to_string();
            Ok(render(&state, &ctx, StatusCode::CREATED, &session, |frame| Saved { frame, id: &id, label: &app.label }))
        }
        // What the admin service refuses is said on the form, with what was typed.
        Err(e @ (AdminError::Invalid { .. } | AdminError::Store(_))) => match Failure::from(e) {
            Failure::Refused { status, message, .. } => Ok(render(&state, &ctx, status, &session, |frame| {
                NewApplication { frame, entry, general, error: Some(&message) }
            })),
            other => Err(AppError::new(other)),
        },
        Err(other) => Err(other.into()),
    }
}
