//! AES-256-GCM under the master key. Each sealed value is bound (as associated data) to what
//! it belongs to, so a ciphertext moved to another row or app does not decrypt.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

use crate::KeyError;

pub const MASTER_KEY_LEN: usize = 32;
const FORMAT_VERSION: u8 = 1;
const CHECK_PLAINTEXT: &[u8] = b"tessera master key check";
const CHECK_CONTEXT: &str = "tessera-master-key-check:v1";

pub struct KeyCipher {
    key: RandomizedNonceKey,
}

impl KeyCipher {
    pub fn new(master_key: &[u8; MASTER_KEY_LEN]) -> Result<Self, KeyError> {
        let key = RandomizedNonceKey::new(&AES_256_GCM, master_key)
            .map_err(|_| KeyError::Invalid("the master key is not a valid AES-256 key".into()))?;
        Ok(KeyCipher { key })
    }

    /// `version || nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| KeyError::Generation("encryption failed".into()))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(FORMAT_VERSION);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        let (version, rest) = sealed.split_first().ok_or_else(|| KeyError::Undecryptable("empty".into()))?;
        if *version != FORMAT_VERSION || rest.len() < NONCE_LEN {
            return Err(KeyError::Undecryptable("unknown format".into()));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Undecryptable("bad nonce".into()))?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| KeyError::Undecryptable("authentication failed".into()))?;
        Ok(plaintext.to_vec())
    }

    /// A value stored beside the data that proves, at start-up, that this is the master key
    /// the data was sealed with.
    pub fn check_value(&self) -> Result<Vec<u8>, KeyError> {
        self.seal(CHECK_PLAINTEXT, CHECK_CONTEXT)
    }

    pub fn verify_check_value(&self, stored: &[u8]) -> Result<(), KeyError> {
        match self.open(stored, CHECK_CONTEXT) {
            Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
            _ => Err(KeyError::WrongMasterKey),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let cipher = KeyCipher::new(&[7u8; 32]).unwrap();
        let sealed = cipher.seal(b"secret", "app:1").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(cipher.open(&sealed, "app:1").unwrap(), b"secret");
        assert!(cipher.open(&sealed, "app:2").is_err(), "bound to its context");
        let other = KeyCipher::new(&[8u8; 32]).unwrap();
        assert!(other.open(&sealed, "app:1").is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(cipher.open(&tampered, "app:1").is_err());
    }

    #[test]
    fn check_value_detects_a_wrong_master_key() {
        let check = KeyCipher::new(&[1u8; 32]).unwrap().check_value().unwrap();
        assert!(KeyCipher::new(&[1u8; 32]).unwrap().verify_check_value(&check).is_ok());
        assert!(matches!(
            KeyCipher::new(&[2u8; 32]).unwrap().verify_check_value(&check),
            Err(KeyError::WrongMasterKey)
        ));
    }
}
