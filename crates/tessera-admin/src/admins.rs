//! Administrators: added with a password of their own and a role, given a new password or
//! role, listed, deleted (never the last full administrator). The first administrator, with
//! its one-time password, is made at first start (`tokens.rs`). What a role may reach is
//! `tessera_core::roles`; here a principal's [`Authority`] is read from the store.

use tessera_core::{Actor, AdminRole, AppId, Authority};
use tessera_store::{Administrator, StoreError};

use crate::{AdminError, AdminService, hash_password};

/// A role as an administrator asks for it: application administrators name their
/// applications (by id or label), other roles none.
#[derive(Debug, Clone, Default)]
pub struct RoleRequest {
    pub role: AdminRole,
    pub apps: Vec<String>,
}

impl AdminService {
    /// A new administrator whose password is their own (not one-time).
    pub async fn add_admin(
        &self,
        actor: &Actor,
        username: &str,
        password: String,
        role: &RoleRequest,
    ) -> Result<Administrator, AdminError> {
        // The name and role are checked before the password is hashed: bad input costs no hash.
        let username = tessera_core::validate::label("username", username)?;
        if self.store.find_admin(&username).await.is_ok() {
            let message = format!("an administrator named {username:?} exists already");
            return Err(StoreError::Conflict { field: "username", message }.into());
        }
        let apps = self.scope_apps(role).await?;
        let hash = hash_password(password).await?;
        Ok(self.store.create_admin(actor, &username, &hash, role.role, &apps).await?)
    }

    /// Gives an administrator a role (an application administrator's applications replace
    /// the earlier ones). The last full administrator cannot be given another role.
    pub async fn set_admin_role(
        &self,
        actor: &Actor,
        admin: &str,
        role: &RoleRequest,
    ) -> Result<Administrator, AdminError> {
        let apps = self.scope_apps(role).await?;
        Ok(self.store.set_admin_role(actor, admin, role.role, &apps).await?)
    }

    /// What an administrator may reach now (read at every request: a new role applies at once).
    pub async fn admin_authority(&self, admin: &Administrator) -> Result<Authority, AdminError> {
        let apps = match admin.role {
            AdminRole::AppAdmin => self.store.admin_apps(&admin.id).await?,
            _ => Vec::new(),
        };
        Ok(Authority { role: admin.role, apps })
    }

    /// The applications of an application administrator's role, each found by id or label.
    pub(crate) async fn scope_apps(&self, role: &RoleRequest) -> Result<Vec<AppId>, AdminError> {
        match role.role {
            AdminRole::AppAdmin if role.apps.is_empty() => {
                Err(AdminError::invalid("app", "an application administrator needs at least one application (--app)"))
            }
            AdminRole::AppAdmin => {
                let mut ids = Vec::with_capacity(role.apps.len());
                for key in &role.apps {
                    ids.push(self.store.find_app(key).await?.id);
                }
                Ok(ids)
            }
            other if !role.apps.is_empty() => Err(AdminError::invalid(
                "app",
                format!("only an application administrator has applications; {other} reaches them all"),
            )),
            _ => Ok(Vec::new()),
        }
    }

    /// Sets an administrator's own password (it is not one-time).
    pub async fn set_admin_password(
        &self,
        actor: &Actor,
        admin: &str,
        password: String,
    ) -> Result<Administrator, AdminError> {
        let existing = self.store.find_admin(admin).await?;
        let hash = hash_password(password).await?;
        Ok(self.store.set_admin_password(actor, &existing.id, &hash, false).await?)
    }

    /// Removes an administrator's authenticator app and passkeys (a lost phone or key) and ends
    /// their sessions; false when they had none.
    pub async fn reset_admin_mfa(&self, actor: &Actor, admin: &str) -> Result<(Administrator, bool), AdminError> {
        let admin = self.store.find_admin(admin).await?;
        let reset = self.store.reset_admin_mfa(actor, &admin.id).await?;
        Ok((admin, reset))
    }

    pub async fn find_admin(&self, admin: &str) -> Result<Administrator, AdminError> {
        Ok(self.store.find_admin(admin).await?)
    }

    pub async fn list_admins(&self) -> Result<Vec<Administrator>, AdminError> {
        Ok(self.store.list_admins().await?)
    }

    /// Deletes an administrator; the last one is refused.
    pub async fn delete_admin(&self, actor: &Actor, admin: &str) -> Result<Administrator, AdminError> {
        Ok(self.store.delete_admin(actor, admin).await?)
    }
}
