//! Settings, job leases, and the readiness ping. The SQL serves SQLite and PostgreSQL alike: the
//! macro expands it once per backend, into a module of its own beside the store type (see
//! `sql::common`).

macro_rules! impl_settings {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod settings {
        use super::*;

        #[async_trait]
        impl SettingsStore for $store {
            async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(&self.pool).await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn change_setting(
                &self,
                actor: &Actor,
                key: &str,
                value: Option<&str>,
                event: NewAuditEvent,
            ) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let existed = sqlx::query("SELECT key FROM settings WHERE key = $1").bind(key).fetch_optional(&mut *tx).await?.is_some();
                match value {
                    Some(value) => {
                        sqlx::query(
                            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        )
                        .bind(key)
                        .bind(value)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None if !existed => return Ok(false),
                    None => {
                        sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(&mut *tx).await?;
                    }
                }
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(existed)
            }

            async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // One statement: of two nodes racing, the row lets exactly one in.
                let taken = sqlx::query(
                    "INSERT INTO job_leases (name, holder, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                     WHERE job_leases.until <= $4 OR job_leases.holder = excluded.holder RETURNING holder",
                )
                .bind(name)
                .bind(holder)
                .bind(at + ttl_ms)
                .bind(at)
                .fetch_optional(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(taken.is_some())
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2").bind(name).bind(holder).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<Option<i64>, StoreError> {
                if $backend == "postgres" {
                    // Timed around the statement alone, once a connection is held: a wait for
                    // the pool would read as an offset.
                    let mut conn = self.pool.acquire().await?;
                    let asked = self.clock.now_millis();
                    let database: i64 =
                        sqlx::query_scalar("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
                            .fetch_one(&mut *conn)
                            .await?;
                    let answered = self.clock.now_millis();
                    return Ok(Some(asked + (answered - asked) / 2 - database));
                }
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(None)
            }

            fn backend(&self) -> &'static str {
                $backend
            }
        }
        }
    };
}

pub(crate) use impl_settings;
