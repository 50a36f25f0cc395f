//! Pure protocol code: bytes in, typed values out, and back. No I/O.

pub mod claims;
mod error;
pub mod percent;
pub mod saml11;
pub mod saml2;
#[cfg(test)]
mod token_tests;
pub mod wsfed;
pub mod wstrust;

pub use error::ProtocolError;

/// Whether `node` is the element `local` of `namespace`: every reader's one question.
pub(crate) fn is_element(node: &tessera_xml::roxmltree::Node<'_, '_>, namespace: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(namespace) && node.tag_name().name() == local
}
