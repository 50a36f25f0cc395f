//! SAML 2.0.

pub mod authn_request;
pub mod ecp;
pub mod idp_metadata;
pub mod logout;
pub mod redirect;
pub mod registration;
pub mod response;
pub mod sp_metadata;
pub mod sso;

pub const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
