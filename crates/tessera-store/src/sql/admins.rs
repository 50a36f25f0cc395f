//! Administrators, their roles and applications; API tokens. The SQL serves SQLite and PostgreSQL
//! alike: the macro expands it once per backend, into a module of its own beside the store type
//! (see `sql::common`).

macro_rules! impl_admins {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod admins {
        use super::*;

        #[async_trait]
        impl AdminStore for $store {
            async fn create_api_token(
                &self,
                actor: &Actor,
                name: &str,
                token_hash: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<ApiToken, StoreError> {
                let name = tessera_core::validate::label("name", name)?;
                let id = uuid::Uuid::now_v7().to_string();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO api_tokens (id, name, token_hash, created_at, role) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING id, name, created_at, revoked_at, role",
                )
                .bind(&id)
                .bind(&name)
                .bind(token_hash)
                .bind(at)
                .bind(role.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[("api_tokens_live_name_key", "name", format!("a live API token named {name:?} exists already"))]))?;
                let token = Self::token_from_row(&row)?;
                let apps = Self::put_scope(&mut tx, crate::sql::INSERT_TOKEN_APP, &id, role, apps).await?;
                let event = json!({"name": name, "role": role.as_str(), "apps": apps});
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::ApiTokenCreate, "api_token", &id, event)).await?;
                self.commit(tx).await?;
                Ok(token)
            }

            async fn api_token_apps(&self, token_id: &str) -> Result<Vec<AppId>, StoreError> {
                let rows = sqlx::query("SELECT app_id FROM api_token_apps WHERE token_id = $1 ORDER BY app_id")
                    .bind(token_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|row| parse_id(&row.try_get::<String, _>(0)?)).collect()
            }

            async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, name, created_at, revoked_at, role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::token_from_row).transpose()
            }

            async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
                let rows = sqlx::query("SELECT id, name, created_at, revoked_at, role FROM api_tokens ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::token_from_row).collect()
            }

            async fn revoke_api_token(&self, actor: &Actor, key: &str) -> Result<ApiToken, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND (id = $2 OR lower(name) = lower($2)) \
                     RETURNING id, name, created_at, revoked_at, role",
                )
                .bind(at)
                .bind(key.trim())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("live API token", key));
                };
                let token = Self::token_from_row(&row)?;
                let event = NewAuditEvent::new(AuditAction::ApiTokenRevoke, "api_token", &token.id, json!({"name": token.name}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(token)
            }

            async fn create_initial_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let existing: i64 = sqlx::query("SELECT COUNT(*) FROM admins").fetch_one(&mut *tx).await?.try_get(0)?;
                if existing > 0 {
                    return Ok(false);
                }
                let id = uuid::Uuid::now_v7().to_string();
                let inserted = sqlx::query(
                    "INSERT INTO admins (id, username, password_hash, must_change_password, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(username)
                .bind(password_hash)
                .bind(true)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    return Ok(false);
                }
                let event = NewAuditEvent::new(AuditAction::AdminCreate, "admin", &id, json!({"username": username, "initial": true}));
                self.append_audit(&mut tx, &Actor::system(), at, event).await?;
                self.commit(tx).await?;
                Ok(true)
            }

            async fn create_admin(
                &self,
                actor: &Actor,
                username: &str,
                password_hash: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<Administrator, StoreError> {
                let username = tessera_core::validate::label("username", username)?;
                let id = uuid::Uuid::now_v7().to_string();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO admins (id, username, password_hash, must_change_password, created_at, role) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, username, password_hash, must_change_password, role, created_at",
                )
                .bind(&id)
                .bind(&username)
                .bind(password_hash)
                .bind(false)
                .bind(at)
                .bind(role.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[("admins_username_key", "username", format!("an administrator named {username:?} exists already"))]))?;
                let admin = Self::admin_from_row(&row)?;
                let apps = Self::put_scope(&mut tx, crate::sql::INSERT_ADMIN_APP, &id, role, apps).await?;
                let event = NewAuditEvent::new(
                    AuditAction::AdminCreate,
                    "admin",
                    &id,
                    json!({"username": username, "role": role.as_str(), "apps": apps}),
                );
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }

            async fn set_admin_role(
                &self,
                actor: &Actor,
                key: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<Administrator, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // As for deletes: two demotions at once must not both count the other.
                if $backend == "postgres" {
                    sqlx::query("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
                }
                let found = sqlx::query(crate::sql::ADMIN_BY_KEY).bind(key.trim()).fetch_optional(&mut *tx).await?;
                let found = found.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                let row = sqlx::query(
                    "UPDATE admins SET role = $1 WHERE id = $2 \
                     AND ($1 = 'admin' OR role <> 'admin' OR (SELECT COUNT(*) FROM admins WHERE role = 'admin') > 1) \
                     RETURNING id, username, password_hash, must_change_password, role, created_at",
                )
                .bind(role.as_str())
                .bind(&found.id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::Conflict {
                        field: "role",
                        message: format!(
                            "{:?} is the last full administrator; make another one an admin first",
                            found.username
                        ),
                    });
                };
                let admin = Self::admin_from_row(&row)?;
                sqlx::query("DELETE FROM admin_apps WHERE admin_id = $1").bind(&admin.id).execute(&mut *tx).await?;
                let apps = Self::put_scope(&mut tx, crate::sql::INSERT_ADMIN_APP, &admin.id, role, apps).await?;
                let event = NewAuditEvent::new(
                    AuditAction::AdminRoleSet,
                    "admin",
                    &admin.id,
                    json!({"username": admin.username, "from": found.role.as_str(), "role": role.as_str(), "apps": apps}),
                );
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }

            async fn admin_apps(&self, admin_id: &str) -> Result<Vec<AppId>, StoreError> {
                let rows = sqlx::query("SELECT app_id FROM admin_apps WHERE admin_id = $1 ORDER BY app_id")
                    .bind(admin_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|row| parse_id(&row.try_get::<String, _>(0)?)).collect()
            }

            async fn find_admin(&self, key: &str) -> Result<Administrator, StoreError> {
                let row = sqlx::query(
                    crate::sql::ADMIN_BY_KEY,
                )
                .bind(key.trim())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))
            }

            async fn list_admins(&self) -> Result<Vec<Administrator>, StoreError> {
                let rows = sqlx::query("SELECT id, username, password_hash, must_change_password, role, created_at FROM admins ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::admin_from_row).collect()
            }

            async fn set_admin_password(
                &self,
                actor: &Actor,
                key: &str,
                password_hash: &str,
                must_change: bool,
            ) -> Result<Administrator, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let found = sqlx::query(crate::sql::ADMIN_BY_KEY).bind(key.trim()).fetch_optional(&mut *tx).await?;
                let found = found.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                let row = sqlx::query(
                    "UPDATE admins SET password_hash = $1, must_change_password = $2 WHERE id = $3 \
                     RETURNING id, username, password_hash, must_change_password, role, created_at",
                )
                .bind(password_hash)
                .bind(must_change)
                .bind(&found.id)
                .fetch_optional(&mut *tx)
                .await?;
                let admin = row.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                let event = NewAuditEvent::new(AuditAction::AdminPasswordSet, "admin", &admin.id, json!({"username": admin.username, "one_time": must_change}));
                // A new password ends every session made with the old one (a session left
                // waiting with a one-time password included).
                sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(&admin.id).execute(&mut *tx).await?;
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }

            async fn delete_admin(&self, actor: &Actor, key: &str) -> Result<Administrator, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // SQLite's write transaction holds the database lock already; PostgreSQL's
                // deletes of two different administrators would each count the other.
                if $backend == "postgres" {
                    sqlx::query("LOCK TABLE admins IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
                }
                let row = sqlx::query(
                    crate::sql::ADMIN_BY_KEY,
                )
                .bind(key.trim())
                .fetch_optional(&mut *tx)
                .await?;
                let admin = row.as_ref().map(Self::admin_from_row).transpose()?.ok_or_else(|| StoreError::not_found("administrator", key))?;
                // In the same transaction as the count: two deletes at once cannot both pass it.
                let deleted = sqlx::query(
                    "DELETE FROM admins WHERE id = $1 \
                     AND (role <> 'admin' OR (SELECT COUNT(*) FROM admins WHERE role = 'admin') > 1)",
                )
                    .bind(&admin.id)
                    .execute(&mut *tx)
                    .await?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::Conflict {
                        field: "username",
                        message: format!(
                            "{:?} is the last full administrator; make another one an admin before deleting it",
                            admin.username
                        ),
                    });
                }
                let event = NewAuditEvent::new(AuditAction::AdminDelete, "admin", &admin.id, json!({"username": admin.username}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(admin)
            }
        }

        impl $store {
            /// An application administrator's applications, written by `insert` (into
            /// `admin_apps` or `api_token_apps`); other roles keep none. An application that is
            /// not there is `NotFound`. Returns the ids written, for the audit record.
            pub(super) async fn put_scope(
                tx: &mut Tx,
                insert: &'static str,
                principal: &str,
                role: AdminRole,
                apps: &[AppId],
            ) -> Result<Vec<String>, StoreError> {
                if role != AdminRole::AppAdmin {
                    return Ok(Vec::new());
                }
                let mut written: Vec<String> = apps.iter().map(ToString::to_string).collect();
                written.sort();
                written.dedup();
                for app in &written {
                    let exists: i64 = sqlx::query("SELECT COUNT(*) FROM apps WHERE id = $1")
                        .bind(app)
                        .fetch_one(&mut **tx)
                        .await?
                        .try_get(0)?;
                    if exists == 0 {
                        return Err(StoreError::not_found("application", app));
                    }
                    sqlx::query(insert).bind(principal).bind(app).execute(&mut **tx).await?;
                }
                Ok(written)
            }
        }
        }
    };
}

pub(crate) use impl_admins;
