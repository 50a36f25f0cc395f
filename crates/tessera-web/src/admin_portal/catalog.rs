//! "+ Add New Application": the catalog, then the General settings, "Save Application", then
//! "Configure Application" or "Close". A custom SAML app's metadata comes as a file, from an
//! https URL (fetched under the admin service's SSRF rules) or typed as fields.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_admin::{AdminError, AppSpec, KeyOptions, NewApp, SpFields};
use tessera_core::app::SettingsChange;

use super::form::{FileField, Form};
use super::pages::{Catalog, CatalogEntry, General, NewApplication, Saved};
use super::{administrator_or_gate, changing_or_gate, render};
use crate::error::{AppError, Failure};
use crate::shell::context::RequestContext;
use crate::state::AppState;

const ENTRIES: [CatalogEntry; 4] = [
    CatalogEntry {
        kind: "m365",
        name: "Microsoft 365",
        about: "Sign-in for a Microsoft 365 / Entra ID domain: SAML 2.0, WS-Federation and WS-Trust",
    },
    CatalogEntry {
        kind: "saml",
        name: "Custom SAML 2.0 App",
        about: "Any SAML 2.0 service provider: its metadata as a file or a URL, or typed as fields",
    },
    CatalogEntry {
        kind: "wsfed",
        name: "WS-Federation Relying Party",
        about: "A WS-Federation (passive) application: its realm and reply URLs",
    },
    CatalogEntry { kind: "bookmark", name: "Bookmark", about: "A tile in the User Portal that opens a URL" },
];

fn entry(kind: &str) -> Result<&'static CatalogEntry, AppError> {
    ENTRIES.iter().find(|e| e.kind == kind).ok_or_else(|| AppError::not_found("There is no such kind of application."))
}

/// The files a new application's form may carry.
pub const IMAGE_FIELD: FileField = FileField {
    name: "portal_image",
    max_bytes: tessera_admin::portal_image::MAX_UPLOAD_BYTES,
    too_large: "The image is larger than 1 MiB.",
};
const METADATA_FIELD: FileField = FileField {
    name: "sp_metadata",
    max_bytes: tessera_admin::metadata_url::MAX_METADATA_BYTES,
    too_large: "The metadata file is larger than 1 MiB.",
};

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
    let general = General { show_in_portal: true, ..General::default() };
    Ok(render(&state, &ctx, StatusCode::OK, &session, |frame| NewApplication { frame, entry, general, error: None }))
}

pub async fn save(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(kind): Path<String>,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    // Who asks is settled before the body is read (its form token is checked with the rest).
    administrator_or_gate!(state, ctx);
    let entry = entry(&kind)?;
    let mut form = Form::read(&state, request, &[IMAGE_FIELD, METADATA_FIELD]).await?;
    let (session, actor) = changing_or_gate!(state, ctx, form.fields);
    let fields = &form.fields;
    let text = |name: &str| fields.one(name).trim().to_string();
    let general = General {
        domain: text("domain"),
        url: text("url"),
        label: text("label"),
        description: text("description"),
        show_in_portal: fields.one("show_in_portal") == "on",
        metadata_url: text("sp_metadata_url"),
        entity_id: text("entity_id"),
        acs_url: text("acs_url"),
        slo_url: text("slo_url"),
        certificate: text("certificate"),
        realm: text("realm"),
        reply_urls: text("reply_urls"),
    };
    let portal_image = form.take_file(IMAGE_FIELD.name);
    let sp_metadata = form.take_file(METADATA_FIELD.name);
    let outcome = match spec(entry, &general, sp_metadata) {
        Ok(spec) => {
            let new = NewApp {
                spec,
                label: (!general.label.is_empty()).then(|| general.label.clone()),
                description: (!general.description.is_empty()).then(|| general.description.clone()),
                portal_image,
                show_in_portal: general.show_in_portal,
                settings: SettingsChange::default(),
                key: KeyOptions::default(),
            };
            state.admin.create_app(&actor, new).await
        }
        Err(refusal) => Err(refusal),
    };
    match outcome {
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

/// What the form describes, for the admin service. A custom SAML app takes its metadata one
/// way only: a file, a URL, or typed fields.
fn spec(entry: &CatalogEntry, general: &General, sp_metadata: Option<Vec<u8>>) -> Result<AppSpec, AdminError> {
    Ok(match entry.kind {
        "m365" => AppSpec::M365 { domain: general.domain.clone(), idp_path: None },
        "saml" => {
            let typed = !general.entity_id.is_empty() || !general.acs_url.is_empty();
            let url = !general.metadata_url.is_empty();
            match (sp_metadata, url, typed) {
                (Some(sp_metadata), false, false) => AppSpec::Saml { sp_metadata },
                (None, true, false) => AppSpec::SamlMetadataUrl { url: general.metadata_url.clone() },
                (None, false, true) => AppSpec::SamlFields(SpFields {
                    entity_id: general.entity_id.clone(),
                    acs_url: general.acs_url.clone(),
                    slo_url: Some(general.slo_url.clone()),
                    certificate: Some(general.certificate.clone()),
                }),
                (None, false, false) => {
                    return Err(AdminError::invalid(
                        "sp_metadata",
                        "Give the service provider's metadata: a file, a URL, or its Entity ID and ACS URL.",
                    ));
                }
                _ => {
                    return Err(AdminError::invalid(
                        "sp_metadata",
                        "Give the service provider's metadata one way only: a file, a URL, or typed fields.",
                    ));
                }
            }
        }
        "wsfed" => AppSpec::WsFed {
            realm: general.realm.clone(),
            reply_urls: general
                .reply_urls
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        },
        _ => AppSpec::Bookmark { url: general.url.clone() },
    })
}
