//! What the token writers' unit tests share: a signer that needs no key, and a value that
//! exercises every escape.

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
