//! Which application a SAML URL names, and the service provider registered for it: Entra ID
//! for a Microsoft 365 connector (M365-PROTOCOLS.md §0), the SP's own metadata otherwise.

use axum::extract::{FromRequestParts, MatchedPath, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use tessera_core::app::{AcsEndpoint, ENTRA_RELYING_PARTY, NAMEID_PERSISTENT};
use tessera_core::{AppId, AppKind, Application, SamlBinding, SloEndpoint};
use tessera_protocols::saml2::response::ENTRA_ACS;
use tessera_protocols::saml2::sso::RegisteredSp;
use tessera_store::StoreError;
use tessera_xml::VerifyingKey;

use crate::AppState;
use crate::signin::pages;

/// Where Entra takes SAML LogoutResponses (M365-PROTOCOLS.md §0).
pub const ENTRA_SLO: &str = "https://login.microsoftonline.com/common/saml2";

/// How a URL names its application: `/m365/{idp_path}/…` or `/apps/{id}/…`. Extracted from
/// the route that matched, so one handler serves both forms.
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

/// The SAML app (a Microsoft 365 connector or a SAML SP) a route names.
pub async fn find(state: &AppState, route: AppRoute) -> Result<Application, Response> {
    find_serving(state, route, |kind| matches!(kind, AppKind::M365(_) | AppKind::Saml(_))).await
}

/// The app a route names, if it is of a kind `serves` accepts; a 404 page otherwise.
pub async fn find_serving(
    state: &AppState,
    route: AppRoute,
    serves: impl Fn(&AppKind) -> bool,
) -> Result<Application, Response> {
    let not_found = || pages::message(StatusCode::NOT_FOUND, "Application not found", "There is no such application.");
    let lookup = match route {
        AppRoute::M365(path) => state.store.find_app_by_idp_path(&path).await,
        AppRoute::Id(id) => match id.parse::<AppId>() {
            // An M365 connector is addressed by its IdP path only.
            Ok(id) => match state.store.find_app(&id.to_string()).await {
                Ok(app) if app.kind.m365_domain().is_some() => return Err(not_found()),
                other => other,
            },
            Err(_) => return Err(not_found()),
        },
    };
    match lookup {
        Ok(app) if app.issuer.is_some() && serves(&app.kind) => Ok(app),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(pages::failure(e)),
    }
}

/// The SP registered for an application, owned.
pub struct Registration {
    pub entity_id: String,
    pub acs: Vec<AcsEndpoint>,
    pub slo: Option<SloEndpoint>,
    pub require_signed_requests: bool,
    pub key: Option<VerifyingKey>,
    pub allow_sha1: bool,
    pub name_id_format: String,
}

impl Registration {
    /// The registration, or why it cannot be used (a server-side fault: registrations are
    /// validated when stored).
    pub fn of(app: &Application) -> Result<Registration, String> {
        let key = |certificate: Option<&String>| -> Result<Option<VerifyingKey>, String> {
            let Some(certificate) = certificate else { return Ok(None) };
            base64::engine::general_purpose::STANDARD
                .decode(certificate.trim())
                .ok()
                .and_then(|der| VerifyingKey::from_certificate_der(&der).ok())
                .map(Some)
                .ok_or_else(|| format!("the registered SP certificate of {} is unusable", app.id))
        };
        match &app.kind {
            AppKind::M365(c) => Ok(Registration {
                entity_id: ENTRA_RELYING_PARTY.to_string(),
                acs: vec![AcsEndpoint {
                    url: ENTRA_ACS.to_string(),
                    binding: SamlBinding::HttpPost,
                    index: 0,
                    is_default: true,
                }],
                slo: Some(SloEndpoint {
                    url: ENTRA_SLO.to_string(),
                    binding: SamlBinding::HttpRedirect,
                    response_url: None,
                }),
                require_signed_requests: c.require_signed_requests,
                key: key(c.entra_certificate.as_ref())?,
                // Entra signs AuthnRequests with RSA-SHA1 (M365-PROTOCOLS.md §1.3).
                allow_sha1: true,
                name_id_format: NAMEID_PERSISTENT.to_string(),
            }),
            AppKind::Saml(c) => Ok(Registration {
                entity_id: c.entity_id.clone(),
                acs: c.acs.clone(),
                slo: c.slo.clone(),
                require_signed_requests: c.sign_requests,
                key: key(c.certificate.as_ref())?,
                allow_sha1: c.allow_sha1,
                name_id_format: c.name_id_format.clone(),
            }),
            AppKind::WsFed(_) | AppKind::Bookmark { .. } => Err(format!("{} does not sign in with SAML", app.id)),
        }
    }

    pub fn registered(&self) -> RegisteredSp<'_> {
        RegisteredSp {
            entity_id: &self.entity_id,
            acs: &self.acs,
            require_signed_requests: self.require_signed_requests,
            key: self.key.as_ref(),
            allow_sha1: self.allow_sha1,
            name_id_format: &self.name_id_format,
        }
    }

    /// The ACS an unsolicited response goes to: the default, else the first HTTP-POST one.
    pub fn default_acs(&self) -> Option<&str> {
        let post = |a: &&AcsEndpoint| a.binding == SamlBinding::HttpPost;
        self.acs
            .iter()
            .filter(post)
            .find(|a| a.is_default)
            .or_else(|| self.acs.iter().find(post))
            .map(|a| a.url.as_str())
    }
}
