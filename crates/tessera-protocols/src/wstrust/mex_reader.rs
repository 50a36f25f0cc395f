//! MEX read the way MSAL reads it (`msal/mex.py`, M365-PROTOCOLS.md §3.2), for `tessera doctor`:
//! the policies with a WS-Security username token under a transport binding (WS-SecurityPolicy
//! 1.2 or its 2005 draft), the SOAP 1.2 bindings over HTTP that refer to one, and the ports of
//! those bindings with a WS-Addressing address. MSAL takes https addresses only and prefers the
//! WS-Trust 1.3 action; the ones it would skip are reported too, so that a doctor can say why.

use tessera_xml::roxmltree::Node;
use tessera_xml::{Limits, reader};

use super::ACTION_13;
use crate::ProtocolError;
use crate::is_element as is;

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const WSP: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
const WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const SP: &str = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702";
const SP2005: &str = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy";
const SOAP12_WSDL: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const WSA10: &str = "http://www.w3.org/2005/08/addressing";
const SOAP_HTTP: &str = "http://schemas.xmlsoap.org/soap/http";

/// A username-and-password endpoint MEX lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameEndpoint {
    pub address: String,
    /// The binding's soapAction: which WS-Trust it speaks.
    pub action: String,
}

impl UsernameEndpoint {
    /// MSAL takes https endpoints only.
    pub fn is_https(&self) -> bool {
        self.address.to_ascii_lowercase().starts_with("https://")
    }
}

/// Every username-and-password endpoint of a MEX document, https or not, in document order.
pub fn username_endpoints(xml: &str) -> Result<Vec<UsernameEndpoint>, ProtocolError> {
    let parsed = reader::parse(xml, &Limits::METADATA)?;
    let root = parsed.root_element();
    if !is(&root, WSDL, "definitions") {
        return Err(ProtocolError::metadata("the MEX document is not a WSDL definitions element"));
    }
    let policies: Vec<String> = children(root, WSP, "Policy")
        .filter(|policy| username_policy(*policy))
        .filter_map(|policy| policy.attribute((WSU, "Id")).map(|id| format!("#{id}")))
        .collect();
    // By name, as MSAL keeps them (a dict): a later binding of the same name replaces an
    // earlier one, and of a binding's policy references only the last counts.
    let mut bindings: Vec<(&str, Option<&str>, &str)> = Vec::new();
    for binding in children(root, WSDL, "binding") {
        let name = binding.attribute("name").unwrap_or_default();
        // MSAL reads these without looking whether they are there: a binding without them
        // stops it (an AttributeError), whatever else MEX offers.
        let transport = children(binding, SOAP12_WSDL, "binding")
            .next()
            .ok_or_else(|| {
                ProtocolError::metadata(format!("binding {name:?} has no soap12:binding, which MSAL fails on"))
            })?
            .attribute("transport");
        if transport != Some(SOAP_HTTP) {
            continue;
        }
        let action = children(binding, WSDL, "operation")
            .flat_map(|operation| children(operation, SOAP12_WSDL, "operation"))
            .next()
            .ok_or_else(|| {
                ProtocolError::metadata(format!("binding {name:?} has no soap12:operation, which MSAL fails on"))
            })?
            .attribute("soapAction")
            .unwrap_or_default();
        let Some(reference) = children(binding, WSP, "PolicyReference").last() else { continue };
        bindings.retain(|(known, _, _)| *known != name);
        bindings.push((name, reference.attribute("URI"), action));
    }
    let mut endpoints = Vec::new();
    for port in children(root, WSDL, "service").flat_map(|service| children(service, WSDL, "port")) {
        let binding = port
            .attribute("binding")
            .ok_or_else(|| ProtocolError::metadata("a port names no binding, which MSAL fails on"))?;
        let binding = binding.rsplit(':').next().unwrap_or_default();
        let Some((_, _, action)) = bindings
            .iter()
            .find(|(name, policy, _)| *name == binding && policy.is_some_and(|uri| policies.iter().any(|p| p == uri)))
        else {
            continue;
        };
        let Some(address) =
            children(port, WSA10, "EndpointReference").flat_map(|r| children(r, WSA10, "Address")).next()
        else {
            continue;
        };
        // Taken as written: MSAL does not trim it either.
        let address = address
            .text()
            .ok_or_else(|| ProtocolError::metadata("a port's Address is empty, which MSAL fails on"))?
            .to_string();
        endpoints.push(UsernameEndpoint { address, action: action.to_string() });
    }
    Ok(endpoints)
}

/// The endpoint MSAL would use: https only, WS-Trust 1.3 first.
pub fn msal_choice(endpoints: &[UsernameEndpoint]) -> Option<&UsernameEndpoint> {
    let usable = || endpoints.iter().filter(|e| e.is_https());
    usable().find(|e| e.action == ACTION_13).or_else(|| usable().next())
}

/// A policy whose `ExactlyOne/All` holds a username token (WSS 1.0) among its signed supporting
/// tokens, and a transport binding anywhere.
fn username_policy(policy: Node<'_, '_>) -> bool {
    let versions = [(SP, "SignedEncryptedSupportingTokens"), (SP2005, "SignedSupportingTokens")];
    versions.iter().any(|&(ns, supporting)| {
        let token = children(policy, WSP, "ExactlyOne")
            .flat_map(|n| children(n, WSP, "All"))
            .flat_map(|n| children(n, ns, supporting))
            .flat_map(|n| children(n, WSP, "Policy"))
            .flat_map(|n| children(n, ns, "UsernameToken"))
            .flat_map(|n| children(n, WSP, "Policy"))
            .any(|n| children(n, ns, "WssUsernameToken10").next().is_some());
        token && policy.descendants().any(|n| is(&n, ns, "TransportBinding"))
    })
}

fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    namespace: &'a str,
    local: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |n| is(n, namespace, local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wstrust::ACTION_2005;
    use crate::wstrust::mex::{MexEndpoints, build_mex};

    #[test]
    fn tessera_s_own_mex_yields_both_endpoints_and_msal_takes_1_3() {
        let mex = build_mex(&MexEndpoints {
            trust_13: "https://idp.example.com/13",
            trust_2005: "https://idp.example.com/2005",
            windows: None,
        });
        let endpoints = username_endpoints(&mex).unwrap();
        assert_eq!(endpoints.len(), 2, "{endpoints:?}");
        assert!(endpoints.iter().any(|e| e.address == "https://idp.example.com/2005" && e.action == ACTION_2005));
        assert_eq!(msal_choice(&endpoints).unwrap().address, "https://idp.example.com/13");
    }

    #[test]
    fn http_endpoints_are_listed_but_not_chosen() {
        let mex = build_mex(&MexEndpoints {
            trust_13: "http://idp.example.com/13",
            trust_2005: "http://idp.example.com/2005",
            windows: None,
        });
        let endpoints = username_endpoints(&mex).unwrap();
        assert_eq!(endpoints.len(), 2);
        assert!(msal_choice(&endpoints).is_none());
        assert!(username_endpoints("<a/>").is_err());
        let no_transport = mex.replacen("<soap12:binding transport=\"http://schemas.xmlsoap.org/soap/http\"/>", "", 1);
        assert_ne!(no_transport, mex);
        assert!(username_endpoints(&no_transport).is_err(), "MSAL would fail on it");
        assert!(username_endpoints("<!DOCTYPE a><a/>").is_err());
    }
}
