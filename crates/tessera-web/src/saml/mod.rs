//! SAML 2.0 endpoints of each application: IdP metadata, single sign-on (SP- and
//! IdP-initiated, and ECP for rich clients) and single logout. A Microsoft 365 connector lives under
//! `/m365/{idp_path}`, any other SAML app under `/apps/{id}`.

mod ecp;
mod metadata;
mod slo;
mod sso;

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use tessera_core::{AppKind, Application, AuditAction};

pub use sso::continue_sign_on;

use crate::error::AppError;
use crate::shell::apps::{AppRoute, find_serving};
use crate::shell::pages::{self, Base64, FieldValue, PostForm};
use crate::shell::refusal::Refusal;
use crate::state::AppState;

/// The largest form a SAML POST binding may carry: a message at the parser's cap, base64 (4/3)
/// and then percent-encoded, with room for RelayState. A bigger body is refused (413) before
/// it is read, as WS-Trust's is.
const MAX_FORM_BYTES: usize = 4 * tessera_xml::Limits::MESSAGE.max_bytes;

pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/m365/{idp_path}/saml/metadata.xml", get(metadata::metadata))
        .route("/apps/{app}/saml/metadata.xml", get(metadata::metadata))
        .route("/m365/{idp_path}/saml/sso", get(sso::get).post(sso::post))
        .route("/apps/{app}/saml/sso", get(sso::get).post(sso::post))
        .route("/m365/{idp_path}/saml/slo", get(slo::get).post(slo::post))
        .route("/apps/{app}/saml/slo", get(slo::get).post(slo::post))
        .route("/m365/{idp_path}/saml/ecp", post(ecp::ecp))
        .route("/apps/{app}/saml/ecp", post(ecp::ecp));
    crate::shell::body_limit::layers::<_, MAX_FORM_BYTES>(routes)
}

/// A POST body that is not a form of SAML fields, or too large to read: refused and audited
/// like any bad request, with 413 for the size.
async fn refuse_form(
    state: &AppState,
    ctx: &crate::shell::context::RequestContext,
    app: &Application,
    refusal: &Refusal,
    status: axum::http::StatusCode,
    detail: &str,
) -> Result<Response, AppError> {
    let too_large = status == axum::http::StatusCode::PAYLOAD_TOO_LARGE;
    let reason = if too_large { "too_large" } else { "malformed" };
    let mut response = crate::shell::refusal::refuse(state, ctx, app, refusal, reason, detail).await?;
    if too_large {
        *response.status_mut() = status;
    }
    Ok(response)
}

const SIGN_IN_REFUSED: Refusal = Refusal { action: AuditAction::SamlRefused, page: "refused-sign-in" };
const SIGN_OUT_REFUSED: Refusal = Refusal { action: AuditAction::SamlLogoutRefused, page: "refused-sign-out" };

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
    let encoded = Base64::encode(xml);
    let mut fields = vec![(field, FieldValue::Base64(&encoded))];
    if let Some(relay) = relay_state {
        fields.push(("RelayState", FieldValue::Text(relay)));
    }
    pages::post_form(&PostForm { ui: crate::ui::Ui::current(), label: &app.label, action, fields }, cookies)
}
