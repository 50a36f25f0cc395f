//! The strict verifier and the Redirect-binding verifier on arbitrary input: never a panic,
//! and nothing verifies without the registered key's signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_protocols::saml2::redirect::verify_redirect_query;
use tessera_xml::dsig::AlgorithmPolicy;
use tessera_xml::{VerifyingKey, verify_enveloped};

static CERT: &[u8] = include_bytes!("../../crates/tessera-xml/tests/data/idp-cert.der");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(key) = VerifyingKey::from_certificate_der(CERT) else { return };
    for policy in [AlgorithmPolicy::default(), AlgorithmPolicy { allow_sha1: true }] {
        let _ = verify_enveloped(text, "ID", &key, policy);
        let _ = verify_redirect_query(text, Some(&key), policy);
        let _ = verify_redirect_query(text, None, policy);
    }
});
