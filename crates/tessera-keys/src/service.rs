//! Keys as the rest of Tessera uses them: made and sealed for new apps, rotated, and opened
//! into a parsed signer that is cached by key id (a rotation gives a new id, so no stale key
//! outlives it; the current key id is read from the store on every use).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use base64::Engine;
use tessera_core::{Actor, AppId, Clock, UnixMillis};
use tessera_store::{KeySlot, NewSigningKey, SETTING_MASTER_KEY_CHECK, Store, StoredKey};
use tessera_xml::RsaSigner;

use crate::generate::{KeySize, certificate_thumbprint_sha256, generate_key};
use crate::{KeyCipher, KeyError, MASTER_KEY_LEN};

/// Certificates last three years unless the admin says otherwise.
pub const DEFAULT_VALIDITY_DAYS: u32 = 3 * 365;

pub struct KeyService {
    store: Arc<dyn Store>,
    /// When certificates start to be valid, and how old a remembered signer is.
    clock: Arc<dyn Clock>,
    cipher: KeyCipher,
    signers: Mutex<HashMap<String, Arc<RsaSigner>>>,
    /// The signer in use per app, remembered for at most `CURRENT_KEY_TTL_MS`, so that a rotation
    /// made by another process is seen within a second (CONTRACT.md) without a store read per
    /// signature.
    current: Mutex<HashMap<AppId, (Arc<RsaSigner>, UnixMillis)>>,
    /// Keys [`KeyService::pseudonym`], derived from the master key.
    pseudonyms: hmac::Key,
}

const CURRENT_KEY_TTL_MS: i64 = 1000;

/// What the pseudonym key is derived for, from the master key.
const PSEUDONYM_KEY_LABEL: &[u8] = b"tessera-pseudonym-key:v1";

/// What a sealed private key is bound to: its app and its key id.
pub fn seal_context(app: AppId, key_id: &str) -> String {
    format!("tessera-signing-key:v1:{app}:{key_id}")
}

impl KeyService {
    /// Checks the master key against the database (or, on a database that has none yet,
    /// records the check value): a wrong key stops here, before anything is sealed with it.
    pub async fn open(
        store: Arc<dyn Store>,
        master_key: &[u8; MASTER_KEY_LEN],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        let cipher = KeyCipher::new(master_key)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        match store.get_setting(SETTING_MASTER_KEY_CHECK).await? {
            Some(stored) => {
                let sealed = b64.decode(stored.trim()).map_err(|_| KeyError::WrongMasterKey)?;
                cipher.verify_check_value(&sealed)?;
            }
            None => store.set_setting(SETTING_MASTER_KEY_CHECK, &b64.encode(cipher.check_value()?)).await?,
        }
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, master_key), PSEUDONYM_KEY_LABEL);
        Ok(KeyService {
            pseudonyms: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            store,
            clock,
            cipher,
            signers: Mutex::new(HashMap::new()),
            current: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the database already has a master-key check value, i.e. whether a master key
    /// was ever used with it (and so must not be replaced by a new one).
    pub async fn database_has_master_key(store: &dyn Store) -> Result<bool, KeyError> {
        Ok(store.get_setting(SETTING_MASTER_KEY_CHECK).await?.is_some())
    }

    /// Generates and seals a key for `app` (CPU-heavy: off the async threads).
    pub async fn new_key(
        &self,
        app: AppId,
        subject: &str,
        size: KeySize,
        validity_days: u32,
    ) -> Result<NewSigningKey, KeyError> {
        let subject = subject.to_string();
        let now = self.clock.now_millis();
        let generated = tokio::task::spawn_blocking(move || generate_key(size, &subject, validity_days, now))
            .await
            .map_err(|e| KeyError::Generation(e.to_string()))??;
        let id = uuid::Uuid::now_v7().to_string();
        let sealed_private_key = self.cipher.seal(&generated.pkcs8, &seal_context(app, &id))?;
        Ok(NewSigningKey {
            thumbprint: certificate_thumbprint_sha256(&generated.certificate_der),
            id,
            bits: size.bits(),
            sealed_private_key,
            certificate_der: generated.certificate_der,
            not_after: generated.not_after_millis,
        })
    }

    /// A new current key for `app`, in use at once; the old key is destroyed.
    pub async fn rotate(
        &self,
        actor: &Actor,
        app: AppId,
        subject: &str,
        size: KeySize,
        validity_days: u32,
    ) -> Result<StoredKey, KeyError> {
        let key = self.new_key(app, subject, size, validity_days).await?;
        let stored = self.store.replace_current_key(actor, app, key).await?;
        if let Ok(mut current) = self.current.lock() {
            current.remove(&app);
        }
        Ok(stored)
    }

    /// A next key for `app`, published but not signing until [`KeyService::promote`].
    pub async fn stage(
        &self,
        actor: &Actor,
        app: AppId,
        subject: &str,
        size: KeySize,
        validity_days: u32,
    ) -> Result<StoredKey, KeyError> {
        let key = self.new_key(app, subject, size, validity_days).await?;
        Ok(self.store.stage_key(actor, app, key).await?)
    }

    /// The staged key signs from now on; the old key is destroyed and its certificate stays
    /// published until `published_until`.
    pub async fn promote(&self, actor: &Actor, app: AppId, published_until: UnixMillis) -> Result<StoredKey, KeyError> {
        let promoted = self.store.promote_key(actor, app, published_until).await?;
        if let Ok(mut current) = self.current.lock() {
            current.remove(&app);
        }
        Ok(promoted)
    }

    /// The signer for `app`'s current key.
    pub async fn signer(&self, app: AppId) -> Result<Arc<RsaSigner>, KeyError> {
        let now = self.clock.now_millis();
        if let Some((signer, at)) = self.current.lock().ok().and_then(|c| c.get(&app).cloned())
            && (0..CURRENT_KEY_TTL_MS).contains(&(now - at))
        {
            return Ok(signer);
        }
        let signer = self.load_signer(app).await?;
        if let Ok(mut current) = self.current.lock() {
            current.insert(app, (signer.clone(), now));
        }
        Ok(signer)
    }

    async fn load_signer(&self, app: AppId) -> Result<Arc<RsaSigner>, KeyError> {
        let stored =
            self.store.signing_key(app, KeySlot::Current).await?.ok_or_else(|| KeyError::NoKey(app.to_string()))?;
        if let Some(signer) = self.cached(&stored.id) {
            return Ok(signer);
        }
        let pkcs8 = self.cipher.open(&stored.sealed_private_key, &seal_context(app, &stored.id))?;
        let signer = Arc::new(RsaSigner::from_pkcs8(&pkcs8, stored.certificate_der)?);
        if let Ok(mut cache) = self.signers.lock() {
            cache.insert(stored.id, signer.clone());
        }
        Ok(signer)
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
        tag.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn cached(&self, key_id: &str) -> Option<Arc<RsaSigner>> {
        self.signers.lock().ok().and_then(|cache| cache.get(key_id).cloned())
    }
}
