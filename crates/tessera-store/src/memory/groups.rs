//! [`GroupStore`] in memory, as `sql/groups.rs` keeps groups: a name names one group
//! (case-insensitively); adding a member twice, or removing one who is not, changes nothing.

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AuditAction, Group, GroupId, NewAuditEvent, NewGroup, User, UserId};

use super::{MemoryStore, State, page_after};
use crate::StoreError;
use crate::traits::{GroupStore, Page, PageRequest};

impl State {
    fn group(&self, id: GroupId) -> Result<&Group, StoreError> {
        self.groups.get(&id.to_string()).ok_or_else(|| StoreError::not_found("group", id.to_string()))
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn create_group(&self, actor: &Actor, group: NewGroup) -> Result<Group, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if tables.groups.values().any(|g| g.name.to_lowercase() == group.name.to_lowercase()) {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("a group named {:?} exists already", group.name),
            });
        }
        let created = Group { id: GroupId::new(), name: group.name, description: group.description, created_at: at };
        let summary = json!({"name": created.name, "description": created.description});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::GroupCreate, "group", created.id, summary));
        tables.groups.insert(created.id.to_string(), created.clone());
        Ok(created)
    }

    async fn find_group(&self, key: &str) -> Result<Group, StoreError> {
        let tables = self.tables()?;
        let found = match key.parse::<GroupId>() {
            Ok(id) => tables.groups.get(&id.to_string()),
            Err(_) => tables.groups.values().find(|g| g.name.to_lowercase() == key.to_lowercase()),
        };
        found.cloned().ok_or_else(|| StoreError::not_found("group", key))
    }

    async fn list_groups(&self, page: &PageRequest) -> Result<Page<Group>, StoreError> {
        Ok(page_after(self.tables()?.groups.iter(), page))
    }

    async fn delete_group(&self, actor: &Actor, group: GroupId) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let id = group.to_string();
        let removed = tables.groups.remove(&id).ok_or_else(|| StoreError::not_found("group", id.clone()))?;
        tables.memberships.retain(|(of, _)| *of != id);
        tables.grants.retain(|(_, to)| *to != id);
        tables.group_sources.remove(&id);
        tables.orphaned_groups.remove(&id);
        tables.record(
            actor,
            at,
            NewAuditEvent::new(AuditAction::GroupDelete, "group", group, json!({"name": removed.name})),
        );
        Ok(())
    }

    async fn add_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        // What the schema's foreign keys refuse.
        tables.group(group).map_err(|_| StoreError::not_found("referenced record", ""))?;
        tables.user(user).map_err(|_| StoreError::not_found("referenced record", ""))?;
        let added = tables.memberships.insert((group.to_string(), user.to_string()));
        if added {
            let event =
                NewAuditEvent::new(AuditAction::GroupAddMember, "group", group, json!({"user_id": user.to_string()}));
            tables.record(actor, at, event);
        }
        Ok(added)
    }

    async fn remove_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let removed = tables.memberships.remove(&(group.to_string(), user.to_string()));
        if removed {
            let event = NewAuditEvent::new(
                AuditAction::GroupRemoveMember,
                "group",
                group,
                json!({"user_id": user.to_string()}),
            );
            tables.record(actor, at, event);
        }
        Ok(removed)
    }

    async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError> {
        let tables = self.tables()?;
        let id = group.to_string();
        let members = tables.memberships.iter().filter(|(of, _)| *of == id);
        Ok(members.filter_map(|(_, user)| tables.users.get(user).cloned()).collect())
    }

    async fn groups_of_user(&self, user: UserId) -> Result<Vec<Group>, StoreError> {
        let tables = self.tables()?;
        let id = user.to_string();
        let mut groups: Vec<Group> = tables
            .memberships
            .iter()
            .filter(|(_, member)| *member == id)
            .filter_map(|(group, _)| tables.groups.get(group).cloned())
            .collect();
        groups.sort_by_key(|g| g.id.to_string());
        Ok(groups)
    }
}
