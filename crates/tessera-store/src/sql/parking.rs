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

                async fn peek_parked_request(
                    &self,
                    id: &str,
                    browser_hash: &str,
                    now: i64,
                ) -> Result<Option<ParkedRequest>, StoreError> {
                    let row = sqlx::query(
                        "SELECT id, browser_hash, kind, payload, created_at, expires_at FROM parked_requests \
                         WHERE id = $1 AND browser_hash = $2 AND expires_at >= $3",
                    )
                    .bind(id)
                    .bind(browser_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(|row| parked_from_row(&row)).transpose()
                }

                async fn take_parked_request(
                    &self,
                    id: &str,
                    browser_hash: &str,
                    now: i64,
                ) -> Result<Option<ParkedRequest>, StoreError> {
                    let _turn = self.write_turn().await?;
                    let row = sqlx::query(
                        "DELETE FROM parked_requests WHERE id = $1 AND browser_hash = $2 \
                     RETURNING id, browser_hash, kind, payload, created_at, expires_at",
                    )
                    .bind(id)
                    .bind(browser_hash)
                    .fetch_optional(&self.writer)
                    .await?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(parked_from_row(&row)?).filter(|parked| parked.expires_at >= now))
                }
            }

            fn parked_from_row(row: &$row) -> Result<ParkedRequest, StoreError> {
                Ok(ParkedRequest {
                    id: row.try_get("id")?,
                    browser_hash: row.try_get("browser_hash")?,
                    kind: row.try_get("kind")?,
                    payload: serde_json::from_str(&row.try_get::<String, _>("payload")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created_at: row.try_get("created_at")?,
                    expires_at: row.try_get("expires_at")?,
                })
            }
        }
    };
}

pub(crate) use impl_parking;
