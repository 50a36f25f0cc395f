//! Authentication: argon2id password hashes, TOTP, random secrets and token digests, and the
//! procedures every sign-in channel shares over small store roles: the password check (spray
//! throttling, smart lockout), the second-factor check and enrolment, and the session
//! lifecycle. Time comes from a [`tessera_core::Clock`]; nothing here renders a page.

pub mod account;
pub mod admin;
pub mod admin_passkey;
pub mod authenticate;
pub mod change_at_source;
pub mod client;
pub mod directory;
pub mod enrol;
pub mod gate;
pub mod kerberos;
pub mod lockout;
pub mod passkey;
pub mod passkey_check;
pub mod password;
pub mod secret;
pub mod session;
pub mod totp;

use tessera_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the password must be {min} to {max} characters")]
    PasswordLength { min: usize, max: usize },
    #[error("the password contains a control character")]
    PasswordControl,
    #[error("the stored password hash is not a valid PHC string")]
    BadStoredHash,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("too many passwords are being checked at once; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u32 },
    /// A passkey ceremony refused (the answer, its state, or the relying party's setup).
    #[error("passkey: {0}")]
    Passkey(String),
    /// An enrolment by an authenticator whose model (the AAGUID it states) is not allowed.
    #[error("passkey: the authenticator's model {0} is not one this server allows")]
    PasskeyModel(String),
    /// Windows integrated sign-in could not be attempted (not a refused ticket: those are
    /// outcomes).
    #[error("kerberos: {0}")]
    Kerberos(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] tessera_keys::KeyError),
}
