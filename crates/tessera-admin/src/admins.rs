//! Administrators: added with a password of their own, given a new one, listed, deleted (never
//! the last one). The first administrator, with its one-time password, is made at first start
//! (`tokens.rs`).

use tessera_core::Actor;
use tessera_store::{Administrator, StoreError};

use crate::{AdminError, AdminService, hash_password};

impl AdminService {
    /// A new administrator whose password is their own (not one-time).
    pub async fn add_admin(
        &self,
        actor: &Actor,
        username: &str,
        password: String,
    ) -> Result<Administrator, AdminError> {
        // The name is checked before the password is hashed: a taken or bad name costs no hash.
        let username = tessera_core::validate::label("username", username)?;
        if self.store.find_admin(&username).await.is_ok() {
            let message = format!("an administrator named {username:?} exists already");
            return Err(StoreError::Conflict { field: "username", message }.into());
        }
        let hash = hash_password(password).await?;
        Ok(self.store.create_admin(actor, &username, &hash).await?)
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

    /// Removes an administrator's authenticator (a lost phone) and ends their sessions; false
    /// when they had none.
    pub async fn reset_admin_mfa(&self, actor: &Actor, admin: &str) -> Result<(Administrator, bool), AdminError> {
        let admin = self.store.find_admin(admin).await?;
        let reset = self.store.reset_admin_totp(actor, &admin.id).await?;
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
