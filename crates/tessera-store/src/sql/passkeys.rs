//! Passkeys and security keys. The SQL serves SQLite and PostgreSQL alike: the macro expands
//! it once per backend, into a module of its own beside the store type (see `sql::common`).

macro_rules! impl_passkeys {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod passkeys {
        use super::*;

        const COLUMNS: &str = "user_id, name, credential_id, user_handle, passkey_json, sign_count, created_at, last_used_at";

        fn passkey_from_row(row: &$row) -> Result<PasskeyCredential, StoreError> {
            Ok(PasskeyCredential {
                user_id: parse_id(&row.try_get::<String, _>("user_id")?)?,
                name: row.try_get("name")?,
                credential_id: row.try_get("credential_id")?,
                user_handle: row.try_get("user_handle")?,
                passkey_json: row.try_get("passkey_json")?,
                sign_count: row.try_get("sign_count")?,
                created_at: row.try_get("created_at")?,
                last_used_at: row.try_get("last_used_at")?,
            })
        }

        #[async_trait]
        impl PasskeyStore for $store {
            async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyCredential>, StoreError> {
                let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, name"))
                    .bind(user.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(passkey_from_row).collect()
            }

            async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyCredential>, StoreError> {
                let row = sqlx::query(&format!("SELECT {COLUMNS} FROM passkeys WHERE credential_id = $1"))
                    .bind(credential_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(passkey_from_row).transpose()
            }

            async fn add_passkey(&self, actor: &Actor, passkey: &PasskeyCredential) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let clash = |e| {
                    map_unique(
                        e,
                        &[
                            ("passkeys_credential_id_key", "credential_id", "that passkey is enrolled already".to_string()),
                            ("passkeys_pkey", "name", format!("{:?}: the user has a passkey of that name", passkey.name)),
                            ("passkeys.user_id, passkeys.name", "name", format!("{:?}: the user has a passkey of that name", passkey.name)),
                        ],
                    )
                };
                sqlx::query(&format!("INSERT INTO passkeys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(passkey.user_id.to_string())
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
                    AuditAction::UserMfaEnroll,
                    "user",
                    passkey.user_id,
                    json!({"factor": "passkey", "name": passkey.name}),
                );
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn passkey_used(
                &self,
                credential_id: &[u8],
                sign_count: i64,
                passkey_json: &str,
                at: i64,
            ) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await?;
                let done = sqlx::query(
                    "UPDATE passkeys SET sign_count = $1, passkey_json = $2, last_used_at = $3 \
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

            async fn remove_passkey(&self, actor: &Actor, user: UserId, name: &str) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND name = $2")
                    .bind(user.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let event = NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, json!({"factor": "passkey", "name": name}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn remove_passkeys(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let removed = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if removed > 0 {
                    let event = NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, json!({"factor": "passkey", "removed": removed}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(removed)
            }
        }
        }
    };
}

pub(crate) use impl_passkeys;
