//! What the token writers' unit tests share: a signer that needs no key, a value that
//! exercises every escape, and the two checks each writer of fixed text is held to.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};

use tessera_xml::{Signer, XmlError};

/// Signs with a fixed value and counts its calls. A signed document carries the digest and the
/// SignedInfo that was signed, so comparing documents still compares everything signed.
#[derive(Default)]
pub(crate) struct CountingSigner(AtomicUsize);

impl CountingSigner {
    /// How many signatures were asked of it.
    pub(crate) fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Signer for CountingSigner {
    fn sign(&self, _data: &[u8]) -> Result<Vec<u8>, XmlError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(vec![0x5a; 256])
    }

    fn certificate_der(&self) -> &[u8] {
        b"certificate"
    }
}

/// What every value escapes to somewhere: each character c14n replaces in text or in an
/// attribute, a quote of each kind, non-ASCII (a character reference in an ASCII document),
/// and what closes a CDATA section.
pub(crate) const ODD: &str = "a&b<c>d\"e'f\tg\nh\ri ]]> zoë 名";

/// A token written by `writer`, given its parameters and a signer.
pub(crate) type Writer<'w, P> = &'w dyn Fn(&P, &CountingSigner) -> Result<String, XmlError>;

/// Each case written as fixed text (`text`) and as elements (`elements`) is the same bytes,
/// one signature each way.
pub(crate) fn text_is_what_the_elements_write<P: Debug>(cases: &[P], text: Writer<'_, P>, elements: Writer<'_, P>) {
    for p in cases {
        let signer = CountingSigner::default();
        let written = text(p, &signer).unwrap();
        assert_eq!(written, elements(p, &signer).unwrap(), "{p:?}");
        assert_eq!(signer.calls(), 2, "one signature each way");
    }
}

/// A field of a token's parameters, by name, and how to set it to a value.
pub(crate) type Field<P> = (&'static str, fn(&mut P, &'static str));

/// `base()` with one field at a time set (`set`) to a control character and then to U+FFFE,
/// neither of which XML can carry: `writer` refuses each, naming the character, before
/// anything is signed.
pub(crate) fn refused_in_every_field<P>(base: impl Fn() -> P, fields: &[Field<P>], writer: Writer<'_, P>) {
    for (field, set) in fields {
        for (bad, code) in [("\u{1}", 1), ("\u{FFFE}", 0xFFFE)] {
            let mut p = base();
            set(&mut p, bad);
            let signer = CountingSigner::default();
            let refused = writer(&p, &signer);
            assert!(matches!(refused, Err(XmlError::IllegalCharacter(c)) if c == code), "{field}: {refused:?}");
            assert_eq!(signer.calls(), 0, "{field}: the signer was called");
        }
    }
}
