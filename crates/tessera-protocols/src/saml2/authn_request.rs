//! AuthnRequests as they arrive: decoded from the HTTP-Redirect binding (base64 of raw
//! DEFLATE, the inflated size capped: a cap on the compressed input does nothing against a
//! bomb) or the HTTP-POST binding (base64), then read with the hardened reader.
//!
//! A signed request is verified first (`tessera_xml::verify_enveloped`) and parsed from the
//! canonical bytes the verification returns, never from the original text.

use std::io::Read;

use base64::Engine;
use tessera_xml::{Limits, element_text, reader};

use super::PROTOCOL_NS;
use crate::ProtocolError;
use crate::is_element as is;

/// The most a request may inflate to (SECURITY.md §0.5).
pub const MAX_INFLATED_BYTES: usize = 256 * 1024;
/// The most base64 text a request parameter may carry.
pub const MAX_ENCODED_BYTES: usize = 384 * 1024;

const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    pub issue_instant: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub acs_url: Option<String>,
    pub acs_index: Option<u16>,
    pub protocol_binding: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
    /// AuthnContextClassRef values of a RequestedAuthnContext.
    pub requested_authn_contexts: Vec<String>,
    /// Its `Comparison` (exact when absent).
    pub authn_context_comparison: Option<String>,
    /// Whether the request carries an enveloped signature (to be verified by the caller).
    pub signed: bool,
}

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError::Request(message.into())
}

fn decode_base64(text: &str) -> Result<Vec<u8>, ProtocolError> {
    if text.len() > MAX_ENCODED_BYTES {
        return Err(bad("the request is too large"));
    }
    let engine = base64::engine::general_purpose::STANDARD;
    // Whitespace is allowed in the encoding (some SPs wrap lines at 76); most requests hold
    // none, and are decoded without a copy.
    let decoded = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        engine.decode(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect::<Vec<u8>>())
    } else {
        engine.decode(text)
    };
    decoded.map_err(|_| bad("the request is not valid base64"))
}

/// The XML of a `SAMLRequest` from the HTTP-Redirect binding (already URL-decoded).
pub fn decode_redirect(saml_request: &str) -> Result<String, ProtocolError> {
    let compressed = decode_base64(saml_request)?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(compressed.as_slice())
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| bad("the request is not valid DEFLATE data"))?;
    if inflated.len() > MAX_INFLATED_BYTES {
        return Err(bad("the request inflates beyond the size limit"));
    }
    String::from_utf8(inflated).map_err(|_| bad("the request is not UTF-8"))
}

/// The XML of a `SAMLRequest` from the HTTP-POST binding.
pub fn decode_post(saml_request: &str) -> Result<String, ProtocolError> {
    let bytes = decode_base64(saml_request)?;
    if bytes.len() > MAX_INFLATED_BYTES {
        return Err(bad("the request is too large"));
    }
    String::from_utf8(bytes).map_err(|_| bad("the request is not UTF-8"))
}

fn bool_attribute(value: Option<&str>, name: &str) -> Result<bool, ProtocolError> {
    match value.map(str::trim) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(bad(format!("{name}={other:?} is not a boolean"))),
    }
}

/// Reads an AuthnRequest. Structure only: whether its issuer, ACS and times are acceptable is
/// the caller's decision against the registered service provider.
pub fn parse_authn_request(xml: &str) -> Result<AuthnRequest, ProtocolError> {
    let parsed = reader::parse(xml, &Limits::MESSAGE)?;
    let root = parsed.root_element();
    if !is(&root, PROTOCOL_NS, "AuthnRequest") {
        return Err(bad("the message is not a SAML 2.0 AuthnRequest"));
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(bad("the AuthnRequest is not SAML version 2.0"));
    }
    let id = root
        .attribute("ID")
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .ok_or_else(|| bad("the AuthnRequest has no usable ID"))?;
    let issue_instant = root.attribute("IssueInstant").ok_or_else(|| bad("the AuthnRequest has no IssueInstant"))?;
    let issuer = root
        .children()
        .find(|n| is(n, ASSERTION_NS, "Issuer"))
        .map(element_text)
        .transpose()?
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
        .ok_or_else(|| bad("the AuthnRequest has no Issuer"))?;
    let acs_index = root
        .attribute("AssertionConsumerServiceIndex")
        .map(|i| i.trim().parse::<u16>().map_err(|_| bad("AssertionConsumerServiceIndex is not a number")))
        .transpose()?;
    let name_id_format = root
        .children()
        .find(|n| is(n, PROTOCOL_NS, "NameIDPolicy"))
        .and_then(|n| n.attribute("Format").map(str::to_string));
    let mut requested_authn_contexts = Vec::new();
    let mut authn_context_comparison = None;
    if let Some(requested) = root.children().find(|n| is(n, PROTOCOL_NS, "RequestedAuthnContext")) {
        authn_context_comparison = requested.attribute("Comparison").map(str::to_string);
        for class in requested.children().filter(|n| is(n, ASSERTION_NS, "AuthnContextClassRef")) {
            requested_authn_contexts.push(element_text(class)?.trim().to_string());
        }
    }
    Ok(AuthnRequest {
        id: id.to_string(),
        issue_instant: issue_instant.to_string(),
        issuer,
        destination: root.attribute("Destination").map(str::to_string),
        acs_url: root.attribute("AssertionConsumerServiceURL").map(str::to_string),
        acs_index,
        protocol_binding: root.attribute("ProtocolBinding").map(str::to_string),
        force_authn: bool_attribute(root.attribute("ForceAuthn"), "ForceAuthn")?,
        is_passive: bool_attribute(root.attribute("IsPassive"), "IsPassive")?,
        name_id_format,
        requested_authn_contexts,
        authn_context_comparison,
        signed: root.children().any(|n| is(&n, tessera_xml::dsig::DSIG_NS, "Signature")),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The unsigned request Entra sends (M365-PROTOCOLS.md §1.3).
    const ENTRA: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1e089e5c-a976-4881-af74-3b92c89e7e2c" IssueInstant="2024-03-12T14:00:18.450Z" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>"#;

    fn deflate(bytes: &[u8]) -> String {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        base64::engine::general_purpose::STANDARD.encode(encoder.finish().unwrap())
    }

    #[test]
    fn reads_entra_s_request_from_either_binding() {
        for xml in [
            decode_redirect(&deflate(ENTRA.as_bytes())).unwrap(),
            decode_post(&base64::engine::general_purpose::STANDARD.encode(ENTRA)).unwrap(),
        ] {
            let request = parse_authn_request(&xml).unwrap();
            assert_eq!(request.id, "_1e089e5c-a976-4881-af74-3b92c89e7e2c");
            assert_eq!(request.issuer, "urn:federation:MicrosoftOnline");
            assert_eq!(request.acs_url, None);
            assert_eq!(request.name_id_format.as_deref(), Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
            assert!(!request.force_authn && !request.is_passive && !request.signed);
        }
    }

    #[test]
    fn a_request_wrapped_in_lines_reads_as_one_on_a_line() {
        let one_line = base64::engine::general_purpose::STANDARD.encode(ENTRA);
        let wrapped: Vec<String> =
            one_line.as_bytes().chunks(76).map(|line| String::from_utf8_lossy(line).into()).collect();
        assert!(wrapped.len() > 2);
        assert_eq!(decode_post(&wrapped.join("\r\n")).unwrap(), ENTRA);
        assert_eq!(decode_post(&format!(" {}\t\n", wrapped.join("\n"))).unwrap(), ENTRA);
        assert!(decode_post(&wrapped.join("\n-")).is_err(), "a character outside base64 between lines");
    }

    #[test]
    fn reads_flags_index_and_requested_context() {
        let xml = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r" IssueInstant="2026-11-22T10:00:00Z" Version="2.0" ForceAuthn="true" IsPassive="1" AssertionConsumerServiceIndex="0"><saml:Issuer>https://sp.example.com</saml:Issuer><samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>http://schemas.microsoft.com/claims/multipleauthn</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>"#;
        let request = parse_authn_request(xml).unwrap();
        assert!(request.force_authn && request.is_passive);
        assert_eq!(request.acs_index, Some(0));
        assert_eq!(request.requested_authn_contexts, ["http://schemas.microsoft.com/claims/multipleauthn"]);
    }

    #[test]
    fn an_inflate_bomb_stops_at_the_cap() {
        let bomb = deflate(&vec![b'A'; 8 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024, "a small request that inflates to 8 MiB");
        assert_eq!(decode_redirect(&bomb).unwrap_err(), bad("the request inflates beyond the size limit"));
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        for input in ["%%%", "AAAA", "", &"A".repeat(MAX_ENCODED_BYTES + 4)] {
            assert!(decode_redirect(input).is_err(), "{input:.20}");
        }
        let utf16 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b'<', 0]);
        assert!(decode_post(&utf16).is_err());
        for xml in [
            "<a/>",
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" IssueInstant="t" Version="1.1"/>"#,
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" IssueInstant="t" Version="2.0"/>"#,
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" IssueInstant="t" Version="2.0"/>"#,
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" IssueInstant="t" Version="2.0" ForceAuthn="maybe"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">i</Issuer></samlp:AuthnRequest>"#,
        ] {
            assert!(parse_authn_request(xml).is_err(), "{xml}");
        }
    }

    #[test]
    fn doctype_and_comment_truncation_are_refused() {
        let doctype = format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{ENTRA}");
        assert!(matches!(parse_authn_request(&doctype), Err(ProtocolError::Xml(tessera_xml::XmlError::Doctype))));
        let truncated = ENTRA.replace("urn:federation:MicrosoftOnline", "urn:federation:<!---->MicrosoftOnline");
        assert!(matches!(
            parse_authn_request(&truncated),
            Err(ProtocolError::Xml(tessera_xml::XmlError::CommentInIdentity { .. }))
        ));
    }
}
