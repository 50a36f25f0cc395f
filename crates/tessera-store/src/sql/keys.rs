//! Signing keys: the current one, a staged one, the certificate a promotion replaced. The SQL
//! serves SQLite and PostgreSQL alike: the macro expands it once per backend, into a module of its
//! own beside the store type (see `sql::common`).

macro_rules! impl_keys {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod keys {
        use super::*;

        #[async_trait]
        impl KeyStore for $store {
            async fn signing_key(&self, app: AppId, slot: KeySlot) -> Result<Option<StoredKey>, StoreError> {
                let row = sqlx::query(concat!("SELECT ", crate::sql::key_columns!(), " FROM signing_keys WHERE app_id = $1 AND slot = $2"))
                    .bind(app.to_string())
                    .bind(slot.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::key_from_row).transpose()
            }

            async fn replace_current_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let exists = sqlx::query("SELECT id FROM apps WHERE id = $1").bind(app.to_string()).fetch_optional(&mut *tx).await?;
                if exists.is_none() {
                    return Err(StoreError::not_found("application", app.to_string()));
                }
                let old = sqlx::query("DELETE FROM signing_keys WHERE app_id = $1 AND slot = 'current' RETURNING certificate")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let old_certificate: Option<Vec<u8>> = old.map(|r| r.try_get(0)).transpose()?;
                // A rotation is for a key that must stop counting now: nothing older stays
                // published either.
                sqlx::query("DELETE FROM previous_certificates WHERE app_id = $1").bind(app.to_string()).execute(&mut *tx).await?;
                let stored = Self::insert_key(&mut tx, app, KeySlot::Current, &key, at).await?;
                let summary = json!({
                    "old_certificate_sha256": old_certificate.map(|der| crate::sql::sha256_hex(&der)),
                    "new_certificate_sha256": key.thumbprint,
                    "bits": key.bits,
                });
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertRotate, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(stored)
            }

            async fn stage_key(&self, actor: &Actor, app: AppId, key: NewSigningKey) -> Result<StoredKey, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let exists = sqlx::query("SELECT id FROM apps WHERE id = $1").bind(app.to_string()).fetch_optional(&mut *tx).await?;
                if exists.is_none() {
                    return Err(StoreError::not_found("application", app.to_string()));
                }
                let staged = sqlx::query("SELECT id FROM signing_keys WHERE app_id = $1 AND slot = 'next'")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if staged.is_some() {
                    return Err(StoreError::Conflict {
                        field: "next",
                        message: "a certificate is staged already: promote it with `tessera app cert promote`".into(),
                    });
                }
                // The staged certificate takes the published "next" place; a previous one still in
                // its grace period would be hidden by it, so staging waits for that to end.
                let previous = sqlx::query("SELECT published_until FROM previous_certificates WHERE app_id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = previous {
                    let until: i64 = row.try_get(0)?;
                    return Err(StoreError::Conflict {
                        field: "next",
                        message: format!(
                            "the previous certificate is published as next until {}: stage after that",
                            tessera_core::format_millis(until)
                        ),
                    });
                }
                let stored = Self::insert_key(&mut tx, app, KeySlot::Next, &key, at).await?;
                let summary = json!({"certificate_sha256": key.thumbprint, "bits": key.bits, "not_after": key.not_after});
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertStage, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(stored)
            }

            async fn promote_key(&self, actor: &Actor, app: AppId, published_until: i64) -> Result<StoredKey, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let staged = sqlx::query(concat!("SELECT ", crate::sql::key_columns!(), " FROM signing_keys WHERE app_id = $1 AND slot = 'next'"))
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(staged) = staged.as_ref().map(Self::key_from_row).transpose()? else {
                    return Err(StoreError::Conflict {
                        field: "next",
                        message: "no certificate is staged: run `tessera app cert stage` first".into(),
                    });
                };
                let old = sqlx::query("DELETE FROM signing_keys WHERE app_id = $1 AND slot = 'current' RETURNING certificate, not_after")
                    .bind(app.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let mut old_certificate = None;
                if let Some(old) = old {
                    let (certificate, not_after): (Vec<u8>, i64) = (old.try_get(0)?, old.try_get(1)?);
                    sqlx::query(
                        "INSERT INTO previous_certificates (app_id, certificate, not_after, published_until, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id) DO UPDATE SET certificate = excluded.certificate, \
                         not_after = excluded.not_after, published_until = excluded.published_until, created_at = excluded.created_at",
                    )
                    .bind(app.to_string())
                    .bind(&certificate)
                    .bind(not_after)
                    .bind(published_until)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    old_certificate = Some(certificate);
                }
                sqlx::query("UPDATE signing_keys SET slot = 'current' WHERE id = $1").bind(&staged.id).execute(&mut *tx).await?;
                let summary = json!({
                    "old_certificate_sha256": old_certificate.as_deref().map(crate::sql::sha256_hex),
                    "new_certificate_sha256": crate::sql::sha256_hex(&staged.certificate_der),
                    "old_published_until": published_until,
                });
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertPromote, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(StoredKey { slot: KeySlot::Current, ..staged })
            }

            async fn previous_certificate(&self, app: AppId) -> Result<Option<PreviousCertificate>, StoreError> {
                let row = sqlx::query("SELECT certificate, not_after, published_until FROM previous_certificates WHERE app_id = $1")
                    .bind(app.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok(PreviousCertificate {
                        certificate_der: row.try_get(0)?,
                        not_after: row.try_get(1)?,
                        published_until: row.try_get(2)?,
                    })
                })
                .transpose()
            }

            async fn clear_previous_certificate(&self, actor: &Actor, app: AppId, due_only: bool) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let cleared = sqlx::query(
                    "DELETE FROM previous_certificates WHERE app_id = $1 AND ($2 = 0 OR published_until <= $3) RETURNING certificate",
                )
                .bind(app.to_string())
                .bind(i64::from(due_only))
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(cleared) = cleared else { return Ok(false) };
                let certificate: Vec<u8> = cleared.try_get(0)?;
                let summary = json!({"certificate_sha256": crate::sql::sha256_hex(&certificate), "due": due_only});
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::AppCertClearPrevious, "app", app, summary)).await?;
                self.commit(tx).await?;
                Ok(true)
            }
        }

        impl $store {
            pub(super) async fn insert_key(tx: &mut Tx, app: AppId, slot: KeySlot, key: &NewSigningKey, at: i64) -> Result<StoredKey, StoreError> {
                let row = sqlx::query(concat!(
                    "INSERT INTO signing_keys (id, app_id, slot, bits, sealed_private_key, certificate, not_after, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
                    crate::sql::key_columns!()
                ))
                .bind(&key.id)
                .bind(app.to_string())
                .bind(slot.as_str())
                .bind(i64::from(key.bits))
                .bind(&key.sealed_private_key)
                .bind(&key.certificate_der)
                .bind(key.not_after)
                .bind(at)
                .fetch_one(&mut **tx)
                .await
                .map_err(|e| map_unique(e, &[("signing_keys_slot_key", "slot", format!("the app already has a {} key", slot.as_str()))]))?;
                Self::key_from_row(&row)
            }
        }
        }
    };
}

pub(crate) use impl_keys;
