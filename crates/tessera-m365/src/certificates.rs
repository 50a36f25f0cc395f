//! An application's signing certificates as Graph holds them for a federated domain: whether
//! the domain is federated to the application at all (its issuer), whether a certificate is
//! among the two Entra accepts (`signingCertificate`, `nextSigningCertificate`; M365-PROTOCOLS.md
//! §7.1, §8 item 28), and pushing only those two fields during a rollover.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::M365Error;
use crate::converge::configuration;
use crate::graph::{Graph, Needs};

const WRITE_FEDERATION: Needs = Needs("Domain-InternalFederation.ReadWrite.All");

/// What Graph holds for a domain, seen from one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Held {
    /// The domain has no federation configuration, or one with another issuer: this
    /// application's certificates are not Graph's business there.
    NotFederatedHere,
    /// Federated to this application: the certificates Entra accepts.
    Federated { id: String, signing: Option<String>, next: Option<String> },
}

impl Held {
    pub fn from_configuration(config: Option<&Map<String, Value>>, issuer: &str) -> Held {
        let Some(config) = config.filter(|c| c.get("issuerUri").and_then(Value::as_str) == Some(issuer)) else {
            return Held::NotFederatedHere;
        };
        let text =
            |field: &str| config.get(field).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        Held::Federated {
            id: text("id").unwrap_or_default(),
            signing: text("signingCertificate"),
            next: text("nextSigningCertificate"),
        }
    }

    /// Whether Entra would accept a token signed under `certificate` (base64 DER).
    pub fn accepts(&self, certificate: &str) -> bool {
        match self {
            Held::NotFederatedHere => false,
            Held::Federated { signing, next, .. } => {
                signing.as_deref() == Some(certificate) || next.as_deref() == Some(certificate)
            }
        }
    }
}

/// What Graph holds for `domain`, seen from the application signing as `issuer`.
pub async fn held(graph: &Graph, domain: &str, issuer: &str) -> Result<Held, M365Error> {
    Ok(Held::from_configuration(configuration(graph, domain).await?.as_ref(), issuer))
}

/// How a push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pushed {
    /// Not federated to this application: nothing to push.
    NotFederatedHere,
    /// Graph held these certificates already.
    Unchanged,
    Pushed,
}

/// Makes Graph's two certificate fields for `domain` what the application publishes, when the
/// domain is federated to it; nothing else in the configuration changes.
pub async fn push(
    graph: &Graph,
    domain: &str,
    issuer: &str,
    signing: &str,
    next: Option<&str>,
) -> Result<Pushed, M365Error> {
    let Held::Federated { id, signing: held_signing, next: held_next } = held(graph, domain, issuer).await? else {
        return Ok(Pushed::NotFederatedHere);
    };
    if held_signing.as_deref() == Some(signing) && held_next.as_deref() == next {
        return Ok(Pushed::Unchanged);
    }
    let body = serde_json::json!({"signingCertificate": signing, "nextSigningCertificate": next});
    let path = format!("/domains/{domain}/federationConfiguration/{id}");
    graph.call(reqwest::Method::PATCH, &path, Some(&body), WRITE_FEDERATION).await?;
    Ok(Pushed::Pushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configuration_with_the_apps_issuer_counts_and_either_certificate_is_accepted() {
        let mut config = Map::new();
        config.insert("id".into(), "c1".into());
        config.insert("issuerUri".into(), "https://idp/m365/contoso.com".into());
        config.insert("signingCertificate".into(), "A".into());
        config.insert("nextSigningCertificate".into(), "".into());
        assert_eq!(Held::from_configuration(Some(&config), "https://idp/m365/other.com"), Held::NotFederatedHere);
        assert_eq!(Held::from_configuration(None, "x"), Held::NotFederatedHere);
        let held = Held::from_configuration(Some(&config), "https://idp/m365/contoso.com");
        assert!(held.accepts("A"));
        assert!(!held.accepts("B"));
        assert!(!held.accepts(""), "an empty next certificate is none");
        config.insert("nextSigningCertificate".into(), "B".into());
        assert!(Held::from_configuration(Some(&config), "https://idp/m365/contoso.com").accepts("B"));
    }
}
