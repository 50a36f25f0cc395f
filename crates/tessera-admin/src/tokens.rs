//! Administrators' credentials: REST API tokens, and the first administrator.

use tessera_auth::secret::{new_api_token, new_one_time_password, sha256_hex};
use tessera_core::{Actor, AdminRole, Authority};
use tessera_store::ApiToken;

use crate::admins::RoleRequest;
use crate::{AdminError, AdminService, hash_password};

/// The first administrator's name.
pub const INITIAL_ADMIN: &str = "admin";

impl AdminService {
    /// A new API token: the record, and the secret (shown only now; stored only as a digest).
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        role: &RoleRequest,
    ) -> Result<(ApiToken, String), AdminError> {
        let apps = self.scope_apps(role).await?;
        let secret = new_api_token()?;
        let token = self.store.create_api_token(actor, name, &sha256_hex(&secret), role.role, &apps).await?;
        Ok((token, secret))
    }

    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, AdminError> {
        Ok(self.store.list_api_tokens().await?)
    }

    /// By id or name.
    pub async fn revoke_api_token(&self, actor: &Actor, token: &str) -> Result<ApiToken, AdminError> {
        Ok(self.store.revoke_api_token(actor, token).await?)
    }

    /// The actor a live API token acts as and what it may reach, or `None` for an unknown or
    /// revoked one.
    pub async fn api_token_principal(&self, presented: &str) -> Result<Option<(Actor, Authority)>, AdminError> {
        let Some(token) = self.store.find_api_token(&sha256_hex(presented)).await? else { return Ok(None) };
        let apps = match token.role {
            AdminRole::AppAdmin => self.store.api_token_apps(&token.id).await?,
            _ => Vec::new(),
        };
        Ok(Some((Actor::api_token(&token.name), Authority { role: token.role, apps })))
    }

    /// On a store without administrators, creates the first one: its name and one-time
    /// password (to be shown once, never logged). `None` when there is one already.
    pub async fn ensure_first_admin(&self) -> Result<Option<(&'static str, String)>, AdminError> {
        // Every start comes here: a store with administrators costs no hash (19 MiB and tens of
        // milliseconds of argon2id). The store decides again, atomically, when nodes race.
        if !self.store.list_admins().await?.is_empty() {
            return Ok(None);
        }
        let password = new_one_time_password()?;
        let hash = hash_password(password.clone()).await?;
        Ok(self.store.create_initial_admin(INITIAL_ADMIN, &hash).await?.then_some((INITIAL_ADMIN, password)))
    }
}
