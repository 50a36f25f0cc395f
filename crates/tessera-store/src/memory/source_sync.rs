//! [`SourceSyncStore`] in memory, as `sql/source_sync.rs` applies a sync: every change checked
//! before any is made, so that a clash changes nothing.

use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::json;
use tessera_core::sync::{LinkedGroup, LinkedUser, SyncChanges};
use tessera_core::{Actor, AuditAction, Group, GroupId, NewAuditEvent, SourceId, User, UserId, UserState};

use super::{MemoryStore, State};
use crate::StoreError;
use crate::traits::SourceSyncStore;

impl State {
    /// Whether `email` or `upn` is a user's other than `except`'s, in either column, as the
    /// unique indexes see them; or `immutable_id` is.
    fn sync_clash(
        &self,
        email: &str,
        upn: &str,
        immutable_id: Option<&str>,
        except: Option<&str>,
    ) -> Option<StoreError> {
        let clash = |field: &'static str, what: &str| StoreError::Conflict {
            field,
            message: format!("{email}: the {what} is another user's"),
        };
        let others = self.users.iter().filter(|(id, _)| Some(id.as_str()) != except).map(|(_, u)| u);
        for other in others {
            if other.email.eq_ignore_ascii_case(email) {
                return Some(clash("email", "email"));
            }
            if other.upn.eq_ignore_ascii_case(upn) {
                return Some(clash("upn", "UPN"));
            }
            if immutable_id.is_some_and(|id| other.immutable_id == id) {
                return Some(clash("immutable_id", "ImmutableID"));
            }
        }
        None
    }

    fn linked_to(&self, user: UserId, source: &str) -> bool {
        self.user_sources.get(&user.to_string()).is_some_and(|(of, _)| of == source)
    }

    /// The id of the source's group or user with `anchor`.
    fn by_anchor(
        links: &std::collections::BTreeMap<String, (String, String)>,
        source: &str,
        anchor: &str,
    ) -> Option<String> {
        links.iter().find(|(_, (of, a))| of == source && a == anchor).map(|(id, _)| id.clone())
    }

    fn apply_group_changes(&mut self, actor: &Actor, at: i64, source: &str, name: &str, changes: &SyncChanges) {
        for (anchor, new) in &changes.create_groups {
            let group = Group {
                id: GroupId::new(),
                name: new.name.clone(),
                description: new.description.clone(),
                created_at: at,
            };
            let summary = json!({"name": group.name, "description": group.description, "source": name});
            self.record(actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", group.id, summary));
            self.group_sources.insert(group.id.to_string(), (source.to_string(), anchor.clone()));
            self.groups.insert(group.id.to_string(), group);
        }
        for (group, new_name) in &changes.rename_groups {
            if let Some(found) = self.groups.get_mut(&group.to_string()) {
                found.name = new_name.clone();
            }
            let summary = json!({"name": new_name, "source": name});
            self.record(actor, at, NewAuditEvent::new(AuditAction::GroupSyncUpdate, "group", *group, summary));
        }
        for (groups, orphaned) in [(&changes.orphan_groups, true), (&changes.restore_groups, false)] {
            for group in groups {
                match orphaned {
                    true => self.orphaned_groups.insert(group.to_string()),
                    false => self.orphaned_groups.remove(&group.to_string()),
                };
                let summary = json!({"orphaned": orphaned, "source": name});
                self.record(actor, at, NewAuditEvent::new(AuditAction::GroupSyncUpdate, "group", *group, summary));
            }
        }
        for (pairs, adding) in [(&changes.add_members, true), (&changes.remove_members, false)] {
            for (group_anchor, user_anchor) in pairs {
                let group = State::by_anchor(&self.group_sources, source, group_anchor);
                let user = State::by_anchor(&self.user_sources, source, user_anchor);
                let (Some(group), Some(user)) = (group, user) else { continue };
                let pair = (group.clone(), user.clone());
                let done = if adding { self.memberships.insert(pair) } else { self.memberships.remove(&pair) };
                if done {
                    let action = if adding { AuditAction::GroupAddMember } else { AuditAction::GroupRemoveMember };
                    self.record(
                        actor,
                        at,
                        NewAuditEvent::new(action, "group", group.as_str(), json!({"user_id": user, "source": name})),
                    );
                }
            }
        }
    }
}

#[async_trait]
impl SourceSyncStore for MemoryStore {
    async fn sync_cursor(&self, source: SourceId) -> Result<Option<String>, StoreError> {
        let tables = self.tables()?;
        let id = source.to_string();
        if !tables.sources.contains_key(&id) {
            return Err(StoreError::not_found("directory source", id));
        }
        Ok(tables.sync_cursors.get(&id).cloned())
    }

    async fn linked_users(&self, source: SourceId) -> Result<Vec<LinkedUser>, StoreError> {
        let tables = self.tables()?;
        let id = source.to_string();
        Ok(tables
            .user_sources
            .iter()
            .filter(|(_, (of, _))| *of == id)
            .filter_map(|(user, (_, anchor))| {
                tables.users.get(user).map(|found| LinkedUser {
                    user: found.clone(),
                    anchor: anchor.clone(),
                    suspended_by_source: tables.source_suspended.contains(user),
                })
            })
            .collect())
    }

    async fn linked_groups(&self, source: SourceId) -> Result<Vec<LinkedGroup>, StoreError> {
        let tables = self.tables()?;
        let id = source.to_string();
        Ok(tables
            .group_sources
            .iter()
            .filter(|(_, (of, _))| *of == id)
            .filter_map(|(group, (_, anchor))| {
                let found = tables.groups.get(group)?;
                let mut members: Vec<String> = tables
                    .memberships
                    .iter()
                    .filter(|(of, _)| of == group)
                    .filter_map(|(_, user)| {
                        tables.user_sources.get(user).filter(|(src, _)| *src == id).map(|(_, a)| a.clone())
                    })
                    .collect();
                members.sort();
                Some(LinkedGroup {
                    group: found.clone(),
                    anchor: anchor.clone(),
                    orphaned: tables.orphaned_groups.contains(group),
                    members,
                })
            })
            .collect())
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
        let mut tables = self.tables()?;
        let name = match tables.sources.get(&source_id) {
            Some((found, _)) => found.name.clone(),
            None => return Err(StoreError::not_found("directory source", source_id)),
        };
        // Every check first: the SQL's transaction rolls back whole.
        // Anchors are unique per source, as the SQL index (source_id, source_anchor) has them.
        let mut anchors: HashSet<&str> = tables
            .user_sources
            .values()
            .filter(|(of, _)| *of == source_id)
            .map(|(_, anchor)| anchor.as_str())
            .collect();
        for (anchor, user) in &changes.create {
            if let Some(clash) = tables.sync_clash(&user.email, &user.upn, Some(&user.immutable_id), None) {
                return Err(clash);
            }
            if !anchors.insert(anchor) {
                return Err(StoreError::Conflict {
                    field: "anchor",
                    message: format!("{}: the source anchor is another user's", user.email),
                });
            }
        }
        for (user, fields) in &changes.update {
            if !tables.linked_to(*user, &source_id) {
                return Err(StoreError::not_found("user of the source", user.to_string()));
            }
            if let Some(clash) = tables.sync_clash(&fields.email, &fields.upn, None, Some(&user.to_string())) {
                return Err(clash);
            }
        }
        for (group, new_name) in &changes.rename_groups {
            let id = group.to_string();
            if tables.groups.iter().any(|(other, g)| *other != id && g.name.to_lowercase() == new_name.to_lowercase()) {
                return Err(StoreError::Conflict {
                    field: "name",
                    message: format!("a group named {new_name:?} exists already"),
                });
            }
        }
        for (_, group) in &changes.create_groups {
            if tables.groups.values().any(|g| g.name.to_lowercase() == group.name.to_lowercase()) {
                return Err(StoreError::Conflict {
                    field: "name",
                    message: format!("a group named {:?} exists already", group.name),
                });
            }
        }
        for (user, _) in &changes.adopt {
            if tables.user_sources.contains_key(&user.to_string()) || tables.user(*user).is_err() {
                return Err(StoreError::Conflict {
                    field: "user",
                    message: format!("user {user} belongs to a directory source already"),
                });
            }
        }
        for (anchor, new) in &changes.create {
            let created = User {
                id: UserId::new(),
                email: new.email.clone(),
                upn: new.upn.clone(),
                first_name: new.first_name.clone(),
                last_name: new.last_name.clone(),
                immutable_id: new.immutable_id.clone(),
                state: UserState::Active,
                password_hash: None,
                notice_acknowledged_at: None,
                created_at: at,
                updated_at: at,
            };
            let summary = json!({
                "email": new.email, "upn": new.upn, "first_name": new.first_name, "last_name": new.last_name,
                "immutable_id": new.immutable_id, "password_set": false, "source": name,
            });
            tables.record(actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", created.id, summary));
            tables.user_sources.insert(created.id.to_string(), (source_id.clone(), anchor.clone()));
            tables.users.insert(created.id.to_string(), created);
        }
        for (user, fields) in &changes.update {
            if let Some(found) = tables.users.get_mut(&user.to_string()) {
                found.email = fields.email.clone();
                found.upn = fields.upn.clone();
                found.first_name = fields.first_name.clone();
                found.last_name = fields.last_name.clone();
                found.updated_at = at;
            }
            let summary = json!({
                "email": fields.email, "upn": fields.upn, "first_name": fields.first_name,
                "last_name": fields.last_name, "source": name,
            });
            tables.record(actor, at, NewAuditEvent::new(AuditAction::UserSyncUpdate, "user", *user, summary));
        }
        for (user, anchor) in &changes.adopt {
            tables.user_sources.insert(user.to_string(), (source_id.clone(), anchor.clone()));
            tables.record(
                actor,
                at,
                NewAuditEvent::new(AuditAction::DirectoryAdopt, "user", *user, json!({"source": name})),
            );
        }
        for user in &changes.suspend {
            let id = user.to_string();
            let active = tables.users.get(&id).is_some_and(|u| u.state == UserState::Active);
            if !tables.linked_to(*user, &source_id) || !active {
                continue;
            }
            if let Some(found) = tables.users.get_mut(&id) {
                found.state = UserState::Suspended;
                found.updated_at = at;
            }
            tables.source_suspended.insert(id);
            tables.sessions.retain(|_, session| session.user_id != *user);
            let event = NewAuditEvent::new(
                AuditAction::UserSetState,
                "user",
                *user,
                json!({"state": "suspended", "source": name}),
            );
            tables.record(actor, at, event);
        }
        for user in &changes.reactivate {
            let id = user.to_string();
            if !tables.linked_to(*user, &source_id) || !tables.source_suspended.remove(&id) {
                continue;
            }
            if let Some(found) = tables.users.get_mut(&id) {
                found.state = UserState::Active;
                found.updated_at = at;
            }
            let event = NewAuditEvent::new(
                AuditAction::UserSetState,
                "user",
                *user,
                json!({"state": "active", "source": name}),
            );
            tables.record(actor, at, event);
        }
        tables.apply_group_changes(actor, at, &source_id, &name, changes);
        if let Some(cursor) = &changes.cursor {
            tables.sync_cursors.insert(source_id.clone(), cursor.clone());
        }
        tables.record(actor, at, NewAuditEvent::new(AuditAction::DirectorySync, "directory", source, summary));
        Ok(())
    }
}
