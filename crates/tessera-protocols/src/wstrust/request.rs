//! The usernamemixed RequestSecurityToken: a SOAP envelope whose WS-Security header carries a
//! Timestamp and a UsernameToken with a plaintext password (the transport is TLS), and whose
//! body asks for a token for a realm.

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

/// Reads an RST sent to the endpoint of `endpoint` (WS-Trust 1.3 or 2005). `soap_action` is
/// the HTTP SOAPAction header (SOAP 1.1) or the `action` content-type parameter, if any.
pub fn parse_request(
    body: &[u8],
    endpoint: TrustVersion,
    soap_action: Option<&str>,
) -> Result<TokenRequest, TrustFault> {
    let text = reader::decode_utf8(body, &Limits::MESSAGE).map_err(|e| invalid(e.to_string()))?;
    let parsed = reader::parse(text, &Limits::MESSAGE)
        .map_err(|e| invalid(format!("the message is not XML Tessera reads: {e}")))?;
    let envelope = parsed.root_element();
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
    let message_id = only_child(header, WSA_NS, "MessageID")?.map(text_of).transpose()?;
    if message_id.as_ref().is_some_and(|id| id.is_empty() || id.len() > MAX_MESSAGE_ID) {
        return Err(invalid(format!("the MessageID must be 1 to {MAX_MESSAGE_ID} characters")));
    }
    let to = only_child(header, WSA_NS, "To")?.map(text_of).transpose()?;

    let security = required(header, WSSE_NS, "Security")?;
    let timestamp = only_child(security, WSU_NS, "Timestamp")?
        .ok_or_else(|| TrustFault::MessageExpired("the message has no Timestamp".into()))?;
    let created = time_of(required(timestamp, WSU_NS, "Created")?)?;
    let expires = time_of(required(timestamp, WSU_NS, "Expires")?)?;
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
    Ok(TokenRequest { soap, trust: endpoint, message_id, to, created, expires, username, password, applies_to })
}

impl TokenRequest {
    /// What the replay cache remembers this message by: its MessageID, or the digest of its
    /// bytes when it has none.
    pub fn replay_key(&self, body: &[u8]) -> String {
        use sha2::Digest;
        match &self.message_id {
            Some(id) => id.clone(),
            None => {
                let digest = sha2::Sha256::digest(body);
                format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
        }
    }

    /// How long the message is remembered against replay: as long as its Timestamp would
    /// still pass.
    pub fn remember_until(&self, now: UnixMillis, skew_ms: i64) -> UnixMillis {
        self.created.max(now) + 2 * skew_ms
    }

    /// The checks that need no store: the Timestamp created at most `skew_ms` ago and at most
    /// [`MAX_FUTURE_MS`] ahead (WSS4J's defaults are 300 s and 60 s), and unexpired; the realm
    /// one this endpoint serves; `wsa:To` (if given) this endpoint.
    pub fn check(&self, now: UnixMillis, skew_ms: i64, endpoint_url: &str, realms: &[&str]) -> Result<(), TrustFault> {
        if self.created > now + MAX_FUTURE_MS.min(skew_ms) {
            return Err(TrustFault::MessageExpired("the Timestamp is in the future".into()));
        }
        if self.created < now - skew_ms {
            return Err(TrustFault::MessageExpired("the Timestamp was created too long ago".into()));
        }
        if self.expires <= now {
            return Err(TrustFault::MessageExpired("the message has expired".into()));
        }
        if self.expires < self.created {
            return Err(TrustFault::MessageExpired("the Timestamp expires before it was created".into()));
        }
        if let Some(to) = &self.to
            && !crate::wsfed::same_url(endpoint_url, to)
        {
            return Err(invalid(format!(
                "the message is addressed to {}, not to this endpoint",
                crate::saml2::sso::clip(to)
            )));
        }
        if !realms.contains(&self.applies_to.as_str()) {
            return Err(TrustFault::InvalidScope(format!(
                "{} is not a relying party of this endpoint",
                crate::saml2::sso::clip(&self.applies_to)
            )));
        }
        Ok(())
    }
}
