//! The answer to an RST: the RSTR (2005) or RSTR collection (1.3) around the signed SAML 1.1
//! assertion, in the request's SOAP version. The assertion goes in byte for byte, so a client
//! that cuts it out verbatim (MSAL) still holds what was signed; the whole answer is ASCII.

use tessera_core::format_millis;
use tessera_xml::XmlError;

use super::{SoapVersion, TrustVersion, WSSE_NS, escape};
use crate::saml11::{AssertionParams, WSU_NS, build_rstr};

/// The response action of a WS-Trust version.
pub fn response_action(version: TrustVersion) -> &'static str {
    match version {
        TrustVersion::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal",
        TrustVersion::Feb2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/Issue",
    }
}

/// The response envelope. `relates_to` is the request's MessageID.
pub fn build_response_envelope(
    soap: SoapVersion,
    trust: TrustVersion,
    relates_to: Option<&str>,
    params: &AssertionParams<'_>,
    applies_to: &str,
    signed_assertion: &str,
) -> Result<String, XmlError> {
    let rstr = build_rstr(trust, params, applies_to, signed_assertion)?;
    let relates = relates_to.map(|id| format!("<a:RelatesTo>{}</a:RelatesTo>", escape(id))).unwrap_or_default();
    Ok(format!(
        "<s:Envelope xmlns:s=\"{s}\" xmlns:a=\"http://www.w3.org/2005/08/addressing\" xmlns:u=\"{WSU_NS}\"><s:Header>\
         <a:Action s:mustUnderstand=\"1\">{action}</a:Action>{relates}\
         <o:Security s:mustUnderstand=\"1\" xmlns:o=\"{WSSE_NS}\"><u:Timestamp u:Id=\"_0\"><u:Created>{created}</u:Created>\
         <u:Expires>{expires}</u:Expires></u:Timestamp></o:Security></s:Header><s:Body>{rstr}</s:Body></s:Envelope>",
        s = soap.namespace(),
        action = response_action(trust),
        created = format_millis(params.now),
        expires = format_millis(params.now + 5 * 60 * 1000),
    ))
}
