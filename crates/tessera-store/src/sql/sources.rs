//! Directory sources: stored with their bind password sealed, found, listed and removed (their
//! users staying on as local users). The SQL serves SQLite and PostgreSQL alike: the macro expands
//! it once per backend, into a module of its own beside the store type (see `sql::common`).

macro_rules! impl_sources {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod sources {
            use super::*;
            use crate::traits::SourceStore;
            use tessera_core::{DirectorySource, NewDirectorySource, SourceId};

            const SOURCE_COLUMNS: &str = "id, name, config, created_at, updated_at";

            #[async_trait]
            impl SourceStore for $store {
                async fn create_source(
                    &self,
                    actor: &Actor,
                    source: NewDirectorySource,
                    sealed_bind_password: &[u8],
                ) -> Result<DirectorySource, StoreError> {
                    let id = source.id;
                    let at = self.clock.now_millis();
                    let config =
                        serde_json::to_string(&source.config).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let mut tx = self.write_tx().await?;
                    sqlx::query(
                        "INSERT INTO directory_sources (id, name, kind, config, sealed_bind_password, created_at, \
                         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    )
                    .bind(id.to_string())
                    .bind(&source.name)
                    .bind(source.config.kind.as_str())
                    .bind(&config)
                    .bind(sealed_bind_password)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        map_unique(e, &[(
                            "directory_sources_name_key",
                            "name",
                            format!("a directory source named {:?} exists already", source.name),
                        )])
                    })?;
                    let summary = json!({
                        "name": source.name, "kind": source.config.kind.as_str(), "urls": source.config.urls,
                        "base_dn": source.config.base_dn, "bind_dn": source.config.bind_dn,
                        "authenticate": source.config.authenticate.as_str(),
                    });
                    self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::DirectoryAdd, "directory", id, summary))
                        .await?;
                    self.commit(tx).await?;
                    Ok(DirectorySource { id, name: source.name, config: source.config, created_at: at, updated_at: at })
                }

                async fn find_source(&self, key: &str) -> Result<DirectorySource, StoreError> {
                    let key = key.trim();
                    let row = sqlx::query(&format!(
                        "SELECT {SOURCE_COLUMNS} FROM directory_sources WHERE id = $1 OR lower(name) = lower($1) \
                         ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1"
                    ))
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                    match row {
                        Some(row) => Self::source_from_row(&row),
                        None => Err(StoreError::not_found("directory source", key)),
                    }
                }

                async fn list_sources(&self) -> Result<Vec<DirectorySource>, StoreError> {
                    let rows = sqlx::query(&format!("SELECT {SOURCE_COLUMNS} FROM directory_sources ORDER BY id"))
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter().map(Self::source_from_row).collect()
                }

                async fn user_source(&self, user: UserId) -> Result<Option<(SourceId, String)>, StoreError> {
                    if let Some(source) = self.cache.get(&self.cache.user_sources, &user) {
                        return Ok(source);
                    }
                    let ticket = self.cache.ticket();
                    let row = sqlx::query("SELECT source_id, source_anchor FROM users WHERE id = $1 AND source_id IS NOT NULL")
                        .bind(user.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    let source = match row {
                        Some(row) => Some((parse_id(&row.try_get::<String, _>(0)?)?, row.try_get(1)?)),
                        None => None,
                    };
                    self.cache.put(&self.cache.user_sources, ticket, user, source.clone());
                    Ok(source)
                }

                async fn source_bind_password(&self, source: SourceId) -> Result<Vec<u8>, StoreError> {
                    let row = sqlx::query("SELECT sealed_bind_password FROM directory_sources WHERE id = $1")
                        .bind(source.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    match row {
                        Some(row) => Ok(row.try_get(0)?),
                        None => Err(StoreError::not_found("directory source", source.to_string())),
                    }
                }

                async fn remove_source(&self, actor: &Actor, source: SourceId) -> Result<u64, StoreError> {
                    let at = self.clock.now_millis();
                    let mut tx = self.write_tx().await?;
                    let detached = sqlx::query(
                        "UPDATE users SET source_id = NULL, source_anchor = NULL, source_suspended = FALSE, updated_at = $2 \
                         WHERE source_id = $1",
                    )
                    .bind(source.to_string())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let row = sqlx::query("DELETE FROM directory_sources WHERE id = $1 RETURNING name")
                        .bind(source.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        return Err(StoreError::not_found("directory source", source.to_string()));
                    };
                    let name: String = row.try_get(0)?;
                    let summary = json!({"name": name, "users_kept": detached});
                    let event = NewAuditEvent::new(AuditAction::DirectoryRemove, "directory", source, summary);
                    self.append_audit(&mut tx, actor, at, event).await?;
                    self.commit(tx).await?;
                    Ok(detached)
                }
            }

            impl $store {
                fn source_from_row(row: &$row) -> Result<DirectorySource, StoreError> {
                    let config: String = row.try_get("config")?;
                    Ok(DirectorySource {
                        id: parse_id(&row.try_get::<String, _>("id")?)?,
                        name: row.try_get("name")?,
                        config: serde_json::from_str(&config)
                            .map_err(|e| StoreError::Corrupt(format!("directory source settings: {e}")))?,
                        created_at: row.try_get("created_at")?,
                        updated_at: row.try_get("updated_at")?,
                    })
                }
            }
        }
    };
}

pub(crate) use impl_sources;
