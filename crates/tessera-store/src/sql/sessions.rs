//! Users' sign-in sessions. The SQL serves SQLite and PostgreSQL alike: the macro expands it once
//! per backend, into a module of its own beside the store type (see `sql::common`).

macro_rules! impl_sessions {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod sessions {
        use super::*;

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                Self::insert_session(&mut tx, session).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn find_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
                let row = sqlx::query(
                    "SELECT id_hash, user_id, factors, complete, created_at, last_seen_at, expires_at FROM sessions \
                     WHERE id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::session_from_row).transpose()
            }

            async fn find_session_with_user(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError> {
                self.session_with_user(id_hash, self.cache.serves_every_session_read()).await
            }

            async fn find_session_for_token(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError> {
                self.session_with_user(id_hash, true).await
            }

            async fn touch_session(&self, id_hash: &str, now: i64) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                    .bind(now)
                    .bind(id_hash)
                    .execute(&self.writer)
                    .await?;
                // Read afresh next time, or each request within the entry's second would
                // touch it again.
                self.cache.forget(&self.cache.sessions, &id_hash.to_string());
                Ok(())
            }

            async fn rotate_session(&self, old_id_hash: &str, new: &Session) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(old_id_hash).execute(&mut *tx).await?;
                Self::insert_session(&mut tx, new).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
                self.cache.invalidate();
                let _turn = self.write_turn().await?;
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.writer).await?;
                self.cache.invalidate();
                Ok(())
            }

            async fn end_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // The rows locked in id order first, as a sign-on's record locks them
                // (`push_live_sessions`), so that the two cannot deadlock.
                let ended = sqlx::query(if $backend == "postgres" {
                    "DELETE FROM sessions WHERE id_hash IN \
                     (SELECT id_hash FROM sessions WHERE user_id = $1 ORDER BY id_hash FOR UPDATE)"
                } else {
                    "DELETE FROM sessions WHERE user_id = $1"
                })
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let event = NewAuditEvent::new(AuditAction::UserSignOut, "user", user, json!({"sessions": ended}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(ended)
            }

            async fn acknowledge_notice(&self, actor: &Actor, user: UserId, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "UPDATE users SET notice_acknowledged_at = $1 WHERE id = $2 AND notice_acknowledged_at IS NULL",
                )
                .bind(now)
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    let event = NewAuditEvent::new(AuditAction::UserNoticeAcknowledged, "user", user, json!({}));
                    self.append_audit(&mut tx, actor, now, event).await?;
                }
                self.commit(tx).await?;
                Ok(())
            }
        }

        impl $store {
            /// The session and its user; from what this process kept when `from_cache`. What is
            /// read is kept either way, for the reads that may use it.
            async fn session_with_user(&self, id_hash: &str, from_cache: bool) -> Result<Option<(Session, User)>, StoreError> {
                let key = id_hash.to_string();
                if from_cache && let Some(found) = self.cache.get(&self.cache.sessions, &key) {
                    return Ok(Some(found));
                }
                let ticket = self.cache.ticket();
                // One round trip for what every signed-in request needs.
                let row = sqlx::query(
                    "SELECT s.id_hash, s.user_id, s.factors, s.complete, s.created_at AS session_created_at, \
                     s.last_seen_at, s.expires_at, u.id, u.email, u.upn, u.first_name, u.last_name, u.immutable_id, \
                     u.state, u.password_hash, u.notice_acknowledged_at, u.created_at, u.updated_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
                )
                .bind(id_hash)
                .fetch_optional(&self.pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let found = (Self::session_from_columns(&row, "session_created_at")?, Self::user_from_row(&row)?);
                self.cache.put(&self.cache.sessions, ticket, key, found.clone());
                Ok(Some(found))
            }

            pub(super) async fn insert_session(tx: &mut Tx, session: &Session) -> Result<(), StoreError> {
                let factors = serde_json::to_string(&session.authn).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, factors, complete, created_at, last_seen_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&session.id_hash)
                .bind(session.user_id.to_string())
                .bind(factors)
                .bind(session.complete)
                .bind(session.created_at)
                .bind(session.last_seen_at)
                .bind(session.expires_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }
        }
    };
}

pub(crate) use impl_sessions;
