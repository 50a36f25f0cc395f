//! A directory source's sync: the users it brought, and one sync's changes applied in one
//! transaction. The SQL serves SQLite and PostgreSQL alike: the macro expands it once per
//! backend, into a module of its own beside the store type (see `sql::common`).

macro_rules! impl_source_sync {
    ($store:ident, $db:ty, $row:ty, $backend:expr) => {
        mod source_sync {
            use super::*;
            use crate::traits::SourceSyncStore;
            use tessera_core::SourceId;
            use tessera_core::sync::{LinkedGroup, LinkedUser, SyncChanges};

            #[async_trait]
            impl SourceSyncStore for $store {
                async fn linked_users(&self, source: SourceId) -> Result<Vec<LinkedUser>, StoreError> {
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        crate::sql::user_columns!(),
                        ", source_anchor, source_suspended FROM users WHERE source_id = $1 ORDER BY id"
                    ))
                    .bind(source.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            Ok(LinkedUser {
                                user: Self::user_from_row(row)?,
                                anchor: row.try_get("source_anchor")?,
                                suspended_by_source: row.try_get("source_suspended")?,
                            })
                        })
                        .collect()
                }

                async fn linked_groups(&self, source: SourceId) -> Result<Vec<LinkedGroup>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT id, name, description, created_at, source_anchor, orphaned FROM user_groups \
                         WHERE source_id = $1 ORDER BY id",
                    )
                    .bind(source.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    let members = sqlx::query(
                        "SELECT g.source_anchor AS group_anchor, u.source_anchor AS user_anchor FROM memberships m \
                         JOIN user_groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id \
                         WHERE g.source_id = $1 AND u.source_id = $1 ORDER BY u.source_anchor",
                    )
                    .bind(source.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            let anchor: String = row.try_get("source_anchor")?;
                            let mut held = Vec::new();
                            for member in &members {
                                if member.try_get::<String, _>("group_anchor")? == anchor {
                                    held.push(member.try_get("user_anchor")?);
                                }
                            }
                            Ok(LinkedGroup {
                                group: Self::group_from_row(row)?,
                                orphaned: row.try_get("orphaned")?,
                                anchor,
                                members: held,
                            })
                        })
                        .collect()
                }

                async fn sync_cursor(&self, source: SourceId) -> Result<Option<String>, StoreError> {
                    let row: Option<Option<String>> =
                        sqlx::query_scalar("SELECT sync_cursor FROM directory_sources WHERE id = $1")
                            .bind(source.to_string())
                            .fetch_optional(&self.pool)
                            .await?;
                    row.ok_or_else(|| StoreError::not_found("directory source", source.to_string()))
                }

                async fn apply_sync(
                    &self,
                    actor: &Actor,
                    source: SourceId,
                    changes: &SyncChanges,
                    summary: serde_json::Value,
                ) -> Result<(), StoreError> {
                    let at = self.clock.now_millis();
                    let source_id = source.to_string();
                    let mut tx = self.write_tx().await?;
                    let name: Option<String> = sqlx::query_scalar("SELECT name FROM directory_sources WHERE id = $1")
                        .bind(&source_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(name) = name else { return Err(StoreError::not_found("directory source", source_id)) };
                    for (anchor, user) in &changes.create {
                        let id = UserId::new();
                        sqlx::query(
                            "INSERT INTO users (id, email, upn, first_name, last_name, immutable_id, state, \
                             created_at, updated_at, source_id, source_anchor) \
                             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $8, $9)",
                        )
                        .bind(id.to_string())
                        .bind(&user.email)
                        .bind(&user.upn)
                        .bind(&user.first_name)
                        .bind(&user.last_name)
                        .bind(&user.immutable_id)
                        .bind(at)
                        .bind(&source_id)
                        .bind(anchor)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_unique(e, &crate::sql::sync_clash_rules(&user.email)))?;
                        let summary = json!({
                            "email": user.email, "upn": user.upn, "first_name": user.first_name,
                            "last_name": user.last_name, "immutable_id": user.immutable_id,
                            "password_set": false, "source": name,
                        });
                        self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", id, summary)).await?;
                    }
                    for (user, fields) in &changes.update {
                        let done = sqlx::query(
                            "UPDATE users SET email = $1, upn = $2, first_name = $3, last_name = $4, updated_at = $5 \
                             WHERE id = $6 AND source_id = $7",
                        )
                        .bind(&fields.email)
                        .bind(&fields.upn)
                        .bind(&fields.first_name)
                        .bind(&fields.last_name)
                        .bind(at)
                        .bind(user.to_string())
                        .bind(&source_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_unique(e, &crate::sql::sync_clash_rules(&fields.email)))?;
                        if done.rows_affected() == 0 {
                            return Err(StoreError::not_found("user of the source", user.to_string()));
                        }
                        let summary = json!({
                            "email": fields.email, "upn": fields.upn, "first_name": fields.first_name,
                            "last_name": fields.last_name, "source": name,
                        });
                        self.append_audit(&mut tx, actor, at, NewAuditEvent::new(AuditAction::UserSyncUpdate, "user", user, summary)).await?;
                    }
                    for (user, anchor) in &changes.adopt {
                        let done = sqlx::query(
                            "UPDATE users SET source_id = $1, source_anchor = $2, updated_at = $3 WHERE id = $4 AND source_id IS NULL",
                        )
                        .bind(&source_id)
                        .bind(anchor)
                        .bind(at)
                        .bind(user.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_unique(e, &[]))?;
                        if done.rows_affected() == 0 {
                            return Err(StoreError::Conflict {
                                field: "user",
                                message: format!("user {user} belongs to a directory source already"),
                            });
                        }
                        let event = NewAuditEvent::new(AuditAction::DirectoryAdopt, "user", user, json!({"source": name}));
                        self.append_audit(&mut tx, actor, at, event).await?;
                    }
                    for (users, state, suspended_by_source, was) in [
                        (&changes.suspend, "suspended", true, "active"),
                        (&changes.reactivate, "active", false, "suspended"),
                    ] {
                        // In id order, as a sign-on's record locks users (`push_live_sessions`).
                        let mut users: Vec<_> = users.iter().map(|user| (user.to_string(), user)).collect();
                        users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                        for (_, user) in users {
                            let done = sqlx::query(
                                "UPDATE users SET state = $1, source_suspended = $2, updated_at = $3 \
                                 WHERE id = $4 AND source_id = $5 AND state = $6 AND (source_suspended OR $2)",
                            )
                            .bind(state)
                            .bind(suspended_by_source)
                            .bind(at)
                            .bind(user.to_string())
                            .bind(&source_id)
                            .bind(was)
                            .execute(&mut *tx)
                            .await?;
                            if done.rows_affected() == 0 {
                                continue;
                            }
                            if suspended_by_source {
                                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user.to_string()).execute(&mut *tx).await?;
                            }
                            let event = NewAuditEvent::new(AuditAction::UserSetState, "user", user, json!({"state": state, "source": name}));
                            self.append_audit(&mut tx, actor, at, event).await?;
                        }
                    }
                    self.apply_group_changes(&mut tx, actor, at, &source_id, &name, changes).await?;
                    if let Some(cursor) = &changes.cursor {
                        sqlx::query("UPDATE directory_sources SET sync_cursor = $1 WHERE id = $2")
                            .bind(cursor)
                            .bind(&source_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let event = NewAuditEvent::new(AuditAction::DirectorySync, "directory", &source_id, summary);
                    self.append_audit(&mut tx, actor, at, event).await?;
                    self.commit(tx).await
                }
            }

            impl $store {
                /// The groups a sync creates, renames, orphans or restores, and the memberships
                /// it makes follow the source: after its users, so that new ones are found by
                /// their anchors.
                async fn apply_group_changes(
                    &self,
                    tx: &mut Tx,
                    actor: &Actor,
                    at: i64,
                    source_id: &str,
                    name: &str,
                    changes: &SyncChanges,
                ) -> Result<(), StoreError> {
                    for (anchor, group) in &changes.create_groups {
                        let id = GroupId::new();
                        sqlx::query(
                            "INSERT INTO user_groups (id, name, description, created_at, source_id, source_anchor) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(id.to_string())
                        .bind(&group.name)
                        .bind(&group.description)
                        .bind(at)
                        .bind(source_id)
                        .bind(anchor)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| map_unique(e, &[("user_groups_name_key", "name", format!("a group named {:?} exists already", group.name))]))?;
                        let summary = json!({"name": group.name, "description": group.description, "source": name});
                        self.append_audit(tx, actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", id, summary)).await?;
                    }
                    for (group, new_name) in &changes.rename_groups {
                        sqlx::query("UPDATE user_groups SET name = $1 WHERE id = $2 AND source_id = $3")
                            .bind(new_name)
                            .bind(group.to_string())
                            .bind(source_id)
                            .execute(&mut **tx)
                            .await
                            .map_err(|e| map_unique(e, &[("user_groups_name_key", "name", format!("a group named {new_name:?} exists already"))]))?;
                        let summary = json!({"name": new_name, "source": name});
                        self.append_audit(tx, actor, at, NewAuditEvent::new(AuditAction::GroupSyncUpdate, "group", group, summary)).await?;
                    }
                    for (groups, orphaned) in [(&changes.orphan_groups, true), (&changes.restore_groups, false)] {
                        for group in groups {
                            sqlx::query("UPDATE user_groups SET orphaned = $1 WHERE id = $2 AND source_id = $3")
                                .bind(orphaned)
                                .bind(group.to_string())
                                .bind(source_id)
                                .execute(&mut **tx)
                                .await?;
                            let summary = json!({"orphaned": orphaned, "source": name});
                            self.append_audit(tx, actor, at, NewAuditEvent::new(AuditAction::GroupSyncUpdate, "group", group, summary)).await?;
                        }
                    }
                    for (pairs, adding) in [(&changes.add_members, true), (&changes.remove_members, false)] {
                        for (group_anchor, user_anchor) in pairs {
                            let ids = sqlx::query(
                                "SELECT g.id AS group_id, u.id AS user_id FROM user_groups g, users u \
                                 WHERE g.source_id = $1 AND g.source_anchor = $2 AND u.source_id = $1 AND u.source_anchor = $3",
                            )
                            .bind(source_id)
                            .bind(group_anchor)
                            .bind(user_anchor)
                            .fetch_optional(&mut **tx)
                            .await?;
                            // A user the sync could not take (reported) is in no group of it.
                            let Some(ids) = ids else { continue };
                            let (group, user): (String, String) = (ids.try_get("group_id")?, ids.try_get("user_id")?);
                            let done = match adding {
                                true => sqlx::query("INSERT INTO memberships (group_id, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                                    .bind(&group)
                                    .bind(&user)
                                    .bind(at)
                                    .execute(&mut **tx)
                                    .await?,
                                false => sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND user_id = $2")
                                    .bind(&group)
                                    .bind(&user)
                                    .execute(&mut **tx)
                                    .await?,
                            };
                            if done.rows_affected() == 1 {
                                let action = if adding { AuditAction::GroupAddMember } else { AuditAction::GroupRemoveMember };
                                let event = NewAuditEvent::new(action, "group", group.as_str(), json!({"user_id": user, "source": name}));
                                self.append_audit(tx, actor, at, event).await?;
                            }
                        }
                    }
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_source_sync;
