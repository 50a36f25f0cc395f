//! SAML 2.0 endpoints of each application: IdP metadata, single sign-on (SP- and
//! IdP-initiated) and single logout. A Microsoft 365 connector lives under
//! `/m365/{idp_path}`, any other SAML app under `/apps/{id}`.

mod metadata;
mod slo;
mod sso;

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use tessera_core::{AppKind, Application, AuditAction};

pub use sso::continue_sign_on;

use crate::error::AppError;
use crate::shell::apps::{AppRoute, find_serving};
use crate::shell::pages::{self, PostForm};
use crate::shell::refusal::Refusal;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/saml/metadata.xml", get(metadata::metadata))
        .route("/apps/{app}/saml/metadata.xml", get(metadata::metadata))
        .route("/m365/{idp_path}/saml/sso", get(sso::get).post(sso::post))
        .route("/apps/{app}/saml/sso", get(sso::get).post(sso::post))
        .route("/m365/{idp_path}/saml/slo", get(slo::get).post(slo::post))
        .route("/apps/{app}/saml/slo", get(slo::get).post(slo::post))
}

const SIGN_IN_REFUSED: Refusal =
    Refusal { action: AuditAction::SamlRefused, title: "This sign-in request was refused", what: "sign-in" };
const SIGN_OUT_REFUSED: Refusal =
    Refusal { action: AuditAction::SamlLogoutRefused, title: "This sign-out request was refused", what: "sign-out" };

/// The SAML app (a Microsoft 365 connector or a SAML SP) a route names.
async fn find(state: &AppState, route: AppRoute) -> Result<Application, AppError> {
    find_serving(state, route, |kind| matches!(kind, AppKind::M365(_) | AppKind::Saml(_))).await
}

/// The auto-POST page carrying a SAML message (base64) and its RelayState to `action`.
fn post_message(
    app: &Application,
    action: &str,
    field: &str,
    xml: &str,
    relay_state: Option<&str>,
    cookies: &[String],
) -> Response {
    let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
    let mut fields = vec![(field, encoded.as_str())];
    if let Some(relay) = relay_state {
        fields.push(("RelayState", relay));
    }
    pages::post_form(&PostForm { label: &app.label, action, fields }, cookies)
}
