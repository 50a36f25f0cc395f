//! TOTP credentials, their used steps, recovery codes. The SQL serves SQLite and PostgreSQL alike:
//! the macro expands it once per backend, into a module of its own beside the store type (see
//! `sql::common`).

macro_rules! impl_mfa {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod mfa {
        use super::*;

        #[async_trait]
        impl MfaStore for $store {
            async fn totp_credential(&self, user: UserId) -> Result<Option<TotpCredential>, StoreError> {
                let row = sqlx::query(
                    "SELECT sealed_secret, confirmed, last_step, name, created_at FROM totp_credentials WHERE user_id = $1",
                )
                    .bind(user.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(row) => Some(TotpCredential {
                        sealed_secret: row.try_get("sealed_secret")?,
                        confirmed: row.try_get("confirmed")?,
                        last_step: row.try_get("last_step")?,
                        name: row.try_get("name")?,
                        created_at: row.try_get("created_at")?,
                    }),
                    None => None,
                })
            }

            async fn put_pending_totp(&self, user: UserId, sealed_secret: &[u8], now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1 AND confirmed = $2")
                    .bind(user.to_string())
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO totp_credentials (user_id, sealed_secret, confirmed, last_step, created_at) \
                     VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
                )
                .bind(user.to_string())
                .bind(sealed_secret)
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn confirm_totp(
                &self,
                actor: &Actor,
                user: UserId,
                step: i64,
                recovery_code_hashes: &[String],
            ) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE totp_credentials SET confirmed = $1, last_step = $2 WHERE user_id = $3 AND confirmed = $4",
                )
                .bind(true)
                .bind(step)
                .bind(user.to_string())
                .bind(false)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                replace_codes(&mut tx, user, recovery_code_hashes).await?;
                let event = NewAuditEvent::new(AuditAction::UserMfaEnroll, "user", user, json!({"factor": "totp"}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await?;
                let done = sqlx::query(
                    "UPDATE totp_credentials SET last_step = $1 WHERE user_id = $2 AND confirmed = $3 AND last_step < $1",
                )
                .bind(step)
                .bind(user.to_string())
                .bind(true)
                .execute(&self.writer)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await?;
                let done = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2")
                    .bind(user.to_string())
                    .bind(code_hash)
                    .execute(&self.writer)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
                let count: i64 = sqlx::query("SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            }

            async fn reset_mfa(&self, actor: &Actor, user: UserId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let totp = sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx).await?;
                let codes = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx).await?;
                let removed = totp.rows_affected() + codes.rows_affected() > 0;
                if removed {
                    self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, json!({}))).await?;
                }
                self.commit(tx).await?;
                Ok(removed)
            }

            async fn rename_totp(&self, actor: &Actor, user: UserId, name: &str) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("UPDATE totp_credentials SET name = $1 WHERE user_id = $2 AND confirmed = $3")
                    .bind(name)
                    .bind(user.to_string())
                    .bind(true)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let event = NewAuditEvent::new(AuditAction::AccountMfaRename, "user", user, json!({"factor": "totp", "name": name}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn replace_recovery_codes(
                &self,
                actor: &Actor,
                user: UserId,
                recovery_code_hashes: &[String],
            ) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let enrolled = sqlx::query("SELECT 1 FROM totp_credentials WHERE user_id = $1 AND confirmed = $2")
                    .bind(user.to_string())
                    .bind(true)
                    .fetch_optional(&mut *tx)
                    .await?;
                if enrolled.is_none() {
                    return Ok(false);
                }
                replace_codes(&mut tx, user, recovery_code_hashes).await?;
                let event = NewAuditEvent::new(
                    AuditAction::AccountRecoveryCodes,
                    "user",
                    user,
                    json!({"count": recovery_code_hashes.len()}),
                );
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }
        }

        /// A user's recovery codes replaced by these, in the caller's transaction.
        async fn replace_codes(tx: &mut Tx, user: UserId, recovery_code_hashes: &[String]) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user.to_string()).execute(&mut **tx).await?;
            for hash in recovery_code_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(user.to_string())
                    .bind(hash)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(())
        }
        }
    };
}

pub(crate) use impl_mfa;
