//! WS-Trust 1.3 and February 2005, as Windows, Office and MSAL use them against an AD FS-style
//! STS (M365-PROTOCOLS.md §3): the usernamemixed RequestSecurityToken, its response or SOAP
//! fault, and the MEX (WSDL) that tells clients where to send it.

pub mod fault;
pub mod mex;
pub mod mex_reader;
pub mod request;
pub mod response;

pub use crate::saml11::TrustVersion;

pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSSE_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const ACTION_13: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue";
pub const ACTION_2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue";

/// Which SOAP the request came in, and the answer goes out, in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    Soap11,
    Soap12,
}

impl SoapVersion {
    /// `1.1` or `1.2`, for audit records.
    pub fn name(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => "1.1",
            SoapVersion::Soap12 => "1.2",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => SOAP11_NS,
            SoapVersion::Soap12 => SOAP12_NS,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            SoapVersion::Soap11 => "text/xml; charset=utf-8",
            SoapVersion::Soap12 => "application/soap+xml; charset=utf-8",
        }
    }
}

/// The RST action of a WS-Trust version.
pub fn issue_action(version: TrustVersion) -> &'static str {
    match version {
        TrustVersion::V13 => ACTION_13,
        TrustVersion::Feb2005 => ACTION_2005,
    }
}

/// Text for XML character data and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML cannot carry never come from a client into an answer.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c if !c.is_ascii() => out.push_str(&format!("&#x{:X};", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}
