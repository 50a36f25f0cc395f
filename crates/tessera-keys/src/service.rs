//! Keys as the rest of Tessera uses them: made and sealed for new apps, rotated, and opened
//! into a parsed signer that is cached by key id (a rotation gives a new id, so no stale key
//! outlives it; the current key id is read from the store on every use).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tessera_core::{Actor, AppId, Clock, UnixMillis};
use tessera_store::{KeySlot, KeyStore, NewSigningKey, Store, StoredKey};
use tessera_xml::RsaSigner;

use crate::generate::{KeySize, certificate_thumbprint_sha256, generate_key};
use crate::{KeyError, MASTER_KEY_LEN, Secrets};

/// Certificates last three years unless the admin says otherwise.
pub const DEFAULT_VALIDITY_DAYS: u32 = 3 * 365;

pub struct KeyService {
    keys: Arc<dyn KeyStore>,
    /// When certificates start to be valid, and how old a remembered signer is.
    clock: Arc<dyn Clock>,
    signers: Mutex<HashMap<String, Arc<RsaSigner>>>,
    /// The signer in use per app, remembered for at most `CURRENT_KEY_TTL_MS`, so that a rotation
    /// made by another process is seen within a second (CONTRACT.md) without a store read per
    /// signature.
    current: Mutex<HashMap<AppId, (Arc<RsaSigner>, UnixMillis)>>,
    secrets: Secrets,
}

const CURRENT_KEY_TTL_MS: i64 = 1000;

/// What a sealed private key is bound to: its app and its key id.
pub fn seal_context(app: AppId, key_id: &str) -> String {
    format!("tessera-signing-key:v1:{app}:{key_id}")
}

impl KeyService {
    /// Opens the master key's [`Secrets`] against the database, and the signing keys of `store`.
    pub async fn open(
        store: Arc<dyn Store>,
        master_key: &[u8; MASTER_KEY_LEN],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, KeyError> {
        let secrets = Secrets::open(&*store, master_key).await?;
        // The audit trail is the master key's too: from here on the store chains it.
        store.seal_audit_with(secrets.audit_chain_key())?;
        Ok(KeyService {
            keys: store,
            clock,
            secrets,
            signers: Mutex::new(HashMap::new()),
            current: Mutex::new(HashMap::new()),
        })
    }

    /// The master key's other duties: sealed secrets and pseudonyms.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
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
        let sealed_private_key = self.secrets.cipher().seal(&generated.pkcs8, &seal_context(app, &id))?;
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
        let stored = self.keys.replace_current_key(actor, app, key).await?;
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
        Ok(self.keys.stage_key(actor, app, key).await?)
    }

    /// The staged key signs from now on; the old key is destroyed and its certificate stays
    /// published until `published_until`.
    pub async fn promote(&self, actor: &Actor, app: AppId, published_until: UnixMillis) -> Result<StoredKey, KeyError> {
        let promoted = self.keys.promote_key(actor, app, published_until).await?;
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
            self.keys.signing_key(app, KeySlot::Current).await?.ok_or_else(|| KeyError::NoKey(app.to_string()))?;
        if let Some(signer) = self.cached(&stored.id) {
            return Ok(signer);
        }
        let pkcs8 = self.secrets.cipher().open(&stored.sealed_private_key, &seal_context(app, &stored.id))?;
        let signer = Arc::new(RsaSigner::from_pkcs8(&pkcs8, stored.certificate_der)?);
        if let Ok(mut cache) = self.signers.lock() {
            cache.insert(stored.id, signer.clone());
        }
        Ok(signer)
    }

    fn cached(&self, key_id: &str) -> Option<Arc<RsaSigner>> {
        self.signers.lock().ok().and_then(|cache| cache.get(key_id).cloned())
    }
}
