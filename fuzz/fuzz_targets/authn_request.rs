//! The AuthnRequest decoders and reader on arbitrary input (both bindings): never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_protocols::saml2::authn_request::{decode_post, decode_redirect, parse_authn_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_authn_request(text);
    for decoded in [decode_redirect(text), decode_post(text)].into_iter().flatten() {
        let _ = parse_authn_request(&decoded);
    }
});
