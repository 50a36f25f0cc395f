//! WS-Federation for the Microsoft 365 connector, under `/m365/{idp_path}`: the passive
//! endpoint (sign-in and sign-out, Entra's `passiveSignInUri` and `signOutUri`) and the
//! federation metadata.

mod passive;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_store::StoreError;

pub(crate) use passive::{Pending, continue_pending, extra_claims};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/wsfed", get(passive::get))
        .route("/m365/{idp_path}/FederationMetadata/2007-06/FederationMetadata.xml", get(metadata))
}

async fn metadata(State(state): State<AppState>, Path(idp_path): Path<String>) -> Response {
    let app = match state.store.find_app_by_idp_path(&idp_path).await {
        Ok(app) => app,
        Err(StoreError::NotFound { .. }) => return (StatusCode::NOT_FOUND, "no such application").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metadata lookup failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "unavailable; retry shortly").into_response();
        }
    };
    match tessera_protocols::wsfed::for_application(&app, &state.public_url) {
        Ok(xml) => crate::saml::metadata_document(xml, None),
        Err(_) => (StatusCode::NOT_FOUND, "this application publishes no federation metadata").into_response(),
    }
}
