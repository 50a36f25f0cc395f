//! An application's IdP metadata, public at the metadata URL `app show` lists.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_core::Application;
use tessera_store::StoreError;

use crate::AppState;

pub async fn m365_metadata(State(state): State<AppState>, Path(idp_path): Path<String>) -> Response {
    metadata_response(&state, state.store.find_app_by_idp_path(&idp_path).await)
}

pub async fn app_metadata(State(state): State<AppState>, Path(app): Path<String>) -> Response {
    // Only ids here: a label in a URL would make every relabel break a relying party.
    let lookup = match app.parse::<tessera_core::AppId>() {
        Ok(id) => match state.store.find_app(&id.to_string()).await {
            // An M365 connector is published under its domain only.
            Ok(app) if app.kind.m365_domain().is_some() => {
                Err(StoreError::NotFound { kind: "application", key: id.to_string() })
            }
            other => other,
        },
        Err(_) => Err(StoreError::NotFound { kind: "application", key: app }),
    };
    metadata_response(&state, lookup)
}

fn metadata_response(state: &AppState, app: Result<Application, StoreError>) -> Response {
    let app = match app {
        Ok(app) => app,
        Err(StoreError::NotFound { .. }) => return (StatusCode::NOT_FOUND, "no such application").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metadata lookup failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "unavailable; retry shortly").into_response();
        }
    };
    match tessera_protocols::saml2::idp_metadata::for_application(&app, &state.public_url) {
        Ok(xml) => metadata_document(xml, None),
        Err(_) => (StatusCode::NOT_FOUND, "this application publishes no SAML metadata").into_response(),
    }
}

/// A metadata document, as a download when `file_name` is given.
pub fn metadata_document(xml: String, file_name: Option<&str>) -> Response {
    let mut response = (StatusCode::OK, xml).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(value) =
        file_name.and_then(|name| HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).ok())
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
