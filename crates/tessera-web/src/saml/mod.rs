//! SAML 2.0 endpoints of each application: IdP metadata, single sign-on (SP- and
//! IdP-initiated) and single logout. A Microsoft 365 connector lives under
//! `/m365/{idp_path}`, any other SAML app under `/apps/{id}`.

mod metadata;
mod registration;
mod slo;
mod sso;

use axum::Router;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use serde_json::json;
use tessera_core::{Actor, Application, NewAuditEvent};

pub use metadata::metadata_document;
pub(crate) use registration::{AppRoute, find_serving};
pub(crate) use sso::{Pending, continue_pending};

use crate::AppState;
use crate::signin::audit_ip;
use crate::signin::pages::{self, PostForm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/saml/metadata.xml", get(metadata::m365_metadata))
        .route("/apps/{app}/saml/metadata.xml", get(metadata::app_metadata))
        .route("/m365/{idp_path}/saml/sso", get(sso::get).post(sso::post))
        .route("/apps/{app}/saml/sso", get(sso::get).post(sso::post))
        .route("/m365/{idp_path}/saml/slo", get(slo::get).post(slo::post))
        .route("/apps/{app}/saml/slo", get(slo::get).post(slo::post))
}

/// Which kind of message a refusal is about: its audit action and the page's title.
#[derive(Clone, Copy)]
pub(crate) enum Refused {
    SignIn,
    SignOut,
    /// A WS-Federation passive request.
    WsFed,
}

/// A message refused before anything is sent to the relying party: an audit row
/// (`saml.refused`, `saml.logout_refused` or `wsfed.refused`, with a stable reason code), and a
/// page at the IdP.
pub(crate) async fn refuse(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    refused: Refused,
    reason: &str,
    detail: &str,
) -> Response {
    let ip = audit_ip(state, extensions, headers);
    let (action, title, what) = match refused {
        Refused::SignIn => ("saml.refused", "This sign-in request was refused", "sign-in"),
        Refused::SignOut => ("saml.logout_refused", "This sign-out request was refused", "sign-out"),
        Refused::WsFed => ("wsfed.refused", "This sign-in request was refused", "WS-Federation"),
    };
    let event = NewAuditEvent::new(action, "app", app.id, json!({"reason": reason, "detail": detail, "ip": ip}));
    if let Err(e) = state.store.append_audit(&Actor(format!("ip:{ip}")), event).await {
        return pages::failure(e);
    }
    pages::message(
        StatusCode::BAD_REQUEST,
        title,
        &format!(
            "{} sent a {what} request Tessera cannot accept: {detail}. Go back to the application and try \
             again, or tell your administrator.",
            app.label
        ),
    )
}

/// The auto-POST page carrying a SAML message (base64) and its RelayState to `action`.
pub(crate) fn post_message(
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
