//! [`KeyStore`] in memory, as `sql/keys.rs` keeps signing keys: at most one current and one
//! staged key per application, each id naming one key; a promotion keeps the certificate it
//! replaced published for a grace period, a rotation keeps nothing older.

use std::collections::hash_map::Entry;

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AppId, AuditAction, NewAuditEvent, UnixMillis};

use super::{MemoryStore, State};
use crate::StoreError;
use crate::sql::sha256_hex;
use crate::traits::{KeySlot, KeyStore, NewSigningKey, PreviousCertificate, StoredKey};

impl State {
    /// The primary key `insert_key` meets, which its `map_unique` rules do not name. `freed` is
    /// a slot the same transaction empties first, so its key's id is free again.
    pub(super) fn check_key_id(&self, key: &NewSigningKey, freed: Option<(AppId, KeySlot)>) -> Result<(), StoreError> {
        if self.signing_keys.iter().any(|(place, stored)| stored.id == key.id && Some(*place) != freed) {
            return Err(StoreError::Conflict { field: "unknown", message: "that record already exists".into() });
        }
        Ok(())
    }

    /// Stores `key` in an empty slot (`check_key_id` first).
    pub(super) fn insert_key(&mut self, app: AppId, slot: KeySlot, key: &NewSigningKey, at: UnixMillis) -> StoredKey {
        let stored = StoredKey {
            id: key.id.clone(),
            app_id: app,
            slot,
            bits: key.bits,
            sealed_private_key: key.sealed_private_key.clone(),
            certificate_der: key.certificate_der.clone(),
            not_after: key.not_after,
            created_at: at,
        };
        self.signing_keys.insert((app, slot), stored.clone());
        stored
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_key(&self, app: AppId, slot: KeySlot) -> Result<Option<StoredKey>, StoreError> {
        Ok(self.tables()?.signing_keys.get(&(app, slot)).cloned())
    }

    async fn replace_current_key(
        &self,
        actor: &Actor,
        app: AppId,
        key: NewSigningKey,
    ) -> Result<StoredKey, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        tables.app(app)?;
        tables.check_key_id(&key, Some((app, KeySlot::Current)))?;
        let old = tables.signing_keys.remove(&(app, KeySlot::Current));
        // A rotation is for a key that must stop counting now: nothing older stays published.
        tables.previous_certificates.remove(&app);
        let stored = tables.insert_key(app, KeySlot::Current, &key, at);
        let summary = json!({
            "old_certificate_sha256": old.map(|old| sha256_hex(&old.certificate_der)),
            "new_certificate_sha256": key.thumbprint,
            "bits": key.bits,
        });
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppCertRotate, "app", app, summary));
        Ok(stored)
    }

    async fn stage_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        tables.app(app)?;
        if tables.signing_keys.contains_key(&(app, KeySlot::Next)) {
            return Err(StoreError::Conflict {
                field: "next",
                message: "a certificate is staged already: promote it with `tessera app cert promote`".into(),
            });
        }
        // The staged certificate takes the published "next" place, which a previous one in its
        // grace period holds; it waits even once that is over, until the previous is cleared.
        if let Some(previous) = tables.previous_certificates.get(&app) {
            return Err(StoreError::Conflict {
                field: "next",
                message: format!(
                    "the previous certificate is published as next until {}: stage after that",
                    tessera_core::format_millis(previous.published_until)
                ),
            });
        }
        tables.check_key_id(&key, None)?;
        let stored = tables.insert_key(app, KeySlot::Next, &key, at);
        let summary = json!({"certificate_sha256": key.thumbprint, "bits": key.bits, "not_after": key.not_after});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppCertStage, "app", app, summary));
        Ok(stored)
    }

    async fn promote_key(
        &self,
        actor: &Actor,
        app: AppId,
        published_until: UnixMillis,
    ) -> Result<StoredKey, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let Some(staged) = tables.signing_keys.remove(&(app, KeySlot::Next)) else {
            return Err(StoreError::Conflict {
                field: "next",
                message: "no certificate is staged: run `tessera app cert stage` first".into(),
            });
        };
        let old = tables.signing_keys.remove(&(app, KeySlot::Current));
        let old_certificate_sha256 = old.as_ref().map(|old| sha256_hex(&old.certificate_der));
        if let Some(old) = old {
            let previous =
                PreviousCertificate { certificate_der: old.certificate_der, not_after: old.not_after, published_until };
            tables.previous_certificates.insert(app, previous);
        }
        let promoted = StoredKey { slot: KeySlot::Current, ..staged };
        tables.signing_keys.insert((app, KeySlot::Current), promoted.clone());
        let summary = json!({
            "old_certificate_sha256": old_certificate_sha256,
            "new_certificate_sha256": sha256_hex(&promoted.certificate_der),
            "old_published_until": published_until,
        });
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppCertPromote, "app", app, summary));
        Ok(promoted)
    }

    async fn previous_certificate(&self, app: AppId) -> Result<Option<PreviousCertificate>, StoreError> {
        Ok(self.tables()?.previous_certificates.get(&app).cloned())
    }

    async fn clear_previous_certificate(&self, actor: &Actor, app: AppId, due_only: bool) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let cleared = match tables.previous_certificates.entry(app) {
            Entry::Occupied(entry) if !due_only || entry.get().published_until <= at => entry.remove(),
            _ => return Ok(false),
        };
        let summary = json!({"certificate_sha256": sha256_hex(&cleared.certificate_der), "due": due_only});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AppCertClearPrevious, "app", app, summary));
        Ok(true)
    }
}
