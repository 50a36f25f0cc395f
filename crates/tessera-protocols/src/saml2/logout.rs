//! Single logout: reading a LogoutRequest from a service provider (signature checked like an
//! AuthnRequest's) and building the LogoutResponse, delivered by HTTP-Redirect (a signed query)
//! or HTTP-POST.

use std::io::Write;

use base64::Engine;
use tessera_core::{UnixMillis, format_millis};
use tessera_xml::writer::Element;
use tessera_xml::{Limits, SignaturePlacement, Signer, XmlError, element_text, reader, sign_enveloped};

use super::PROTOCOL_NS;
use super::response::ASSERTION_NS;
use super::sso::{Binding, Envelope, RegisteredSp, SsoRefusal, check_envelope, read_signed_message};
use crate::is_element as is;
use crate::{ProtocolError, percent};

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issue_instant: String,
    pub issuer: String,
    pub destination: Option<String>,
    pub name_id: String,
    pub session_indexes: Vec<String>,
    pub signed: bool,
}

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError::Request(message.into())
}

pub fn parse_logout_request(xml: &str) -> Result<LogoutRequest, ProtocolError> {
    let parsed = reader::parse(xml, &Limits::MESSAGE)?;
    let root = parsed.root_element();
    if !is(&root, PROTOCOL_NS, "LogoutRequest") {
        return Err(bad("the message is not a SAML 2.0 LogoutRequest"));
    }
    if root.attribute("Version") != Some("2.0") {
        return Err(bad("the LogoutRequest is not SAML version 2.0"));
    }
    let id = root
        .attribute("ID")
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .ok_or_else(|| bad("the LogoutRequest has no usable ID"))?;
    let issue_instant = root.attribute("IssueInstant").ok_or_else(|| bad("the LogoutRequest has no IssueInstant"))?;
    let text_of = |local: &str| -> Result<Option<String>, ProtocolError> {
        Ok(root
            .children()
            .find(|n| is(n, ASSERTION_NS, local))
            .map(element_text)
            .transpose()?
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()))
    };
    let issuer = text_of("Issuer")?.ok_or_else(|| bad("the LogoutRequest has no Issuer"))?;
    let name_id = text_of("NameID")?.ok_or_else(|| bad("the LogoutRequest has no NameID"))?;
    let mut session_indexes = Vec::new();
    for index in root.children().filter(|n| is(n, PROTOCOL_NS, "SessionIndex")) {
        session_indexes.push(element_text(index)?.trim().to_string());
    }
    Ok(LogoutRequest {
        id: id.to_string(),
        issue_instant: issue_instant.to_string(),
        issuer,
        destination: root.attribute("Destination").map(str::to_string),
        name_id,
        session_indexes,
        signed: root.children().any(|n| is(&n, tessera_xml::dsig::DSIG_NS, "Signature")),
    })
}

/// A LogoutRequest that passed the registration's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedLogout {
    pub request: LogoutRequest,
    pub relay_state: Option<String>,
}

/// Decodes, verifies and checks a LogoutRequest: the issuer is the registered SP, the
/// Destination (if any) is this endpoint, the IssueInstant within the skew.
pub fn accept_logout_request(
    binding: Binding<'_>,
    sp: &RegisteredSp<'_>,
    slo_url: &str,
    now: UnixMillis,
    skew_ms: i64,
) -> Result<AcceptedLogout, SsoRefusal> {
    let (request, relay_state, signed_with) =
        read_signed_message(binding, "SAMLRequest", sp, parse_logout_request, |r: &LogoutRequest| r.signed)?;
    check_envelope(
        &Envelope {
            issuer: &request.issuer,
            issue_instant: &request.issue_instant,
            destination: request.destination.as_deref(),
            relay_state: relay_state.as_deref(),
            signed: signed_with.is_some(),
        },
        sp,
        slo_url,
        now,
        skew_ms,
    )?;
    Ok(AcceptedLogout { request, relay_state })
}

/// A status-only message: a LogoutResponse, or a Response that carries no assertion
/// (`NoPassive`, `NoAuthnContext`, `InvalidNameIDPolicy`, `RequestDenied`).
#[derive(Debug, Clone)]
pub struct StatusMessage<'a> {
    pub id: &'a str,
    pub issuer: &'a str,
    pub destination: &'a str,
    pub in_response_to: Option<&'a str>,
    pub top_status: &'a str,
    pub second_status: Option<&'a str>,
    pub now: UnixMillis,
}

fn status_element(message: &StatusMessage<'_>, local: &'static str) -> Element {
    let mut code = Element::new(PROTOCOL_NS, "samlp", "StatusCode").attr("Value", message.top_status);
    if let Some(second) = message.second_status {
        code = code.child(Element::new(PROTOCOL_NS, "samlp", "StatusCode").attr("Value", second));
    }
    let mut root = Element::new(PROTOCOL_NS, "samlp", local)
        .attr("ID", message.id)
        .attr("Version", "2.0")
        .attr("IssueInstant", format_millis(message.now))
        .attr("Destination", message.destination);
    if let Some(request) = message.in_response_to {
        root = root.attr("InResponseTo", request);
    }
    root.child(Element::new(ASSERTION_NS, "saml", "Issuer").text(message.issuer))
        .child(Element::new(PROTOCOL_NS, "samlp", "Status").child(code))
}

/// A signed `samlp:Response` with a non-success status and no assertion.
pub fn build_status_response(message: &StatusMessage<'_>, signer: &dyn Signer) -> Result<String, XmlError> {
    let mut response = status_element(message, "Response");
    sign_enveloped(&mut response, "ID", SignaturePlacement::After("Issuer"), &[], signer)?;
    response.to_document()
}

/// A LogoutResponse; signed when it travels by POST (a Redirect query is signed instead).
pub fn build_logout_response(message: &StatusMessage<'_>, signer: Option<&dyn Signer>) -> Result<String, XmlError> {
    let mut response = status_element(message, "LogoutResponse");
    if let Some(signer) = signer {
        sign_enveloped(&mut response, "ID", SignaturePlacement::After("Issuer"), &[], signer)?;
    }
    response.to_document()
}

/// The HTTP-Redirect query for a message: DEFLATE, base64, then signed with RSA-SHA256 over
/// `name=…&RelayState=…&SigAlg=…` as the binding specifies.
pub fn redirect_query(
    message_name: &str,
    xml: &str,
    relay_state: Option<&str>,
    signer: &dyn Signer,
) -> Result<String, XmlError> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(xml.as_bytes()).map_err(|e| XmlError::Key(format!("deflate: {e}")))?;
    let deflated = encoder.finish().map_err(|e| XmlError::Key(format!("deflate: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut query = format!("{message_name}={}", percent::encode(&b64.encode(deflated)));
    if let Some(relay) = relay_state {
        query.push_str("&RelayState=");
        query.push_str(&percent::encode(relay));
    }
    query.push_str("&SigAlg=");
    query.push_str(&percent::encode(RSA_SHA256));
    let signature = signer.sign(query.as_bytes())?;
    query.push_str("&Signature=");
    query.push_str(&percent::encode(&b64.encode(signature)));
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_logout_request_and_refuses_comment_truncation() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l" Version="2.0" IssueInstant="2026-11-22T10:00:00Z"><saml:Issuer>https://sp.example.com</saml:Issuer><saml:NameID>victim@x.com</saml:NameID><samlp:SessionIndex>_s</samlp:SessionIndex></samlp:LogoutRequest>"#;
        let request = parse_logout_request(xml).unwrap();
        assert_eq!(request.name_id, "victim@x.com");
        assert_eq!(request.session_indexes, ["_s"]);
        let truncated = xml.replace("victim@x.com", "victim@x.com<!---->.evil.com");
        assert!(parse_logout_request(&truncated).is_err());
        assert!(parse_logout_request(&xml.replace("<saml:NameID>victim@x.com</saml:NameID>", "")).is_err());
    }

    #[test]
    fn url_encoding_is_strict() {
        assert_eq!(percent::encode("a+b/c= ~"), "a%2Bb%2Fc%3D%20~");
    }
}
