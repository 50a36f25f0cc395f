//! A domain's federation configuration as its connector wants it (Graph's
//! `internalDomainFederation`, M365-PROTOCOLS.md §4.1), and what must change in Graph's copy to
//! get there. Pure: the calls are in `converge`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{FederationCommand, M365Error, Protocol};

/// How Entra treats the MFA Tessera reports (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaBehavior {
    /// Tessera's MFA counts; Entra asks for its own only when Tessera did none.
    Accept,
    /// Entra sends users back to Tessera for MFA when it is missing.
    Enforce,
    /// Entra always asks for its own MFA (users may be asked twice).
    Reject,
}

impl MfaBehavior {
    /// From Graph's value of `federatedIdpMfaBehavior`.
    pub fn from_graph(value: &str) -> Option<Self> {
        [MfaBehavior::Accept, MfaBehavior::Enforce, MfaBehavior::Reject].into_iter().find(|m| m.graph_value() == value)
    }

    pub fn graph_value(self) -> &'static str {
        match self {
            MfaBehavior::Accept => "acceptIfMfaDoneByFederatedIdp",
            MfaBehavior::Enforce => "enforceMfaByFederatedIdp",
            MfaBehavior::Reject => "rejectMfaByFederatedIdp",
        }
    }
}

impl std::str::FromStr for MfaBehavior {
    type Err = M365Error;

    fn from_str(text: &str) -> Result<Self, M365Error> {
        match text {
            "accept" => Ok(MfaBehavior::Accept),
            "enforce" => Ok(MfaBehavior::Enforce),
            "reject" => Ok(MfaBehavior::Reject),
            other => Err(M365Error::Unknown {
                what: "MFA behavior",
                given: other.into(),
                expected: "accept, enforce or reject",
            }),
        }
    }
}

/// The fields Tessera sets, in Graph's names and order.
pub const FIELDS: [&str; 12] = [
    "displayName",
    "issuerUri",
    "passiveSignInUri",
    "activeSignInUri",
    "metadataExchangeUri",
    "signOutUri",
    "signingCertificate",
    "nextSigningCertificate",
    "preferredAuthenticationProtocol",
    "federatedIdpMfaBehavior",
    "promptLoginBehavior",
    "isSignedAuthenticationRequestRequired",
];

/// The configuration a connector wants: every field of [`FIELDS`], `null` where it wants none.
pub fn desired(values: &FederationCommand, mfa: MfaBehavior, signed_requests: bool) -> Map<String, Value> {
    let text = |v: &str| Value::String(v.to_string());
    let optional = |v: &Option<String>| v.as_deref().map_or(Value::Null, text);
    let protocol = match values.protocol {
        Protocol::WsFed => "wsFed",
        Protocol::Saml => "saml",
    };
    let mut map = Map::new();
    map.insert("displayName".into(), text(&values.display_name));
    map.insert("issuerUri".into(), text(&values.issuer_uri));
    map.insert("passiveSignInUri".into(), text(&values.passive_sign_in_uri));
    map.insert("activeSignInUri".into(), optional(&values.active_sign_in_uri));
    map.insert("metadataExchangeUri".into(), text(&values.metadata_exchange_uri));
    map.insert("signOutUri".into(), text(&values.sign_out_uri));
    map.insert("signingCertificate".into(), text(&values.signing_certificate));
    map.insert("nextSigningCertificate".into(), optional(&values.next_signing_certificate));
    map.insert("preferredAuthenticationProtocol".into(), text(protocol));
    map.insert("federatedIdpMfaBehavior".into(), text(mfa.graph_value()));
    // Tessera honours prompt=login itself (a fresh password), so Entra passes it through.
    map.insert("promptLoginBehavior".into(), text("nativeSupport"));
    map.insert("isSignedAuthenticationRequestRequired".into(), Value::Bool(signed_requests));
    map
}

/// One field that differs between Graph's configuration and the wanted one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// What Graph holds that differs from `wanted` (a field Graph leaves out counts as `null`;
/// an empty string as `null` too, which is how Graph shows an unset URI).
pub fn changes(graph: Option<&Map<String, Value>>, wanted: &Map<String, Value>) -> Vec<Change> {
    FIELDS
        .iter()
        .filter_map(|field| {
            let to = wanted.get(*field).cloned().unwrap_or(Value::Null);
            let from = graph.and_then(|g| g.get(*field)).cloned().unwrap_or(Value::Null);
            let same = normalized(&from) == normalized(&to);
            (!same).then(|| Change { field: (*field).to_string(), from, to })
        })
        .collect()
}

fn normalized(value: &Value) -> Value {
    match value {
        Value::String(s) if s.is_empty() => Value::Null,
        // Graph's booleans are false when unset.
        Value::Bool(false) => Value::Null,
        other => other.clone(),
    }
}

/// The body that makes Graph's configuration what `changes` say, field by field.
pub fn patch_body(changes: &[Change]) -> Value {
    Value::Object(changes.iter().map(|c| (c.field.clone(), c.to.clone())).collect())
}

/// Fields Graph does not take as `null`: an undo leaves them as they are rather than send one.
const NOT_NULLABLE: [&str; 5] = [
    "signingCertificate",
    "preferredAuthenticationProtocol",
    "federatedIdpMfaBehavior",
    "promptLoginBehavior",
    "isSignedAuthenticationRequestRequired",
];

/// The body that puts back what `changes` replaced.
pub fn undo_body(changes: &[Change]) -> Value {
    Value::Object(
        changes
            .iter()
            .filter(|c| !(c.from.is_null() && NOT_NULLABLE.contains(&c.field.as_str())))
            .map(|c| (c.field.clone(), c.from.clone()))
            .collect(),
    )
}

/// The body that creates the configuration.
pub fn create_body(wanted: &Map<String, Value>) -> Value {
    let mut body = Map::new();
    body.insert("@odata.type".into(), Value::String("#microsoft.graph.internalDomainFederation".into()));
    for (field, value) in wanted {
        if !value.is_null() {
            body.insert(field.clone(), value.clone());
        }
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> FederationCommand {
        FederationCommand {
            domain: "contoso.com".into(),
            display_name: "Contoso".into(),
            issuer_uri: "https://idp.example.com/m365/contoso.com".into(),
            passive_sign_in_uri: "https://idp.example.com/m365/contoso.com/wsfed".into(),
            active_sign_in_uri: Some(
                "https://idp.example.com/m365/contoso.com/adfs/services/trust/2005/usernamemixed".into(),
            ),
            metadata_exchange_uri: "https://idp.example.com/m365/contoso.com/adfs/services/trust/mex".into(),
            sign_out_uri: "https://idp.example.com/m365/contoso.com/wsfed".into(),
            signing_certificate: "MIIB".into(),
            next_signing_certificate: None,
            protocol: Protocol::WsFed,
        }
    }

    #[test]
    fn a_configuration_as_wanted_has_no_changes_and_a_different_one_only_its_own() {
        let wanted = desired(&values(), MfaBehavior::Accept, false);
        assert_eq!(wanted["preferredAuthenticationProtocol"], "wsFed");
        assert_eq!(wanted["federatedIdpMfaBehavior"], "acceptIfMfaDoneByFederatedIdp");
        assert_eq!(changes(None, &wanted).len(), 10, "nulls and false are not changes from nothing");
        let mut graph = wanted.clone();
        graph.insert("id".into(), "abc".into());
        graph.insert("nextSigningCertificate".into(), "".into());
        assert!(changes(Some(&graph), &wanted).is_empty());
        graph.insert("issuerUri".into(), "http://adfs.contoso.com/adfs/services/trust".into());
        let found = changes(Some(&graph), &wanted);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "issuerUri");
        assert_eq!(patch_body(&found)["issuerUri"], wanted["issuerUri"]);
        assert_eq!(undo_body(&found)["issuerUri"], "http://adfs.contoso.com/adfs/services/trust");
        let body = create_body(&wanted);
        assert_eq!(body["@odata.type"], "#microsoft.graph.internalDomainFederation");
        assert!(body.get("nextSigningCertificate").is_none());
        assert!("sometimes".parse::<MfaBehavior>().is_err());
    }
}
