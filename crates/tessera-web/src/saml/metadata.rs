//! An application's IdP metadata, public at the metadata URL `app show` lists.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_core::AppKind;

use crate::error::{AppError, Text};
use crate::shell::apps::{AppRoute, find_serving};
use crate::shell::pages::metadata_document;
use crate::state::AppState;

pub async fn metadata(State(state): State<AppState>, route: AppRoute) -> Result<Response, AppError<Text>> {
    let app = find_serving(&state, route, |_: &AppKind| true).await.map_err(|e| e.on(Text))?;
    let xml = tessera_protocols::saml2::idp_metadata::for_application(&app, &state.public_url).map_err(|_| {
        AppError::refused(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "this application publishes no SAML metadata",
        )
    })?;
    Ok(metadata_document(xml, None))
}
