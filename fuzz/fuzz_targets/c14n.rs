//! Exclusive c14n on arbitrary documents: never a panic, and canonical output is a fixed
//! point (canonicalizing it again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_xml::c14n::{C14nOptions, canonicalize};
use tessera_xml::{Limits, reader};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = reader::decode_utf8(rest, &Limits::MESSAGE) else { return };
    let Ok(parsed) = reader::parse(text, &Limits::MESSAGE) else { return };
    let options = C14nOptions {
        with_comments: flags & 1 == 1,
        inclusive_prefixes: if flags & 2 == 2 { vec!["a".into(), "#default".into()] } else { Vec::new() },
    };
    let Ok(first) = canonicalize(text, parsed.root_element(), None, &options) else { return };
    let reparsed = reader::parse(&first, &Limits::METADATA).expect("canonical output parses");
    let second = canonicalize(&first, reparsed.root_element(), None, &options).expect("canonical output canonicalizes");
    assert_eq!(first, second, "c14n is not idempotent");
});
