//! SAML 2.0 Responses: the assertion a service provider consumes, signed (RSA-SHA256) as the
//! relying party needs, never encrypted. The Microsoft 365 form follows M365-PROTOCOLS.md
//! §1.4 field by field.

use tessera_core::policy::AuthnContext;
use tessera_core::{UnixMillis, User, format_millis};
use tessera_xml::writer::Element;
use tessera_xml::{CanonicalText, SignaturePlacement, Signer, XmlError, sign_enveloped, signed_text};

use super::PROTOCOL_NS;

pub const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const PASSWORD_PROTECTED_TRANSPORT: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
/// What Entra reads as "MFA done by the federated IdP" (M365-PROTOCOLS.md §7.2).
pub const MULTIPLE_AUTHN: &str = "http://schemas.microsoft.com/claims/multipleauthn";
pub const ENTRA_ACS: &str = "https://login.microsoftonline.com/login.srf";

/// Everything an assertion says. Ids come from the caller (this code does no I/O, random
/// numbers included); they must be NCNames, e.g. `_` and a UUID.
#[derive(Debug, Clone)]
pub struct ResponseParams<'a> {
    pub response_id: &'a str,
    pub assertion_id: &'a str,
    pub issuer: &'a str,
    /// The ACS URL the response is posted to.
    pub destination: &'a str,
    pub audience: &'a str,
    /// The AuthnRequest this answers; `None` for IdP-initiated.
    pub in_response_to: Option<&'a str>,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    /// Attribute name and values, in order.
    pub attributes: Vec<(&'a str, Vec<&'a str>)>,
    pub authn_instant: UnixMillis,
    pub authn_context_class: &'a str,
    pub now: UnixMillis,
    /// How long the bearer confirmation is good for (5 minutes in Microsoft's sample).
    pub confirmation_lifetime_ms: i64,
    /// How long the assertion's conditions hold (1 hour in Microsoft's sample).
    pub conditions_lifetime_ms: i64,
    /// How far back NotBefore reaches, for relying parties whose clocks run slow.
    pub clock_skew_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signing {
    pub assertion: bool,
    pub response: bool,
}

fn saml(local: &'static str) -> Element {
    Element::new(ASSERTION_NS, "saml", local)
}

fn assertion(p: &ResponseParams<'_>) -> Element {
    let mut confirmation_data = saml("SubjectConfirmationData")
        .attr("NotOnOrAfter", format_millis(p.now + p.confirmation_lifetime_ms))
        .attr("Recipient", p.destination);
    if let Some(request) = p.in_response_to {
        confirmation_data = confirmation_data.attr("InResponseTo", request);
    }
    let mut statement = saml("AttributeStatement");
    for (name, values) in &p.attributes {
        let mut attribute = saml("Attribute").attr("Name", *name);
        for value in values {
            attribute = attribute.child(saml("AttributeValue").text(*value));
        }
        statement = statement.child(attribute);
    }
    let mut assertion = saml("Assertion")
        .attr("ID", p.assertion_id)
        .attr("IssueInstant", format_millis(p.now))
        .attr("Version", "2.0")
        .child(saml("Issuer").text(p.issuer))
        .child(
            saml("Subject")
                .child(saml("NameID").attr("Format", p.name_id_format).text(p.name_id))
                .child(saml("SubjectConfirmation").attr("Method", BEARER).child(confirmation_data)),
        )
        .child(
            saml("Conditions")
                .attr("NotBefore", format_millis(p.now - p.clock_skew_ms))
                .attr("NotOnOrAfter", format_millis(p.now + p.conditions_lifetime_ms))
                .child(saml("AudienceRestriction").child(saml("Audience").text(p.audience))),
        );
    if !p.attributes.is_empty() {
        assertion = assertion.child(statement);
    }
    assertion.child(
        saml("AuthnStatement")
            .attr("AuthnInstant", format_millis(p.authn_instant))
            .attr("SessionIndex", p.assertion_id)
            .child(saml("AuthnContext").child(saml("AuthnContextClassRef").text(p.authn_context_class))),
    )
}

/// The Response document (no XML declaration), signed as `signing` asks.
pub fn build_response(p: &ResponseParams<'_>, signing: Signing, signer: &dyn Signer) -> Result<String, XmlError> {
    if signing.assertion && !signing.response {
        return with_signed_assertion(p, signer);
    }
    let mut assertion = assertion(p);
    if signing.assertion {
        sign_enveloped(&mut assertion, "ID", SignaturePlacement::After("Issuer"), &[], signer)?;
    }
    let mut response = response_before_assertion(p).child(assertion);
    if signing.response {
        sign_enveloped(&mut response, "ID", SignaturePlacement::After("Issuer"), &[], signer)?;
    }
    response.to_document()
}

/// The Response with only its assertion signed (Microsoft 365's way), written as canonical
/// text from fixed markup ([`CanonicalText`]): what [`assertion`] and [`response_before_assertion`]
/// build as elements, signed in place and written whole, without the trees (the test
/// `the_text_of_a_response_is_the_response_its_elements_write` holds the two to the same bytes).
/// The assertion's canonical form is its form in the Response, which renders only the protocol
/// namespace, so the digested text is placed as it is.
fn with_signed_assertion(p: &ResponseParams<'_>, signer: &dyn Signer) -> Result<String, XmlError> {
    // The Response first: a value it cannot carry is refused before anything is signed.
    let before = response_text(p).finish()?;
    let assertion = signed_text(assertion_text(p), p.assertion_id, signer)?;
    let mut response = String::with_capacity(before.len() + assertion.len() + RESPONSE_END.len());
    response.push_str(&before);
    response.push_str(&assertion);
    response.push_str(RESPONSE_END);
    Ok(response)
}

const RESPONSE_END: &str = "</samlp:Response>";

/// The Response's text up to its assertion, as [`response_before_assertion`] writes it.
fn response_text(p: &ResponseParams<'_>) -> CanonicalText {
    let mut out = CanonicalText::with_capacity(1024);
    // Unprefixed attributes in c14n's order: by name.
    out.markup(concat!(r#"<samlp:Response xmlns:samlp=""#, "urn:oasis:names:tc:SAML:2.0:protocol", r#"" Consent=""#))
        .markup("urn:oasis:names:tc:SAML:2.0:consent:unspecified")
        .markup(r#"" Destination=""#)
        .attribute_value(p.destination)
        .markup(r#"" ID=""#)
        .attribute_value(p.response_id);
    if let Some(request) = p.in_response_to {
        out.markup(r#"" InResponseTo=""#).attribute_value(request);
    }
    out.markup(r#"" IssueInstant=""#)
        .attribute_value(&format_millis(p.now))
        .markup(concat!(
            r#"" Version="2.0"><saml:Issuer xmlns:saml=""#,
            "urn:oasis:names:tc:SAML:2.0:assertion",
            r#"">"#
        ))
        .text(p.issuer)
        .markup(concat!(
            "</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"",
            "urn:oasis:names:tc:SAML:2.0:status:Success",
            "\"></samlp:StatusCode></samlp:Status>"
        ));
    out
}

/// The assertion's canonical text, as [`assertion`] writes it, its Signature's place marked
/// (after its Issuer).
fn assertion_text(p: &ResponseParams<'_>) -> CanonicalText {
    let mut out = CanonicalText::with_capacity(4096);
    out.markup(concat!(r#"<saml:Assertion xmlns:saml=""#, "urn:oasis:names:tc:SAML:2.0:assertion", r#"" ID=""#))
        .attribute_value(p.assertion_id)
        .markup(r#"" IssueInstant=""#)
        .attribute_value(&format_millis(p.now))
        .markup(r#"" Version="2.0"><saml:Issuer>"#)
        .text(p.issuer)
        .markup("</saml:Issuer>")
        .signature_here()
        .markup(r#"<saml:Subject><saml:NameID Format=""#)
        .attribute_value(p.name_id_format)
        .markup(r#"">"#)
        .text(p.name_id)
        .markup(concat!(
            r#"</saml:NameID><saml:SubjectConfirmation Method=""#,
            "urn:oasis:names:tc:SAML:2.0:cm:bearer",
            r#""><saml:SubjectConfirmationData"#
        ));
    if let Some(request) = p.in_response_to {
        out.markup(r#" InResponseTo=""#).attribute_value(request).markup("\"");
    }
    out.markup(r#" NotOnOrAfter=""#)
        .attribute_value(&format_millis(p.now + p.confirmation_lifetime_ms))
        .markup(r#"" Recipient=""#)
        .attribute_value(p.destination)
        .markup(concat!(
            r#""></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore=""#
        ))
        .attribute_value(&format_millis(p.now - p.clock_skew_ms))
        .markup(r#"" NotOnOrAfter=""#)
        .attribute_value(&format_millis(p.now + p.conditions_lifetime_ms))
        .markup(r#""><saml:AudienceRestriction><saml:Audience>"#)
        .text(p.audience)
        .markup("</saml:Audience></saml:AudienceRestriction></saml:Conditions>");
    if !p.attributes.is_empty() {
        out.markup("<saml:AttributeStatement>");
        for (name, values) in &p.attributes {
            out.markup(r#"<saml:Attribute Name=""#).attribute_value(name).markup(r#"">"#);
            for value in values {
                out.markup("<saml:AttributeValue>").text(value).markup("</saml:AttributeValue>");
            }
            out.markup("</saml:Attribute>");
        }
        out.markup("</saml:AttributeStatement>");
    }
    out.markup(r#"<saml:AuthnStatement AuthnInstant=""#)
        .attribute_value(&format_millis(p.authn_instant))
        .markup(r#"" SessionIndex=""#)
        .attribute_value(p.assertion_id)
        .markup(r#""><saml:AuthnContext><saml:AuthnContextClassRef>"#)
        .text(p.authn_context_class)
        .markup("</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement></saml:Assertion>");
    out
}

/// The Response, unsigned, with the children that come before its assertion.
fn response_before_assertion(p: &ResponseParams<'_>) -> Element {
    let mut response = Element::new(PROTOCOL_NS, "samlp", "Response")
        .attr("ID", p.response_id)
        .attr("Version", "2.0")
        .attr("IssueInstant", format_millis(p.now))
        .attr("Destination", p.destination)
        .attr("Consent", "urn:oasis:names:tc:SAML:2.0:consent:unspecified");
    if let Some(request) = p.in_response_to {
        response = response.attr("InResponseTo", request);
    }
    response.child(saml("Issuer").text(p.issuer)).child(
        Element::new(PROTOCOL_NS, "samlp", "Status")
            .child(Element::new(PROTOCOL_NS, "samlp", "StatusCode").attr("Value", SUCCESS)),
    )
}

/// The class Entra reads: `multipleauthn` when a second factor was shown, AD FS's Windows
/// class after Windows integrated sign-in (Kerberos), else a password over TLS.
pub fn entra_authn_context(authn: &AuthnContext) -> &'static str {
    if authn.mfa_done() {
        MULTIPLE_AUTHN
    } else if authn.windows_done() {
        crate::saml11::AM_WINDOWS
    } else {
        PASSWORD_PROTECTED_TRANSPORT
    }
}

/// The issued values of a response: the owned strings `ResponseParams` borrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedValues {
    pub name_id: String,
    pub attributes: Vec<(String, String)>,
}

/// NameID and attributes for a generic SP, from its registration: the NameID from the
/// configured source, one attribute per mapping. Empty values are left out.
pub fn sp_values(user: &User, sp: &tessera_core::SamlSpConfig) -> IssuedValues {
    IssuedValues {
        name_id: user.attribute(sp.name_id_source),
        attributes: sp
            .attribute_mappings
            .iter()
            .map(|m| (m.name.clone(), user.attribute(m.source)))
            .filter(|(_, value)| !value.is_empty())
            .collect(),
    }
}

/// The parameters of a response to a generic SP at `acs_url`, audience its entity ID.
#[allow(clippy::too_many_arguments)] // one argument per field the caller decides
pub fn sp_params<'a>(
    values: &'a IssuedValues,
    sp: &'a tessera_core::SamlSpConfig,
    issuer: &'a str,
    acs_url: &'a str,
    in_response_to: Option<&'a str>,
    authn: &AuthnContext,
    ids: (&'a str, &'a str),
    now: UnixMillis,
) -> ResponseParams<'a> {
    ResponseParams {
        response_id: ids.0,
        assertion_id: ids.1,
        issuer,
        destination: acs_url,
        audience: &sp.entity_id,
        in_response_to,
        name_id: &values.name_id,
        name_id_format: &sp.name_id_format,
        attributes: values.attributes.iter().map(|(name, value)| (name.as_str(), vec![value.as_str()])).collect(),
        authn_instant: authn.authenticated_at().unwrap_or(now),
        authn_context_class: entra_authn_context(authn),
        now,
        confirmation_lifetime_ms: 5 * 60 * 1000,
        conditions_lifetime_ms: 5 * 60 * 1000,
        clock_skew_ms: 60 * 1000,
    }
}

/// The parameters of a response to Entra ID for `user`: NameID persistent = ImmutableID,
/// `IDPEmail` = UPN, audience `urn:federation:MicrosoftOnline`, posted to `login.srf`.
pub fn m365_params<'a>(
    user: &'a User,
    issuer: &'a str,
    in_response_to: Option<&'a str>,
    authn: &AuthnContext,
    ids: (&'a str, &'a str),
    now: UnixMillis,
) -> ResponseParams<'a> {
    ResponseParams {
        response_id: ids.0,
        assertion_id: ids.1,
        issuer,
        destination: ENTRA_ACS,
        audience: tessera_core::app::ENTRA_RELYING_PARTY,
        in_response_to,
        name_id: &user.immutable_id,
        name_id_format: tessera_core::app::NAMEID_PERSISTENT,
        attributes: vec![("IDPEmail", vec![user.upn.as_str()])],
        authn_instant: authn.authenticated_at().unwrap_or(now),
        authn_context_class: entra_authn_context(authn),
        now,
        confirmation_lifetime_ms: 5 * 60 * 1000,
        conditions_lifetime_ms: 60 * 60 * 1000,
        clock_skew_ms: 60 * 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token_tests::{
        CountingSigner, Field, ODD, Writer, refused_in_every_field, text_is_what_the_elements_write,
    };

    fn params<'a>(response_id: &'a str, in_response_to: Option<&'a str>) -> ResponseParams<'a> {
        ResponseParams {
            response_id,
            assertion_id: "_a1",
            issuer: "https://idp.contoso.com/m365/contoso.com",
            destination: ENTRA_ACS,
            audience: "urn:federation:MicrosoftOnline",
            in_response_to,
            name_id: "Ah2J42BsPUOBoUcsCYn7vA==",
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            attributes: vec![("IDPEmail", vec!["zoë@contoso.com & <co>"])],
            authn_instant: 1_790_000_000_000,
            authn_context_class: PASSWORD_PROTECTED_TRANSPORT,
            now: 1_790_000_000_000,
            confirmation_lifetime_ms: 300_000,
            conditions_lifetime_ms: 300_000,
            clock_skew_ms: 60_000,
        }
    }

    /// The Response written as text from fixed markup is the Response built as elements, its
    /// assertion signed in place, and written whole: byte for byte, with and without a request
    /// answered, with no attribute, several, several values, and odd characters in every value.
    #[test]
    fn the_text_of_a_response_is_the_response_its_elements_write() {
        let mut cases = Vec::new();
        for in_response_to in [Some("_r1"), None, Some(ODD)] {
            cases.push(params("_resp1", in_response_to));
            let mut none = params("_resp2", in_response_to);
            none.attributes.clear();
            cases.push(none);
        }
        let mut odd = params(ODD, Some(ODD));
        odd.assertion_id = ODD;
        odd.issuer = ODD;
        odd.destination = ODD;
        odd.audience = ODD;
        odd.name_id = ODD;
        odd.name_id_format = ODD;
        odd.authn_context_class = ODD;
        odd.attributes = vec![(ODD, vec![ODD, "", "x"]), ("", vec![]), ("IDPEmail", vec!["alice@contoso.com"])];
        cases.push(odd);
        let mut empty = params("_resp3", Some(""));
        empty.issuer = "";
        empty.name_id = "";
        cases.push(empty);
        let text: Writer<'_, ResponseParams<'_>> =
            &|p, signer| build_response(p, Signing { assertion: true, response: false }, signer);
        let elements: Writer<'_, ResponseParams<'_>> = &|p, signer| {
            let mut assertion = assertion(p);
            sign_enveloped(&mut assertion, "ID", SignaturePlacement::After("Issuer"), &[], signer)?;
            response_before_assertion(p).child(assertion).to_document()
        };
        text_is_what_the_elements_write(&cases, text, elements);
    }

    /// A value XML cannot carry, in any field, is refused by the text as by the elements, and
    /// before anything is signed.
    #[test]
    fn a_character_xml_cannot_carry_is_refused_in_every_field() {
        let fields: [Field<ResponseParams<'static>>; 11] = [
            ("response_id", |p, bad| p.response_id = bad),
            ("assertion_id", |p, bad| p.assertion_id = bad),
            ("issuer", |p, bad| p.issuer = bad),
            ("destination", |p, bad| p.destination = bad),
            ("audience", |p, bad| p.audience = bad),
            ("in_response_to", |p, bad| p.in_response_to = Some(bad)),
            ("name_id", |p, bad| p.name_id = bad),
            ("name_id_format", |p, bad| p.name_id_format = bad),
            ("attribute name", |p, bad| p.attributes = vec![(bad, vec!["v"])]),
            ("attribute value", |p, bad| p.attributes = vec![("n", vec![bad])]),
            ("authn_context_class", |p, bad| p.authn_context_class = bad),
        ];
        let base = || params("_resp1", Some("_r1"));
        refused_in_every_field(base, &fields, &|p, signer| {
            build_response(p, Signing { assertion: true, response: false }, signer)
        });
        // The elements refuse it too (having signed the assertion already when the Response's
        // own value is the bad one: a signature that goes nowhere).
        for (field, set) in fields {
            let mut p = base();
            set(&mut p, "\u{1}");
            let elements = build_response(&p, Signing { assertion: true, response: true }, &CountingSigner::default());
            assert!(matches!(elements, Err(XmlError::IllegalCharacter(1))), "{field}: {elements:?}");
        }
    }

    #[test]
    fn a_response_that_cannot_be_written_is_refused_before_anything_is_signed() {
        let signer = CountingSigner::default();
        let refused =
            build_response(&params("_bad\u{1}", Some("_r1")), Signing { assertion: true, response: false }, &signer);
        assert!(matches!(refused, Err(XmlError::IllegalCharacter(1))), "{refused:?}");
        assert_eq!(signer.calls(), 0, "the signer was called");
    }
}
