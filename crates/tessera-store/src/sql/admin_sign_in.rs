//! Administrators' sign-in: sessions and attempts. The SQL serves SQLite and PostgreSQL alike: the
//! macro expands it once per backend, into a module of its own beside the store type (see
//! `sql::common`).

macro_rules! impl_admin_sign_in {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod admin_sign_in {
        use super::*;

        const ADMIN_PASSKEY_COLUMNS: &str =
            "admin_id, name, credential_id, user_handle, passkey_json, sign_count, created_at, last_used_at";

        #[async_trait]
        impl AdminSignInStore for $store {
            async fn create_admin_session(&self, id_hash: &str, admin_id: &str, complete: bool, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO admin_sessions (id_hash, admin_id, created_at, last_seen_at, complete) VALUES ($1, $2, $3, $3, $4)",
                )
                .bind(id_hash)
                .bind(admin_id)
                .bind(now)
                .bind(complete)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn complete_admin_session(&self, old_hash: &str, new_hash: &str) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("UPDATE admin_sessions SET id_hash = $1, complete = $2 WHERE id_hash = $3")
                    .bind(new_hash)
                    .bind(true)
                    .bind(old_hash)
                    .execute(&mut *tx)
                    .await?;
                self.commit(tx).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
                let row = sqlx::query(
                    "SELECT a.id, a.username, a.password_hash, a.must_change_password, a.role, a.created_at, \
                     s.created_at AS session_created_at, s.last_seen_at, s.complete \
                     FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(AdminSession {
                    admin: Self::admin_from_row(&row)?,
                    created_at: row.try_get("session_created_at")?,
                    last_seen_at: row.try_get("last_seen_at")?,
                    complete: row.try_get("complete")?,
                }))
            }

            async fn touch_admin_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $1")
                    .bind(now)
                    .bind(id_hash)
                    .execute(&mut *tx)
                    .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1").bind(id_hash).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn reserve_admin_attempt(&self, admin_id: &str, threshold: u32, window_ms: i64, now: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO admin_lockout_counters (admin_id, failures, last_failure_at) VALUES ($1, 1, $2) \
                     ON CONFLICT (admin_id) DO UPDATE SET failures = admin_lockout_counters.failures + 1, \
                     last_failure_at = excluded.last_failure_at \
                     WHERE admin_lockout_counters.failures < $3 OR admin_lockout_counters.last_failure_at <= $4 \
                     RETURNING failures",
                )
                .bind(admin_id)
                .bind(now)
                .bind(i64::from(threshold))
                .bind(now - window_ms)
                .fetch_optional(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(row.is_some())
            }

            async fn clear_admin_failures(&self, admin_id: &str) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM admin_lockout_counters WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn admin_totp(&self, admin_id: &str) -> Result<Option<TotpCredential>, StoreError> {
                let row = sqlx::query("SELECT sealed_secret, confirmed, last_step, created_at FROM admin_totp WHERE admin_id = $1")
                    .bind(admin_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok(TotpCredential {
                        sealed_secret: row.try_get("sealed_secret")?,
                        confirmed: row.try_get("confirmed")?,
                        last_step: row.try_get("last_step")?,
                        name: None,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .transpose()
            }

            async fn put_pending_admin_totp(&self, admin_id: &str, sealed_secret: &[u8], now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM admin_totp WHERE admin_id = $1 AND confirmed = $2")
                    .bind(admin_id)
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO admin_totp (admin_id, sealed_secret, confirmed, last_step, created_at) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                )
                .bind(admin_id)
                .bind(sealed_secret)
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn confirm_admin_totp(&self, actor: &Actor, admin_id: &str, step: i64) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE admin_totp SET confirmed = $1, last_step = $2 WHERE admin_id = $3 AND confirmed = $4",
                )
                .bind(true)
                .bind(step)
                .bind(admin_id)
                .bind(false)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let event = NewAuditEvent::new(AuditAction::AdminMfaEnroll, "admin", admin_id, json!({"factor": "totp"}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn reset_admin_mfa(&self, actor: &Actor, admin_id: &str) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let app = sqlx::query("DELETE FROM admin_totp WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                let passkeys = sqlx::query("DELETE FROM admin_passkeys WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                if app.rows_affected() == 0 && passkeys.rows_affected() == 0 {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(admin_id).execute(&mut *tx).await?;
                let summary = json!({"app": app.rows_affected() > 0, "passkeys": passkeys.rows_affected()});
                let event = NewAuditEvent::new(AuditAction::AdminMfaReset, "admin", admin_id, summary);
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn admin_passkeys(&self, admin_id: &str) -> Result<Vec<AdminPasskey>, StoreError> {
                let rows = sqlx::query(&format!("SELECT {ADMIN_PASSKEY_COLUMNS} FROM admin_passkeys WHERE admin_id = $1 ORDER BY created_at, name"))
                    .bind(admin_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AdminPasskey {
                            admin_id: row.try_get("admin_id")?,
                            name: row.try_get("name")?,
                            credential_id: row.try_get("credential_id")?,
                            user_handle: row.try_get("user_handle")?,
                            passkey_json: row.try_get("passkey_json")?,
                            sign_count: row.try_get("sign_count")?,
                            created_at: row.try_get("created_at")?,
                            last_used_at: row.try_get("last_used_at")?,
                        })
                    })
                    .collect()
            }

            async fn add_admin_passkey(&self, actor: &Actor, passkey: &AdminPasskey) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let taken = format!("{:?}: you have a passkey of that name", passkey.name);
                let clash = |e| {
                    map_unique(
                        e,
                        &[
                            ("admin_passkeys_credential_id_key", "credential_id", "that passkey is enrolled already".to_string()),
                            ("admin_passkeys.credential_id", "credential_id", "that passkey is enrolled already".to_string()),
                            ("admin_passkeys_pkey", "name", taken.clone()),
                            ("admin_passkeys.admin_id, admin_passkeys.name", "name", taken.clone()),
                        ],
                    )
                };
                sqlx::query(&format!("INSERT INTO admin_passkeys ({ADMIN_PASSKEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(&passkey.admin_id)
                    .bind(&passkey.name)
                    .bind(&passkey.credential_id)
                    .bind(&passkey.user_handle)
                    .bind(&passkey.passkey_json)
                    .bind(passkey.sign_count)
                    .bind(passkey.created_at)
                    .bind(passkey.last_used_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(clash)?;
                let event = NewAuditEvent::new(
                    AuditAction::AdminMfaEnroll,
                    "admin",
                    &passkey.admin_id,
                    json!({"factor": "passkey", "name": passkey.name}),
                );
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn admin_passkey_used(
                &self,
                credential_id: &[u8],
                sign_count: i64,
                passkey_json: &str,
                at: i64,
            ) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await?;
                let done = sqlx::query(
                    "UPDATE admin_passkeys SET sign_count = $1, passkey_json = $2, last_used_at = $3 \
                     WHERE credential_id = $4 AND (sign_count < $1 OR ($1 = 0 AND sign_count = 0))",
                )
                .bind(sign_count)
                .bind(passkey_json)
                .bind(at)
                .bind(credential_id)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_admin_totp_step(&self, admin_id: &str, step: i64) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE admin_totp SET last_step = $1 WHERE admin_id = $2 AND confirmed = $3 AND last_step < $1",
                )
                .bind(step)
                .bind(admin_id)
                .bind(true)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(done.rows_affected() == 1)
            }
        }
        }
    };
}

pub(crate) use impl_admin_sign_in;
