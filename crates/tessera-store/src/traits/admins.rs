//! Administrators, their API tokens and their portal's sign-in.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
    /// What the token may do; an application administrator's applications are read apart.
    pub role: AdminRole,
}

/// An administrator of the admin portal and the REST API. The password hash is for the
/// sign-in check only; views leave it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administrator {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    /// The one-time password of the first start: it must be changed at its first use.
    pub must_change_password: bool,
    /// What they may do; an application administrator's applications are read apart.
    pub role: AdminRole,
    pub created_at: UnixMillis,
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    /// A token with its role, and for an application administrator's role, its applications.
    async fn create_api_token(
        &self,
        actor: &Actor,
        name: &str,
        token_hash: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<ApiToken, StoreError>;
    /// The applications an application administrator's token reaches.
    async fn api_token_apps(&self, token_id: &str) -> Result<Vec<AppId>, StoreError>;
    /// The live (not revoked) token with this hash.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// By id or name.
    async fn revoke_api_token(&self, actor: &Actor, key: &str) -> Result<ApiToken, StoreError>;
    /// Creates the first administrator if there is none; false if one exists already.
    async fn create_initial_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError>;
    /// An administrator whose password is their own (not one-time). A taken name (in any
    /// letter case) is a conflict on `username`.
    async fn create_admin(
        &self,
        actor: &Actor,
        username: &str,
        password_hash: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<Administrator, StoreError>;
    /// Gives an administrator a role (and an application administrator their applications,
    /// replacing the earlier ones), in one transaction. The last full administrator keeps
    /// their role (a conflict): the deployment must keep someone who can administer it.
    async fn set_admin_role(
        &self,
        actor: &Actor,
        key: &str,
        role: AdminRole,
        apps: &[AppId],
    ) -> Result<Administrator, StoreError>;
    /// The applications an application administrator reaches.
    async fn admin_apps(&self, admin_id: &str) -> Result<Vec<AppId>, StoreError>;
    /// By id or name (any letter case).
    async fn find_admin(&self, key: &str) -> Result<Administrator, StoreError>;
    /// Oldest first.
    async fn list_admins(&self) -> Result<Vec<Administrator>, StoreError>;
    async fn set_admin_password(
        &self,
        actor: &Actor,
        key: &str,
        password_hash: &str,
        must_change: bool,
    ) -> Result<Administrator, StoreError>;
    /// Deletes an administrator, never the last full administrator (a conflict).
    async fn delete_admin(&self, actor: &Actor, key: &str) -> Result<Administrator, StoreError>;
}

/// An admin portal session and its administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub admin: Administrator,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// The second factor was shown, or none is needed.
    pub complete: bool,
}

/// The admin portal's sign-in state: sessions (ids stored as SHA-256) and the lockout counter
/// per administrator.
#[async_trait]
pub trait AdminSignInStore: Send + Sync {
    async fn create_admin_session(
        &self,
        id_hash: &str,
        admin_id: &str,
        complete: bool,
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The session under `old_hash`, now complete under `new_hash` (a new id after each step).
    async fn complete_admin_session(&self, old_hash: &str, new_hash: &str) -> Result<bool, StoreError>;
    /// The session with its administrator as they are now; none once either is gone.
    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError>;
    async fn touch_admin_session(&self, id_hash: &str, now: UnixMillis) -> Result<(), StoreError>;
    async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError>;
    /// Counts a password attempt for `admin_id` before it is checked, atomically: false when
    /// `threshold` failures fall within `window_ms` already (locked).
    async fn reserve_admin_attempt(
        &self,
        admin_id: &str,
        threshold: u32,
        window_ms: i64,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// A right password: the count starts again.
    async fn clear_admin_failures(&self, admin_id: &str) -> Result<(), StoreError>;
    async fn admin_totp(&self, admin_id: &str) -> Result<Option<TotpCredential>, StoreError>;
    /// A new pending secret, replacing a pending one (never a confirmed one).
    async fn put_pending_admin_totp(
        &self,
        admin_id: &str,
        sealed_secret: &[u8],
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// Confirms the pending secret at `step`; false when nothing was pending.
    async fn confirm_admin_totp(&self, actor: &Actor, admin_id: &str, step: i64) -> Result<bool, StoreError>;
    /// Accepts `step` once: false for a step at or before the last accepted.
    async fn use_admin_totp_step(&self, admin_id: &str, step: i64) -> Result<bool, StoreError>;
    /// Removes an administrator's authenticator app (confirmed or pending) and passkeys and ends
    /// their sessions, so that the next sign-in enrols a new one; false when there was none.
    async fn reset_admin_mfa(&self, actor: &Actor, admin_id: &str) -> Result<bool, StoreError>;
    /// The administrator's passkeys, oldest first.
    async fn admin_passkeys(&self, admin_id: &str) -> Result<Vec<AdminPasskey>, StoreError>;
    /// Adds a passkey, audited (`admin.mfa_enroll`, factor `passkey`): a conflict when the
    /// administrator has one of that name, or its credential ID is stored already.
    async fn add_admin_passkey(&self, actor: &Actor, passkey: &AdminPasskey) -> Result<(), StoreError>;
    /// As [`PasskeyStore::passkey_used`], for an administrator's passkey.
    async fn admin_passkey_used(
        &self,
        credential_id: &[u8],
        sign_count: i64,
        passkey_json: &str,
        at: UnixMillis,
    ) -> Result<bool, StoreError>;
}

/// An administrator's passkey, kept as users' are ([`PasskeyCredential`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPasskey {
    pub admin_id: String,
    pub name: String,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub passkey_json: String,
    pub sign_count: i64,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
}
