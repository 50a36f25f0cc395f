//! The IdP's SAML 2.0 metadata for one application (the seed product's "Export Metadata"):
//! entity ID, signing certificates (current, and the staged next one so that relying parties
//! can trust it before the switch), SSO and SLO endpoints for both bindings, the ECP endpoint
//! (SOAP), NameID formats.

use base64::Engine;
use tessera_core::app::NAMEID_PERSISTENT;
use tessera_core::{AppKind, Application, SamlBinding};
use tessera_xml::XmlError;
use tessera_xml::writer::Element;

use super::{DSIG_NS, METADATA_NS, PROTOCOL_NS};
use crate::ProtocolError;
use crate::is_element as is;

/// What the metadata describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata<'a> {
    pub entity_id: &'a str,
    pub sso_url: &'a str,
    pub slo_url: &'a str,
    /// The ECP endpoint (SAML's SOAP binding), when the IdP serves one.
    pub ecp_url: Option<&'a str>,
    /// Base64 DER.
    pub signing_certificate: &'a str,
    pub next_signing_certificate: Option<&'a str>,
    pub name_id_formats: &'a [&'a str],
}

/// A signing KeyDescriptor carrying a base64 DER certificate.
pub(crate) fn key_descriptor(certificate: &str) -> Element {
    Element::new(METADATA_NS, "md", "KeyDescriptor").attr("use", "signing").child(
        Element::new(DSIG_NS, "ds", "KeyInfo").child(
            Element::new(DSIG_NS, "ds", "X509Data")
                .child(Element::new(DSIG_NS, "ds", "X509Certificate").text(certificate)),
        ),
    )
}

fn endpoint(local: &'static str, binding: SamlBinding, location: &str) -> Element {
    Element::new(METADATA_NS, "md", local).attr("Binding", binding.uri()).attr("Location", location)
}

/// The metadata of an application that signs, with the endpoints of `public_url`.
pub fn for_application(app: &Application, public_url: &str) -> Result<String, ProtocolError> {
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let endpoints = app.endpoints(public_url);
    let (Some(issuer), Some(sso), Some(slo)) = (&app.issuer, endpoints.saml_sso, endpoints.saml_slo) else {
        return Err(ProtocolError::metadata(format!(
            "{} does not sign in with SAML, so it has no IdP metadata",
            app.label
        )));
    };
    let current = app
        .certificates
        .current
        .as_deref()
        .map(b64)
        .ok_or_else(|| ProtocolError::metadata(format!("{} has no signing certificate", app.label)))?;
    let next = app.certificates.next.as_deref().map(b64);
    let formats: Vec<&str> = match &app.kind {
        AppKind::Saml(sp) => vec![sp.name_id_format.as_str()],
        _ => vec![NAMEID_PERSISTENT],
    };
    Ok(build_idp_metadata(&IdpMetadata {
        entity_id: issuer,
        sso_url: &sso,
        slo_url: &slo,
        ecp_url: endpoints.saml_ecp.as_deref(),
        signing_certificate: &current,
        next_signing_certificate: next.as_deref(),
        name_id_formats: &formats,
    })?)
}

/// What an IdP's published metadata (SAML, or WS-Federation's, which carries an
/// IDPSSODescriptor too) says, as a relying party reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedMetadata {
    pub entity_id: String,
    /// Base64 DER, whitespace removed, of the IDPSSODescriptor's signing keys.
    pub signing_certificates: Vec<String>,
    /// SingleSignOnService (binding, location) pairs.
    pub single_sign_on: Vec<(String, String)>,
}

/// Reads published IdP metadata: its entity ID, signing certificates and SSO endpoints.
pub fn read_published(xml: &str) -> Result<PublishedMetadata, ProtocolError> {
    let body = xml.trim_start_matches('\u{feff}').trim_start();
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, rest)| rest).unwrap_or_default(),
        None => body,
    };
    let parsed = tessera_xml::reader::parse(body.trim_start(), &tessera_xml::Limits::METADATA)?;
    let root = parsed.root_element();
    if !is(&root, METADATA_NS, "EntityDescriptor") {
        return Err(ProtocolError::metadata("the document is not a SAML EntityDescriptor"));
    }
    let entity_id = root.attribute("entityID").ok_or_else(|| ProtocolError::metadata("no entityID"))?.to_string();
    let descriptor = root
        .children()
        .find(|n| is(n, METADATA_NS, "IDPSSODescriptor"))
        .ok_or_else(|| ProtocolError::metadata("no IDPSSODescriptor"))?;
    let signing_certificates = descriptor
        .children()
        .filter(|n| is(n, METADATA_NS, "KeyDescriptor") && n.attribute("use").is_none_or(|u| u == "signing"))
        .flat_map(|n| n.descendants().filter(|c| is(c, DSIG_NS, "X509Certificate")).collect::<Vec<_>>())
        .filter_map(|n| n.text())
        .map(|text| text.chars().filter(|c| !c.is_ascii_whitespace()).collect())
        .collect();
    let single_sign_on = descriptor
        .children()
        .filter(|n| is(n, METADATA_NS, "SingleSignOnService"))
        .filter_map(|n| Some((n.attribute("Binding")?.to_string(), n.attribute("Location")?.to_string())))
        .collect();
    Ok(PublishedMetadata { entity_id, signing_certificates, single_sign_on })
}

/// The file name the seed product's "Export Metadata" downloads.
pub fn download_name(app: &Application) -> String {
    let stem: String = match &app.kind {
        AppKind::M365(c) => c.domain.clone(),
        _ => app.label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect(),
    };
    format!("tessera-{}-metadata.xml", stem.trim_matches('-'))
}

/// The metadata document, in schema order, with an XML declaration.
pub fn build_idp_metadata(metadata: &IdpMetadata<'_>) -> Result<String, XmlError> {
    let mut descriptor = Element::new(METADATA_NS, "md", "IDPSSODescriptor")
        .attr("protocolSupportEnumeration", PROTOCOL_NS)
        .attr("WantAuthnRequestsSigned", "false")
        .child(key_descriptor(metadata.signing_certificate));
    if let Some(next) = metadata.next_signing_certificate {
        descriptor = descriptor.child(key_descriptor(next));
    }
    for binding in [SamlBinding::HttpRedirect, SamlBinding::HttpPost] {
        descriptor = descriptor.child(endpoint("SingleLogoutService", binding, metadata.slo_url));
    }
    for format in metadata.name_id_formats {
        descriptor = descriptor.child(Element::new(METADATA_NS, "md", "NameIDFormat").text(*format));
    }
    for binding in [SamlBinding::HttpRedirect, SamlBinding::HttpPost] {
        descriptor = descriptor.child(endpoint("SingleSignOnService", binding, metadata.sso_url));
    }
    if let Some(ecp) = metadata.ecp_url {
        descriptor = descriptor.child(endpoint("SingleSignOnService", SamlBinding::Soap, ecp));
    }
    let entity =
        Element::new(METADATA_NS, "md", "EntityDescriptor").attr("entityID", metadata.entity_id).child(descriptor);
    Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n", entity.to_document()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::app::NAMEID_PERSISTENT;
    use tessera_xml::{Limits, reader};

    use base64::Engine;

    fn certificate(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-xml/tests/data").join(name);
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
    }

    fn sample(with_next: bool) -> String {
        let (current, next) = (certificate("idp-cert.der"), certificate("attacker-cert.der"));
        build_idp_metadata(&IdpMetadata {
            entity_id: "https://idp.contoso.com/m365/contoso.com",
            sso_url: "https://idp.contoso.com/m365/contoso.com/saml/sso",
            slo_url: "https://idp.contoso.com/m365/contoso.com/saml/slo",
            ecp_url: Some("https://idp.contoso.com/m365/contoso.com/saml/ecp"),
            signing_certificate: &current,
            next_signing_certificate: with_next.then_some(next.as_str()),
            name_id_formats: &[NAMEID_PERSISTENT],
        })
        .unwrap()
    }

    #[test]
    fn golden_m365_metadata() {
        // Made by this test with TESSERA_BLESS=1; see tests/golden/README.md.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/idp-metadata-m365.xml");
        let produced = sample(true);
        if std::env::var("TESSERA_BLESS").as_deref() == Ok("1") {
            std::fs::write(&path, &produced).unwrap();
        }
        assert_eq!(produced, std::fs::read_to_string(&path).unwrap_or_default());
    }

    #[test]
    fn published_metadata_reads_back_what_was_written() {
        let read = read_published(&sample(true)).unwrap();
        assert_eq!(read.entity_id, "https://idp.contoso.com/m365/contoso.com");
        assert_eq!(read.signing_certificates, [certificate("idp-cert.der"), certificate("attacker-cert.der")]);
        assert!(read.single_sign_on.contains(&(
            SamlBinding::Soap.uri().to_string(),
            "https://idp.contoso.com/m365/contoso.com/saml/ecp".to_string()
        )));
        assert!(read_published("<md:EntitiesDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"/>").is_err());
        assert!(read_published("<!DOCTYPE x><x/>").is_err());
    }

    #[test]
    fn describes_endpoints_certificates_and_formats_in_schema_order() {
        let text = sample(true);
        let parsed =
            reader::parse(text.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), &Limits::METADATA)
                .unwrap();
        let root = parsed.root_element();
        assert_eq!(root.attribute("entityID"), Some("https://idp.contoso.com/m365/contoso.com"));
        let order: Vec<&str> = root
            .first_element_child()
            .unwrap()
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        assert_eq!(
            order,
            [
                "KeyDescriptor",
                "KeyDescriptor",
                "SingleLogoutService",
                "SingleLogoutService",
                "NameIDFormat",
                "SingleSignOnService",
                "SingleSignOnService",
                "SingleSignOnService"
            ]
        );
        assert!(text.contains(&certificate("idp-cert.der")) && text.contains(&certificate("attacker-cert.der")));
        let without_next = sample(false);
        assert!(!without_next.contains(&certificate("attacker-cert.der")));
        assert_eq!(without_next.matches("<md:KeyDescriptor").count(), 1);
    }
}
