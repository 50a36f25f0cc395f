//! Authentication primitives: argon2id password hashes, random secrets, token digests.

pub mod lockout;
pub mod password;
pub mod secret;
pub mod totp;

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
}
