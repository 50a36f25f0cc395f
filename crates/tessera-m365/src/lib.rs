//! Microsoft 365 administration: the PowerShell that federates a domain with a connector, and
//! the same done through Microsoft Graph (a client of its own, preflight checks, converging a
//! domain's federation configuration to its connector, and back to Managed), and Tessera's users
//! against Entra's (ImmutableID coverage).

pub mod certificates;
pub mod converge;
pub mod coverage;
pub mod entra_users;
mod error;
pub mod federation;
pub mod graph;
mod powershell;
pub mod preflight;

pub use error::M365Error;
pub use powershell::{FederationCommand, Protocol, Style, federation_command};
