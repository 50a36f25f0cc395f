//! Users: created (with the ImmutableID Entra matches them by), their password set, suspended
//! and activated, their second factor reset, deleted.

use tessera_core::{Actor, Group, NewUser, User, UserState};
use tessera_store::{Page, PageRequest};

use crate::{AdminError, AdminService, hash_password};

/// A new user; what is left out takes its default.
#[derive(Debug, Clone, Default)]
pub struct NewUserRequest {
    pub email: String,
    /// Defaults to the email.
    pub upn: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Defaults to base64 of 16 random bytes, the form Entra Connect uses for a GUID anchor.
    pub immutable_id: Option<String>,
    pub password: Option<String>,
}

impl AdminService {
    pub async fn create_user(&self, actor: &Actor, request: NewUserRequest) -> Result<User, AdminError> {
        let generated = tessera_auth::secret::new_immutable_id()?;
        let mut new = NewUser::new(
            &request.email,
            request.upn.as_deref(),
            request.first_name.as_deref(),
            request.last_name.as_deref(),
            request.immutable_id.as_deref(),
            || generated,
        )?;
        if let Some(password) = request.password {
            new.password_hash = Some(hash_password(password).await?);
        }
        Ok(self.store.create_user(actor, new).await?)
    }

    /// By id, email or UPN.
    pub async fn find_user(&self, key: &str) -> Result<User, AdminError> {
        Ok(self.store.find_user(key).await?)
    }

    pub async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, AdminError> {
        Ok(self.store.list_users(page).await?)
    }

    pub async fn set_password(&self, actor: &Actor, user: &str, password: String) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        let hash = hash_password(password).await?;
        self.store.set_password(actor, user.id, &hash).await?;
        Ok(user)
    }

    /// Suspends (no sign-in, whatever the grants) or activates a user.
    pub async fn set_user_state(&self, actor: &Actor, user: &str, state: UserState) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        Ok(self.store.set_user_state(actor, user.id, state).await?)
    }

    pub async fn delete_user(&self, actor: &Actor, user: &str) -> Result<User, AdminError> {
        let user = self.store.find_user(user).await?;
        self.store.delete_user(actor, user.id).await?;
        Ok(user)
    }

    /// Removes the user's authenticator app and recovery codes (a lost authenticator);
    /// `false` when there were none.
    pub async fn reset_mfa(&self, actor: &Actor, user: &str) -> Result<(User, bool), AdminError> {
        let user = self.store.find_user(user).await?;
        let removed = self.store.reset_mfa(actor, user.id).await?;
        Ok((user, removed))
    }

    pub async fn groups_of_user(&self, user: &str) -> Result<(User, Vec<Group>), AdminError> {
        let user = self.store.find_user(user).await?;
        let groups = self.store.groups_of_user(user.id).await?;
        Ok((user, groups))
    }
}
