//! [`AdminStore`] in memory, as `sql/admins.rs` keeps administrators, their roles and
//! applications, and API tokens: a name names one administrator (and one live token) in any
//! letter case, and the last full administrator can be neither demoted nor deleted.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AdminRole, AppId, AuditAction, NewAuditEvent};

use super::{MemoryStore, State};
use crate::StoreError;
use crate::traits::{AdminStore, Administrator, ApiToken};

#[derive(Default)]
pub(super) struct Tables {
    admins: BTreeMap<String, Administrator>,
    /// (admin id, app id).
    admin_apps: BTreeSet<(String, String)>,
    /// Token id → the token and the hash it is found by.
    tokens: BTreeMap<String, (ApiToken, String)>,
    /// (token id, app id).
    token_apps: BTreeSet<(String, String)>,
}

impl Tables {
    /// As `sql::ADMIN_BY_KEY`: by id, else by name in any letter case.
    fn by_key(&self, key: &str) -> Option<&Administrator> {
        let key = key.trim();
        self.admins.get(key).or_else(|| self.admins.values().find(|a| a.username.to_lowercase() == key.to_lowercase()))
    }

    fn full_admins(&self) -> usize {
        self.admins.values().filter(|a| a.role == AdminRole::Admin).count()
    }

    pub(super) fn exists(&self, admin_id: &str) -> bool {
        self.admins.contains_key(admin_id)
    }

    pub(super) fn admin(&self, admin_id: &str) -> Option<&Administrator> {
        self.admins.get(admin_id)
    }
}

impl State {
    /// Everything that names an application goes with it, as the schema's cascades do.
    pub(super) fn forget_app(&mut self, app: AppId) {
        let id = app.to_string();
        self.grants.retain(|(of, _)| *of != id);
        self.signing_keys.retain(|(of, _), _| *of != app);
        self.previous_certificates.remove(&app);
        self.admins.admin_apps.retain(|(_, of)| *of != id);
        self.admins.token_apps.retain(|(_, of)| *of != id);
    }

    /// An application administrator's applications, checked to exist (`NotFound` otherwise);
    /// other roles keep none. The ids, sorted and once each, as `put_scope` writes them.
    fn scope(&self, role: AdminRole, apps: &[AppId]) -> Result<Vec<String>, StoreError> {
        if role != AdminRole::AppAdmin {
            return Ok(Vec::new());
        }
        let mut scope: Vec<String> = apps.iter().map(ToString::to_string).collect();
        scope.sort();
        scope.dedup();
        match scope.iter().find(|app| !self.apps.contains_key(*app)) {
            Some(missing) => Err(StoreError::not_found("application", missing)),
            None => Ok(scope),
        }
    }
}

fn last_admin(username: &str, field: &'static str, what: &str) -> StoreError {
    StoreError::Conflict {
        field,
        message: format!("{username:?} is the last full administrator; make another one an admin {what}"),
    }
}

#[async_trait]
impl AdminStore for MemoryStore {
    async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        token_hash: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<ApiToken, StoreError> {
        let name = tessera_core::validate::label("name", name)?;
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let live = tables.admins.tokens.values().filter(|(t, _)| t.revoked_at.is_none());
        if live.clone().any(|(t, _)| t.name.to_lowercase() == name.to_lowercase()) {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("a live API token named {name:?} exists already"),
            });
        }
        if tables.admins.tokens.values().any(|(_, hash)| hash == token_hash) {
            return Err(StoreError::Conflict { field: "unknown", message: "that record already exists".into() });
        }
        let scope = tables.scope(role, apps)?;
        let id = uuid::Uuid::now_v7().to_string();
        let token = ApiToken { id: id.clone(), name: name.clone(), created_at: at, revoked_at: None, role };
        tables.admins.tokens.insert(id.clone(), (token.clone(), token_hash.to_string()));
        for app in &scope {
            tables.admins.token_apps.insert((id.clone(), app.clone()));
        }
        let summary = json!({"name": name, "role": role.as_str(), "apps": scope});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::ApiTokenCreate, "api_token", &id, summary));
        Ok(token)
    }

    async fn api_token_apps(&self, token_id: &str) -> Result<Vec<AppId>, StoreError> {
        let tables = self.tables()?;
        let apps = tables.admins.token_apps.iter().filter(|(token, _)| token == token_id);
        apps.map(|(_, app)| crate::sql::parse_id(app)).collect()
    }

    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        let tables = self.tables()?;
        let mut tokens = tables.admins.tokens.values();
        Ok(tokens.find(|(t, hash)| hash == token_hash && t.revoked_at.is_none()).map(|(t, _)| t.clone()))
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        Ok(self.tables()?.admins.tokens.values().map(|(t, _)| t.clone()).collect())
    }

    async fn revoke_api_token(&self, actor: &Actor, key: &str) -> Result<ApiToken, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let live = tables
            .admins
            .tokens
            .values_mut()
            .find(|(t, _)| t.revoked_at.is_none() && (t.id == key || t.name.to_lowercase() == key.to_lowercase()));
        let Some((token, _)) = live else { return Err(StoreError::not_found("live API token", key)) };
        token.revoked_at = Some(at);
        let token = token.clone();
        let event =
            NewAuditEvent::new(AuditAction::ApiTokenRevoke, "api_token", &token.id, json!({"name": token.name}));
        tables.record(actor, at, event);
        Ok(token)
    }

    async fn create_initial_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if !tables.admins.admins.is_empty() {
            return Ok(false);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let admin = Administrator {
            id: id.clone(),
            username: username.to_string(),
            password_hash: password_hash.to_string(),
            must_change_password: true,
            role: AdminRole::Admin,
            created_at: at,
        };
        tables.admins.admins.insert(id.clone(), admin);
        let event =
            NewAuditEvent::new(AuditAction::AdminCreate, "admin", &id, json!({"username": username, "initial": true}));
        tables.record(&Actor::system(), at, event);
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
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if tables.admins.admins.values().any(|a| a.username.to_lowercase() == username.to_lowercase()) {
            return Err(StoreError::Conflict {
                field: "username",
                message: format!("an administrator named {username:?} exists already"),
            });
        }
        let scope = tables.scope(role, apps)?;
        let id = uuid::Uuid::now_v7().to_string();
        let admin = Administrator {
            id: id.clone(),
            username: username.clone(),
            password_hash: password_hash.to_string(),
            must_change_password: false,
            role,
            created_at: at,
        };
        tables.admins.admins.insert(id.clone(), admin.clone());
        for app in &scope {
            tables.admins.admin_apps.insert((id.clone(), app.clone()));
        }
        let summary = json!({"username": username, "role": role.as_str(), "apps": scope});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AdminCreate, "admin", &id, summary));
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
        let mut tables = self.tables()?;
        let found = tables.admins.by_key(key).cloned().ok_or_else(|| StoreError::not_found("administrator", key))?;
        if role != AdminRole::Admin && found.role == AdminRole::Admin && tables.admins.full_admins() <= 1 {
            return Err(last_admin(&found.username, "role", "first"));
        }
        let scope = tables.scope(role, apps)?;
        let mut admin = found.clone();
        admin.role = role;
        tables.admins.admins.insert(admin.id.clone(), admin.clone());
        tables.admins.admin_apps.retain(|(of, _)| *of != admin.id);
        for app in &scope {
            tables.admins.admin_apps.insert((admin.id.clone(), app.clone()));
        }
        let summary =
            json!({"username": admin.username, "from": found.role.as_str(), "role": role.as_str(), "apps": scope});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AdminRoleSet, "admin", &admin.id, summary));
        Ok(admin)
    }

    async fn admin_apps(&self, admin_id: &str) -> Result<Vec<AppId>, StoreError> {
        let tables = self.tables()?;
        let apps = tables.admins.admin_apps.iter().filter(|(admin, _)| admin == admin_id);
        apps.map(|(_, app)| crate::sql::parse_id(app)).collect()
    }

    async fn find_admin(&self, key: &str) -> Result<Administrator, StoreError> {
        self.tables()?.admins.by_key(key).cloned().ok_or_else(|| StoreError::not_found("administrator", key))
    }

    async fn list_admins(&self) -> Result<Vec<Administrator>, StoreError> {
        Ok(self.tables()?.admins.admins.values().cloned().collect())
    }

    async fn set_admin_password(
        &self,
        actor: &Actor,
        key: &str,
        password_hash: &str,
        must_change: bool,
    ) -> Result<Administrator, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let found = tables.admins.by_key(key).map(|a| a.id.clone());
        let Some(admin) = found.and_then(|id| tables.admins.admins.get_mut(&id)) else {
            return Err(StoreError::not_found("administrator", key));
        };
        admin.password_hash = password_hash.to_string();
        admin.must_change_password = must_change;
        let admin = admin.clone();
        // A new password ends every session made with the old one.
        tables.admin_sign_in.end_sessions_of(&admin.id);
        let summary = json!({"username": admin.username, "one_time": must_change});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AdminPasswordSet, "admin", &admin.id, summary));
        Ok(admin)
    }

    async fn delete_admin(&self, actor: &Actor, key: &str) -> Result<Administrator, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let admin = tables.admins.by_key(key).cloned().ok_or_else(|| StoreError::not_found("administrator", key))?;
        if admin.role == AdminRole::Admin && tables.admins.full_admins() <= 1 {
            return Err(last_admin(&admin.username, "username", "before deleting it"));
        }
        tables.admins.admins.remove(&admin.id);
        tables.admins.admin_apps.retain(|(of, _)| *of != admin.id);
        tables.admin_sign_in.forget(&admin.id);
        let event =
            NewAuditEvent::new(AuditAction::AdminDelete, "admin", &admin.id, json!({"username": admin.username}));
        tables.record(actor, at, event);
        Ok(admin)
    }
}
