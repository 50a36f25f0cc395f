//! Accepting an AuthnRequest for one registered service provider (each application is one SP):
//! decode it from its binding, verify its signature with the SP's registered key (never one the
//! message carries), then check it against the registration: Issuer, Destination, freshness,
//! where the answer may go (SECURITY.md §0.6), and what it asks for.
//!
//! The checks that need storage (replay of a request ID) or a session are the caller's.

use tessera_core::app::{AcsEndpoint, NAMEID_UNSPECIFIED};
use tessera_core::policy::Demand;
use tessera_core::{SamlBinding, UnixMillis, parse_rfc3339_millis};
use tessera_xml::dsig::{AlgorithmPolicy, SignatureAlgorithm};
use tessera_xml::verify::VerifyingKey;
use tessera_xml::verify_enveloped;

use super::authn_request::{AuthnRequest, decode_post, decode_redirect, parse_authn_request};
use super::redirect::verify_redirect_query;
use super::response::{MULTIPLE_AUTHN, PASSWORD_PROTECTED_TRANSPORT};
use crate::ProtocolError;

/// The SAML bindings limit RelayState to 80 bytes (bindings §3.4.3, §3.5.3).
pub const MAX_RELAY_STATE: usize = 80;

const PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
const UNSPECIFIED_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";
const WIA_OR_MULTI: &str = "http://schemas.microsoft.com/claims/wiaormultiauthn";

/// The registration a request is checked against.
#[derive(Debug, Clone)]
pub struct RegisteredSp<'a> {
    pub entity_id: &'a str,
    pub acs: &'a [AcsEndpoint],
    /// Unsigned requests are refused.
    pub require_signed_requests: bool,
    /// The SP's signing key, from its registered metadata.
    pub key: Option<&'a VerifyingKey>,
    /// SHA-1 signatures accepted (Entra signs AuthnRequests with RSA-SHA1).
    pub allow_sha1: bool,
    /// The NameID format this IdP issues for the SP.
    pub name_id_format: &'a str,
    /// The SP is Entra ID, registered by a Microsoft 365 connector (not an SP that names
    /// itself `urn:federation:MicrosoftOnline`).
    pub entra: bool,
}

/// How the request arrived.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// The raw query string, exactly as received (the signature covers it as sent).
    Redirect { raw_query: &'a str },
    /// The form fields.
    Post { saml_request: &'a str, relay_state: Option<&'a str> },
    /// SAML's SOAP binding, as the ECP profile uses it: the request cut out of its envelope
    /// (`ecp::authn_request_of`). Answered in SOAP, to the ACS the request names.
    Soap { authn_request: &'a str },
}

/// Why a request is refused. Every one is answered with a page at the IdP, never a message
/// to the SP (its return address is not trusted until these pass).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoRefusal {
    #[error("the request is malformed: {0}")]
    Malformed(String),
    #[error("the request's issuer {0:?} is not the service provider registered for this application")]
    UnknownIssuer(String),
    #[error("the request is not signed, and this service provider's requests must be")]
    Unsigned,
    #[error("the request's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the request was issued at {0}, outside the allowed clock skew")]
    Stale(String),
    #[error("the request is addressed to {0:?}, not to this endpoint")]
    WrongDestination(String),
    #[error("the requested assertion consumer service is not registered: {0}")]
    UnregisteredAcs(String),
    #[error("the requested binding {0} is not supported here")]
    UnsupportedBinding(String),
    #[error("RelayState is longer than {MAX_RELAY_STATE} bytes")]
    RelayStateTooLong,
}

impl SsoRefusal {
    /// A stable code for audit records.
    pub fn code(&self) -> &'static str {
        match self {
            SsoRefusal::Malformed(_) => "malformed",
            SsoRefusal::UnknownIssuer(_) => "unknown_sp",
            SsoRefusal::Unsigned => "unsigned",
            SsoRefusal::BadSignature(_) => "bad_signature",
            SsoRefusal::Stale(_) => "stale",
            SsoRefusal::WrongDestination(_) => "wrong_destination",
            SsoRefusal::UnregisteredAcs(_) => "unregistered_acs",
            SsoRefusal::UnsupportedBinding(_) => "unsupported_binding",
            SsoRefusal::RelayStateTooLong => "relay_state_too_long",
        }
    }
}

impl From<ProtocolError> for SsoRefusal {
    fn from(e: ProtocolError) -> Self {
        SsoRefusal::Malformed(clip(&e.to_string()))
    }
}

/// At most 128 characters of a value the sender chose: refusals are shown and audited, and an
/// unauthenticated sender must not fill either with a quarter megabyte of its own text.
pub fn clip(text: &str) -> String {
    const MAX: usize = 128;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// What the request asks of the authentication.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedContext {
    /// Nothing in particular (or a password, which every sign-in shows).
    Any,
    /// A second factor (Entra's `multipleauthn`).
    Mfa,
    /// Only classes this IdP cannot show (X.509, Kerberos, …): answered with `NoAuthnContext`.
    Unsatisfiable,
}

/// A request that passed every check that needs no storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRequest {
    pub id: String,
    pub issuer: String,
    /// The registered ACS the answer goes to.
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub context: RequestedContext,
    /// The request asked for a NameID format this IdP does not issue for the SP: answered with
    /// `InvalidNameIDPolicy`.
    pub unsupported_name_id_format: Option<String>,
    /// How the request was signed, when it was.
    pub signed_with: Option<SignatureAlgorithm>,
    pub issue_instant: UnixMillis,
}

/// How a sign-on is answered over SAML once its user has signed in: where the Response goes and
/// what it echoes. Kept (serialized) while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamlReply {
    /// `None` for IdP-initiated.
    pub request_id: Option<String>,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub context: RequestedContext,
    /// The request's signature algorithm, when it was signed (SHA-1 is flagged in audit).
    pub signed_with: Option<String>,
}

impl SamlReply {
    /// An unsolicited Response to `acs_url`.
    pub fn unsolicited(acs_url: &str, relay_state: Option<String>) -> SamlReply {
        SamlReply {
            request_id: None,
            acs_url: acs_url.to_string(),
            relay_state,
            context: RequestedContext::Any,
            signed_with: None,
        }
    }
}

impl AcceptedRequest {
    /// What the request demands of the sign-in.
    pub fn demand(&self) -> Demand {
        Demand {
            fresh: self.force_authn,
            max_age_ms: None,
            mfa: self.context == RequestedContext::Mfa,
            passive: self.is_passive,
        }
    }

    /// How it is answered.
    pub fn reply(&self) -> SamlReply {
        SamlReply {
            request_id: Some(self.id.clone()),
            acs_url: self.acs_url.clone(),
            relay_state: self.relay_state.clone(),
            context: self.context.clone(),
            signed_with: self.signed_with.map(|a| a.uri().to_string()),
        }
    }

    /// How long the request's ID is remembered against replay: past the last moment its
    /// IssueInstant would still be accepted.
    pub fn remember_until(now: UnixMillis, skew_ms: i64) -> UnixMillis {
        now + 2 * skew_ms
    }
}

/// The RelayState of an IdP-initiated sign-on (`?RelayState=` on the SSO URL), bounded as a
/// request's is.
pub fn idp_initiated_relay_state(raw_query: &str) -> Result<Option<String>, SsoRefusal> {
    match raw_query.split('&').find_map(|p| p.strip_prefix("RelayState=")) {
        Some(raw) => match crate::percent::decode(raw) {
            Ok(relay) if relay.len() <= MAX_RELAY_STATE => Ok(Some(relay)),
            _ => Err(SsoRefusal::RelayStateTooLong),
        },
        None => Ok(None),
    }
}

/// Decodes and verifies a request, then checks it against the registration. `sso_url` is this
/// endpoint's published URL (a Destination must equal it); `skew_ms` bounds IssueInstant.
pub fn accept_authn_request(
    binding: Binding<'_>,
    sp: &RegisteredSp<'_>,
    sso_url: &str,
    now: UnixMillis,
    skew_ms: i64,
) -> Result<AcceptedRequest, SsoRefusal> {
    let ecp = matches!(binding, Binding::Soap { .. });
    let (request, relay_state, signed_with) = read_request(binding, sp)?;
    let issue_instant = check_envelope(
        &Envelope {
            issuer: &request.issuer,
            issue_instant: &request.issue_instant,
            destination: request.destination.as_deref(),
            relay_state: relay_state.as_deref(),
            signed: signed_with.is_some(),
        },
        sp,
        sso_url,
        now,
        skew_ms,
    )?;
    let answered_by = match (ecp, sp.entra) {
        (false, _) => BROWSER_ANSWERS,
        (true, true) => ENTRA_ECP_ANSWERS,
        (true, false) => ECP_ANSWERS,
    };
    let asked_for = if ecp { ECP_ASKED } else { BROWSER_ANSWERS };
    if let Some(binding) = &request.protocol_binding
        && !asked_for.iter().any(|b| b.uri() == binding)
    {
        return Err(SsoRefusal::UnsupportedBinding(clip(binding)));
    }
    let acs_url = resolve_acs(&request, sp.acs, answered_by)?;
    let unsupported_name_id_format =
        request.name_id_format.clone().filter(|format| format != NAMEID_UNSPECIFIED && format != sp.name_id_format);
    Ok(AcceptedRequest {
        context: requested_context(&request.requested_authn_contexts, request.authn_context_comparison.as_deref()),
        id: request.id,
        issuer: request.issuer,
        acs_url,
        relay_state,
        force_authn: request.force_authn,
        is_passive: request.is_passive,
        unsupported_name_id_format,
        signed_with,
        issue_instant,
    })
}

/// What every request from an SP is checked for, whatever it asks.
pub(crate) struct Envelope<'a> {
    pub issuer: &'a str,
    pub issue_instant: &'a str,
    pub destination: Option<&'a str>,
    pub relay_state: Option<&'a str>,
    pub signed: bool,
}

/// The registered SP as issuer, IssueInstant within the skew, a Destination (required when
/// signed, bindings §3.4.5.2 and §3.5.5.2, or a message the SP signed for another IdP could be
/// replayed here) equal to this endpoint, RelayState within its limit. Returns IssueInstant.
pub(crate) fn check_envelope(
    envelope: &Envelope<'_>,
    sp: &RegisteredSp<'_>,
    endpoint_url: &str,
    now: UnixMillis,
    skew_ms: i64,
) -> Result<UnixMillis, SsoRefusal> {
    if envelope.relay_state.is_some_and(|r| r.len() > MAX_RELAY_STATE) {
        return Err(SsoRefusal::RelayStateTooLong);
    }
    if envelope.issuer != sp.entity_id {
        return Err(SsoRefusal::UnknownIssuer(clip(envelope.issuer)));
    }
    let issue_instant = parse_rfc3339_millis(envelope.issue_instant)
        .map_err(|_| SsoRefusal::Malformed(format!("IssueInstant {:?} is not a time", clip(envelope.issue_instant))))?;
    if (issue_instant - now).abs() > skew_ms {
        return Err(SsoRefusal::Stale(clip(envelope.issue_instant)));
    }
    match envelope.destination {
        Some(destination) if destination != endpoint_url => Err(SsoRefusal::WrongDestination(clip(destination))),
        None if envelope.signed => {
            Err(SsoRefusal::WrongDestination("(none: a signed message must carry a Destination)".into()))
        }
        _ => Ok(issue_instant),
    }
}

/// The ACS bindings a browser's request may be answered on: the Response is posted by the page.
const BROWSER_ANSWERS: &[SamlBinding] = &[SamlBinding::HttpPost];
/// An ECP client's: a PAOS ACS only. An SP registers one when it takes ECP; answering at a
/// browser ACS would let a password alone sign in to an SP whose users the form asks for more.
const ECP_ANSWERS: &[SamlBinding] = &[SamlBinding::Paos];
/// Entra's rich clients: Entra registers `login.srf` with HTTP-POST only, and decides about
/// MFA itself (`federatedIdpMfaBehavior`), as for WS-Trust.
const ENTRA_ECP_ANSWERS: &[SamlBinding] = &[SamlBinding::Paos, SamlBinding::HttpPost];
/// What an ECP request's ProtocolBinding may name: PAOS (the profile), SOAP (pysaml2's SPs
/// name the binding they are reached by) or HTTP-POST (how Entra registers its ACS).
const ECP_ASKED: &[SamlBinding] = &[SamlBinding::Paos, SamlBinding::Soap, SamlBinding::HttpPost];

type ReadRequest = (AuthnRequest, Option<String>, Option<SignatureAlgorithm>);

fn read_request(binding: Binding<'_>, sp: &RegisteredSp<'_>) -> Result<ReadRequest, SsoRefusal> {
    let (request, relay_state, signed_with) =
        read_signed_message(binding, "SAMLRequest", sp, parse_authn_request, |r: &AuthnRequest| r.signed)?;
    Ok((request, relay_state, signed_with))
}

/// Decodes a protocol message from its binding and verifies its signature with the SP's
/// registered key: the query signature for Redirect, the enveloped XML signature for POST.
/// `parse` reads the message; `carries_signature` says whether the XML holds a Signature.
pub(crate) fn read_signed_message<T>(
    binding: Binding<'_>,
    message_name: &str,
    sp: &RegisteredSp<'_>,
    parse: fn(&str) -> Result<T, ProtocolError>,
    carries_signature: fn(&T) -> bool,
) -> Result<(T, Option<String>, Option<SignatureAlgorithm>), SsoRefusal> {
    let policy = AlgorithmPolicy { allow_sha1: sp.allow_sha1 };
    match binding {
        Binding::Redirect { raw_query } => {
            let signed = raw_query.split('&').any(|p| p.starts_with("Signature="));
            if !signed && sp.require_signed_requests {
                return Err(SsoRefusal::Unsigned);
            }
            // A signature we hold no key for is not trusted, and the message is read unsigned.
            let key = if signed { sp.key } else { None };
            let query = match key {
                Some(key) => verify_redirect_query(raw_query, Some(key), policy)
                    .map_err(|e| SsoRefusal::BadSignature(clip(&e.to_string())))?,
                None if sp.require_signed_requests => return Err(SsoRefusal::Unsigned),
                None => verify_redirect_query(&without_signature(raw_query), None, policy)
                    .map_err(|e| SsoRefusal::Malformed(clip(&e.to_string())))?,
            };
            if query.message_name != message_name {
                return Err(SsoRefusal::Malformed(format!("the query carries no {message_name}")));
            }
            let message = parse(&decode_redirect(&query.message)?)?;
            // The XML of a Redirect-binding message must not carry its own signature
            // (bindings §3.4.4.1).
            if carries_signature(&message) {
                return Err(SsoRefusal::Malformed("a Redirect-binding message carries an XML signature".into()));
            }
            Ok((message, query.relay_state, query.signature_algorithm))
        }
        Binding::Post { saml_request, relay_state } => {
            let (message, signed_with) =
                read_enveloped(&decode_post(saml_request)?, sp, policy, parse, carries_signature)?;
            Ok((message, relay_state.map(str::to_string), signed_with))
        }
        Binding::Soap { authn_request } => {
            let (message, signed_with) = read_enveloped(authn_request, sp, policy, parse, carries_signature)?;
            Ok((message, None, signed_with))
        }
    }
}

/// A message whose signature, if any, is enveloped in its XML: verified with the SP's key and
/// read from what was verified (SECURITY.md §0.2).
fn read_enveloped<T>(
    xml: &str,
    sp: &RegisteredSp<'_>,
    policy: AlgorithmPolicy,
    parse: fn(&str) -> Result<T, ProtocolError>,
    carries_signature: fn(&T) -> bool,
) -> Result<(T, Option<SignatureAlgorithm>), SsoRefusal> {
    let unsigned = parse(xml)?;
    match (carries_signature(&unsigned), sp.key) {
        (true, Some(key)) => {
            let verified =
                verify_enveloped(xml, "ID", key, policy).map_err(|e| SsoRefusal::BadSignature(clip(&e.to_string())))?;
            Ok((parse(&verified.canonical)?, Some(verified.signature_algorithm)))
        }
        _ if sp.require_signed_requests => Err(SsoRefusal::Unsigned),
        _ => Ok((unsigned, None)),
    }
}

/// The query without SigAlg and Signature, for an SP whose key is not registered.
fn without_signature(raw_query: &str) -> String {
    raw_query
        .split('&')
        .filter(|p| !p.starts_with("Signature=") && !p.starts_with("SigAlg="))
        .collect::<Vec<_>>()
        .join("&")
}

/// `scheme://host` lowercased, the rest as is: the only normalization an ACS URL gets.
fn normalize_url(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    Some(format!("{}://{}{}", scheme.to_ascii_lowercase(), authority.to_ascii_lowercase(), path))
}

/// The registered ACS the answer goes to: the one the request names by URL or index, else the
/// default. `answered_by` lists the bindings, in order of preference, that this answer may
/// take.
fn resolve_acs(
    request: &AuthnRequest,
    registered: &[AcsEndpoint],
    answered_by: &[SamlBinding],
) -> Result<String, SsoRefusal> {
    let post = |acs: &&AcsEndpoint| answered_by.contains(&acs.binding);
    let chosen = match (&request.acs_url, request.acs_index) {
        (Some(_), Some(_)) => {
            return Err(SsoRefusal::Malformed(
                "AssertionConsumerServiceURL and AssertionConsumerServiceIndex are both given".into(),
            ));
        }
        (Some(url), None) => {
            let wanted = normalize_url(url).ok_or_else(|| SsoRefusal::UnregisteredAcs(clip(url)))?;
            registered
                .iter()
                .filter(post)
                .find(|acs| normalize_url(&acs.url).as_deref() == Some(wanted.as_str()))
                .ok_or_else(|| SsoRefusal::UnregisteredAcs(clip(url)))?
        }
        (None, Some(index)) => registered
            .iter()
            .find(|acs| acs.index == index)
            .ok_or_else(|| SsoRefusal::UnregisteredAcs(format!("index {index}")))?,
        (None, None) => answered_by
            .iter()
            .find_map(|binding| {
                let of_binding = |acs: &&AcsEndpoint| acs.binding == *binding;
                registered
                    .iter()
                    .filter(of_binding)
                    .find(|acs| acs.is_default)
                    .or_else(|| registered.iter().find(of_binding))
            })
            .ok_or_else(|| SsoRefusal::UnregisteredAcs("no endpoint of a usable binding is registered".into()))?,
    };
    if !answered_by.contains(&chosen.binding) {
        return Err(SsoRefusal::UnsupportedBinding(chosen.binding.uri().to_string()));
    }
    Ok(chosen.url.clone())
}

/// What a RequestedAuthnContext asks for (core §3.3.2.2.1). `exact` and `minimum` are met by a
/// listed class; `better` needs something stronger than one of them (a second factor beats a
/// password; nothing here beats multipleauthn); `maximum` is met by a password.
fn requested_context(classes: &[String], comparison: Option<&str>) -> RequestedContext {
    if classes.is_empty() {
        return RequestedContext::Any;
    }
    let mfa = classes.iter().any(|c| c == MULTIPLE_AUTHN || c == WIA_OR_MULTI);
    let password =
        classes.iter().any(|c| c == PASSWORD_PROTECTED_TRANSPORT || c == PASSWORD || c == UNSPECIFIED_CONTEXT);
    match comparison.map(str::trim).unwrap_or("exact") {
        "better" if password => RequestedContext::Mfa,
        "better" => RequestedContext::Unsatisfiable,
        "maximum" if password => RequestedContext::Any,
        _ if mfa => RequestedContext::Mfa,
        _ if password => RequestedContext::Any,
        _ => RequestedContext::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acs(url: &str, index: u16, is_default: bool) -> AcsEndpoint {
        AcsEndpoint { url: url.into(), binding: SamlBinding::HttpPost, index, is_default }
    }

    fn request(acs_url: Option<&str>, acs_index: Option<u16>) -> AuthnRequest {
        AuthnRequest {
            id: "_r".into(),
            issue_instant: "2026-01-01T00:00:00Z".into(),
            issuer: "sp".into(),
            destination: None,
            acs_url: acs_url.map(str::to_string),
            acs_index,
            protocol_binding: None,
            force_authn: false,
            is_passive: false,
            name_id_format: None,
            requested_authn_contexts: vec![],
            authn_context_comparison: None,
            signed: false,
        }
    }

    fn resolve_acs_post(request: &AuthnRequest, registered: &[AcsEndpoint]) -> Result<String, SsoRefusal> {
        resolve_acs(request, registered, BROWSER_ANSWERS)
    }

    #[test]
    fn an_ecp_answer_prefers_a_paos_acs_and_takes_a_post_one_by_name() {
        let paos = AcsEndpoint { binding: SamlBinding::Paos, ..acs("https://sp.example.com/ecp", 2, false) };
        let registered = [acs("https://sp.example.com/acs", 1, true), paos];
        assert_eq!(resolve_acs(&request(None, None), &registered, ECP_ANSWERS).unwrap(), "https://sp.example.com/ecp");
        assert_eq!(
            resolve_acs(&request(Some("https://sp.example.com/acs"), None), &registered, ENTRA_ECP_ANSWERS).unwrap(),
            "https://sp.example.com/acs"
        );
        assert!(matches!(
            resolve_acs(&request(Some("https://sp.example.com/acs"), None), &registered, ECP_ANSWERS),
            Err(SsoRefusal::UnregisteredAcs(_))
        ));
        let browser_only = [acs("https://sp.example.com/acs", 1, true)];
        assert!(resolve_acs(&request(None, None), &browser_only, ECP_ANSWERS).is_err(), "no PAOS ACS, no ECP");
        assert!(matches!(
            resolve_acs(&request(None, Some(2)), &registered, BROWSER_ANSWERS),
            Err(SsoRefusal::UnsupportedBinding(_))
        ));
        assert!(resolve_acs(&request(Some("https://evil.example/ecp"), None), &registered, ECP_ANSWERS).is_err());
    }

    #[test]
    fn only_entra_itself_is_answered_over_ecp_at_a_browser_acs() {
        let registered = [acs("https://login.microsoftonline.com/login.srf", 0, true)];
        let xml = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_e" IssueInstant="2026-01-01T00:00:00Z" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer></samlp:AuthnRequest>"#;
        let sp = |entra| RegisteredSp {
            entity_id: "urn:federation:MicrosoftOnline",
            acs: &registered,
            require_signed_requests: false,
            key: None,
            allow_sha1: false,
            name_id_format: NAMEID_UNSPECIFIED,
            entra,
        };
        let now = parse_rfc3339_millis("2026-01-01T00:00:00Z").unwrap();
        let ecp = Binding::Soap { authn_request: xml };
        let entra = accept_authn_request(ecp, &sp(true), "https://idp.example.com/ecp", now, 1000).unwrap();
        assert_eq!(entra.acs_url, "https://login.microsoftonline.com/login.srf");
        // An SP that names itself as Entra is still only answered at a PAOS ACS.
        assert!(matches!(
            accept_authn_request(ecp, &sp(false), "https://idp.example.com/ecp", now, 1000),
            Err(SsoRefusal::UnregisteredAcs(_))
        ));
    }

    #[test]
    fn acs_is_the_default_the_index_or_an_exact_registered_url() {
        let registered = [acs("https://sp.example.com/acs", 1, false), acs("https://sp.example.com/acs2", 0, true)];
        assert_eq!(resolve_acs_post(&request(None, None), &registered).unwrap(), "https://sp.example.com/acs2");
        assert_eq!(resolve_acs_post(&request(None, Some(1)), &registered).unwrap(), "https://sp.example.com/acs");
        assert_eq!(
            resolve_acs_post(&request(Some("HTTPS://SP.example.com/acs"), None), &registered).unwrap(),
            "https://sp.example.com/acs"
        );
        for forged in [
            "https://evil.example/acs",
            "https://sp.example.com/ACS",
            "https://sp.example.com/acs/",
            "https://sp.example.com/acs?x",
            "https://sp.example.com/%2e%2e/acs",
            "https://sp.example.com@evil.example/acs",
            "javascript:alert(1)",
        ] {
            assert!(
                matches!(
                    resolve_acs_post(&request(Some(forged), None), &registered),
                    Err(SsoRefusal::UnregisteredAcs(_))
                ),
                "{forged}"
            );
        }
        assert!(resolve_acs_post(&request(None, Some(7)), &registered).is_err());
        assert!(resolve_acs_post(&request(Some("https://sp.example.com/acs"), Some(1)), &registered).is_err());
    }

    #[test]
    fn clip_bounds_sender_text() {
        assert_eq!(clip("short"), "short");
        let long = clip(&"é".repeat(10_000));
        assert_eq!(long.chars().count(), 129);
    }

    #[test]
    fn requested_contexts() {
        let classes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(requested_context(&[], None), RequestedContext::Any);
        assert_eq!(requested_context(&classes(&[PASSWORD_PROTECTED_TRANSPORT]), None), RequestedContext::Any);
        assert_eq!(requested_context(&classes(&[MULTIPLE_AUTHN]), Some("exact")), RequestedContext::Mfa);
        assert_eq!(
            requested_context(&classes(&["urn:oasis:names:tc:SAML:2.0:ac:classes:X509"]), None),
            RequestedContext::Unsatisfiable
        );
        assert_eq!(requested_context(&classes(&[PASSWORD_PROTECTED_TRANSPORT]), Some("better")), RequestedContext::Mfa);
        assert_eq!(requested_context(&classes(&[MULTIPLE_AUTHN]), Some("better")), RequestedContext::Unsatisfiable);
        assert_eq!(
            requested_context(&classes(&[PASSWORD_PROTECTED_TRANSPORT, MULTIPLE_AUTHN]), Some("maximum")),
            RequestedContext::Any
        );
    }
}
