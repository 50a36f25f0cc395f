//! [`GrantStore`] in memory, as `sql/grants.rs` keeps grants: one per application and group
//! whichever side made it, each audited as the application's; a set of them replaced all or none.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{
    AccessDecision, Actor, AppId, Application, AuditAction, Group, GroupId, NewAuditEvent, UnixMillis, UserId,
    evaluate_access,
};

use super::{MemoryStore, State};
use crate::StoreError;
use crate::sql::parse_id;
use crate::traits::GrantStore;

/// The side of the grants `replace_grants` holds fixed, as `sql::GRANTS_OF_APP` and
/// `sql::GRANTS_OF_GROUP` describe it.
struct Side {
    fixed_is_app: bool,
    fixed_kind: &'static str,
    other_kind: &'static str,
}

const GRANTS_OF_APP: Side = Side { fixed_is_app: true, fixed_kind: "application", other_kind: "group" };
const GRANTS_OF_GROUP: Side = Side { fixed_is_app: false, fixed_kind: "group", other_kind: "application" };

impl State {
    fn row_exists(&self, is_app: bool, id: &str) -> bool {
        if is_app { self.apps.contains_key(id) } else { self.groups.contains_key(id) }
    }

    /// As `replace_grants`: both sides must exist before anything changes; then the missing
    /// grants are made and the unwanted ones revoked, in id order.
    fn replace_grants(
        &mut self,
        actor: &Actor,
        at: UnixMillis,
        side: &Side,
        fixed: &str,
        wanted: &BTreeSet<String>,
    ) -> Result<(usize, usize), StoreError> {
        if !self.row_exists(side.fixed_is_app, fixed) {
            return Err(StoreError::not_found(side.fixed_kind, fixed));
        }
        if let Some(missing) = wanted.iter().find(|other| !self.row_exists(!side.fixed_is_app, other)) {
            return Err(StoreError::not_found(side.other_kind, missing.clone()));
        }
        let pair = |other: &str| match side.fixed_is_app {
            true => (fixed.to_string(), other.to_string()),
            false => (other.to_string(), fixed.to_string()),
        };
        let held: BTreeSet<String> = self
            .grants
            .iter()
            .filter_map(|(app, group)| {
                let (this, other) = if side.fixed_is_app { (app, group) } else { (group, app) };
                (this == fixed).then(|| other.clone())
            })
            .collect();
        let (mut granted, mut revoked) = (0, 0);
        for other in wanted.difference(&held) {
            let (app, group) = pair(other);
            let event = NewAuditEvent::new(AuditAction::AppGrant, "app", &app, json!({"group_id": group}));
            self.grants.insert((app, group));
            self.record(actor, at, event);
            granted += 1;
        }
        for other in held.difference(wanted) {
            let (app, group) = pair(other);
            let event = NewAuditEvent::new(AuditAction::AppRevoke, "app", &app, json!({"group_id": group}));
            self.grants.remove(&(app, group));
            self.record(actor, at, event);
            revoked += 1;
        }
        Ok((granted, revoked))
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn grant(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let (app_id, group_id) = (app.to_string(), group.to_string());
        // What the schema's foreign keys refuse.
        if !tables.apps.contains_key(&app_id) || !tables.groups.contains_key(&group_id) {
            return Err(StoreError::not_found("referenced record", ""));
        }
        let granted = tables.grants.insert((app_id, group_id));
        if granted {
            let event = NewAuditEvent::new(AuditAction::AppGrant, "app", app, json!({"group_id": group.to_string()}));
            tables.record(actor, at, event);
        }
        Ok(granted)
    }

    async fn revoke(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let revoked = tables.grants.remove(&(app.to_string(), group.to_string()));
        if revoked {
            let event = NewAuditEvent::new(AuditAction::AppRevoke, "app", app, json!({"group_id": group.to_string()}));
            tables.record(actor, at, event);
        }
        Ok(revoked)
    }

    async fn set_grants(&self, actor: &Actor, app: AppId, groups: &[GroupId]) -> Result<(usize, usize), StoreError> {
        let at = self.clock.now_millis();
        let wanted = groups.iter().map(ToString::to_string).collect();
        self.tables()?.replace_grants(actor, at, &GRANTS_OF_APP, &app.to_string(), &wanted)
    }

    async fn set_group_apps(
        &self,
        actor: &Actor,
        group: GroupId,
        apps: &[AppId],
    ) -> Result<(usize, usize), StoreError> {
        let at = self.clock.now_millis();
        let wanted = apps.iter().map(ToString::to_string).collect();
        self.tables()?.replace_grants(actor, at, &GRANTS_OF_GROUP, &group.to_string(), &wanted)
    }

    async fn granted_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError> {
        let tables = self.tables()?;
        let id = app.to_string();
        let granted = tables.grants.iter().filter(|(of, _)| *of == id);
        Ok(granted.filter_map(|(_, group)| tables.groups.get(group).cloned()).collect())
    }

    async fn apps_of_group(&self, group: GroupId) -> Result<Vec<Application>, StoreError> {
        let now = self.clock.now_millis();
        let tables = self.tables()?;
        let id = group.to_string();
        let granted = tables.grants.iter().filter(|(_, to)| *to == id);
        Ok(granted.filter_map(|(app, _)| tables.apps.get(app)).map(|app| tables.app_view(app, now)).collect())
    }

    async fn apps_of_user(&self, user: UserId) -> Result<Vec<Application>, StoreError> {
        let now = self.clock.now_millis();
        let tables = self.tables()?;
        let id = user.to_string();
        let groups: BTreeSet<&str> =
            tables.memberships.iter().filter(|(_, member)| *member == id).map(|(group, _)| group.as_str()).collect();
        let granted: BTreeSet<&str> = tables
            .grants
            .iter()
            .filter(|(_, group)| groups.contains(group.as_str()))
            .map(|(app, _)| app.as_str())
            .collect();
        let mut apps: Vec<&Application> = granted.iter().filter_map(|app| tables.apps.get(*app)).collect();
        apps.sort_by_cached_key(|app| (app.label.to_lowercase(), app.id.to_string()));
        Ok(apps.into_iter().map(|app| tables.app_view(app, now)).collect())
    }

    async fn check_access(&self, user: UserId, app: AppId) -> Result<AccessDecision, StoreError> {
        let tables = self.tables()?;
        let state = tables.user(user)?.state;
        let (user_id, app_id) = (user.to_string(), app.to_string());
        let granted: BTreeSet<&str> =
            tables.grants.iter().filter(|(of, _)| *of == app_id).map(|(_, group)| group.as_str()).collect();
        let via = tables
            .memberships
            .iter()
            .filter(|(group, member)| *member == user_id && granted.contains(group.as_str()))
            .map(|(group, _)| parse_id(group))
            .collect::<Result<Vec<GroupId>, _>>()?;
        Ok(evaluate_access(state, &via, &via))
    }
}
