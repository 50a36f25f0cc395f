//! Random secrets and their digests. Tokens are shown once and stored only as SHA-256.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::AuthError;

pub fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A fresh identifier for a token, a message or a sign-on's trace: a version 4 UUID in simple
/// form (32 hex digits). Its 122 random bits come from aws-lc's generator in this process,
/// which the kernel seeds: on Linux no system call per identifier, where `Uuid::new_v4` makes
/// one (a SAML sign-on took three). Should that generator ever fail, the system's source is
/// asked.
pub fn unique_id() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes = random_bytes()?;
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(tessera_core::lower_hex(&bytes))
}

/// An admin API token: a recognisable prefix and 256 random bits.
pub fn new_api_token() -> Result<String, AuthError> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(format!("tsr_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// A one-time password a person types: 20 characters from an alphabet without look-alikes.
pub fn new_one_time_password() -> Result<String, AuthError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 20] = random_bytes()?;
    // 256 % 55 leaves a small bias; at 20 characters the password still has > 110 bits.
    Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect())
}

/// Base64 of 16 random bytes: the form Entra Connect uses for a GUID source anchor.
pub fn new_immutable_id() -> Result<String, AuthError> {
    let bytes: [u8; 16] = random_bytes()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A session id: 256 random bits, URL-safe.
pub fn new_session_id() -> Result<String, AuthError> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Ten single-use recovery codes like `k7wq-3mzp-xd`, about 50 bits each.
pub fn new_recovery_codes() -> Result<Vec<String>, AuthError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..10)
        .map(|_| {
            let bytes: [u8; 10] = random_bytes()?;
            let chars: String = bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
            Ok(format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..]))
        })
        .collect()
}

/// How a recovery code is stored: SHA-256 of its normalized form (case and dashes ignored).
pub fn recovery_code_hash(code: &str) -> String {
    let normalized: String =
        code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    sha256_hex(&format!("tessera-recovery-code:{normalized}"))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Hex SHA-256, how tokens are stored and looked up.
pub fn sha256_hex(text: &str) -> String {
    sha256_hex_of(text.as_bytes())
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex_of(bytes: &[u8]) -> String {
    tessera_core::lower_hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Version 4 UUIDs in simple form, as `Uuid::new_v4().simple()` wrote them: 32 lower-case
    /// hex digits, the version digit 4, the variant's digit one of 8, 9, a, b; no two alike.
    #[test]
    fn unique_ids_are_version_4_uuids_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| unique_id().unwrap()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{id}");
            assert_eq!(&id[12..13], "4", "{id}");
            assert!("89ab".contains(&id[16..17]), "{id}");
        }
        // Every other bit varies: no digit stands still across the ids.
        let first = ids.iter().next().unwrap().as_bytes();
        for place in (0..32).filter(|place| *place != 12) {
            assert!(ids.iter().any(|id| id.as_bytes()[place] != first[place]), "digit {place} never changes");
        }
    }

    #[test]
    fn tokens_are_distinct_and_prefixed() {
        let a = new_api_token().unwrap();
        let b = new_api_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("tsr_") && a.len() == 4 + 43);
    }

    #[test]
    fn immutable_id_is_24_chars() {
        let id = new_immutable_id().unwrap();
        assert_eq!(id.len(), 24);
        assert!(id.ends_with("=="));
    }

    #[test]
    fn sha256_hex_known_value() {
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
