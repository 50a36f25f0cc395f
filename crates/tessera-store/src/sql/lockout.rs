//! Lockout counters, familiar addresses and password-spray counts. The SQL serves SQLite and
//! PostgreSQL alike: the macro expands it once per backend, into a module of its own beside the
//! store type (see `sql::common`).

macro_rules! impl_lockout {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod lockout {
        use super::*;

        #[async_trait]
        impl LockoutStore for $store {
            async fn lockout_counter(&self, user: UserId, location: Location) -> Result<Option<LockoutCounter>, StoreError> {
                let row = sqlx::query("SELECT failures, last_failure_at FROM lockout_counters WHERE user_id = $1 AND location = $2")
                    .bind(user.to_string())
                    .bind(location.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(match row {
                    Some(row) => Some(LockoutCounter {
                        failures: u32::try_from(row.try_get::<i64, _>("failures")?).unwrap_or(u32::MAX),
                        last_failure_at: row.try_get("last_failure_at")?,
                    }),
                    None => None,
                })
            }

            async fn reserve_attempt(
                &self,
                user: UserId,
                location: Location,
                threshold: u32,
                window_ms: i64,
                now: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO lockout_counters (user_id, location, failures, last_failure_at) VALUES ($1, $2, 1, $3) \
                     ON CONFLICT (user_id, location) DO UPDATE SET failures = lockout_counters.failures + 1, \
                     last_failure_at = excluded.last_failure_at \
                     WHERE lockout_counters.failures < $4 OR lockout_counters.last_failure_at <= $5 \
                     RETURNING failures",
                )
                .bind(user.to_string())
                .bind(location.as_str())
                .bind(now)
                .bind(i64::from(threshold))
                .bind(now - window_ms)
                .fetch_optional(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(row.is_some())
            }

            async fn release_attempt(&self, user: UserId, location: Location) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query(
                    "UPDATE lockout_counters SET failures = failures - 1 \
                     WHERE user_id = $1 AND location = $2 AND failures > 0",
                )
                .bind(user.to_string())
                .bind(location.as_str())
                .execute(&self.writer)
                .await?;
                Ok(())
            }

            async fn record_failed_attempt(&self, ip_key: &str, user_key: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query("INSERT INTO ip_failures (ip, user_key, at) VALUES ($1, $2, $3)")
                    .bind(ip_key)
                    .bind(user_key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // A day of history is more than any throttling window needs.
                sqlx::query("DELETE FROM ip_failures WHERE at < $1").bind(now - 86_400_000).execute(&mut *tx).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn record_password_success(&self, user: UserId) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("DELETE FROM lockout_counters WHERE user_id = $1 AND location IN ('familiar', 'unknown')")
                    .bind(user.to_string())
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn learn_familiar_ip(&self, user: UserId, ip: &str, now: i64) -> Result<(), StoreError> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO familiar_ips (user_id, ip, added_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, ip) DO UPDATE SET added_at = excluded.added_at",
                )
                .bind(user.to_string())
                .bind(ip)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM familiar_ips WHERE user_id = $1 AND ip NOT IN \
                     (SELECT ip FROM familiar_ips WHERE user_id = $1 ORDER BY added_at DESC, ip LIMIT $2)",
                )
                .bind(user.to_string())
                .bind(crate::traits::MAX_FAMILIAR_IPS as i64)
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn clear_second_factor_failures(&self, user: UserId) -> Result<(), StoreError> {
                let _turn = self.write_turn().await?;
                sqlx::query("DELETE FROM lockout_counters WHERE user_id = $1 AND location = 'mfa'")
                    .bind(user.to_string())
                    .execute(&self.writer)
                    .await?;
                Ok(())
            }

            async fn familiar_ips(&self, user: UserId) -> Result<Vec<String>, StoreError> {
                let rows = sqlx::query("SELECT ip FROM familiar_ips WHERE user_id = $1 ORDER BY added_at DESC")
                    .bind(user.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            }

            async fn failed_names_from_ip(&self, ip: &str, since: i64) -> Result<u32, StoreError> {
                let count: i64 = sqlx::query("SELECT COUNT(DISTINCT user_key) FROM ip_failures WHERE ip = $1 AND at >= $2")
                    .bind(ip)
                    .bind(since)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            }
        }
        }
    };
}

pub(crate) use impl_lockout;
