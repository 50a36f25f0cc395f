//! WS-Federation: the passive endpoint (sign-in and sign-out; Entra's `passiveSignInUri` and
//! `signOutUri`) and the federation metadata, of the Microsoft 365 connector under
//! `/m365/{idp_path}` and of any WS-Federation relying party under `/apps/{id}`.

mod passive;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use tessera_core::{AppKind, Application, AuditAction};

pub use passive::continue_sign_on;

use crate::error::{AppError, Text};
use crate::shell::apps::{AppRoute, find_serving};
use crate::shell::pages::metadata_document;
use crate::shell::refusal::Refusal;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/wsfed", get(passive::get))
        .route("/apps/{app}/wsfed", get(passive::get))
        .route("/m365/{idp_path}/FederationMetadata/2007-06/FederationMetadata.xml", get(metadata))
        .route("/apps/{app}/FederationMetadata/2007-06/FederationMetadata.xml", get(metadata))
}

const SIGN_IN_REFUSED: Refusal = Refusal { action: AuditAction::WsFedRefused, page: "refused-sign-in" };

/// The app a WS-Federation route names: a connector, or a WS-Federation relying party.
async fn find(state: &AppState, route: AppRoute) -> Result<Application, AppError> {
    find_serving(state, route, |kind| matches!(kind, AppKind::M365(_) | AppKind::WsFed(_))).await
}

async fn metadata(State(state): State<AppState>, route: AppRoute) -> Result<Response, AppError<Text>> {
    let app = find(&state, route).await.map_err(|e| e.on(Text))?;
    let xml = tessera_protocols::wsfed::for_application(&app, &state.public_url).map_err(|_| {
        AppError::refused(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "this application publishes no federation metadata",
        )
    })?;
    Ok(metadata_document(xml, None))
}
