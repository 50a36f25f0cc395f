//! Reading a service provider's SAML 2.0 metadata into the app configuration Tessera stores.

use base64::Engine;
use tessera_core::app::NAMEID_UNSPECIFIED;
use tessera_core::{AcsEndpoint, SamlBinding, SamlSpConfig, SloEndpoint};
use tessera_xml::roxmltree::Node;
use tessera_xml::{Limits, element_text, reader};

use super::{DSIG_NS, METADATA_NS, PROTOCOL_NS};
use crate::ProtocolError;

/// Parses SP metadata: one `EntityDescriptor` with an `SPSSODescriptor` (an `EntitiesDescriptor`
/// holding exactly one such entity is accepted too). Endpoint URLs are returned as written;
/// [`SamlSpConfig::validate`] checks them.
pub fn parse_sp_metadata(bytes: &[u8]) -> Result<SamlSpConfig, ProtocolError> {
    let text = reader::decode_utf8(bytes, &Limits::METADATA)?;
    let parsed = reader::parse(text, &Limits::METADATA)?;
    let entity = find_entity(parsed.root_element())?;
    let entity_id = entity
        .attribute("entityID")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ProtocolError::metadata("EntityDescriptor has no entityID"))?;
    let sp = md_children(entity, "SPSSODescriptor")
        .find(|sp| {
            sp.attribute("protocolSupportEnumeration").is_some_and(|p| p.split_whitespace().any(|p| p == PROTOCOL_NS))
        })
        .ok_or_else(|| ProtocolError::metadata("no SPSSODescriptor supports the SAML 2.0 protocol"))?;

    let sign_requests = parse_bool(sp.attribute("AuthnRequestsSigned"), "AuthnRequestsSigned")?;
    let acs = parse_acs(sp)?;
    let slo = parse_slo(sp)?;
    let name_id_format = md_children(sp, "NameIDFormat")
        .map(element_text)
        .next()
        .transpose()?
        .map(|f| f.trim().to_string())
        .unwrap_or_else(|| NAMEID_UNSPECIFIED.to_string());
    let certificate = parse_signing_certificate(sp)?;

    Ok(SamlSpConfig {
        entity_id: entity_id.to_string(),
        acs,
        slo,
        name_id_source: SamlSpConfig::default_source_for(&name_id_format),
        name_id_format,
        attribute_mappings: Vec::new(),
        sign_requests,
        certificate,
        sign_assertion: true,
        sign_response: false,
        allow_sha1: false,
        idp_initiated: true,
    })
}

fn md_children<'a, 'input>(node: Node<'a, 'input>, name: &'static str) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().namespace() == Some(METADATA_NS) && c.tag_name().name() == name)
}

fn find_entity<'a, 'input>(root: Node<'a, 'input>) -> Result<Node<'a, 'input>, ProtocolError> {
    if root.tag_name().namespace() != Some(METADATA_NS) {
        return Err(ProtocolError::metadata("the root element is not in the SAML 2.0 metadata namespace"));
    }
    match root.tag_name().name() {
        "EntityDescriptor" => Ok(root),
        "EntitiesDescriptor" => {
            let entities: Vec<_> = md_children(root, "EntityDescriptor")
                .filter(|e| md_children(*e, "SPSSODescriptor").next().is_some())
                .collect();
            match entities.as_slice() {
                [one] => Ok(*one),
                [] => Err(ProtocolError::metadata("EntitiesDescriptor holds no service provider")),
                _ => Err(ProtocolError::metadata(
                    "EntitiesDescriptor holds several service providers; import one EntityDescriptor",
                )),
            }
        }
        other => Err(ProtocolError::metadata(format!("unexpected root element <{other}>"))),
    }
}

fn parse_bool(value: Option<&str>, name: &str) -> Result<bool, ProtocolError> {
    match value.map(str::trim) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ProtocolError::metadata(format!("{name}={other:?} is not a boolean"))),
    }
}

fn binding_of(node: Node<'_, '_>) -> Result<SamlBinding, ProtocolError> {
    let uri = node
        .attribute("Binding")
        .ok_or_else(|| ProtocolError::metadata(format!("{} has no Binding", node.tag_name().name())))?;
    SamlBinding::from_uri(uri.trim()).ok_or_else(|| ProtocolError::metadata(format!("unknown binding {uri:?}")))
}

fn parse_acs(sp: Node<'_, '_>) -> Result<Vec<AcsEndpoint>, ProtocolError> {
    let mut endpoints = Vec::new();
    let mut skipped = 0;
    for (position, node) in md_children(sp, "AssertionConsumerService").enumerate() {
        // An endpoint of a binding Tessera does not speak (Entra lists HTTP-POST-SimpleSign)
        // is left out rather than refusing the whole registration.
        let Ok(binding) = binding_of(node) else {
            skipped += 1;
            continue;
        };
        let url = node
            .attribute("Location")
            .ok_or_else(|| ProtocolError::metadata("AssertionConsumerService has no Location"))?;
        let index = match node.attribute("index") {
            Some(i) => i.trim().parse::<u16>().map_err(|_| {
                ProtocolError::metadata(format!("AssertionConsumerService index {i:?} is not a number"))
            })?,
            None => u16::try_from(position)
                .map_err(|_| ProtocolError::metadata("too many AssertionConsumerService elements"))?,
        };
        let is_default = parse_bool(node.attribute("isDefault"), "isDefault")?;
        endpoints.push(AcsEndpoint { url: url.to_string(), binding, index, is_default });
    }
    if endpoints.is_empty() && skipped > 0 {
        return Err(ProtocolError::metadata(
            "no AssertionConsumerService of the SP uses a binding Tessera supports (HTTP-POST)",
        ));
    }
    if endpoints.is_empty() {
        return Err(ProtocolError::metadata("SPSSODescriptor has no AssertionConsumerService"));
    }
    Ok(endpoints)
}

/// The first SingleLogoutService Tessera can answer through (Redirect or POST).
fn parse_slo(sp: Node<'_, '_>) -> Result<Option<SloEndpoint>, ProtocolError> {
    for node in md_children(sp, "SingleLogoutService") {
        let Ok(binding) = binding_of(node) else { continue };
        if !matches!(binding, SamlBinding::HttpRedirect | SamlBinding::HttpPost) {
            continue;
        }
        let url =
            node.attribute("Location").ok_or_else(|| ProtocolError::metadata("SingleLogoutService has no Location"))?;
        return Ok(Some(SloEndpoint {
            url: url.to_string(),
            binding,
            response_url: node.attribute("ResponseLocation").map(str::to_string),
        }));
    }
    Ok(None)
}

/// The certificate of the first KeyDescriptor usable for signing (`use="signing"` or no use),
/// as base64 DER without whitespace, checked to be an X.509 certificate.
fn parse_signing_certificate(sp: Node<'_, '_>) -> Result<Option<String>, ProtocolError> {
    for key in md_children(sp, "KeyDescriptor") {
        if !matches!(key.attribute("use"), None | Some("signing")) {
            continue;
        }
        let cert_node = key.descendants().find(|n| {
            n.is_element() && n.tag_name().namespace() == Some(DSIG_NS) && n.tag_name().name() == "X509Certificate"
        });
        let Some(cert_node) = cert_node else { continue };
        let text: String = element_text(cert_node)?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|_| ProtocolError::metadata("the signing certificate is not valid base64"))?;
        let (rest, _) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| ProtocolError::metadata("the signing certificate is not an X.509 certificate"))?;
        if !rest.is_empty() {
            return Err(ProtocolError::metadata("the signing certificate has trailing bytes"));
        }
        return Ok(Some(text));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use tessera_core::UserAttribute;

    use super::*;

    const GOOD: &str = include_str!("../../../../fixtures/saml/sp-metadata.xml");

    #[test]
    fn parses_entity_endpoints_certificate_and_flags() {
        let sp = parse_sp_metadata(GOOD.as_bytes()).unwrap();
        assert_eq!(sp.entity_id, "https://sp.example.com/saml/metadata");
        assert!(sp.sign_requests);
        assert_eq!(sp.acs.len(), 2);
        assert_eq!(sp.acs[0].binding, SamlBinding::HttpPost);
        assert!(sp.acs[0].is_default);
        assert_eq!(sp.acs[1].index, 1);
        assert_eq!(sp.slo.as_ref().unwrap().url, "https://sp.example.com/saml/slo");
        assert_eq!(sp.name_id_format, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress");
        assert_eq!(sp.name_id_source, UserAttribute::Email);
        let cert = sp.certificate.clone().unwrap();
        assert!(!cert.contains(char::is_whitespace));
        assert!(sp.validate().is_ok());
    }

    #[test]
    fn refuses_doctype_before_reading_entities() {
        let doc = include_str!("../../../../fixtures/saml/sp-metadata-doctype.xml");
        assert_eq!(parse_sp_metadata(doc.as_bytes()), Err(ProtocolError::Xml(tessera_xml::XmlError::Doctype)));
    }

    #[test]
    fn non_https_acs_is_refused_by_validation() {
        let doc = include_str!("../../../../fixtures/saml/sp-metadata-http-acs.xml");
        let sp = parse_sp_metadata(doc.as_bytes()).unwrap();
        assert!(sp.validate().unwrap_err().to_string().contains("https"));
    }

    #[test]
    fn refuses_broken_metadata() {
        let cases = [
            ("<a/>", "namespace"),
            (r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>"#, "entityID"),
            (
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>"#,
                "SPSSODescriptor",
            ),
            (
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>"#,
                "AssertionConsumerService",
            ),
            (
                r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:x" Location="https://a/"/></md:SPSSODescriptor></md:EntityDescriptor>"#,
                "binding",
            ),
            ("not xml", "well-formed"),
        ];
        for (doc, expected) in cases {
            let err = parse_sp_metadata(doc.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(expected), "{doc}: {err}");
        }
    }

    #[test]
    fn refuses_a_certificate_that_is_not_x509() {
        let doc = GOOD.replacen("<ds:X509Certificate>", "<ds:X509Certificate>AAAA", 1);
        assert!(parse_sp_metadata(doc.as_bytes()).is_err());
        let doc = GOOD.replacen("<ds:X509Certificate>", "<ds:X509Certificate><!-- x -->", 1);
        assert!(matches!(
            parse_sp_metadata(doc.as_bytes()),
            Err(ProtocolError::Xml(tessera_xml::XmlError::CommentInIdentity { .. }))
        ));
    }
}
