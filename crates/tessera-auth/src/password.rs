//! Argon2id password hashes as PHC strings, so each hash carries its own parameters and the
//! cost can be raised later without invalidating stored hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{AuthError, secret};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): about 20 ms a hash on the CI machine.
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

fn hasher() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks the password policy: length in characters, no control characters.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(AuthError::PasswordLength { min: MIN_PASSWORD_CHARS, max: MAX_PASSWORD_CHARS });
    }
    if password.chars().any(char::is_control) {
        return Err(AuthError::PasswordControl);
    }
    Ok(())
}

/// Hashes a password that passed [`check_policy`].
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    check_policy(password)?;
    let salt_bytes: [u8; 16] = secret::random_bytes()?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::Hashing(e.to_string()))?;
    let hash = hasher()?.hash_password(password.as_bytes(), &salt).map_err(|e| AuthError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

/// Verifies a password against a stored PHC string, with the parameters the string names.
pub fn verify_password(password: &str, stored: &str) -> Result<bool, AuthError> {
    let parsed = PasswordHash::new(stored).map_err(|_| AuthError::BadStoredHash)?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(AuthError::BadStoredHash);
    }
    Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_carries_its_parameters_and_verifies() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash).unwrap());
        assert!(!verify_password("correct horse batterY", &hash).unwrap());
    }

    #[test]
    fn policy_refuses_short_long_and_control() {
        assert!(matches!(hash_password("short"), Err(AuthError::PasswordLength { .. })));
        assert!(matches!(hash_password(&"x".repeat(257)), Err(AuthError::PasswordLength { .. })));
        assert!(matches!(hash_password("tab\tinside!"), Err(AuthError::PasswordControl)));
    }

    #[test]
    fn garbage_stored_hash_is_an_error_not_a_match() {
        assert!(matches!(verify_password("x", "not-a-hash"), Err(AuthError::BadStoredHash)));
        assert!(matches!(
            verify_password("x", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
            Err(AuthError::BadStoredHash)
        ));
    }
}
