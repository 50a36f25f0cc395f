//! Hardened XML for Tessera: reading untrusted input under caps, with no DTD ever.
//!
//! This crate knows XML and XML-DSig, never SAML.

pub mod reader;

pub use reader::{Limits, ParsedXml, XmlError, element_text};
pub use roxmltree;
