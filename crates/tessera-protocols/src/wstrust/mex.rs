//! The MEX document: a WSDL with one username policy per WS-Trust version, SOAP 1.2 bindings
//! referring to them, and ports whose WS-Addressing addresses are Tessera's usernamemixed
//! endpoints (M365-PROTOCOLS.md §3.2); for a client Windows integrated authentication is served
//! to, also the windowstransport endpoints under a `NegotiateAuthentication` policy, as AD FS
//! lists them. It lists only what Tessera serves (no certificate endpoints). Every binding has
//! a `soap12:binding`, because MSAL reads one from each without checking that it is there.

use super::{ACTION_13, ACTION_2005, SOAP12_NS, escape};

const TNS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice";

/// The endpoints MEX points to: the two usernamemixed ones, and the two windowstransport ones
/// where this client may use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MexEndpoints<'a> {
    pub trust_13: &'a str,
    pub trust_2005: &'a str,
    pub windows: Option<WindowsEndpoints<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsEndpoints<'a> {
    pub trust_13: &'a str,
    pub trust_2005: &'a str,
}

/// Windows integrated authentication over HTTPS: SPNEGO in HTTP, under a 2005 security policy's
/// transport binding (the shape AD FS publishes, and MSAL looks for, for either WS-Trust).
fn windows_policy(port_type: &str) -> String {
    format!(
        "<wsp:Policy wsu:Id=\"{}_policy\"><wsp:ExactlyOne><wsp:All>\
         <http:NegotiateAuthentication xmlns:http=\"http://schemas.microsoft.com/ws/06/2004/policy/http\"/>\
         <sp:TransportBinding xmlns:sp=\"http://schemas.xmlsoap.org/ws/2005/07/securitypolicy\"><wsp:Policy>\
         <sp:TransportToken><wsp:Policy><sp:HttpsToken RequireClientCertificate=\"false\"/></wsp:Policy></sp:TransportToken>\
         <sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite>\
         <sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout></wsp:Policy></sp:TransportBinding>\
         <wsaw:UsingAddressing/></wsp:All></wsp:ExactlyOne></wsp:Policy>",
        windows_binding(port_type)
    )
}

fn windows_binding(port_type: &str) -> String {
    format!("WindowsTransportBinding_{port_type}")
}

const POLICY_13: &str = r#"<wsp:Policy wsu:Id="UserNameWSTrustBinding_IWSTrust13Async_policy"><wsp:ExactlyOne><wsp:All><sp:TransportBinding xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"><wsp:Policy><sp:TransportToken><wsp:Policy><sp:HttpsToken/></wsp:Policy></sp:TransportToken><sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite><sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout><sp:IncludeTimestamp/></wsp:Policy></sp:TransportBinding><sp:SignedEncryptedSupportingTokens xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"><wsp:Policy><sp:UsernameToken sp:IncludeToken="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient"><wsp:Policy><sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken></wsp:Policy></sp:SignedEncryptedSupportingTokens><sp:Wss11 xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"><wsp:Policy/></sp:Wss11><sp:Trust13 xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"><wsp:Policy><sp:MustSupportIssuedTokens/></wsp:Policy></sp:Trust13><wsaw:UsingAddressing/></wsp:All></wsp:ExactlyOne></wsp:Policy>"#;

const POLICY_2005: &str = r#"<wsp:Policy wsu:Id="UserNameWSTrustBinding_IWSTrustFeb2005Async_policy"><wsp:ExactlyOne><wsp:All><sp:TransportBinding xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"><wsp:Policy><sp:TransportToken><wsp:Policy><sp:HttpsToken RequireClientCertificate="false"/></wsp:Policy></sp:TransportToken><sp:AlgorithmSuite><wsp:Policy><sp:Basic256/></wsp:Policy></sp:AlgorithmSuite><sp:Layout><wsp:Policy><sp:Strict/></wsp:Policy></sp:Layout><sp:IncludeTimestamp/></wsp:Policy></sp:TransportBinding><sp:SignedSupportingTokens xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"><wsp:Policy><sp:UsernameToken sp:IncludeToken="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy/IncludeToken/AlwaysToRecipient"><wsp:Policy><sp:WssUsernameToken10/></wsp:Policy></sp:UsernameToken></wsp:Policy></sp:SignedSupportingTokens><sp:Wss10 xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"><wsp:Policy/></sp:Wss10><sp:Trust10 xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"><wsp:Policy><sp:MustSupportIssuedTokens/></wsp:Policy></sp:Trust10><wsaw:UsingAddressing/></wsp:All></wsp:ExactlyOne></wsp:Policy>"#;

/// One operation of one WS-Trust version: its port type, messages and SOAP 1.2 binding.
struct Version {
    port_type: &'static str,
    operation: &'static str,
    request_element: &'static str,
    response_element: &'static str,
    input_action: &'static str,
    output_action: &'static str,
}

const V13: Version = Version {
    port_type: "IWSTrust13Async",
    operation: "Trust13IssueAsync",
    request_element: "trust:RequestSecurityToken",
    response_element: "trust:RequestSecurityTokenResponseCollection",
    input_action: ACTION_13,
    output_action: "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal",
};

const V2005: Version = Version {
    port_type: "IWSTrustFeb2005Async",
    operation: "TrustFeb2005IssueAsync",
    request_element: "t:RequestSecurityToken",
    response_element: "t:RequestSecurityTokenResponse",
    input_action: ACTION_2005,
    output_action: "http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/Issue",
};

impl Version {
    fn binding(&self) -> String {
        format!("UserNameWSTrustBinding_{}", self.port_type)
    }

    fn messages(&self) -> String {
        let (p, o) = (self.port_type, self.operation);
        format!(
            "<wsdl:message name=\"{p}_{o}_InputMessage\"><wsdl:part name=\"request\" element=\"{}\"/></wsdl:message>\
             <wsdl:message name=\"{p}_{o}_OutputMessage\"><wsdl:part name=\"{o}Result\" element=\"{}\"/></wsdl:message>",
            self.request_element, self.response_element
        )
    }

    fn port_type(&self) -> String {
        let (p, o) = (self.port_type, self.operation);
        format!(
            "<wsdl:portType name=\"{p}\"><wsdl:operation name=\"{o}\">\
             <wsdl:input wsaw:Action=\"{}\" message=\"tns:{p}_{o}_InputMessage\"/>\
             <wsdl:output wsaw:Action=\"{}\" message=\"tns:{p}_{o}_OutputMessage\"/></wsdl:operation></wsdl:portType>",
            self.input_action, self.output_action
        )
    }

    fn soap_binding(&self) -> String {
        self.soap_binding_named(&self.binding())
    }

    fn soap_binding_named(&self, binding: &str) -> String {
        format!(
            "<wsdl:binding name=\"{binding}\" type=\"tns:{}\"><wsp:PolicyReference URI=\"#{binding}_policy\"/>\
             <soap12:binding transport=\"http://schemas.xmlsoap.org/soap/http\"/><wsdl:operation name=\"{}\">\
             <soap12:operation soapAction=\"{}\" style=\"document\"/><wsdl:input><soap12:body use=\"literal\"/></wsdl:input>\
             <wsdl:output><soap12:body use=\"literal\"/></wsdl:output></wsdl:operation></wsdl:binding>",
            self.port_type, self.operation, self.input_action
        )
    }

    fn port(&self, address: &str) -> String {
        port_of(&self.binding(), address)
    }
}

fn port_of(binding: &str, address: &str) -> String {
    let address = escape(address);
    format!(
        "<wsdl:port name=\"{binding}\" binding=\"tns:{binding}\"><soap12:address location=\"{address}\"/>\
         <wsa10:EndpointReference><wsa10:Address>{address}</wsa10:Address></wsa10:EndpointReference></wsdl:port>"
    )
}

/// The MEX document (for a GET), WS-Trust 1.3 first (the version MSAL prefers).
pub fn build_mex(endpoints: &MexEndpoints<'_>) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}\n", definitions(endpoints))
}

/// The answer to a WS-Transfer Get (a POST to MEX): the same WSDL in a SOAP 1.2 GetResponse.
/// `request` is the body that asked; only its MessageID is read, for RelatesTo.
pub fn build_mex_get_response(endpoints: &MexEndpoints<'_>, request: &[u8]) -> String {
    let relates = match message_id_of(request) {
        Some(id) => format!("<a:RelatesTo>{}</a:RelatesTo>", escape(&id)),
        None => String::new(),
    };
    format!(
        "<s:Envelope xmlns:s=\"{SOAP12_NS}\" xmlns:a=\"http://www.w3.org/2005/08/addressing\">\
         <s:Header><a:Action s:mustUnderstand=\"1\">http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action>{relates}\
         </s:Header><s:Body><Metadata xmlns=\"http://schemas.xmlsoap.org/ws/2004/09/mex\">\
         <MetadataSection Dialect=\"http://schemas.xmlsoap.org/wsdl/\" Identifier=\"{TNS}\">{}</MetadataSection>\
         </Metadata></s:Body></s:Envelope>",
        definitions(endpoints)
    )
}

/// The MessageID of a request, if it is readable and of a sane length; nothing else of it is
/// used.
fn message_id_of(body: &[u8]) -> Option<String> {
    let text = tessera_xml::reader::decode_utf8(body, &tessera_xml::Limits::MESSAGE).ok()?;
    let parsed = tessera_xml::reader::parse(text, &tessera_xml::Limits::MESSAGE).ok()?;
    let node = parsed
        .document()
        .descendants()
        .find(|n| n.tag_name().name() == "MessageID" && n.tag_name().namespace() == Some(crate::saml11::WSA_NS))?;
    tessera_xml::element_text(node).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty() && t.len() <= 256)
}

fn definitions(endpoints: &MexEndpoints<'_>) -> String {
    let versions = [(&V13, endpoints.trust_13), (&V2005, endpoints.trust_2005)];
    let mut out = format!(
        "<wsdl:definitions name=\"SecurityTokenService\" targetNamespace=\"{TNS}\" \
         xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\" xmlns:soap12=\"http://schemas.xmlsoap.org/wsdl/soap12/\" \
         xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\" \
         xmlns:wsp=\"http://schemas.xmlsoap.org/ws/2004/09/policy\" xmlns:wsaw=\"http://www.w3.org/2006/05/addressing/wsdl\" \
         xmlns:wsa10=\"http://www.w3.org/2005/08/addressing\" xmlns:tns=\"{TNS}\" \
         xmlns:trust=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\" xmlns:t=\"http://schemas.xmlsoap.org/ws/2005/02/trust\">"
    );
    out.push_str(POLICY_13);
    out.push_str(POLICY_2005);
    let windows = endpoints.windows.as_ref().map(|w| [(&V13, w.trust_13), (&V2005, w.trust_2005)]);
    for (version, _) in windows.iter().flatten() {
        out.push_str(&windows_policy(version.port_type));
    }
    for (version, _) in &versions {
        out.push_str(&version.messages());
    }
    for (version, _) in &versions {
        out.push_str(&version.port_type());
    }
    for (version, _) in &versions {
        out.push_str(&version.soap_binding());
    }
    for (version, _) in windows.iter().flatten() {
        out.push_str(&version.soap_binding_named(&windows_binding(version.port_type)));
    }
    out.push_str("<wsdl:service name=\"SecurityTokenService\">");
    for (version, address) in &versions {
        out.push_str(&version.port(address));
    }
    for (version, address) in windows.iter().flatten() {
        out.push_str(&port_of(&windows_binding(version.port_type), address));
    }
    out.push_str("</wsdl:service></wsdl:definitions>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mex_parses_and_every_binding_has_a_soap12_binding() {
        let mex = build_mex(&MexEndpoints {
            trust_13: "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/13/usernamemixed",
            trust_2005: "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/2005/usernamemixed",
            windows: Some(WindowsEndpoints {
                trust_13: "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/13/windowstransport",
                trust_2005: "https://idp.contoso.com/m365/contoso.com/adfs/services/trust/2005/windowstransport",
            }),
        });
        let doc = tessera_xml::roxmltree::Document::parse(&mex).unwrap();
        let bindings: Vec<_> = doc
            .descendants()
            .filter(|n| {
                n.tag_name().name() == "binding" && n.tag_name().namespace() == Some("http://schemas.xmlsoap.org/wsdl/")
            })
            .collect();
        assert_eq!(bindings.len(), 4);
        for binding in bindings {
            assert!(binding.children().any(|c| c.tag_name().name() == "binding"
                && c.tag_name().namespace() == Some("http://schemas.xmlsoap.org/wsdl/soap12/")));
        }
    }
}
