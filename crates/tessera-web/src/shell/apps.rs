//! Which application a URL names: `/m365/{idp_path}/…` for a Microsoft 365 connector (its IdP
//! URL, which never changes), `/apps/{id}/…` for any other.

use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use tessera_core::{AppId, AppKind, Application};
use tessera_store::StoreError;

use crate::error::AppError;
use crate::state::AppState;

/// How a URL names its application. Extracted from the route that matched, so one handler
/// serves both forms.
pub enum AppRoute {
    M365(String),
    Id(String),
}

impl<S: Send + Sync> FromRequestParts<S> for AppRoute {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let m365 = parts.extensions.get::<MatchedPath>().is_some_and(|m| m.as_str().starts_with("/m365/"));
        let Path(segment) = Path::<String>::from_request_parts(parts, state).await.map_err(|e| e.into_response())?;
        Ok(if m365 { AppRoute::M365(segment) } else { AppRoute::Id(segment) })
    }
}

/// The app a route names, if it signs (it has an issuer) and is of a kind `serves` accepts;
/// the not-found page otherwise. A connector is addressed by its IdP path only.
pub async fn find_serving(
    state: &AppState,
    route: AppRoute,
    serves: impl Fn(&AppKind) -> bool,
) -> Result<Application, AppError> {
    let lookup = match route {
        AppRoute::M365(path) => state.apps.find_app_by_idp_path(&path).await,
        AppRoute::Id(id) => match id.parse::<AppId>() {
            Ok(id) => match state.apps.find_app(&id.to_string()).await {
                Ok(app) if app.kind.m365_domain().is_some() => return Err(AppError::no_such_app()),
                other => other,
            },
            Err(_) => return Err(AppError::no_such_app()),
        },
    };
    match lookup {
        Ok(app) if app.issuer.is_some() && serves(&app.kind) => Ok(app),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(AppError::no_such_app()),
        Err(e) => Err(e.into()),
    }
}
