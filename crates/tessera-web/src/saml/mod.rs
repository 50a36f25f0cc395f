//! SAML 2.0 endpoints of each application: IdP metadata, single sign-on (SP- and
//! IdP-initiated) and single logout. A Microsoft 365 connector lives under
//! `/m365/{idp_path}`, any other SAML app under `/apps/{id}`.

mod metadata;
mod registration;
mod slo;
mod sso;

use axum::Router;
use axum::routing::get;

pub use metadata::metadata_document;
pub(crate) use sso::{Pending, continue_pending};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/saml/metadata.xml", get(metadata::m365_metadata))
        .route("/apps/{app}/saml/metadata.xml", get(metadata::app_metadata))
        .route("/m365/{idp_path}/saml/sso", get(sso::m365_get).post(sso::m365_post))
        .route("/apps/{app}/saml/sso", get(sso::app_get).post(sso::app_post))
        .route("/m365/{idp_path}/saml/slo", get(slo::m365_get).post(slo::m365_post))
        .route("/apps/{app}/saml/slo", get(slo::app_get).post(slo::app_post))
}
