//! Users and groups.

use super::*;

/// What an import did, or (on a dry run, or with clashes) would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Rows that clash with the directory, by line; when any, nothing was written.
    pub clashes: Vec<(usize, String)>,
    pub users: usize,
    /// Groups named in the file that did not exist (created unless this is a preview).
    pub new_groups: Vec<String>,
    pub memberships: usize,
    /// Whether anything was written.
    pub written: bool,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, actor: &Actor, user: NewUser) -> Result<User, StoreError>;
    /// Creates every user of an import, the groups they name that do not exist yet, and their
    /// memberships, in one transaction; or, when any row clashes with the directory (an email,
    /// UPN or ImmutableID in use), or on a `dry_run`, nothing. Every clash is reported by line.
    async fn import_users(&self, actor: &Actor, rows: &[ImportRow], dry_run: bool)
    -> Result<ImportOutcome, StoreError>;
    /// By id, email or UPN (case-insensitive).
    async fn find_user(&self, key: &str) -> Result<User, StoreError>;
    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError>;
    async fn set_password(&self, actor: &Actor, user: UserId, password_hash: &str) -> Result<(), StoreError>;
    async fn set_user_state(&self, actor: &Actor, user: UserId, state: UserState) -> Result<User, StoreError>;
    async fn delete_user(&self, actor: &Actor, user: UserId) -> Result<(), StoreError>;
    /// Changes the UPN and ImmutableID Entra matches the user by (each when given); a UPN or
    /// ImmutableID that is another user's is a conflict and changes nothing.
    async fn set_user_identity(
        &self,
        actor: &Actor,
        user: UserId,
        upn: Option<&str>,
        immutable_id: Option<&str>,
    ) -> Result<User, StoreError>;
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
