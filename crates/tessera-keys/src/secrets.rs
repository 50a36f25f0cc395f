//! What the master key guards besides signing keys: secrets sealed at rest (TOTP secrets, Graph
//! credentials) and keyed pseudonyms. Signing in needs only this, so it reads settings and
//! nothing of the signing keys.

use aws_lc_rs::hmac;
use base64::Engine;
use tessera_store::{SETTING_MASTER_KEY_CHECK, SettingsStore};

use crate::{KeyCipher, KeyError, MASTER_KEY_LEN};

/// What the pseudonym key is derived for, from the master key.
const PSEUDONYM_KEY_LABEL: &[u8] = b"tessera-pseudonym-key:v1";
/// What the audit chain's key is derived for.
const AUDIT_CHAIN_KEY_LABEL: &[u8] = b"tessera-audit-chain-key:v1";

pub struct Secrets {
    cipher: KeyCipher,
    /// Keys [`Secrets::pseudonym`], derived from the master key.
    pseudonyms: hmac::Key,
    /// Keys the audit trail's chain, derived from the master key.
    audit_chain: [u8; 32],
}

impl Secrets {
    /// Checks the master key against the database (or, on a database that has none yet,
    /// records the check value): a wrong key stops here, before anything is sealed with it.
    pub async fn open(settings: &dyn SettingsStore, master_key: &[u8; MASTER_KEY_LEN]) -> Result<Self, KeyError> {
        let cipher = KeyCipher::new(master_key)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        match settings.get_setting(SETTING_MASTER_KEY_CHECK).await? {
            Some(stored) => {
                let sealed = b64.decode(stored.trim()).map_err(|_| KeyError::WrongMasterKey)?;
                cipher.verify_check_value(&sealed)?;
            }
            None => settings.set_setting(SETTING_MASTER_KEY_CHECK, &b64.encode(cipher.check_value()?)).await?,
        }
        let master = hmac::Key::new(hmac::HMAC_SHA256, master_key);
        let derived = hmac::sign(&master, PSEUDONYM_KEY_LABEL);
        let mut audit_chain = [0u8; 32];
        audit_chain.copy_from_slice(hmac::sign(&master, AUDIT_CHAIN_KEY_LABEL).as_ref());
        Ok(Secrets { cipher, pseudonyms: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()), audit_chain })
    }

    /// Whether `master_key` is the one a database was set up with, by the check value it
    /// stored (`SETTING_MASTER_KEY_CHECK`, base64), without opening a store: a backup is
    /// checked this way before it is restored.
    pub fn verify_master_key(stored_check: &str, master_key: &[u8; MASTER_KEY_LEN]) -> Result<(), KeyError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(stored_check.trim())
            .map_err(|_| KeyError::WrongMasterKey)?;
        KeyCipher::new(master_key)?.verify_check_value(&sealed)
    }

    /// Whether the database already has a master-key check value, i.e. whether a master key
    /// was ever used with it (and so must not be replaced by a new one).
    pub async fn database_has_master_key(settings: &dyn SettingsStore) -> Result<bool, KeyError> {
        Ok(settings.get_setting(SETTING_MASTER_KEY_CHECK).await?.is_some())
    }

    /// Seals a secret other than a signing key (a TOTP secret) under the master key, bound to
    /// `context`.
    pub fn seal_secret(&self, secret: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        self.cipher.seal(secret, context)
    }

    pub fn open_secret(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        self.cipher.open(sealed, context)
    }

    /// A keyed digest of `value` for `purpose` (hex, 128 bits): the same value always gives the
    /// same pseudonym, so records still correlate, but without the master key nobody can test a
    /// guess against it (a password typed into a name field stays unreadable in the audit
    /// trail).
    pub fn pseudonym(&self, purpose: &str, value: &str) -> String {
        let mut message = Vec::with_capacity(purpose.len() + 1 + value.len());
        message.extend_from_slice(purpose.as_bytes());
        message.push(0);
        message.extend_from_slice(value.as_bytes());
        let tag = hmac::sign(&self.pseudonyms, &message);
        tessera_core::lower_hex(&tag.as_ref()[..16])
    }

    /// The key of the audit trail's chain, for the store (`AuditChain::seal_audit_with`):
    /// HMAC-SHA-256 of its label under the master key.
    pub fn audit_chain_key(&self) -> tessera_store::AuditKey {
        tessera_store::AuditKey::new(self.audit_chain)
    }

    pub(crate) fn cipher(&self) -> &KeyCipher {
        &self.cipher
    }
}
