//! The RequestSecurityToken: a SOAP envelope whose body asks for a token for a realm. At a
//! usernamemixed endpoint its WS-Security header carries a Timestamp and a UsernameToken with a
//! plaintext password (the transport is TLS); at a windowstransport endpoint the client proves
//! itself with Kerberos, in HTTP `Negotiate` as Windows does, or in a BinarySecurityToken of
//! the header (the WS-Security Kerberos Token Profile), and the header needs no Timestamp.

use tessera_core::{UnixMillis, parse_rfc3339_millis};
use tessera_xml::roxmltree::Node;
use tessera_xml::{Limits, element_text, reader};

use super::fault::TrustFault;
use super::{SOAP11_NS, SOAP12_NS, SoapVersion, TrustVersion, WSSE_NS, issue_action};
use crate::saml11::{WSA_NS, WSP_NS, WSU_NS};

const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
/// The longest MessageID accepted (a `urn:uuid:` is 45).
const MAX_MESSAGE_ID: usize = 256;
/// How far ahead of Tessera's clock a Timestamp may be created.
pub const MAX_FUTURE_MS: i64 = 60_000;
/// The longest user name and password read; longer is refused before anything is checked.
const MAX_USERNAME: usize = 254;
const MAX_PASSWORD: usize = 1024;

/// A Kerberos AP-REQ in GSS framing, the Kerberos Token Profile 1.1's BinarySecurityToken.
pub const KERBEROS_AP_REQ: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-kerberos-token-profile-1.1#GSS_Kerberosv5_AP_REQ";
const BASE64_BINARY: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
/// The largest BinarySecurityToken taken, decoded (as for HTTP `Negotiate`: a ticket with a
/// large PAC runs to tens of kilobytes).
const MAX_BINARY_TOKEN: usize = 64 * 1024;

/// A request that could be read. Nothing in it is trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub soap: SoapVersion,
    pub trust: TrustVersion,
    /// `wsa:MessageID`, echoed as RelatesTo and remembered against replay.
    pub message_id: Option<String>,
    /// `wsa:To`: where the client sent it.
    pub to: Option<String>,
    pub created: UnixMillis,
    pub expires: UnixMillis,
    pub username: String,
    pub password: String,
    pub applies_to: String,
}

/// A windowstransport request that could be read. Nothing in it is trusted yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsTokenRequest {
    pub soap: SoapVersion,
    pub trust: TrustVersion,
    pub message_id: Option<String>,
    pub to: Option<String>,
    /// `wsu:Timestamp`'s Created and Expires, when the header has one (Windows sends none).
    pub timestamp: Option<(UnixMillis, UnixMillis)>,
    /// The Kerberos token of a BinarySecurityToken, decoded, when the header carries one.
    pub kerberos: Option<Vec<u8>>,
    pub applies_to: String,
}

fn invalid(message: impl Into<String>) -> TrustFault {
    TrustFault::InvalidRequest(message.into())
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == local)
}

/// Exactly one such child: a second one would leave which counts to a guess.
fn only_child<'a, 'i>(node: Node<'a, 'i>, ns: &str, local: &str) -> Result<Option<Node<'a, 'i>>, TrustFault> {
    let mut found = node
        .children()
        .filter(|n| n.is_element() && n.tag_name().namespace() == Some(ns) && n.tag_name().name() == local);
    let first = found.next();
    if found.next().is_some() {
        return Err(invalid(format!("the message has more than one {local}")));
    }
    Ok(first)
}

fn required<'a, 'i>(node: Node<'a, 'i>, ns: &str, local: &str) -> Result<Node<'a, 'i>, TrustFault> {
    only_child(node, ns, local)?.ok_or_else(|| invalid(format!("the message has no {local}")))
}

fn text_of(node: Node<'_, '_>) -> Result<String, TrustFault> {
    element_text(node).map(|t| t.trim().to_string()).map_err(|e| invalid(e.to_string()))
}

fn time_of(node: Node<'_, '_>) -> Result<UnixMillis, TrustFault> {
    let text = text_of(node)?;
    parse_rfc3339_millis(&text).map_err(|_| TrustFault::MessageExpired(format!("the Timestamp {text:?} is not a time")))
}

/// What every RST says, whatever proves who sends it.
struct Envelope<'a, 'i> {
    soap: SoapVersion,
    message_id: Option<String>,
    to: Option<String>,
    security: Option<Node<'a, 'i>>,
    applies_to: String,
}

/// Reads the SOAP envelope of an RST sent to an endpoint of `endpoint`'s WS-Trust version.
fn read_envelope<'a, 'i>(
    envelope: Node<'a, 'i>,
    endpoint: TrustVersion,
    soap_action: Option<&str>,
) -> Result<Envelope<'a, 'i>, TrustFault> {
    let soap = match (envelope.tag_name().namespace(), envelope.tag_name().name()) {
        (Some(SOAP12_NS), "Envelope") => SoapVersion::Soap12,
        (Some(SOAP11_NS), "Envelope") => SoapVersion::Soap11,
        _ => return Err(invalid("the message is not a SOAP 1.1 or 1.2 envelope")),
    };
    if soap == SoapVersion::Soap11 && endpoint == TrustVersion::V13 {
        return Err(invalid("WS-Trust 1.3 is served over SOAP 1.2 only"));
    }
    let soap_ns = soap.namespace();
    let header = required(envelope, soap_ns, "Header")?;
    let body = required(envelope, soap_ns, "Body")?;

    // The action is the header's, or the transport's; if both are given they must agree.
    let action = only_child(header, WSA_NS, "Action")?.map(text_of).transpose()?;
    let transport_action = soap_action.map(|a| a.trim().trim_matches('"').to_string()).filter(|a| !a.is_empty());
    let expected = issue_action(endpoint);
    for given in [&action, &transport_action].into_iter().flatten() {
        if given != expected {
            return Err(invalid(format!("this endpoint answers the action {expected}, not {given}")));
        }
    }
    // MSAL for .NET spells it `messageID`.
    let message_id = match only_child(header, WSA_NS, "MessageID")? {
        Some(node) => Some(node),
        None => only_child(header, WSA_NS, "messageID")?,
    };
    let message_id = message_id.map(text_of).transpose()?;
    if message_id.as_ref().is_some_and(|id| id.is_empty() || id.len() > MAX_MESSAGE_ID) {
        return Err(invalid(format!("the MessageID must be 1 to {MAX_MESSAGE_ID} characters")));
    }
    let to = only_child(header, WSA_NS, "To")?.map(text_of).transpose()?;
    let security = only_child(header, WSSE_NS, "Security")?;

    let rst = required(body, endpoint.namespace(), "RequestSecurityToken")
        .map_err(|_| invalid(format!("the body is not a WS-Trust {} RequestSecurityToken", endpoint.name())))?;
    let request_type = text_of(required(rst, endpoint.namespace(), "RequestType")?)?;
    if request_type != format!("{}/Issue", endpoint.namespace()) {
        return Err(invalid(format!("only Issue requests are served, not {request_type}")));
    }
    if let Some(token_type) = only_child(rst, endpoint.namespace(), "TokenType")?.map(text_of).transpose()?
        && token_type != crate::saml11::TOKEN_TYPE
    {
        return Err(invalid(format!("only SAML 1.1 tokens are issued, not {token_type}")));
    }
    let applies_to = required(rst, WSP_NS, "AppliesTo")?;
    let reference =
        child(applies_to, WSA_NS, "EndpointReference").ok_or_else(|| invalid("AppliesTo has no address"))?;
    let applies_to = text_of(required(reference, WSA_NS, "Address")?)?;
    Ok(Envelope { soap, message_id, to, security, applies_to })
}

fn parse_envelope(body: &[u8]) -> Result<reader::ParsedXml<'_>, TrustFault> {
    let text = reader::decode_utf8(body, &Limits::MESSAGE).map_err(|e| invalid(e.to_string()))?;
    reader::parse(text, &Limits::MESSAGE).map_err(|e| invalid(format!("the message is not XML Tessera reads: {e}")))
}

/// A security header's Timestamp: Created and Expires.
fn timestamp_of(timestamp: Node<'_, '_>) -> Result<(UnixMillis, UnixMillis), TrustFault> {
    Ok((time_of(required(timestamp, WSU_NS, "Created")?)?, time_of(required(timestamp, WSU_NS, "Expires")?)?))
}

/// Reads an RST sent to the usernamemixed endpoint of `endpoint` (WS-Trust 1.3 or 2005).
/// `soap_action` is the HTTP SOAPAction header (SOAP 1.1) or the `action` content-type
/// parameter, if any.
pub fn parse_request(
    body: &[u8],
    endpoint: TrustVersion,
    soap_action: Option<&str>,
) -> Result<TokenRequest, TrustFault> {
    let parsed = parse_envelope(body)?;
    let Envelope { soap, message_id, to, security, applies_to } =
        read_envelope(parsed.root_element(), endpoint, soap_action)?;
    let security = security.ok_or_else(|| invalid("the message has no Security"))?;
    let timestamp = only_child(security, WSU_NS, "Timestamp")?
        .ok_or_else(|| TrustFault::MessageExpired("the message has no Timestamp".into()))?;
    let (created, expires) = timestamp_of(timestamp)?;
    let token = required(security, WSSE_NS, "UsernameToken")?;
    let username = text_of(required(token, WSSE_NS, "Username")?)?;
    let password_node = required(token, WSSE_NS, "Password")?;
    if password_node.attribute("Type").is_some_and(|t| t != PASSWORD_TEXT) {
        return Err(invalid("only a plaintext password (PasswordText) is accepted"));
    }
    // The password is taken as sent: surrounding spaces can be part of it.
    let password = element_text(password_node).map_err(|e| invalid(e.to_string()))?;
    if username.is_empty() || password.is_empty() {
        return Err(TrustFault::FailedAuthentication("a user name and a password are required".into()));
    }
    if username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
        return Err(TrustFault::FailedAuthentication("the user name or password is too long".into()));
    }
    Ok(TokenRequest { soap, trust: endpoint, message_id, to, created, expires, username, password, applies_to })
}

/// Reads an RST sent to the windowstransport endpoint of `endpoint`. A UsernameToken is refused
/// (a password belongs at usernamemixed); a BinarySecurityToken must be a Kerberos AP-REQ.
pub fn parse_windows_request(
    body: &[u8],
    endpoint: TrustVersion,
    soap_action: Option<&str>,
) -> Result<WindowsTokenRequest, TrustFault> {
    let parsed = parse_envelope(body)?;
    let Envelope { soap, message_id, to, security, applies_to } =
        read_envelope(parsed.root_element(), endpoint, soap_action)?;
    let (mut timestamp, mut kerberos) = (None, None);
    if let Some(security) = security {
        if only_child(security, WSSE_NS, "UsernameToken")?.is_some() {
            return Err(invalid(
                "this endpoint takes Windows integrated authentication; a password goes to usernamemixed",
            ));
        }
        timestamp = only_child(security, WSU_NS, "Timestamp")?.map(timestamp_of).transpose()?;
        kerberos = only_child(security, WSSE_NS, "BinarySecurityToken")?.map(kerberos_token).transpose()?;
    }
    Ok(WindowsTokenRequest { soap, trust: endpoint, message_id, to, timestamp, kerberos, applies_to })
}

/// A BinarySecurityToken's Kerberos AP-REQ, decoded.
fn kerberos_token(token: Node<'_, '_>) -> Result<Vec<u8>, TrustFault> {
    use base64::Engine;
    if token.attribute("ValueType") != Some(KERBEROS_AP_REQ) {
        return Err(TrustFault::FailedAuthentication(
            "only a Kerberos AP-REQ (GSS_Kerberosv5_AP_REQ) is taken as a BinarySecurityToken".into(),
        ));
    }
    if token.attribute("EncodingType").is_some_and(|encoding| encoding != BASE64_BINARY) {
        return Err(invalid("a BinarySecurityToken must be Base64Binary"));
    }
    let text: String = text_of(token)?.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| TrustFault::FailedAuthentication("the Kerberos token is not base64".into()))?;
    if decoded.is_empty() || decoded.len() > MAX_BINARY_TOKEN {
        return Err(TrustFault::FailedAuthentication(format!(
            "the Kerberos token must be 1 to {MAX_BINARY_TOKEN} bytes"
        )));
    }
    Ok(decoded)
}

/// What the replay cache remembers a message by: its MessageID, or the digest of its bytes when
/// it has none.
fn replay_key(message_id: Option<&String>, body: &[u8]) -> String {
    use sha2::Digest;
    match message_id {
        Some(id) => id.clone(),
        None => {
            let digest = sha2::Sha256::digest(body);
            format!("sha256:{}", tessera_core::lower_hex(&digest))
        }
    }
}

/// The Timestamp created at most `skew_ms` ago and at most [`MAX_FUTURE_MS`] ahead (WSS4J's
/// defaults are 300 s and 60 s), and unexpired.
fn check_timestamp(created: UnixMillis, expires: UnixMillis, now: UnixMillis, skew_ms: i64) -> Result<(), TrustFault> {
    if created > now + MAX_FUTURE_MS.min(skew_ms) {
        return Err(TrustFault::MessageExpired("the Timestamp is in the future".into()));
    }
    if created < now - skew_ms {
        return Err(TrustFault::MessageExpired("the Timestamp was created too long ago".into()));
    }
    if expires <= now {
        return Err(TrustFault::MessageExpired("the message has expired".into()));
    }
    if expires < created {
        return Err(TrustFault::MessageExpired("the Timestamp expires before it was created".into()));
    }
    Ok(())
}

/// `wsa:To` (if given) this endpoint; the realm one this endpoint serves.
fn check_addressing(
    to: Option<&String>,
    applies_to: &str,
    endpoint_url: &str,
    realms: &[&str],
) -> Result<(), TrustFault> {
    if let Some(to) = to
        && !crate::wsfed::same_url(endpoint_url, to)
    {
        return Err(invalid(format!(
            "the message is addressed to {}, not to this endpoint",
            crate::saml2::sso::clip(to)
        )));
    }
    if !realms.contains(&applies_to) {
        return Err(TrustFault::InvalidScope(format!(
            "{} is not a relying party of this endpoint",
            crate::saml2::sso::clip(applies_to)
        )));
    }
    Ok(())
}

impl TokenRequest {
    /// What the replay cache remembers this message by: its MessageID, or the digest of its
    /// bytes when it has none.
    pub fn replay_key(&self, body: &[u8]) -> String {
        replay_key(self.message_id.as_ref(), body)
    }

    /// How long the message is remembered against replay: as long as its Timestamp would
    /// still pass.
    pub fn remember_until(&self, now: UnixMillis, skew_ms: i64) -> UnixMillis {
        self.created.max(now) + 2 * skew_ms
    }

    /// The checks that need no store: the Timestamp fresh (see [`check_timestamp`]), the realm
    /// one this endpoint serves, `wsa:To` (if given) this endpoint.
    pub fn check(&self, now: UnixMillis, skew_ms: i64, endpoint_url: &str, realms: &[&str]) -> Result<(), TrustFault> {
        check_timestamp(self.created, self.expires, now, skew_ms)?;
        check_addressing(self.to.as_ref(), &self.applies_to, endpoint_url, realms)
    }
}

impl WindowsTokenRequest {
    /// As long as a Timestamp, if any, would pass; without one, for as long as one would.
    pub fn remember_until(&self, now: UnixMillis, skew_ms: i64) -> UnixMillis {
        self.timestamp.map_or(now, |(created, _)| created.max(now)) + 2 * skew_ms
    }

    /// A Timestamp, when sent, fresh; the addressing as at usernamemixed. The Kerberos
    /// authenticator's own time and replay checks are GSSAPI's.
    pub fn check(&self, now: UnixMillis, skew_ms: i64, endpoint_url: &str, realms: &[&str]) -> Result<(), TrustFault> {
        if let Some((created, expires)) = self.timestamp {
            check_timestamp(created, expires, now, skew_ms)?;
        }
        check_addressing(self.to.as_ref(), &self.applies_to, endpoint_url, realms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/13/windowstransport";

    /// MSAL for .NET's Windows integrated RST (no security header, `messageID`), with `security`.
    fn windows_rst(security: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><wsa:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</wsa:Action><wsa:messageID>urn:uuid:b052e0d8-349c-4d73-9ddb-0782043a440e</wsa:messageID><wsa:To s:mustUnderstand="1">{ENDPOINT}</wsa:To>{security}</s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>"#
        )
    }

    fn security(inner: &str) -> String {
        format!("<wsse:Security xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\">{inner}</wsse:Security>")
    }

    fn binary(value_type: &str, encoding: &str, content: &str) -> String {
        security(&format!(
            "<wsse:BinarySecurityToken ValueType=\"{value_type}\" EncodingType=\"{encoding}\">{content}</wsse:BinarySecurityToken>"
        ))
    }

    fn parse(rst: &str) -> Result<WindowsTokenRequest, TrustFault> {
        parse_windows_request(rst.as_bytes(), TrustVersion::V13, None)
    }

    #[test]
    fn msals_windows_rst_is_read_without_a_security_header() {
        let request = parse(&windows_rst("")).unwrap();
        assert_eq!(request.message_id.as_deref(), Some("urn:uuid:b052e0d8-349c-4d73-9ddb-0782043a440e"));
        assert_eq!((request.timestamp, request.kerberos.as_ref()), (None, None));
        let now = 1_800_000_000_000;
        request.check(now, 300_000, ENDPOINT, &["urn:federation:MicrosoftOnline"]).unwrap();
        assert_eq!(request.remember_until(now, 300_000), now + 600_000);
        assert!(
            request.check(now, 300_000, "https://elsewhere.example/", &["urn:federation:MicrosoftOnline"]).is_err()
        );
    }

    #[test]
    fn a_kerberos_binary_security_token_is_taken_decoded() {
        let rst = windows_rst(&binary(KERBEROS_AP_REQ, BASE64_BINARY, "YIIB\n AQID"));
        assert_eq!(parse(&rst).unwrap().kerberos, Some(vec![0x60, 0x82, 0x01, 0x01, 0x02, 0x03]));
    }

    #[test]
    fn anything_else_in_the_security_header_is_refused() {
        let cases = [
            (
                binary(
                    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3",
                    BASE64_BINARY,
                    "AQID",
                ),
                "only a Kerberos AP-REQ",
            ),
            (binary(KERBEROS_AP_REQ, "urn:hex", "AQID"), "must be Base64Binary"),
            (binary(KERBEROS_AP_REQ, BASE64_BINARY, "not base64!"), "not base64"),
            (binary(KERBEROS_AP_REQ, BASE64_BINARY, ""), "1 to 65536 bytes"),
            (
                security(
                    "<wsse:UsernameToken><wsse:Username>a</wsse:Username><wsse:Password>b</wsse:Password></wsse:UsernameToken>",
                ),
                "usernamemixed",
            ),
            (
                security(
                    "<wsu:Timestamp><wsu:Created>yesterday</wsu:Created><wsu:Expires>today</wsu:Expires></wsu:Timestamp>",
                ),
                "not a time",
            ),
            (
                format!(
                    "{}{}",
                    binary(KERBEROS_AP_REQ, BASE64_BINARY, "AQID"),
                    binary(KERBEROS_AP_REQ, BASE64_BINARY, "AQID")
                ),
                "more than one Security",
            ),
        ];
        for (header, expected) in cases {
            let refused = parse(&windows_rst(&header)).unwrap_err().to_string();
            assert!(refused.contains(expected), "{expected}: {refused}");
        }
        let huge = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![0u8; MAX_BINARY_TOKEN + 1]);
        let refused = parse(&windows_rst(&binary(KERBEROS_AP_REQ, BASE64_BINARY, &huge))).unwrap_err();
        assert!(refused.to_string().contains("1 to 65536 bytes"), "{refused}");
    }

    #[test]
    fn a_timestamp_when_sent_must_be_fresh() {
        let header = security(
            "<wsu:Timestamp><wsu:Created>2027-01-15T08:00:00Z</wsu:Created><wsu:Expires>2027-01-15T08:05:00Z</wsu:Expires></wsu:Timestamp>",
        );
        let request = parse(&windows_rst(&header)).unwrap();
        let created = parse_rfc3339_millis("2027-01-15T08:00:00Z").unwrap();
        let realms = ["urn:federation:MicrosoftOnline"];
        request.check(created + 1000, 300_000, ENDPOINT, &realms).unwrap();
        let late = request.check(created + 600_000, 300_000, ENDPOINT, &realms).unwrap_err();
        assert!(matches!(late, TrustFault::MessageExpired(_)), "{late}");
    }
}
