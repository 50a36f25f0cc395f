//! Groups and their members. The SQL serves SQLite and PostgreSQL alike: the macro expands it once
//! per backend, into a module of its own beside the store type (see `sql::common`).

macro_rules! impl_groups {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod groups {
        use super::*;

        #[async_trait]
        impl GroupStore for $store {
            async fn create_group(&self, actor: &Actor, group: NewGroup) -> Result<Group, StoreError> {
                let id = GroupId::new();
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(
                    "INSERT INTO user_groups (id, name, description, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, name, description, created_at",
                )
                .bind(id.to_string())
                .bind(&group.name)
                .bind(&group.description)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[("user_groups_name_key", "name", format!("a group named {:?} exists already", group.name))]))?;
                let created = Self::group_from_row(&row)?;
                let summary = json!({"name": created.name, "description": created.description});
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", id, summary)).await?;
                self.commit(tx).await?;
                Ok(created)
            }

            async fn find_group(&self, key: &str) -> Result<Group, StoreError> {
                let row = if let Ok(id) = key.parse::<GroupId>() {
                    sqlx::query("SELECT id, name, description, created_at FROM user_groups WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                } else {
                    sqlx::query("SELECT id, name, description, created_at FROM user_groups WHERE lower(name) = lower($1)")
                        .bind(key.trim())
                        .fetch_optional(&self.pool)
                        .await?
                };
                match row {
                    Some(row) => Self::group_from_row(&row),
                    None => Err(StoreError::not_found("group", key)),
                }
            }

            async fn list_groups(&self, page: &PageRequest) -> Result<Page<Group>, StoreError> {
                let limit = page.effective_limit();
                let rows = sqlx::query(
                    "SELECT id, name, description, created_at FROM user_groups WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(page.after.clone().unwrap_or_default())
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?;
                let mut items = rows.iter().map(Self::group_from_row).collect::<Result<Vec<_>, _>>()?;
                let next = next_cursor(&mut items, limit, |g| g.id.to_string());
                Ok(Page { items, next })
            }

            async fn delete_group(&self, actor: &Actor, group: GroupId) -> Result<(), StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let row = sqlx::query("DELETE FROM user_groups WHERE id = $1 RETURNING name")
                    .bind(group.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::not_found("group", group.to_string()));
                };
                let name: String = row.try_get(0)?;
                self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::GroupDelete, "group", group, json!({"name": name}))).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn add_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(
                    "INSERT INTO memberships (group_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(group.to_string())
                .bind(user.to_string())
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, &[]))?;
                let added = done.rows_affected() == 1;
                if added {
                    let event = NewAuditEvent::new(AuditAction::GroupAddMember, "group", group, json!({"user_id": user.to_string()}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(added)
            }

            async fn remove_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError> {
                let at = self.clock.now_millis();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND user_id = $2")
                    .bind(group.to_string())
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
                let removed = done.rows_affected() == 1;
                if removed {
                    let event = NewAuditEvent::new(AuditAction::GroupRemoveMember, "group", group, json!({"user_id": user.to_string()}));
                    self.append_audit(&mut tx, actor, at, event).await?;
                }
                self.commit(tx).await?;
                Ok(removed)
            }

            async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError> {
                let rows = sqlx::query(concat!("SELECT ", crate::sql::user_columns!(), " FROM users ", "WHERE id IN (SELECT user_id FROM memberships WHERE group_id = $1) ORDER BY id"))
                .bind(group.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::user_from_row).collect()
            }

            async fn groups_of_user(&self, user: UserId) -> Result<Vec<Group>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, name, description, created_at FROM user_groups \
                     WHERE id IN (SELECT group_id FROM memberships WHERE user_id = $1) ORDER BY id",
                )
                .bind(user.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::group_from_row).collect()
            }
        }
        }
    };
}

pub(crate) use impl_groups;
