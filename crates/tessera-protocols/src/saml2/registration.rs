//! The service provider registered for an application, as SAML requests are checked against
//! it: Entra ID for a Microsoft 365 connector (M365-PROTOCOLS.md §0), the SP's own metadata
//! otherwise.

use base64::Engine;
use tessera_core::app::{AcsEndpoint, ENTRA_RELYING_PARTY, NAMEID_PERSISTENT};
use tessera_core::{AppKind, Application, SamlBinding, SloEndpoint};
use tessera_xml::VerifyingKey;

use super::response::ENTRA_ACS;
use super::sso::RegisteredSp;
use crate::ProtocolError;

/// Where Entra takes SAML LogoutResponses (M365-PROTOCOLS.md §0).
pub const ENTRA_SLO: &str = "https://login.microsoftonline.com/common/saml2";

/// The SP registered for an application, owned.
#[derive(Debug, Clone)]
pub struct Registration {
    pub entity_id: String,
    pub acs: Vec<AcsEndpoint>,
    pub slo: Option<SloEndpoint>,
    pub require_signed_requests: bool,
    pub key: Option<VerifyingKey>,
    pub allow_sha1: bool,
    pub name_id_format: String,
    /// Entra ID itself (the Microsoft 365 connector), whatever entity ID another SP registers.
    pub entra: bool,
}

impl Registration {
    /// The registration, or why it cannot be used (registrations are validated when stored,
    /// so this is a fault on our side, never the sender's).
    pub fn of(app: &Application) -> Result<Registration, ProtocolError> {
        let key = |certificate: Option<&String>| -> Result<Option<VerifyingKey>, ProtocolError> {
            let Some(certificate) = certificate else { return Ok(None) };
            base64::engine::general_purpose::STANDARD
                .decode(certificate.trim())
                .ok()
                .and_then(|der| VerifyingKey::from_certificate_der(&der).ok())
                .map(Some)
                .ok_or_else(|| {
                    ProtocolError::Registration(format!("the registered SP certificate of {} is unusable", app.id))
                })
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
                entra: true,
            }),
            AppKind::Saml(c) => Ok(Registration {
                entity_id: c.entity_id.clone(),
                acs: c.acs.clone(),
                slo: c.slo.clone(),
                require_signed_requests: c.sign_requests,
                key: key(c.certificate.as_ref())?,
                allow_sha1: c.allow_sha1,
                name_id_format: c.name_id_format.clone(),
                entra: false,
            }),
            AppKind::WsFed(_) | AppKind::Bookmark { .. } => {
                Err(ProtocolError::Registration(format!("{} does not sign in with SAML", app.id)))
            }
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
            entra: self.entra,
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
