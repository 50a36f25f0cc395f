//! The IdP's side of the SAML 2.0 ECP profile (profiles §4.2.4): the client forwards the SP's
//! AuthnRequest in a SOAP 1.1 envelope (SAML's SOAP binding; PAOS belongs between the client and
//! the SP), and the Response goes back in one, under an `ecp:Response` header that names the ACS
//! the client must deliver it to. Whatever is refused is a SOAP fault, never a Response.

use tessera_xml::c14n::{C14nOptions, canonicalize};
use tessera_xml::{Limits, reader};

use super::PROTOCOL_NS;
use crate::ProtocolError;
use crate::is_element as is;
use crate::wstrust::{SOAP11_NS, escape};

pub const ECP_NS: &str = "urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp";
/// SOAP 1.1's "next" actor: the ECP client the header is for.
const NEXT_ACTOR: &str = "http://schemas.xmlsoap.org/soap/actor/next";

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError::Request(message.into())
}

/// The AuthnRequest an ECP client sent, as a document of its own: the SOAP 1.1 envelope must
/// hold a Body with exactly one child, that request, and no header the IdP would have to
/// understand. The request is cut out by exclusive canonicalization (comments kept), which is
/// how its enveloped signature was made, so the signature verifies on the result and the
/// reader applies every check it applies to a request from the browser.
pub fn authn_request_of(envelope: &str) -> Result<String, ProtocolError> {
    let parsed = reader::parse(envelope, &Limits::MESSAGE)?;
    let root = parsed.root_element();
    if !is(&root, SOAP11_NS, "Envelope") {
        return Err(bad("the message is not a SOAP 1.1 envelope"));
    }
    let mut body = None;
    for (position, child) in elements(root)?.into_iter().enumerate() {
        match (position, child.tag_name().namespace(), child.tag_name().name()) {
            (0, Some(SOAP11_NS), "Header") => check_header(child)?,
            (_, Some(SOAP11_NS), "Body") if body.is_none() => body = Some(child),
            _ => return Err(bad("a SOAP envelope holds an optional Header, then one Body, and nothing else")),
        }
    }
    let body = body.ok_or_else(|| bad("the SOAP envelope has no Body"))?;
    let request = match elements(body)?.as_slice() {
        [request] if is(request, PROTOCOL_NS, "AuthnRequest") => *request,
        _ => return Err(bad("the SOAP Body must hold one SAML 2.0 AuthnRequest")),
    };
    let options = C14nOptions { with_comments: true, inclusive_prefixes: Vec::new() };
    Ok(canonicalize(envelope, request, None, &options)?)
}

/// A header block may ride along (an ECP client's own) as long as it does not demand to be
/// understood: SOAP 1.1 §4.2.3 requires a fault for one that does.
fn check_header(header: tessera_xml::roxmltree::Node<'_, '_>) -> Result<(), ProtocolError> {
    for block in elements(header)? {
        let must = block.attribute((SOAP11_NS, "mustUnderstand")).map(str::trim);
        if matches!(must, Some("1" | "true")) {
            let name = block.tag_name().name();
            return Err(bad(format!("the header {name:?} must be understood, and this IdP does not know it")));
        }
    }
    Ok(())
}

/// The element children of `node`; text other than whitespace is refused.
fn elements<'a, 'input>(
    node: tessera_xml::roxmltree::Node<'a, 'input>,
) -> Result<Vec<tessera_xml::roxmltree::Node<'a, 'input>>, ProtocolError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
            return Err(bad(format!("text is not allowed in a SOAP {}", node.tag_name().name())));
        }
    }
    Ok(out)
}

/// The answer: `response` (a samlp:Response document, as signed) in the Body, and the
/// `ecp:Response` header naming the ACS it is for (profiles §4.2.4.4).
pub fn response_envelope(acs_url: &str, response: &str) -> String {
    format!(
        "<S:Envelope xmlns:S=\"{SOAP11_NS}\"><S:Header><ecp:Response xmlns:ecp=\"{ECP_NS}\" \
         S:mustUnderstand=\"1\" S:actor=\"{NEXT_ACTOR}\" AssertionConsumerServiceURL=\"{}\"/></S:Header>\
         <S:Body>{response}</S:Body></S:Envelope>",
        escape(acs_url)
    )
}

/// Who a fault blames: the client (`S:Client`: its request, credentials or rights) or the IdP
/// (`S:Server`: the client may retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    Client,
    Server,
}

/// A SOAP 1.1 fault saying `reason`.
pub fn fault_envelope(code: FaultCode, reason: &str) -> String {
    let code = match code {
        FaultCode::Client => "S:Client",
        FaultCode::Server => "S:Server",
    };
    format!(
        "<S:Envelope xmlns:S=\"{SOAP11_NS}\"><S:Body><S:Fault><faultcode>{code}</faultcode>\
         <faultstring>{}</faultstring></S:Fault></S:Body></S:Envelope>",
        escape(reason)
    )
}

/// A fault's words (its `faultstring`), when `envelope` is a SOAP 1.1 fault.
pub fn fault_reason(envelope: &str) -> Option<String> {
    let parsed = reader::parse(envelope, &Limits::MESSAGE).ok()?;
    let fault = parsed.root_element().descendants().find(|n| is(n, SOAP11_NS, "Fault"))?;
    let reason = fault.children().find(|n| n.is_element() && n.tag_name().name() == "faultstring")?;
    tessera_xml::element_text(reason).ok()
}

/// The request Entra's rich clients have the IdP answer (M365-PROTOCOLS.md §1.3: Issuer
/// `urn:federation:MicrosoftOnline`, a persistent NameID, no ACS) in an ECP client's envelope:
/// what `tessera doctor` sends to get a test token.
pub fn entra_request_envelope(id: &str, issue_instant: &str) -> String {
    format!(
        "<S:Envelope xmlns:S=\"{SOAP11_NS}\"><S:Body><samlp:AuthnRequest xmlns:samlp=\"{PROTOCOL_NS}\" \
         ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"><saml:Issuer \
         xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\">urn:federation:MicrosoftOnline</saml:Issuer>\
         <samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\"/>\
         </samlp:AuthnRequest></S:Body></S:Envelope>",
        escape(id),
        escape(issue_instant)
    )
}

/// The SAML 2.0 Assertion of an ECP answer, as a document of its own (cut out as
/// [`authn_request_of`] cuts a request), ready for `tessera_xml::verify_enveloped`.
pub fn assertion_of(answer: &str) -> Result<String, ProtocolError> {
    let parsed = reader::parse(answer, &Limits::MESSAGE)?;
    let root = parsed.root_element();
    if !is(&root, SOAP11_NS, "Envelope") {
        return Err(bad("the answer is not a SOAP 1.1 envelope"));
    }
    let assertions: Vec<_> =
        root.descendants().filter(|n| is(n, "urn:oasis:names:tc:SAML:2.0:assertion", "Assertion")).collect();
    match assertions.as_slice() {
        [assertion] => {
            let options = C14nOptions { with_comments: true, inclusive_prefixes: Vec::new() };
            Ok(canonicalize(answer, *assertion, None, &options)?)
        }
        [] => Err(bad("the answer carries no assertion")),
        _ => Err(bad("the answer carries more than one assertion")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml2::authn_request::parse_authn_request;

    const REQUEST: &str = r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_e1" IssueInstant="2026-12-06T10:00:00Z" Version="2.0" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</Issuer></samlp:AuthnRequest>"#;

    fn envelope(header: &str, body: &str) -> String {
        format!(
            r#"<S:Envelope xmlns:S="{SOAP11_NS}" xmlns:unused="urn:x">{header}<S:Body>{body}</S:Body></S:Envelope>"#
        )
    }

    #[test]
    fn the_request_is_cut_out_with_only_its_own_namespaces() {
        let header = r#"<S:Header><x:Note xmlns:x="urn:x" S:mustUnderstand="0"/></S:Header>"#;
        let request = authn_request_of(&envelope(header, &format!("\n  {REQUEST}\n"))).unwrap();
        assert!(!request.contains("urn:x") && !request.contains(SOAP11_NS), "{request}");
        let parsed = parse_authn_request(&request).unwrap();
        assert_eq!(parsed.id, "_e1");
        assert_eq!(parsed.protocol_binding.as_deref(), Some("urn:oasis:names:tc:SAML:2.0:bindings:PAOS"));
    }

    #[test]
    fn anything_but_one_request_in_a_soap_11_body_is_refused() {
        let soap12 = REQUEST.to_string();
        let cases = [
            envelope("", "").to_string(),
            envelope("", &format!("{REQUEST}{REQUEST}")),
            envelope("", "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>"),
            envelope("", &format!("text{REQUEST}")),
            envelope(
                r#"<S:Header><p:Request xmlns:p="urn:liberty:paos:2003-08" S:mustUnderstand="1"/></S:Header>"#,
                REQUEST,
            ),
            format!(r#"<S:Envelope xmlns:S="{SOAP11_NS}"><S:Body>{REQUEST}</S:Body><S:Body/></S:Envelope>"#),
            format!(r#"<S:Envelope xmlns:S="{SOAP11_NS}"><S:Body>{REQUEST}</S:Body><S:Header/></S:Envelope>"#),
            format!(
                r#"<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"><S:Body>{REQUEST}</S:Body></S:Envelope>"#
            ),
            soap12,
            format!("<!DOCTYPE S:Envelope [<!ENTITY e \"x\">]>{}", envelope("", REQUEST)),
            "not xml".into(),
        ];
        for case in cases {
            assert!(authn_request_of(&case).is_err(), "{case}");
        }
        let doctype = format!("<!DOCTYPE S:Envelope>{}", envelope("", REQUEST));
        assert_eq!(authn_request_of(&doctype), Err(ProtocolError::Xml(tessera_xml::XmlError::Doctype)));
    }

    #[test]
    fn answers_and_faults_escape_what_they_carry() {
        let answer = response_envelope("https://sp.example.com/acs?a=1&b=\"2\"", "<samlp:Response/>");
        assert!(answer.contains("AssertionConsumerServiceURL=\"https://sp.example.com/acs?a=1&amp;b=&quot;2&quot;\""));
        assert!(answer.contains("<S:Body><samlp:Response/></S:Body>"));
        let fault = fault_envelope(FaultCode::Client, "<b>no</b>");
        assert_eq!(fault_reason(&fault).as_deref(), Some("<b>no</b>"));
        assert_eq!(fault_reason(&response_envelope("https://sp.example.com/acs", "<x/>")), None);
        assert!(fault.contains("<faultcode>S:Client</faultcode><faultstring>&lt;b&gt;no&lt;/b&gt;</faultstring>"));
        reader::parse(&fault, &Limits::MESSAGE).unwrap();
    }
}
