//! WS-Federation: the passive endpoint (sign-in and sign-out; Entra's `passiveSignInUri` and
//! `signOutUri`) and the federation metadata, of the Microsoft 365 connector under
//! `/m365/{idp_path}` and of any WS-Federation relying party under `/apps/{id}`.

mod passive;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_core::{AppKind, Application};

pub(crate) use passive::{Pending, continue_pending, extra_claims};

use crate::AppState;
use crate::saml::{AppRoute, find_serving};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/wsfed", get(passive::get))
        .route("/apps/{app}/wsfed", get(passive::get))
        .route("/m365/{idp_path}/FederationMetadata/2007-06/FederationMetadata.xml", get(metadata))
        .route("/apps/{app}/FederationMetadata/2007-06/FederationMetadata.xml", get(metadata))
}

/// The app a WS-Federation route names: a connector, or a WS-Federation relying party.
pub(crate) async fn find(state: &AppState, route: AppRoute) -> Result<Application, Response> {
    find_serving(state, route, |kind| matches!(kind, AppKind::M365(_) | AppKind::WsFed(_))).await
}

async fn metadata(State(state): State<AppState>, route: AppRoute) -> Response {
    let app = match find(&state, route).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    match tessera_protocols::wsfed::for_application(&app, &state.public_url) {
        Ok(xml) => crate::saml::metadata_document(xml, None),
        Err(_) => (StatusCode::NOT_FOUND, "this application publishes no federation metadata").into_response(),
    }
}
