//! [`UserStore`] in memory, as `sql/users.rs` keeps users: an email or UPN names one user across
//! both (case-insensitively), an ImmutableID one user; an import writes every row or none.

use async_trait::async_trait;
use serde_json::json;
use tessera_core::import::ImportRow;
use tessera_core::{Actor, AuditAction, Group, GroupId, NewAuditEvent, NewGroup, NewUser, User, UserId, UserState};

use super::{MemoryStore, State, page_after};
use crate::StoreError;
use crate::traits::{ImportOutcome, Page, PageRequest, UserStore};

impl State {
    /// The user whose email or UPN is either of these, ignoring letter case.
    fn holder_of_name(&self, email: &str, upn: &str) -> Option<&User> {
        let names = [email.to_lowercase(), upn.to_lowercase()];
        self.users.values().find(|u| names.contains(&u.email.to_lowercase()) || names.contains(&u.upn.to_lowercase()))
    }

    fn insert_user(&mut self, user: &NewUser, at: i64) -> User {
        let created = User {
            id: UserId::new(),
            email: user.email.clone(),
            upn: user.upn.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            immutable_id: user.immutable_id.clone(),
            state: UserState::Active,
            password_hash: user.password_hash.clone(),
            notice_acknowledged_at: None,
            created_at: at,
            updated_at: at,
        };
        self.users.insert(created.id.to_string(), created.clone());
        created
    }

    pub(super) fn user(&self, id: UserId) -> Result<&User, StoreError> {
        self.users.get(&id.to_string()).ok_or_else(|| StoreError::not_found("user", id.to_string()))
    }

    fn user_mut(&mut self, id: UserId) -> Result<&mut User, StoreError> {
        self.users.get_mut(&id.to_string()).ok_or_else(|| StoreError::not_found("user", id.to_string()))
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if let Some(other) = tables.holder_of_name(&user.email, &user.upn) {
            return Err(StoreError::Conflict {
                field: "email",
                message: format!("email or UPN already used by user {}", other.email),
            });
        }
        if tables.users.values().any(|u| u.immutable_id == user.immutable_id) {
            return Err(StoreError::Conflict {
                field: "immutable_id",
                message: format!("a user with immutable ID {} exists already", user.immutable_id),
            });
        }
        let created = tables.insert_user(&user, at);
        let summary = json!({
            "email": created.email, "upn": created.upn, "first_name": created.first_name,
            "last_name": created.last_name, "immutable_id": created.immutable_id,
            "password_set": created.password_hash.is_some(),
        });
        tables.record(actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", created.id, summary));
        Ok(created)
    }

    async fn import_users(
        &self,
        actor: &Actor,
        rows: &[ImportRow],
        dry_run: bool,
    ) -> Result<ImportOutcome, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let mut outcome = ImportOutcome::default();
        for row in rows {
            let user = &row.user;
            let by_name = tables.holder_of_name(&user.email, &user.upn);
            let by_anchor = tables.users.values().find(|u| u.immutable_id == user.immutable_id);
            // As the SQL's one lookup: the first user in id order that clashes either way.
            let clash = match (by_name, by_anchor) {
                (Some(a), Some(b)) if b.id.to_string() < a.id.to_string() => Some((b, true)),
                (Some(a), _) => Some((a, a.immutable_id == user.immutable_id)),
                (None, Some(b)) => Some((b, true)),
                (None, None) => None,
            };
            if let Some((other, anchor)) = clash {
                let message = match anchor {
                    true => format!("immutable ID {} is already user {}'s", user.immutable_id, other.email),
                    false => format!("{} or {} is already used by user {}", user.email, user.upn, other.email),
                };
                outcome.clashes.push((row.line, message));
            }
        }
        // Each group once, in the order the file first names it.
        let mut groups: Vec<(String, Option<GroupId>)> = Vec::new();
        for name in rows.iter().flat_map(|r| r.groups.iter()) {
            if groups.iter().any(|(g, _)| g.eq_ignore_ascii_case(name)) {
                continue;
            }
            let found = tables.groups.values().find(|g| g.name.to_lowercase() == name.to_lowercase()).map(|g| g.id);
            if found.is_none() {
                outcome.new_groups.push(name.clone());
            }
            groups.push((name.clone(), found));
        }
        outcome.users = rows.len();
        outcome.memberships = rows.iter().map(|r| r.groups.len()).sum();
        if dry_run || !outcome.clashes.is_empty() {
            return Ok(outcome);
        }
        // Checked before anything is written: a refusal leaves every table as it was.
        let new_groups = groups
            .iter()
            .filter(|(_, id)| id.is_none())
            .map(|(name, _)| NewGroup::new(name, None))
            .collect::<Result<Vec<_>, _>>()?;
        let mut new_groups = new_groups.into_iter();
        for (_, id) in &mut groups {
            if id.is_some() {
                continue;
            }
            let Some(new) = new_groups.next() else { break };
            let group = Group { id: GroupId::new(), name: new.name, description: new.description, created_at: at };
            let summary = json!({"name": group.name, "description": group.description, "import": true});
            tables.record(actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", group.id, summary));
            *id = Some(group.id);
            tables.groups.insert(group.id.to_string(), group);
        }
        for row in rows {
            let user = &row.user;
            let created = tables.insert_user(user, at);
            let summary = json!({
                "email": user.email, "upn": user.upn, "first_name": user.first_name,
                "last_name": user.last_name, "immutable_id": user.immutable_id,
                "password_set": user.password_hash.is_some(), "import": true,
            });
            tables.record(actor, at, NewAuditEvent::new(AuditAction::UserCreate, "user", created.id, summary));
            for name in &row.groups {
                let Some((_, Some(group))) = groups.iter().find(|(g, _)| g.eq_ignore_ascii_case(name)) else {
                    continue;
                };
                tables.memberships.insert((group.to_string(), created.id.to_string()));
                let event = NewAuditEvent::new(
                    AuditAction::GroupAddMember,
                    "group",
                    *group,
                    json!({"user_id": created.id.to_string()}),
                );
                tables.record(actor, at, event);
            }
        }
        outcome.written = true;
        Ok(outcome)
    }

    async fn find_user(&self, key: &str) -> Result<User, StoreError> {
        let tables = self.tables()?;
        let found = match key.parse::<UserId>() {
            Ok(id) => tables.users.get(&id.to_string()),
            Err(_) => {
                let key = key.trim().to_lowercase();
                let by_email = tables.users.values().find(|u| u.email.to_lowercase() == key);
                by_email.or_else(|| tables.users.values().find(|u| u.upn.to_lowercase() == key))
            }
        };
        found.cloned().ok_or_else(|| StoreError::not_found("user", key))
    }

    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        Ok(page_after(self.tables()?.users.iter(), page))
    }

    async fn set_password(&self, actor: &Actor, user: UserId, password_hash: &str) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let found = tables.user_mut(user)?;
        found.password_hash = Some(password_hash.to_string());
        found.updated_at = at;
        let event = NewAuditEvent::new(AuditAction::UserSetPassword, "user", user, json!({"password_set": true}));
        tables.record(actor, at, event);
        Ok(())
    }

    async fn set_user_state(&self, actor: &Actor, user: UserId, state: UserState) -> Result<User, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let found = tables.user_mut(user)?;
        found.state = state;
        found.updated_at = at;
        let updated = found.clone();
        // An administrator's decision: a sync does not undo it.
        tables.source_suspended.remove(&user.to_string());
        let event = NewAuditEvent::new(AuditAction::UserSetState, "user", user, json!({"state": state.as_str()}));
        tables.record(actor, at, event);
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
        let mut tables = self.tables()?;
        let before = tables.user(user)?.clone();
        let upn = upn.unwrap_or(&before.upn).to_string();
        let immutable_id = immutable_id.unwrap_or(&before.immutable_id).to_string();
        let id = user.to_string();
        let others = tables.users.iter().filter(|(other, _)| **other != id).map(|(_, u)| u);
        for other in others {
            if other.email.to_lowercase() == upn.to_lowercase() || other.upn.to_lowercase() == upn.to_lowercase() {
                return Err(StoreError::Conflict {
                    field: "upn",
                    message: format!("UPN {upn} is already used by user {}", other.email),
                });
            }
            if other.immutable_id == immutable_id {
                return Err(StoreError::Conflict {
                    field: "immutable_id",
                    message: format!("immutable ID {immutable_id} is another user's"),
                });
            }
        }
        let found = tables.user_mut(user)?;
        found.upn = upn;
        found.immutable_id = immutable_id;
        found.updated_at = at;
        let updated = found.clone();
        let summary = json!({
            "upn": {"before": before.upn, "after": updated.upn},
            "immutable_id": {"before": before.immutable_id, "after": updated.immutable_id},
        });
        tables.record(actor, at, NewAuditEvent::new(AuditAction::UserSetIdentity, "user", user, summary));
        Ok(updated)
    }

    async fn delete_user(&self, actor: &Actor, user: UserId) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let removed =
            tables.users.remove(&user.to_string()).ok_or_else(|| StoreError::not_found("user", user.to_string()))?;
        tables.forget_user(&removed);
        let event = NewAuditEvent::new(AuditAction::UserDelete, "user", user, json!({"email": removed.email}));
        tables.record(actor, at, event);
        Ok(())
    }
}
