//! Sign-on requests parked while the user signs in. The SQL serves SQLite and PostgreSQL alike: the
//! macro expands it once per backend, into a module of its own beside the store type (see
//! `sql::common`).

macro_rules! impl_parking {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod parking {
            use super::*;

            #[async_trait]
            impl ParkingStore for $store {
                async fn park_request(&self, parked: &ParkedRequest) -> Result<(), StoreError> {
                    let mut tx = self.write_tx().await?;
                    // Expired requests are cleared as new ones arrive, so the table stays small.
                    sqlx::query("DELETE FROM parked_requests WHERE expires_at < $1")
                        .bind(parked.created_at)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO parked_requests (id, browser_hash, kind, payload, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&parked.id)
                    .bind(&parked.browser_hash)
                    .bind(&parked.kind)
                    .bind(parked.payload.to_string())
                    .bind(parked.created_at)
                    .bind(parked.expires_at)
                    .execute(&mut *tx)
                    .await?;
                    self.commit(tx).await?;
                    Ok(())
                }

                async fn parked_trace(&self, id: &str, browser_hash: &str) -> Result<Option<String>, StoreError> {
                    let row = sqlx::query("SELECT payload FROM parked_requests WHERE id = $1 AND browser_hash = $2")
                        .bind(id)
                        .bind(browser_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                    let Some(row) = row else { return Ok(None) };
                    let payload: serde_json::Value = serde_json::from_str(&row.try_get::<String, _>("payload")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok(payload
                        .pointer("/trace/id")
                        .and_then(|id| id.as_str())
                        .filter(|id| !id.is_empty())
                        .map(str::to_string))
                }

                async fn take_parked_request(
                    &self,
                    id: &str,
                    browser_hash: &str,
                    now: i64,
                ) -> Result<Option<ParkedRequest>, StoreError> {
                    let row = sqlx::query(
                        "DELETE FROM parked_requests WHERE id = $1 AND browser_hash = $2 \
                     RETURNING id, browser_hash, kind, payload, created_at, expires_at",
                    )
                    .bind(id)
                    .bind(browser_hash)
                    .fetch_optional(&self.writer)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    let expires_at: i64 = row.try_get("expires_at")?;
                    if expires_at < now {
                        return Ok(None);
                    }
                    Ok(Some(ParkedRequest {
                        id: row.try_get("id")?,
                        browser_hash: row.try_get("browser_hash")?,
                        kind: row.try_get("kind")?,
                        payload: serde_json::from_str(&row.try_get::<String, _>("payload")?)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        created_at: row.try_get("created_at")?,
                        expires_at,
                    }))
                }
            }
        }
    };
}

pub(crate) use impl_parking;
