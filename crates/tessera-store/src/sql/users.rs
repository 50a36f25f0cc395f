//! Users: created, found, changed, listed and imported. The SQL serves SQLite and PostgreSQL alike:
//! the macro expands it once per backend, into a module of its own beside the store type (see
//! `sql::common`).

macro_rules! impl_users {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod users {
        use super::*;

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User, StoreError> {
                let id = UserId::new();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                // The email and UPN name one user each, across both columns, so that a lookup
                // by either is never ambiguous.
                let taken = sqlx::query(
                    "SELECT email FROM users WHERE lower(email) IN (lower($1), lower($2)) \
                     OR lower(upn) IN (lower($1), lower($2)) LIMIT 1",
                )
                .bind(&user.email)
                .bind(&user.upn)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = taken {
                    let other: String = row.try_get(0)?;
                    return Err(StoreError::Conflict {
                        field: "email",
                        message: format!("email or UPN already used by user {other}"),
                    });
                }
                let row = sqlx::query(concat!(
                    "INSERT INTO users (id, email, upn, first_name, last_name, immutable_id, state, password_hash, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8) RETURNING ",
                    crate::sql::user_columns!()
                ))
                    .bind(id.to_string())
                    .bind(&user.email)
                    .bind(&user.upn)
                    .bind(&user.first_name)
                    .bind(&user.last_name)
                    .bind(&user.immutable_id)
                    .bind(&user.password_hash)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| {
                        map_unique(e, &[
                            ("users_email_key", "email", format!("a user with email {} exists already", user.email)),
                            ("users_upn_key", "upn", format!("a user with UPN {} exists already", user.upn)),
                            (
                                "users_immutable_id_key",
                                "immutable_id",
                                format!("a user with immutable ID {} exists already", user.immutable_id),
                            ),
                        ])
                    })?;
                let created = Self::user_from_row(&row)?;
                let summary = json!({
                    "email": created.email, "upn": created.upn, "first_name": created.first_name,
                    "last_name": created.last_name, "immutable_id": created.immutable_id,
                    "password_set": created.password_hash.is_some(),
                });
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", id, summary)).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn import_users(&self, actor: &Actor, rows: &[tessera_core::import::ImportRow], dry_run: bool) -> Result<crate::traits::ImportOutcome, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let mut outcome = crate::traits::ImportOutcome::default();
                for row in rows {
                    let user = &row.user;
                    let taken = sqlx::query(
                        "SELECT email, immutable_id = $3 AS anchor FROM users WHERE lower(email) IN (lower($1), lower($2)) \
                         OR lower(upn) IN (lower($1), lower($2)) OR immutable_id = $3 LIMIT 1",
                    )
                    .bind(&user.email)
                    .bind(&user.upn)
                    .bind(&user.immutable_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(taken) = taken {
                        let other: String = taken.try_get(0)?;
                        let message = match taken.try_get::<bool, _>(1)? {
                            true => format!("immutable ID {} is already user {other}'s", user.immutable_id),
                            false => format!("{} or {} is already used by user {other}", user.email, user.upn),
                        };
                        outcome.clashes.push((row.line, message));
                    }
                }
                // Each group once, in the order the file first names it.
                let mut groups: Vec<(String, Option<String>)> = Vec::new();
                for name in rows.iter().flat_map(|r| r.groups.iter()) {
                    if groups.iter().any(|(g, _)| g.eq_ignore_ascii_case(name)) {
                        continue;
                    }
                    let found = sqlx::query("SELECT id FROM user_groups WHERE lower(name) = lower($1)")
                        .bind(name)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let id = found.map(|row| row.try_get::<String, _>(0)).transpose()?;
                    if id.is_none() {
                        outcome.new_groups.push(name.clone());
                    }
                    groups.push((name.clone(), id));
                }
                outcome.users = rows.len();
                outcome.memberships = rows.iter().map(|r| r.groups.len()).sum();
                if dry_run || !outcome.clashes.is_empty() {
                    return Ok(outcome);
                }
                for (name, id) in &mut groups {
                    if id.is_some() {
                        continue;
                    }
                    let group = GroupId::new();
                    let new = tessera_core::NewGroup::new(name, None)?;
                    sqlx::query("INSERT INTO user_groups (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(group.to_string())
                        .bind(&new.name)
                        .bind(&new.description)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    let summary = json!({"name": new.name, "description": new.description, "import": true});
                    self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", group, summary)).await?;
                    *id = Some(group.to_string());
                }
                for row in rows {
                    let user = &row.user;
                    let id = UserId::new();
                    sqlx::query(
                        "INSERT INTO users (id, email, upn, first_name, last_name, immutable_id, state, password_hash, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $8)",
                    )
                    .bind(id.to_string())
                    .bind(&user.email)
                    .bind(&user.upn)
                    .bind(&user.first_name)
                    .bind(&user.last_name)
                    .bind(&user.immutable_id)
                    .bind(&user.password_hash)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_unique(e, &[("users_", "email", format!("line {}: {} clashes with a user created meanwhile", row.line, user.email))]))?;
                    let summary = json!({
                        "email": user.email, "upn": user.upn, "first_name": user.first_name,
                        "last_name": user.last_name, "immutable_id": user.immutable_id,
                        "password_set": user.password_hash.is_some(), "import": true,
                    });
                    self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", id, summary)).await?;
                    for name in &row.groups {
                        let Some((_, Some(group))) = groups.iter().find(|(g, _)| g.eq_ignore_ascii_case(name)) else {
                            continue;
                        };
                        sqlx::query("INSERT INTO memberships (group_id, user_id, created_at) VALUES ($1, $2, $3)")
                            .bind(group)
                            .bind(id.to_string())
                            .bind(at)
                            .execute(&mut *tx)
                            .await?;
                        let event = NewAuditEvent::new(AuditAction::GroupAddMember, "group", group.as_str(), json!({"user_id": id.to_string()}));
                        self.append_audit(&mut tx, actor, at, event).await?;
                    }
                }
                self.commit(tx).await?;
                outcome.written = true;
                Ok(outcome)
            }

            async fn find_user(&self, key: &str) -> Result<User, StoreError> {
                let row = if let Ok(id) = key.parse::<UserId>() {
                    sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users ", "WHERE id = $1"))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                } else {
                    sqlx::query(concat!(
                        "SELECT ",
                        crate::sql::user_columns!(),
                        " FROM users WHERE lower(email) = lower($1) OR lower(upn) = lower($1) \
                         ORDER BY CASE WHEN lower(email) = lower($1) THEN 0 ELSE 1 END LIMIT 1"
                    ))
                    .bind(key.trim())
                    .fetch_optional(&self.pool)
                    .await?
                };
                match row {
                    Some(row) => Self::user_from_row(&row),
                    None => Err(StoreError::not_found("user", key)),
                }
            }

            async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
                let limit = page.effective_limit();
                let rows = sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users ", "WHERE id > $1 ORDER BY id LIMIT $2"))
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(limit + 1)
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.iter().map(Self::user_from_row).collect::<Result<Vec<_>, _>>()?;
                let next = next_cursor(&mut items, limit, |u| u.id.to_string());
                Ok(Page { items, next })
            }

            async fn set_password(&self, actor: &Actor, user: UserId, password_hash: &str) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                    .bind(password_hash)
                    .bind(at)
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("user", user.to_string()));
                }
                let event = NewAuditEvent::new(AuditAction::UserSetPassword, "user", user, json!({"password_set": true}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn set_user_state(&self, actor: &Actor, user: UserId, state: UserState) -> Result<User, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(concat!(
                    "UPDATE users SET state = $1, source_suspended = FALSE, updated_at = $2 WHERE id = $3 RETURNING ",
                    crate::sql::user_columns!()
                ))
                .bind(state.as_str())
                .bind(at)
                .bind(user.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("user", user.to_string()));
                };
                let updated = Self::user_from_row(&row)?;
                let event = NewAuditEvent::new(AuditAction::UserSetState, "user", user, json!({"state": state.as_str()}));
                self.append_audit(&mut tx, actor, at, event).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn set_user_identity(
                &self,
                actor: &Actor,
                user: UserId,
                upn: Option<&str>,
                immutable_id: Option<&str>,
            ) -> Result<User, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let before = sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users WHERE id = $1"))
                    .bind(user.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else { return Err(StoreError::not_found("user", user.to_string())) };
                let before = Self::user_from_row(&before)?;
                let upn = upn.unwrap_or(&before.upn);
                let immutable_id = immutable_id.unwrap_or(&before.immutable_id);
                // A UPN names one user across both columns, as at creation.
                let taken = sqlx::query("SELECT email FROM users WHERE id <> $1 AND (lower(email) = lower($2) OR lower(upn) = lower($2)) LIMIT 1")
                    .bind(user.to_string())
                    .bind(upn)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = taken {
                    let other: String = row.try_get(0)?;
                    return Err(StoreError::Conflict { field: "upn", message: format!("UPN {upn} is already used by user {other}") });
                }
                let row = sqlx::query(concat!(
                    "UPDATE users SET upn = $1, immutable_id = $2, updated_at = $3 WHERE id = $4 RETURNING ",
                    crate::sql::user_columns!()
                ))
                .bind(upn)
                .bind(immutable_id)
                .bind(at)
                .bind(user.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    map_unique(e, &[
                        ("users_upn_key", "upn", format!("UPN {upn} is another user's")),
                        ("users_immutable_id_key", "immutable_id", format!("immutable ID {immutable_id} is another user's")),
                    ])
                })?;
                let updated = Self::user_from_row(&row)?;
                let summary = json!({
                    "upn": {"before": before.upn, "after": updated.upn},
                    "immutable_id": {"before": before.immutable_id, "after": updated.immutable_id},
                });
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserSetIdentity, "user", user, summary)).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn delete_user(&self, actor: &Actor, user: UserId) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query("DELETE FROM users WHERE id = $1 RETURNING email")
                    .bind(user.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("user", user.to_string()));
                };
                let email: String = row.try_get(0)?;
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserDelete, "user", user, json!({"email": email}))).await?;
                self.commit(tx).await?;
                Ok(())
            }
        }
        }
    };
}

pub(crate) use impl_users;
