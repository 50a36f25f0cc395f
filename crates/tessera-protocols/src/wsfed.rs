//! WS-Federation passive requests (`wsignin1.0`, `wsignout1.0`, `wsignoutcleanup1.0`) and the
//! federation metadata document, as Entra ID uses them (M365-PROTOCOLS.md §2).

use tessera_core::policy::Demand;
use tessera_xml::XmlError;
use tessera_xml::writer::Element;

use crate::saml2::METADATA_NS;
use crate::saml2::idp_metadata::key_descriptor;
use crate::saml11::{TOKEN_TYPE, TRUST_13_NS, TRUST_2005_NS, WSA_NS};

pub const FED_NS: &str = "http://docs.oasis-open.org/wsfed/federation/200706";
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const AUTH_NS: &str = "http://docs.oasis-open.org/wsfed/authorization/200706";

/// `wauth` values that ask for a password (what Entra sends for `prompt=login`).
const PASSWORD_METHODS: [&str; 3] = [
    "urn:oasis:names:tc:SAML:1.0:am:password",
    "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
];
/// `wauth` values that ask for a second factor (`enforceMfaByFederatedIdp`).
const MFA_METHODS: [&str; 2] =
    ["http://schemas.microsoft.com/claims/multipleauthn", "http://schemas.microsoft.com/claims/wiaormultiauthn"];

/// The longest `wctx` accepted. Entra's (`LoginOptions=3&estsredirect=2&estsrequest=…`) runs to
/// a few kilobytes; it is echoed into a page, so it is bounded.
pub const MAX_CONTEXT: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassiveRequest {
    SignIn(SignInRequest),
    /// `wsignout1.0` (a relying party signs the user out) or `wsignoutcleanup1.0` (the
    /// session is to be cleaned up); both end the session.
    SignOut {
        reply: Option<String>,
        cleanup: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRequest {
    pub realm: String,
    /// `wctx`, echoed byte for byte.
    pub context: Option<String>,
    pub reply: Option<String>,
    /// `username`: pre-fills the sign-in form.
    pub login_hint: Option<String>,
    /// `wfresh=0`, `prompt=login` or a password `wauth`: the user signs in again.
    pub fresh: bool,
    /// `wfresh=N` (minutes): a sign-in older than this is not good enough.
    pub max_age_ms: Option<i64>,
    /// A `wauth` asking for a second factor.
    pub mfa: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsFedRefusal {
    #[error("the request is malformed: {0}")]
    Malformed(String),
    #[error("unsupported WS-Federation action {0:?}")]
    UnknownAction(String),
    #[error("the realm {0:?} is not a relying party of this application")]
    UnknownRealm(String),
    #[error("the reply address {0:?} is not registered for this relying party")]
    UnregisteredReply(String),
    #[error("the requested authentication method {0:?} is not one this identity provider offers")]
    UnsupportedMethod(String),
}

impl WsFedRefusal {
    /// A stable code for audit records.
    pub fn code(&self) -> &'static str {
        match self {
            WsFedRefusal::Malformed(_) => "malformed",
            WsFedRefusal::UnknownAction(_) => "unknown_action",
            WsFedRefusal::UnknownRealm(_) => "unknown_realm",
            WsFedRefusal::UnregisteredReply(_) => "unregistered_reply",
            WsFedRefusal::UnsupportedMethod(_) => "unsupported_method",
        }
    }
}

fn malformed(message: impl Into<String>) -> WsFedRefusal {
    WsFedRefusal::Malformed(message.into())
}

/// Reads a passive request from its decoded query parameters. A parameter given twice is
/// refused: which of the two counts would be a guess an attacker could exploit.
pub fn parse_passive(params: &[(String, String)]) -> Result<PassiveRequest, WsFedRefusal> {
    let mut seen = std::collections::HashSet::new();
    for (name, _) in params {
        if !seen.insert(name.as_str()) {
            return Err(malformed(format!(
                "the parameter {:?} is given more than once",
                crate::saml2::sso::clip(name)
            )));
        }
    }
    let get = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let non_empty = |name: &str| get(name).filter(|v| !v.is_empty()).map(str::to_string);
    let reply = non_empty("wreply");
    match get("wa") {
        Some("wsignin1.0") => {}
        Some("wsignout1.0") => return Ok(PassiveRequest::SignOut { reply, cleanup: false }),
        Some("wsignoutcleanup1.0") => return Ok(PassiveRequest::SignOut { reply, cleanup: true }),
        Some(other) => return Err(WsFedRefusal::UnknownAction(crate::saml2::sso::clip(other))),
        None => return Err(malformed("the wa parameter is missing")),
    }
    let realm = non_empty("wtrealm").ok_or_else(|| malformed("the wtrealm parameter is missing"))?;
    let context = get("wctx").map(str::to_string);
    if context.as_ref().is_some_and(|c| c.len() > MAX_CONTEXT) {
        return Err(malformed(format!("wctx is longer than {MAX_CONTEXT} bytes")));
    }
    let mut request = SignInRequest {
        realm,
        context,
        reply,
        login_hint: non_empty("username").filter(|u| u.len() <= 256),
        fresh: get("prompt").is_some_and(|p| p.eq_ignore_ascii_case("login")),
        max_age_ms: None,
        mfa: false,
    };
    match get("wfresh").map(str::trim).filter(|v| !v.is_empty()) {
        None => {}
        Some(minutes) => match minutes.parse::<u32>() {
            Ok(0) => request.fresh = true,
            Ok(minutes) => request.max_age_ms = Some(i64::from(minutes) * 60_000),
            Err(_) => {
                return Err(malformed(format!(
                    "wfresh {:?} is not a number of minutes",
                    crate::saml2::sso::clip(minutes)
                )));
            }
        },
    }
    match get("wauth").filter(|v| !v.is_empty()) {
        None => {}
        Some(method) if PASSWORD_METHODS.contains(&method) => request.fresh = true,
        Some(method) if MFA_METHODS.contains(&method) => request.mfa = true,
        Some(other) => return Err(WsFedRefusal::UnsupportedMethod(crate::saml2::sso::clip(other))),
    }
    Ok(PassiveRequest::SignIn(request))
}

/// Reads a passive request from its raw query string.
pub fn parse_passive_query(raw_query: &str) -> Result<PassiveRequest, WsFedRefusal> {
    let params = crate::percent::decode_query(raw_query).map_err(|e| malformed(e.to_string()))?;
    parse_passive(&params)
}

impl SignInRequest {
    /// What the request demands of the sign-in.
    pub fn demand(&self) -> Demand {
        Demand { fresh: self.fresh, max_age_ms: self.max_age_ms, mfa: self.mfa, passive: false }
    }
}

/// How a passive sign-in is answered once its user has signed in: the realm the token is for,
/// the registered address it is posted to, and the `wctx` it echoes. Kept (serialized) while
/// the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WsFedReply {
    pub realm: String,
    pub reply_to: String,
    pub context: Option<String>,
}

/// The realm a relying party signs in with, and the reply addresses registered for it (the
/// first is the default): Entra's for a Microsoft 365 connector; none for other kinds.
pub fn registration(app: &tessera_core::Application) -> (&str, Vec<&str>) {
    use tessera_core::AppKind;
    match &app.kind {
        AppKind::M365(_) => (tessera_core::app::ENTRA_RELYING_PARTY, vec![crate::saml2::response::ENTRA_ACS]),
        AppKind::WsFed(c) => (c.realm.as_str(), c.reply_urls.iter().map(String::as_str).collect()),
        _ => ("", Vec::new()),
    }
}

/// Checks a sign-in against the relying party's registration: its realm, and the reply
/// address, which is used only if it equals a registered one. Returns where the answer goes.
pub fn accept_sign_in(request: &SignInRequest, realm: &str, replies: &[&str]) -> Result<String, WsFedRefusal> {
    if request.realm != realm {
        return Err(WsFedRefusal::UnknownRealm(crate::saml2::sso::clip(&request.realm)));
    }
    match &request.reply {
        None => replies.first().map(|r| r.to_string()).ok_or_else(|| WsFedRefusal::UnregisteredReply(String::new())),
        Some(reply) => match replies.iter().find(|r| same_url(r, reply)) {
            Some(registered) => Ok(registered.to_string()),
            None => Err(WsFedRefusal::UnregisteredReply(crate::saml2::sso::clip(reply))),
        },
    }
}

/// Whether a reply address names a registered one: scheme and host compare without case,
/// everything else byte for byte.
pub fn same_url(registered: &str, given: &str) -> bool {
    let split = |url: &str| -> Option<(String, String)> {
        let (scheme, rest) = url.split_once("://")?;
        let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Some((
            format!("{}://{}", scheme.to_ascii_lowercase(), rest[..cut].to_ascii_lowercase()),
            rest[cut..].to_string(),
        ))
    };
    matches!((split(registered), split(given)), (Some(a), Some(b)) if a == b)
}

/// The claims Tessera's tokens for Entra ID carry, for the metadata.
pub const OFFERED_CLAIMS: [(&str, &str); 3] = [
    ("http://schemas.xmlsoap.org/claims/UPN", "UPN"),
    ("http://schemas.microsoft.com/LiveID/Federation/2008/05/ImmutableID", "ImmutableID"),
    ("http://schemas.microsoft.com/claims/authnmethodsreferences", "Authentication methods references"),
];

/// The federation metadata of a Microsoft 365 connector, with the endpoints of `public_url`.
pub fn for_application(app: &tessera_core::Application, public_url: &str) -> Result<String, crate::ProtocolError> {
    use base64::Engine;
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let endpoints = app.endpoints(public_url);
    let (Some(issuer), Some(passive)) = (&app.issuer, endpoints.wsfed_passive) else {
        return Err(crate::ProtocolError::metadata(format!(
            "{} does not sign in with WS-Federation, so it has no federation metadata",
            app.label
        )));
    };
    let current = app
        .certificates
        .current
        .as_deref()
        .map(b64)
        .ok_or_else(|| crate::ProtocolError::metadata(format!("{} has no signing certificate", app.label)))?;
    let next = app.certificates.next.as_deref().map(b64);
    let mut certificates = vec![current.as_str()];
    certificates.extend(next.as_deref());
    Ok(build_federation_metadata(&FederationMetadata {
        entity_id: issuer,
        passive_url: &passive,
        sts_url: endpoints.wstrust_13_usernamemixed.as_deref(),
        saml: endpoints.saml_sso.as_deref().zip(endpoints.saml_slo.as_deref()),
        signing_certificates: certificates,
        claims: match &app.kind {
            tessera_core::AppKind::M365(_) => OFFERED_CLAIMS.to_vec(),
            _ => Vec::new(),
        },
    })?)
}

/// What the federation metadata describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationMetadata<'a> {
    pub entity_id: &'a str,
    pub passive_url: &'a str,
    /// The WS-Trust endpoint active clients use, where there is one.
    pub sts_url: Option<&'a str>,
    /// The SAML 2.0 SSO and SLO endpoints, for an app that also speaks SAML.
    pub saml: Option<(&'a str, &'a str)>,
    /// Base64 DER, current then the staged next one.
    pub signing_certificates: Vec<&'a str>,
    /// Claim type URIs and display names the tokens carry.
    pub claims: Vec<(&'a str, &'a str)>,
}

fn endpoint_reference(local: &'static str, address: &str) -> Element {
    Element::new(FED_NS, "fed", local).child(
        Element::new(WSA_NS, "wsa", "EndpointReference").child(Element::new(WSA_NS, "wsa", "Address").text(address)),
    )
}

/// The `FederationMetadata.xml` document (WS-Federation 1.2 over SAML 2.0 metadata): a
/// security token service role with the passive and WS-Trust endpoints and the signing keys,
/// and the SAML 2.0 IdP role, as AD FS publishes for the same trust.
pub fn build_federation_metadata(m: &FederationMetadata<'_>) -> Result<String, XmlError> {
    let mut sts = Element::new(METADATA_NS, "md", "RoleDescriptor")
        .declare("xsi", XSI_NS)
        .declare("fed", FED_NS)
        .ns_attr(XSI_NS, "xsi", "type", "fed:SecurityTokenServiceType")
        .attr("protocolSupportEnumeration", format!("{TRUST_13_NS} {TRUST_2005_NS} {FED_NS}"));
    for certificate in &m.signing_certificates {
        sts = sts.child(key_descriptor(certificate));
    }
    let mut claims = Element::new(FED_NS, "fed", "ClaimTypesOffered");
    for (uri, name) in &m.claims {
        claims = claims.child(
            Element::new(AUTH_NS, "auth", "ClaimType")
                .attr("Uri", *uri)
                .attr("Optional", "true")
                .child(Element::new(AUTH_NS, "auth", "DisplayName").text(*name)),
        );
    }
    sts = sts
        .child(
            Element::new(FED_NS, "fed", "TokenTypesOffered")
                .child(Element::new(FED_NS, "fed", "TokenType").attr("Uri", TOKEN_TYPE)),
        )
        .child(claims);
    if let Some(sts_url) = m.sts_url {
        sts = sts.child(endpoint_reference("SecurityTokenServiceEndpoint", sts_url));
    }
    sts = sts.child(endpoint_reference("PassiveRequestorEndpoint", m.passive_url));
    let entity = Element::new(METADATA_NS, "md", "EntityDescriptor").attr("entityID", m.entity_id).child(sts);
    let entity = match m.saml {
        Some((sso, slo)) => entity.child(idp_descriptor(&m.signing_certificates, sso, slo)),
        None => entity,
    };
    Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n", entity.to_document()?))
}

fn idp_descriptor(certificates: &[&str], saml_sso_url: &str, saml_slo_url: &str) -> Element {
    let mut idp = Element::new(METADATA_NS, "md", "IDPSSODescriptor")
        .attr("protocolSupportEnumeration", crate::saml2::PROTOCOL_NS);
    for certificate in certificates {
        idp = idp.child(key_descriptor(certificate));
    }
    for binding in [tessera_core::SamlBinding::HttpRedirect, tessera_core::SamlBinding::HttpPost] {
        idp = idp.child(
            Element::new(METADATA_NS, "md", "SingleLogoutService")
                .attr("Binding", binding.uri())
                .attr("Location", saml_slo_url),
        );
    }
    idp = idp.child(Element::new(METADATA_NS, "md", "NameIDFormat").text(tessera_core::app::NAMEID_PERSISTENT));
    for binding in [tessera_core::SamlBinding::HttpRedirect, tessera_core::SamlBinding::HttpPost] {
        idp = idp.child(
            Element::new(METADATA_NS, "md", "SingleSignOnService")
                .attr("Binding", binding.uri())
                .attr("Location", saml_sso_url),
        );
    }
    idp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn sign_in(query: &[(&str, &str)]) -> Result<SignInRequest, WsFedRefusal> {
        match parse_passive(&params(query))? {
            PassiveRequest::SignIn(request) => Ok(request),
            other => panic!("{other:?}"),
        }
    }

    const REALM: (&str, &str) = ("wtrealm", "urn:federation:MicrosoftOnline");

    #[test]
    fn entra_sign_in_keeps_wctx_byte_for_byte() {
        let wctx = "LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAjZI9b+0wFEU=%2B &amp;<x>";
        let request =
            sign_in(&[("wa", "wsignin1.0"), REALM, ("wctx", wctx), ("username", "alice@contoso.com")]).unwrap();
        assert_eq!(request.context.as_deref(), Some(wctx));
        assert_eq!(request.login_hint.as_deref(), Some("alice@contoso.com"));
        assert!(!request.fresh && !request.mfa && request.max_age_ms.is_none());
        assert_eq!(
            accept_sign_in(
                &request,
                "urn:federation:MicrosoftOnline",
                &["https://login.microsoftonline.com/login.srf"]
            ),
            Ok("https://login.microsoftonline.com/login.srf".to_string())
        );
    }

    #[test]
    fn prompt_login_wfresh_and_password_wauth_force_a_fresh_sign_in() {
        let password = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password";
        for extra in [("wfresh", "0"), ("prompt", "login"), ("wauth", password)] {
            assert!(sign_in(&[("wa", "wsignin1.0"), REALM, extra]).unwrap().fresh, "{extra:?}");
        }
        assert_eq!(sign_in(&[("wa", "wsignin1.0"), REALM, ("wfresh", "5")]).unwrap().max_age_ms, Some(300_000));
        let mfa =
            sign_in(&[("wa", "wsignin1.0"), REALM, ("wauth", "http://schemas.microsoft.com/claims/multipleauthn")]);
        assert!(mfa.unwrap().mfa);
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let refused = |query: &[(&str, &str)]| parse_passive(&params(query)).unwrap_err().code();
        assert_eq!(refused(&[REALM]), "malformed");
        assert_eq!(refused(&[("wa", "wattr1.0"), REALM]), "unknown_action");
        assert_eq!(refused(&[("wa", "wsignin1.0")]), "malformed");
        assert_eq!(refused(&[("wa", "wsignin1.0"), REALM, REALM]), "malformed");
        assert_eq!(refused(&[("wa", "wsignin1.0"), REALM, ("wfresh", "soon")]), "malformed");
        assert_eq!(
            refused(&[("wa", "wsignin1.0"), REALM, ("wauth", "urn:federation:authentication:windows")]),
            "unsupported_method"
        );
        let long = "x".repeat(MAX_CONTEXT + 1);
        assert_eq!(refused(&[("wa", "wsignin1.0"), REALM, ("wctx", &long)]), "malformed");
    }

    #[test]
    fn only_the_registered_realm_and_replies_are_used() {
        let replies = ["https://login.microsoftonline.com/login.srf"];
        let other_realm = sign_in(&[("wa", "wsignin1.0"), ("wtrealm", "urn:evil")]).unwrap();
        assert_eq!(accept_sign_in(&other_realm, REALM.1, &replies).unwrap_err().code(), "unknown_realm");
        for (reply, ok) in [
            ("https://LOGIN.microsoftonline.com/login.srf", true),
            ("https://login.microsoftonline.com/login.srf?x=1", false),
            ("https://login.microsoftonline.com.evil.example/login.srf", false),
            ("javascript:alert(1)", false),
            ("http://login.microsoftonline.com/login.srf", false),
        ] {
            let request = sign_in(&[("wa", "wsignin1.0"), REALM, ("wreply", reply)]).unwrap();
            assert_eq!(accept_sign_in(&request, REALM.1, &replies).is_ok(), ok, "{reply}");
        }
    }

    #[test]
    fn sign_out_and_cleanup() {
        assert_eq!(
            parse_passive(&params(&[("wa", "wsignout1.0"), ("wreply", "https://rp/")])).unwrap(),
            PassiveRequest::SignOut { reply: Some("https://rp/".into()), cleanup: false }
        );
        assert_eq!(
            parse_passive(&params(&[("wa", "wsignoutcleanup1.0")])).unwrap(),
            PassiveRequest::SignOut { reply: None, cleanup: true }
        );
    }
}
