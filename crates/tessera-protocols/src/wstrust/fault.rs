//! SOAP faults: every refused RST gets one, with a Reason and a Subcode that MSAL reads
//! (`s:Body/s:Fault/s:Reason/s:Text`, `s:Body/s:Fault/s:Code/s:Subcode/s:Value`).

use super::{SoapVersion, TrustVersion, WSSE_NS, escape};

/// Why a request gets no token. The subcodes are WS-Security's and WS-Trust's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustFault {
    /// The message cannot be read, or lacks what the profile requires.
    #[error("{0}")]
    InvalidRequest(String),
    /// The Timestamp is missing, malformed, from the future or expired, or the message was
    /// seen before.
    #[error("{0}")]
    MessageExpired(String),
    /// Wrong user name or password, a locked or disabled account: one message for all.
    #[error("{0}")]
    FailedAuthentication(String),
    /// The realm the token would be for is not one this endpoint serves.
    #[error("{0}")]
    InvalidScope(String),
    /// The user may not have this token: no granted group, MFA required, an address the
    /// app's policy refuses, the notice not acknowledged.
    #[error("{0}")]
    RequestFailed(String),
    /// Tessera could not answer (its store or keys failed): the client may retry.
    #[error("{0}")]
    Unavailable(String),
}

impl TrustFault {
    /// A stable code for audit records.
    pub fn code(&self) -> &'static str {
        match self {
            TrustFault::InvalidRequest(_) => "invalid_request",
            TrustFault::MessageExpired(_) => "message_expired",
            TrustFault::FailedAuthentication(_) => "failed_authentication",
            TrustFault::InvalidScope(_) => "invalid_scope",
            TrustFault::RequestFailed(_) => "request_failed",
            TrustFault::Unavailable(_) => "unavailable",
        }
    }

    /// Whether the client (SOAP `Sender`) or Tessera (`Receiver`) is at fault.
    pub fn is_sender(&self) -> bool {
        !matches!(self, TrustFault::Unavailable(_))
    }

    /// The HTTP status (SOAP 1.2's HTTP binding: 400 for a sender fault, 500 otherwise; SOAP
    /// 1.1 always 500). MSAL reads the body whatever the status.
    pub fn http_status(&self, soap: SoapVersion) -> u16 {
        match (soap, self.is_sender()) {
            (SoapVersion::Soap12, true) => 400,
            _ => 500,
        }
    }

    /// The subcode: namespace and local name.
    fn subcode(&self, trust: TrustVersion) -> (&'static str, &'static str) {
        match self {
            TrustFault::InvalidRequest(_) => (trust.namespace(), "InvalidRequest"),
            TrustFault::MessageExpired(_) => (WSSE_NS, "MessageExpired"),
            TrustFault::FailedAuthentication(_) => (WSSE_NS, "FailedAuthentication"),
            TrustFault::InvalidScope(_) => (trust.namespace(), "InvalidScope"),
            TrustFault::RequestFailed(_) => (trust.namespace(), "RequestFailed"),
            TrustFault::Unavailable(_) => (trust.namespace(), "RequestFailed"),
        }
    }

    /// The fault envelope. `relates_to` is the request's MessageID, when it had one.
    pub fn envelope(&self, soap: SoapVersion, trust: TrustVersion, relates_to: Option<&str>) -> String {
        let (subcode_ns, subcode) = self.subcode(trust);
        let reason = escape(&self.to_string());
        match soap {
            SoapVersion::Soap12 => {
                let relates =
                    relates_to.map(|id| format!("<a:RelatesTo>{}</a:RelatesTo>", escape(id))).unwrap_or_default();
                let code = if self.is_sender() { "s:Sender" } else { "s:Receiver" };
                format!(
                    "<s:Envelope xmlns:s=\"{s}\" xmlns:a=\"http://www.w3.org/2005/08/addressing\"><s:Header>\
                     <a:Action s:mustUnderstand=\"1\">http://www.w3.org/2005/08/addressing/soap/fault</a:Action>{relates}\
                     </s:Header><s:Body><s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode>\
                     <s:Value xmlns:f=\"{subcode_ns}\">f:{subcode}</s:Value></s:Subcode></s:Code><s:Reason>\
                     <s:Text xml:lang=\"en-US\">{reason}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>",
                    s = super::SOAP12_NS,
                )
            }
            SoapVersion::Soap11 => format!(
                "<s:Envelope xmlns:s=\"{s}\"><s:Body><s:Fault><faultcode xmlns:f=\"{subcode_ns}\">f:{subcode}</faultcode>\
                 <faultstring xml:lang=\"en-US\">{reason}</faultstring></s:Fault></s:Body></s:Envelope>",
                s = super::SOAP11_NS,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap12_fault_has_reason_and_subcode_and_parses() {
        let fault = TrustFault::FailedAuthentication("The user name or password is incorrect <&>".into());
        let xml = fault.envelope(SoapVersion::Soap12, TrustVersion::V13, Some("urn:uuid:1"));
        let doc = tessera_xml::roxmltree::Document::parse(&xml).unwrap();
        let text = doc.descendants().find(|n| n.tag_name().name() == "Text").unwrap();
        assert_eq!(text.text(), Some("The user name or password is incorrect <&>"));
        let values: Vec<_> = doc.descendants().filter(|n| n.tag_name().name() == "Value").collect();
        assert_eq!(values[1].text(), Some("f:FailedAuthentication"));
        assert_eq!(fault.http_status(SoapVersion::Soap12), 400);
        let soap11 = TrustFault::Unavailable("later".into()).envelope(SoapVersion::Soap11, TrustVersion::Feb2005, None);
        assert!(tessera_xml::roxmltree::Document::parse(&soap11).is_ok());
    }
}
