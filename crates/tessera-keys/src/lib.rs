//! Signing keys and certificates: one RSA key and self-signed certificate per application,
//! the private key encrypted at rest under the master key, parsed once and cached.
//!
//! This crate makes and guards keys; it signs no protocol message itself.

mod cipher;
mod generate;
mod secrets;
mod service;

pub use cipher::{KeyCipher, MASTER_KEY_LEN};
pub use generate::{KeySize, certificate_not_after, certificate_thumbprint_sha256, generate_key};
pub use secrets::Secrets;
pub use service::{DEFAULT_VALIDITY_DAYS, KeyService, seal_context};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the master key does not match this database: restore the master.key (or TESSERA_MASTER_KEY) \
         that the database was created with"
    )]
    WrongMasterKey,
    #[error("a stored private key cannot be decrypted: {0}")]
    Undecryptable(String),
    #[error("key generation failed: {0}")]
    Generation(String),
    #[error("{0}")]
    Invalid(String),
    #[error("application {0} has no signing key")]
    NoKey(String),
    #[error(transparent)]
    Store(#[from] tessera_store::StoreError),
    #[error(transparent)]
    Xml(#[from] tessera_xml::XmlError),
}
