//! Pure protocol code: bytes in, typed values out, and back. No I/O.

pub mod claims;
mod error;
pub mod percent;
pub mod saml11;
pub mod saml2;
pub mod wsfed;
pub mod wstrust;

pub use error::ProtocolError;
