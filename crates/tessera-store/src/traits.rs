//! The role traits handlers and commands program against. Every change an admin makes takes
//! the acting [`Actor`] and writes its audit event in the same transaction as the change.

use async_trait::async_trait;
use serde::Serialize;
use tessera_core::{
    AccessDecision, Actor, AppId, Application, AuditEvent, Group, GroupId, NewApplication, NewGroup, NewUser,
    UnixMillis, User, UserId, UserState,
};

use crate::StoreError;

/// Keyset pagination: items after `after` (an id), at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 1000;
    pub const DEFAULT_LIMIT: u32 = 100;

    pub fn first(limit: u32) -> Self {
        PageRequest { after: None, limit }
    }

    pub(crate) fn effective_limit(&self) -> i64 {
        i64::from(self.limit.clamp(1, Self::MAX_LIMIT))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor for the next page, when there may be one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: UnixMillis,
    pub revoked_at: Option<UnixMillis>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub since: Option<UnixMillis>,
    pub after_id: Option<i64>,
    pub limit: u32,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User, StoreError>;
    /// By id, email or UPN (case-insensitive).
    async fn find_user(&self, key: &str) -> Result<User, StoreError>;
    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError>;
    async fn set_password(&self, actor: &Actor, user: UserId, password_hash: &str) -> Result<(), StoreError>;
    async fn set_user_state(&self, actor: &Actor, user: UserId, state: UserState) -> Result<User, StoreError>;
    async fn delete_user(&self, actor: &Actor, user: UserId) -> Result<(), StoreError>;
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create_group(&self, actor: &Actor, group: NewGroup) -> Result<Group, StoreError>;
    /// By id or name (case-insensitive).
    async fn find_group(&self, key: &str) -> Result<Group, StoreError>;
    async fn list_groups(&self, page: &PageRequest) -> Result<Page<Group>, StoreError>;
    async fn delete_group(&self, actor: &Actor, group: GroupId) -> Result<(), StoreError>;
    /// Returns false when the user was already a member.
    async fn add_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError>;
    /// Returns false when the user was not a member.
    async fn remove_member(&self, actor: &Actor, group: GroupId, user: UserId) -> Result<bool, StoreError>;
    async fn group_members(&self, group: GroupId) -> Result<Vec<User>, StoreError>;
    async fn groups_of_user(&self, user: UserId) -> Result<Vec<Group>, StoreError>;
}

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates the app together with its first signing key (apps that sign get one at once).
    async fn create_app(
        &self,
        actor: &Actor,
        app: NewApplication,
        signing_key: Option<NewSigningKey>,
    ) -> Result<Application, StoreError>;
    /// By id or label (case-insensitive).
    async fn find_app(&self, key: &str) -> Result<Application, StoreError>;
    async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, StoreError>;
    /// Deletes all of `apps` or none: `confirm_count` must equal their number, and each must exist.
    async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, StoreError>;
    /// Grants `group` access to `app`; the same grant whether made from the app or the group
    /// side. Returns false when it existed already.
    async fn grant(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError>;
    /// Returns false when there was no such grant.
    async fn revoke(&self, actor: &Actor, app: AppId, group: GroupId) -> Result<bool, StoreError>;
    async fn granted_groups(&self, app: AppId) -> Result<Vec<Group>, StoreError>;
    async fn apps_of_group(&self, group: GroupId) -> Result<Vec<Application>, StoreError>;
    /// The authorization rule applied to the stored directory.
    async fn check_access(&self, user: UserId, app: AppId) -> Result<AccessDecision, StoreError>;
}

/// Which of an app's keys: the one it signs with, or the one staged for a rollover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySlot {
    Current,
    Next,
}

impl KeySlot {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeySlot::Current => "current",
            KeySlot::Next => "next",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "current" => Ok(KeySlot::Current),
            "next" => Ok(KeySlot::Next),
            other => Err(StoreError::Corrupt(format!("key slot {other:?}"))),
        }
    }
}

/// A key as stored: the private key only sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub id: String,
    pub app_id: AppId,
    pub slot: KeySlot,
    pub bits: u32,
    pub sealed_private_key: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    pub created_at: UnixMillis,
}

/// A key to store; `id` is chosen by the caller because the seal is bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSigningKey {
    pub id: String,
    pub bits: u32,
    pub sealed_private_key: Vec<u8>,
    pub certificate_der: Vec<u8>,
    pub not_after: UnixMillis,
    /// Hex SHA-256 of the certificate, for the audit trail.
    pub thumbprint: String,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn signing_key(&self, app: AppId, slot: KeySlot) -> Result<Option<StoredKey>, StoreError>;
    /// Replaces the app's current key at once; the old one is destroyed.
    async fn replace_current_key(&self, actor: &Actor, app: AppId, key: NewSigningKey)
    -> Result<StoredKey, StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Oldest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    async fn create_api_token(&self, actor: &Actor, name: &str, token_hash: &str) -> Result<ApiToken, StoreError>;
    /// The live (not revoked) token with this hash.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError>;
    /// By id or name.
    async fn revoke_api_token(&self, actor: &Actor, key: &str) -> Result<ApiToken, StoreError>;
    /// Creates the first administrator if there is none; false if one exists already.
    async fn create_initial_admin(&self, username: &str, password_hash: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}

/// Everything a handler or command needs from storage.
pub trait Store: UserStore + GroupStore + AppStore + KeyStore + AuditStore + AdminStore + SettingsStore {}

impl<T: UserStore + GroupStore + AppStore + KeyStore + AuditStore + AdminStore + SettingsStore> Store for T {}

/// The setting holding the public URL the server last started with, so that management
/// commands build the same endpoint URLs as the running server.
pub const SETTING_PUBLIC_URL: &str = "public_url";

/// The setting holding the master-key check value (see tessera-keys).
pub const SETTING_MASTER_KEY_CHECK: &str = "master_key_check";
