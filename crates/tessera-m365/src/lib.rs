//! Microsoft 365 administration: the PowerShell that federates a domain with a connector.
//! (The Microsoft Graph client joins this crate with the Graph federation work.)

mod powershell;

pub use powershell::{FederationCommand, M365Error, Protocol, Style, federation_command};
