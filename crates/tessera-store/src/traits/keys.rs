//! Applications' signing keys and certificates.

use super::*;

/// Which of an app's keys: the one it signs with, or the one staged for a rollover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySlot {
    Current,
    Next,
}

impl KeySlot {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeySlot::Current => "current",
            KeySlot::Next => "next",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "current" => Ok(KeySlot::Current),
            "next" => Ok(KeySlot::Next),
            other => Err(StoreError::Corrupt(format!("key slot {other:?}"))),
        }
    }
}

/// A key as stored: the private key only sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: String,
    pub app_id: AppId,
    pub slot: KeySlot,
    pub bits: u32,
    pub sealed_private_key: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    pub created_at: UnixMillis,
}

/// A key to store; `id` is chosen by the caller because the seal is bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    pub id: String,
    pub bits: u32,
    pub sealed_private_key: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    /// Hex SHA-256 of the certificate, for the audit trail.
    pub thumbprint: String,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn signing_key(&self, app: AppId, slot: KeySlot) -> Result<Option<StoredKey>, StoreError>;
    /// Replaces the app's current key at once; the old one is destroyed.
    async fn replace_current_key(&self, actor: &Actor, app: AppId, key: NewSigningKey)
    -> Result<StoredKey, StoreError>;
    /// Stages `key` as the app's next key: published, not signing. Refused while one is staged
    /// or a previous certificate is still published.
    async fn stage_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError>;
    /// Makes the staged key current. The old key is destroyed; its certificate stays published
    /// as next until `published_until`.
    async fn promote_key(
        &self,
        actor: &Actor,
        app: AppId,
        published_until: UnixMillis,
    ) -> Result<StoredKey, StoreError>;
    async fn previous_certificate(&self, app: AppId) -> Result<Option<PreviousCertificate>, StoreError>;
    /// Stops publishing the previous certificate (only once its grace period is over, with
    /// `due_only`). Returns whether one was cleared.
    async fn clear_previous_certificate(&self, actor: &Actor, app: AppId, due_only: bool) -> Result<bool, StoreError>;
}

/// A certificate a promotion replaced, published as next for a grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousCertificate {
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    pub published_until: UnixMillis,
}
