//! AuthnRequest and LogoutRequest acceptance on arbitrary input, as a Redirect query and as a
//! POST field, for an SP with and without a registered key: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::{AcsEndpoint, SamlBinding};
use tessera_protocols::saml2::logout::accept_logout_request;
use tessera_protocols::saml2::sso::{Binding, RegisteredSp, accept_authn_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let acs = [AcsEndpoint {
        url: "https://login.microsoftonline.com/login.srf".into(),
        binding: SamlBinding::HttpPost,
        index: 0,
        is_default: true,
    }];
    let key = tessera_xml::VerifyingKey::from_certificate_der(include_bytes!("../sp-cert.der")).ok();
    for key in [None, key.as_ref()] {
        let sp = RegisteredSp {
            entity_id: "urn:federation:MicrosoftOnline",
            acs: &acs,
            require_signed_requests: key.is_some(),
            key,
            allow_sha1: true,
            name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            entra: true,
        };
        for binding in [
            Binding::Redirect { raw_query: text },
            Binding::Post { saml_request: text, relay_state: Some(text) },
            Binding::Soap { authn_request: text },
        ] {
            let _ = accept_authn_request(binding, &sp, "https://idp.example.com/sso", 1_795_428_000_000, 300_000);
            let _ = accept_logout_request(binding, &sp, "https://idp.example.com/slo", 1_795_428_000_000, 300_000);
        }
    }
});
