//! Pure protocol code: bytes in, typed values out, and back. No I/O.

mod error;
pub mod saml2;

pub use error::ProtocolError;
