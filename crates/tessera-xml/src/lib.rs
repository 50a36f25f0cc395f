//! Hardened XML for Tessera: reading untrusted input under caps (no DTD, ever), writing
//! canonical XML, exclusive c14n of parsed input, enveloped XML-DSig signing and strict
//! verification, and detached signatures over bytes (what the HTTP-Redirect binding signs).
//!
//! This crate knows XML and XML-DSig, never SAML. It does no I/O.

pub mod c14n;
pub mod dsig;
pub mod fixed;
pub mod reader;
pub mod sign;
pub mod verify;
pub mod writer;

pub use c14n::escape_into;
pub use dsig::AlgorithmPolicy;
pub use fixed::CanonicalText;
pub use reader::{Limits, ParsedXml, XmlError, element_text};
pub use roxmltree;
pub use sign::{
    RsaSigner, SignaturePlacement, Signer, sign_enveloped, signed_document, signed_text, without_signature_values,
};
pub use verify::{VerifiedXml, VerifyingKey, verify_detached, verify_enveloped};
pub use writer::Element;
