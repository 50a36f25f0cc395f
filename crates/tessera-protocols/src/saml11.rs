//! SAML 1.1 assertions, the token WS-Federation and WS-Trust carry to Entra ID
//! (M365-PROTOCOLS.md §2.3), and the WS-Trust responses that wrap them.

use tessera_core::policy::AuthnContext;
use tessera_core::{UnixMillis, User, format_millis};
use tessera_xml::writer::Element;
use tessera_xml::{CanonicalText, Signer, XmlError, signed_text};

pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
/// The TokenType of a SAML 1.1 assertion, in every WS-Trust version.
pub const TOKEN_TYPE: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:1.0:cm:bearer";
pub const AM_PASSWORD: &str = "urn:oasis:names:tc:SAML:1.0:am:password";
pub const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";
/// Windows integrated sign-in (Kerberos), as AD FS names it.
pub const AM_WINDOWS: &str = "urn:federation:authentication:windows";
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const CLAIMS_NS: &str = "http://schemas.xmlsoap.org/claims";
pub const LIVEID_NS: &str = "http://schemas.microsoft.com/LiveID/Federation/2008/05";
pub const ACCOUNT_TYPE_NS: &str = "http://schemas.microsoft.com/ws/2012/01";
/// Where `authnmethodsreferences` lives (AD FS's pass-through of the MFA claim).
pub const MS_CLAIMS_NS: &str = "http://schemas.microsoft.com/claims";

pub const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const WSP_NS: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
pub const TRUST_2005_NS: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
pub const TRUST_13_NS: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";

/// One claim: the attribute's namespace, its name and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub value: String,
}

impl Claim {
    /// A claim from a claim type URI (`http://schemas.xmlsoap.org/claims/Group`), split as
    /// AD FS does at the last `/`; a bare name goes under `http://schemas.xmlsoap.org/claims`.
    pub fn from_type(claim_type: &str, value: impl Into<String>) -> Claim {
        let (namespace, name) = match claim_type.rsplit_once('/') {
            Some((namespace, name)) if !namespace.is_empty() && !name.is_empty() => (namespace, name),
            _ => (CLAIMS_NS, claim_type),
        };
        Claim { namespace: namespace.into(), name: name.into(), value: value.into() }
    }
}

/// The application's mapped attributes for `user`, as claims (the name a claim type).
pub fn mapped_claims(app: &tessera_core::Application, user: &User) -> Vec<Claim> {
    crate::claims::mapped_attributes(app, user)
        .into_iter()
        .map(|(name, value)| Claim::from_type(&name, value))
        .collect()
}

/// Everything a SAML 1.1 assertion says. The id comes from the caller (no I/O here); it must
/// be an NCName, e.g. `_` and a UUID.
#[derive(Debug, Clone)]
pub struct AssertionParams<'a> {
    pub assertion_id: &'a str,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub name_identifier: &'a str,
    pub name_identifier_format: &'a str,
    /// In order, after which `authnmethodsreferences` is added when MFA was shown.
    pub claims: Vec<Claim>,
    pub authentication_method: &'a str,
    pub authentication_instant: UnixMillis,
    pub mfa: bool,
    pub now: UnixMillis,
    pub lifetime_ms: i64,
    /// How far back NotBefore reaches, for relying parties whose clocks run slow.
    pub clock_skew_ms: i64,
}

impl AssertionParams<'_> {
    pub fn not_before(&self) -> UnixMillis {
        self.now - self.clock_skew_ms
    }

    pub fn not_on_or_after(&self) -> UnixMillis {
        self.now + self.lifetime_ms
    }
}

/// The token Entra ID takes for `user` (M365-PROTOCOLS.md §2.3): NameIdentifier = ImmutableID,
/// the UPN and ImmutableID claims, then `extra`, audience `urn:federation:MicrosoftOnline`.
pub fn m365_params<'a>(
    user: &'a User,
    issuer: &'a str,
    extra: Vec<Claim>,
    authn: &AuthnContext,
    assertion_id: &'a str,
    now: UnixMillis,
) -> AssertionParams<'a> {
    let mut claims = vec![
        Claim { namespace: CLAIMS_NS.into(), name: "UPN".into(), value: user.upn.clone() },
        Claim { namespace: LIVEID_NS.into(), name: "ImmutableID".into(), value: user.immutable_id.clone() },
        // What Entra Connect's rules issue for a user (a domain-joined computer would be `DJ`).
        Claim { namespace: ACCOUNT_TYPE_NS.into(), name: "accounttype".into(), value: "User".into() },
    ];
    claims.extend(extra);
    entra_params(&user.immutable_id, issuer, claims, authn, assertion_id, now)
}

/// A token for Entra ID: NameIdentifier `name_id` (the ImmutableID), audience Entra.
fn entra_params<'a>(
    name_id: &'a str,
    issuer: &'a str,
    claims: Vec<Claim>,
    authn: &AuthnContext,
    assertion_id: &'a str,
    now: UnixMillis,
) -> AssertionParams<'a> {
    let entra = tessera_core::app::ENTRA_RELYING_PARTY;
    relying_party_params(name_id, false, issuer, entra, claims, authn, assertion_id, now)
}

/// Where AD FS's `primarysid` and `issuerid` claims live.
pub const IDENTITY_CLAIMS_NS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims";
/// Where `onpremobjectguid` lives.
pub const DEVICE_CLAIMS_NS: &str = "http://schemas.microsoft.com/identity/claims";

/// The hybrid join token of a domain-joined computer (M365-PROTOCOLS.md §8 item 24, the claims
/// Microsoft's "configure hybrid join manually" rules issue): NameIdentifier and ImmutableID the
/// computer's objectGUID (base64), `accounttype` `DJ`, `onpremobjectguid`, `primarysid`, and
/// `issuerid` (the domain's issuer) when `issuer_id` is given, as it is with more than one
/// federated domain. No UPN: a computer has none.
pub fn m365_device_params<'a>(
    computer: &'a tessera_core::computers::DomainComputer,
    issuer: &'a str,
    issuer_id: Option<&str>,
    extra: Vec<Claim>,
    authn: &AuthnContext,
    assertion_id: &'a str,
    now: UnixMillis,
) -> AssertionParams<'a> {
    let claim = |namespace: &str, name: &str, value: &str| Claim {
        namespace: namespace.into(),
        name: name.into(),
        value: value.into(),
    };
    let mut claims = vec![
        claim(LIVEID_NS, "ImmutableID", &computer.object_guid),
        claim(ACCOUNT_TYPE_NS, "accounttype", "DJ"),
        claim(DEVICE_CLAIMS_NS, "onpremobjectguid", &computer.object_guid),
        claim(IDENTITY_CLAIMS_NS, "primarysid", &computer.sid),
    ];
    claims.extend(issuer_id.map(|id| claim(IDENTITY_CLAIMS_NS, "issuerid", id)));
    claims.extend(extra);
    entra_params(&computer.object_guid, issuer, claims, authn, assertion_id, now)
}

/// The token a WS-Federation relying party gets: audience its realm, NameIdentifier from its
/// registered source (the email format when that is the email), its mapped claims.
#[allow(clippy::too_many_arguments)] // one argument per value the token carries
pub fn relying_party_params<'a>(
    name_identifier: &'a str,
    email_format: bool,
    issuer: &'a str,
    realm: &'a str,
    claims: Vec<Claim>,
    authn: &AuthnContext,
    assertion_id: &'a str,
    now: UnixMillis,
) -> AssertionParams<'a> {
    let mfa = authn.mfa_done();
    AssertionParams {
        assertion_id,
        issuer,
        audience: realm,
        name_identifier,
        name_identifier_format: if email_format { NAMEID_EMAIL } else { NAMEID_UNSPECIFIED },
        claims,
        authentication_method: authentication_method(authn),
        authentication_instant: authn.authenticated_at().unwrap_or(now),
        mfa,
        now,
        lifetime_ms: 60 * 60 * 1000,
        clock_skew_ms: 60 * 1000,
    }
}

/// AD FS's `insidecorporatenetwork` claim (`http://schemas.microsoft.com/ws/2012/01/`): whether
/// the sign-in came from the organization's own networks, which Entra's Conditional Access reads
/// as a trusted location.
pub fn inside_corporate_network(inside: bool) -> Claim {
    Claim {
        namespace: ACCOUNT_TYPE_NS.into(),
        name: "insidecorporatenetwork".into(),
        value: if inside { "true" } else { "false" }.into(),
    }
}

/// How close to expiry a password must be for AD FS to send its expiry claims.
pub const PASSWORD_EXPIRY_WINDOW_MS: i64 = 14 * 24 * 60 * 60 * 1000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// AD FS's password-expiry claims (`http://schemas.microsoft.com/ws/2012/01/`), which Outlook and
/// Exchange Online turn into a "your password expires in N days" notice: when the password
/// expires, in how many whole days, and where to change it. Sent, as AD FS does, only when the
/// password expires within 14 days (and has not yet).
pub fn password_expiry_claims(expires_at: UnixMillis, now: UnixMillis, change_url: &str) -> Vec<Claim> {
    if expires_at <= now || expires_at - now > PASSWORD_EXPIRY_WINDOW_MS {
        return Vec::new();
    }
    let claim = |name: &str, value: String| Claim { namespace: ACCOUNT_TYPE_NS.into(), name: name.into(), value };
    vec![
        claim("passwordexpirationtime", format_millis(expires_at)),
        claim("passwordexpirationdays", ((expires_at - now) / DAY_MS).to_string()),
        claim("passwordchangeurl", change_url.to_string()),
    ]
}

/// The AuthenticationMethod of a token: `multipleauthn` when a second factor was shown, else
/// how the user signed in (Windows integrated sign-in, or a password).
pub fn authentication_method(authn: &AuthnContext) -> &'static str {
    if authn.mfa_done() {
        MULTIPLE_AUTHN
    } else if authn.windows_done() {
        AM_WINDOWS
    } else {
        AM_PASSWORD
    }
}

/// The signed assertion (RSA-SHA256, exc-c14n, the signature its last child), as a US-ASCII
/// document with no XML declaration, ready to be placed verbatim inside a response. Written as
/// canonical text from fixed markup ([`CanonicalText`]) rather than built as elements and
/// serialized: the test `the_text_of_an_assertion_is_the_assertion_its_elements_write` holds
/// it to the bytes the element tree of the same assertion writes.
pub fn build_assertion(p: &AssertionParams<'_>, signer: &dyn Signer) -> Result<String, XmlError> {
    let signed = signed_text(assertion_text(p), p.assertion_id, signer)?;
    Ok(tessera_xml::writer::ascii_document(signed))
}

/// The claim a token carries after the others when a second factor was shown.
fn mfa_claim() -> Claim {
    Claim { namespace: MS_CLAIMS_NS.into(), name: "authnmethodsreferences".into(), value: MULTIPLE_AUTHN.into() }
}

/// The assertion's canonical text, its Signature's place marked (its last child).
fn assertion_text(p: &AssertionParams<'_>) -> CanonicalText {
    let mut out = CanonicalText::with_capacity(4096);
    // Unprefixed attributes in c14n's order: by name.
    out.markup(concat!(
        r#"<saml:Assertion xmlns:saml=""#,
        "urn:oasis:names:tc:SAML:1.0:assertion",
        r#"" AssertionID=""#
    ))
    .attribute_value(p.assertion_id)
    .markup(r#"" IssueInstant=""#)
    .attribute_value(&format_millis(p.now))
    .markup(r#"" Issuer=""#)
    .attribute_value(p.issuer)
    .markup(r#"" MajorVersion="1" MinorVersion="1"><saml:Conditions NotBefore=""#)
    .attribute_value(&format_millis(p.not_before()))
    .markup(r#"" NotOnOrAfter=""#)
    .attribute_value(&format_millis(p.not_on_or_after()))
    .markup(r#""><saml:AudienceRestrictionCondition><saml:Audience>"#)
    .text(p.audience)
    .markup("</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions><saml:AttributeStatement>");
    subject_text(&mut out, p);
    let mfa_claim = mfa_claim();
    for claim in p.claims.iter().chain(p.mfa.then_some(&mfa_claim)) {
        out.markup(r#"<saml:Attribute AttributeName=""#)
            .attribute_value(&claim.name)
            .markup(r#"" AttributeNamespace=""#)
            .attribute_value(&claim.namespace)
            .markup(r#""><saml:AttributeValue>"#)
            .text(&claim.value)
            .markup("</saml:AttributeValue></saml:Attribute>");
    }
    out.markup(r#"</saml:AttributeStatement><saml:AuthenticationStatement AuthenticationInstant=""#)
        .attribute_value(&format_millis(p.authentication_instant))
        .markup(r#"" AuthenticationMethod=""#)
        .attribute_value(p.authentication_method)
        .markup(r#"">"#);
    subject_text(&mut out, p);
    out.markup("</saml:AuthenticationStatement>").signature_here().markup("</saml:Assertion>");
    out
}

/// The Subject's text (the assertion carries it twice).
fn subject_text(out: &mut CanonicalText, p: &AssertionParams<'_>) {
    out.markup(r#"<saml:Subject><saml:NameIdentifier Format=""#)
        .attribute_value(p.name_identifier_format)
        .markup(r#"">"#)
        .text(p.name_identifier)
        .markup(concat!(
            "</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>",
            "urn:oasis:names:tc:SAML:1.0:cm:bearer",
            "</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>"
        ));
}

/// Which WS-Trust a response speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustVersion {
    /// WS-Trust February 2005 (`http://schemas.xmlsoap.org/ws/2005/02/trust`): WS-Federation
    /// passive `wresult`, and the 2005 usernamemixed endpoint.
    Feb2005,
    /// WS-Trust 1.3: a RequestSecurityTokenResponseCollection (RSTRC / IssueFinal).
    V13,
}

impl TrustVersion {
    /// `1.3` or `2005`, for messages and audit records.
    pub fn name(self) -> &'static str {
        match self {
            TrustVersion::V13 => "1.3",
            TrustVersion::Feb2005 => "2005",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            TrustVersion::Feb2005 => TRUST_2005_NS,
            TrustVersion::V13 => TRUST_13_NS,
        }
    }

    fn request_type(self) -> &'static str {
        match self {
            TrustVersion::Feb2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
            TrustVersion::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
        }
    }

    fn key_type(self) -> &'static str {
        match self {
            TrustVersion::Feb2005 => "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
            TrustVersion::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
        }
    }
}

/// The RequestSecurityTokenResponse around a signed assertion (from [`build_assertion`]),
/// which is placed byte for byte as the first child of RequestedSecurityToken, with nothing
/// before it: relying-party libraries take the first child node as the token, and MSAL takes
/// the element's content verbatim. For 1.3 the response sits in a collection.
pub fn build_rstr(
    version: TrustVersion,
    p: &AssertionParams<'_>,
    applies_to: &str,
    signed_assertion: &str,
) -> Result<String, XmlError> {
    const PLACEHOLDER: &str = "tessera-token-placeholder";
    let t = |local: &'static str| Element::new(version.namespace(), "t", local);
    let wsu = |local: &'static str| Element::new(WSU_NS, "wsu", local);
    let response = t("RequestSecurityTokenResponse")
        .child(
            t("Lifetime")
                .child(wsu("Created").text(format_millis(p.now)))
                .child(wsu("Expires").text(format_millis(p.not_on_or_after()))),
        )
        .child(
            Element::new(WSP_NS, "wsp", "AppliesTo").child(
                Element::new(WSA_NS, "wsa", "EndpointReference")
                    .child(Element::new(WSA_NS, "wsa", "Address").text(applies_to)),
            ),
        )
        .child(t("RequestedSecurityToken").text(PLACEHOLDER))
        .child(t("TokenType").text(TOKEN_TYPE))
        .child(t("RequestType").text(version.request_type()))
        .child(t("KeyType").text(version.key_type()));
    let document = match version {
        TrustVersion::Feb2005 => response.to_ascii_document()?,
        TrustVersion::V13 => t("RequestSecurityTokenResponseCollection").child(response).to_ascii_document()?,
    };
    // The token goes in as the bytes it was signed as. Matched with its tags, which no text
    // the document carries can contain (a `<` in text is escaped).
    let slot = format!("<t:RequestedSecurityToken>{PLACEHOLDER}</t:RequestedSecurityToken>");
    let at = document.find(&slot).ok_or(XmlError::SignatureShape("the token's place in the response was not found"))?;
    let token_at = at + "<t:RequestedSecurityToken>".len();
    // One buffer of the final size: the token is most of the response.
    let mut filled = String::with_capacity(document.len() + signed_assertion.len());
    filled.push_str(&document[..token_at]);
    filled.push_str(signed_assertion);
    filled.push_str(&document[token_at + PLACEHOLDER.len()..]);
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use tessera_core::policy::{AuthnContext, Factor};

    use tessera_xml::{SignaturePlacement, signed_document};

    use super::*;
    use crate::saml2::response::{PASSWORD_PROTECTED_TRANSPORT, entra_authn_context};
    use crate::token_tests::{Field, ODD, Writer, refused_in_every_field, text_is_what_the_elements_write};

    fn saml(local: &'static str) -> Element {
        Element::new(ASSERTION_NS, "saml", local)
    }

    fn subject(p: &AssertionParams<'_>) -> Element {
        saml("Subject")
            .child(saml("NameIdentifier").attr("Format", p.name_identifier_format).text(p.name_identifier))
            .child(saml("SubjectConfirmation").child(saml("ConfirmationMethod").text(BEARER)))
    }

    /// The assertion as elements, unsigned: the shape [`assertion_text`] writes.
    fn assertion_element(p: &AssertionParams<'_>) -> Element {
        let mut statement = saml("AttributeStatement").child(subject(p));
        let mfa_claim = mfa_claim();
        for claim in p.claims.iter().chain(p.mfa.then_some(&mfa_claim)) {
            statement = statement.child(
                saml("Attribute")
                    .attr("AttributeName", claim.name.as_str())
                    .attr("AttributeNamespace", claim.namespace.as_str())
                    .child(saml("AttributeValue").text(claim.value.as_str())),
            );
        }
        saml("Assertion")
            .attr("MajorVersion", "1")
            .attr("MinorVersion", "1")
            .attr("AssertionID", p.assertion_id)
            .attr("Issuer", p.issuer)
            .attr("IssueInstant", format_millis(p.now))
            .child(
                saml("Conditions")
                    .attr("NotBefore", format_millis(p.not_before()))
                    .attr("NotOnOrAfter", format_millis(p.not_on_or_after()))
                    .child(saml("AudienceRestrictionCondition").child(saml("Audience").text(p.audience))),
            )
            .child(statement)
            .child(
                saml("AuthenticationStatement")
                    .attr("AuthenticationMethod", p.authentication_method)
                    .attr("AuthenticationInstant", format_millis(p.authentication_instant))
                    .child(subject(p)),
            )
    }

    fn params(claims: Vec<Claim>, mfa: bool) -> AssertionParams<'static> {
        AssertionParams {
            assertion_id: "_a1",
            issuer: "https://idp.contoso.com/m365/contoso.com",
            audience: tessera_core::app::ENTRA_RELYING_PARTY,
            name_identifier: "Ah2J42BsPUOBoUcsCYn7vA==",
            name_identifier_format: NAMEID_UNSPECIFIED,
            claims,
            authentication_method: AM_PASSWORD,
            authentication_instant: 1_790_000_000_000,
            mfa,
            now: 1_790_000_060_000,
            lifetime_ms: 3_600_000,
            clock_skew_ms: 60_000,
        }
    }

    /// The assertion written as text from fixed markup is the assertion built as elements,
    /// signed and written: byte for byte, with no claim, several, the MFA claim, and odd
    /// characters in every value.
    #[test]
    fn the_text_of_an_assertion_is_the_assertion_its_elements_write() {
        let upn = Claim::from_type("http://schemas.xmlsoap.org/claims/UPN", "alice@contoso.com");
        let odd_claim = Claim { namespace: ODD.into(), name: ODD.into(), value: ODD.into() };
        let empty_claim = Claim { namespace: String::new(), name: String::new(), value: String::new() };
        let mut odd = params(vec![odd_claim, empty_claim], true);
        odd.assertion_id = ODD;
        odd.issuer = ODD;
        odd.audience = ODD;
        odd.name_identifier = ODD;
        odd.name_identifier_format = ODD;
        odd.authentication_method = ODD;
        let cases = [params(vec![], false), params(vec![], true), params(vec![upn.clone(), upn], false), odd];
        let elements: Writer<'_, AssertionParams<'_>> = &|p, signer| {
            signed_document(assertion_element(p), "AssertionID", SignaturePlacement::LastChild, signer)
                .map(tessera_xml::writer::ascii_document)
        };
        text_is_what_the_elements_write(&cases, &|p, signer| build_assertion(p, signer), elements);
    }

    /// A value XML cannot carry, in any field, is refused before anything is signed.
    #[test]
    fn a_character_xml_cannot_carry_is_refused_in_every_field() {
        let fields: [Field<AssertionParams<'static>>; 9] = [
            ("assertion_id", |p, bad| p.assertion_id = bad),
            ("issuer", |p, bad| p.issuer = bad),
            ("audience", |p, bad| p.audience = bad),
            ("name_identifier", |p, bad| p.name_identifier = bad),
            ("name_identifier_format", |p, bad| p.name_identifier_format = bad),
            ("authentication_method", |p, bad| p.authentication_method = bad),
            ("claim name", |p, bad| p.claims = vec![Claim { name: bad.into(), ..Claim::from_type("UPN", "v") }]),
            ("claim namespace", |p, bad| {
                p.claims = vec![Claim { namespace: bad.into(), ..Claim::from_type("UPN", "v") }]
            }),
            ("claim value", |p, bad| p.claims = vec![Claim::from_type("UPN", bad)]),
        ];
        refused_in_every_field(|| params(vec![], false), &fields, &|p, signer| build_assertion(p, signer));
    }

    #[test]
    fn a_token_says_how_its_user_signed_in() {
        let password = AuthnContext::default().with(Factor::Password, 1);
        let windows = AuthnContext::default().with(Factor::Kerberos, 1);
        let windows_and_code = windows.clone().with(Factor::Totp, 2);
        assert_eq!(authentication_method(&password), AM_PASSWORD);
        assert_eq!(authentication_method(&windows), AM_WINDOWS);
        assert_eq!(authentication_method(&windows_and_code), MULTIPLE_AUTHN);
        assert_eq!(entra_authn_context(&password), PASSWORD_PROTECTED_TRANSPORT);
        assert_eq!(entra_authn_context(&windows), AM_WINDOWS);
        assert_eq!(entra_authn_context(&windows_and_code), MULTIPLE_AUTHN);
    }

    #[test]
    fn inside_the_corporate_network_is_said_as_ad_fs_says_it() {
        let inside = inside_corporate_network(true);
        assert_eq!(
            (inside.namespace.as_str(), inside.name.as_str(), inside.value.as_str()),
            ("http://schemas.microsoft.com/ws/2012/01", "insidecorporatenetwork", "true")
        );
        assert_eq!(inside_corporate_network(false).value, "false");
    }

    #[test]
    fn password_expiry_is_said_within_fourteen_days_only() {
        let now = 1_800_000_000_000;
        let day = 24 * 60 * 60 * 1000;
        let url = "https://sts.contoso.com/account";
        let soon = password_expiry_claims(now + 9 * day + 5_000, now, url);
        let said: Vec<(&str, &str)> = soon.iter().map(|c| (c.name.as_str(), c.value.as_str())).collect();
        assert_eq!(
            said,
            [
                ("passwordexpirationtime", "2027-01-24T08:00:05Z"),
                ("passwordexpirationdays", "9"),
                ("passwordchangeurl", url),
            ]
        );
        assert!(soon.iter().all(|c| c.namespace == "http://schemas.microsoft.com/ws/2012/01"));
        assert_eq!(password_expiry_claims(now + 3_600_000, now, url)[1].value, "0", "today");
        assert!(password_expiry_claims(now + 14 * day + 1, now, url).is_empty(), "beyond 14 days");
        assert!(password_expiry_claims(now, now, url).is_empty(), "expired: the sign-in asks for a change");
        assert!(password_expiry_claims(now - day, now, url).is_empty());
    }
}
