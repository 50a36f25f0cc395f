//! WS-Trust RST reading and checking, and WS-Federation passive request reading, on arbitrary
//! input: never a panic, and every fault renders as a SOAP envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_protocols::wsfed::{PassiveRequest, accept_sign_in, parse_passive};
use tessera_protocols::wstrust::request::parse_request;
use tessera_protocols::wstrust::{SoapVersion, TrustVersion};

fuzz_target!(|data: &[u8]| {
    for version in [TrustVersion::V13, TrustVersion::Feb2005] {
        for action in [None, Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue")] {
            match parse_request(data, version, action) {
                Ok(request) => {
                    let endpoint = "https://idp.example.com/m365/contoso.com/adfs/services/trust/13/usernamemixed";
                    let _ = request.check(1_795_428_000_000, 300_000, endpoint, &["urn:federation:MicrosoftOnline"]);
                }
                Err(fault) => {
                    let _ = fault.envelope(SoapVersion::Soap12, version, Some("urn:uuid:x"));
                    let _ = fault.envelope(SoapVersion::Soap11, version, None);
                }
            }
        }
    }
    // The same bytes as a passive query, split as a browser would send it.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let params: Vec<(String, String)> = text
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    if let Ok(PassiveRequest::SignIn(request)) = parse_passive(&params) {
        let _ = accept_sign_in(&request, "urn:federation:MicrosoftOnline", &["https://login.microsoftonline.com/login.srf"]);
    }
});
