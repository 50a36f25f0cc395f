//! The hardened reader on arbitrary bytes: never a panic, and identity text either reads or
//! is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_xml::{Limits, element_text, reader};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = reader::decode_utf8(data, &Limits::MESSAGE) else { return };
    let Ok(parsed) = reader::parse(text, &Limits::MESSAGE) else { return };
    for node in parsed.document().descendants().filter(|n| n.is_element()) {
        let _ = element_text(node);
    }
});
