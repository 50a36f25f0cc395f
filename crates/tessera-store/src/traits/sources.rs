//! Directory sources: where users come from.

use super::*;

#[async_trait]
pub trait SourceStore: Send + Sync {
    /// Stores a checked source with its bind password sealed under the master key. A taken name
    /// (in any letter case) is a conflict on `name`.
    async fn create_source(
        &self,
        actor: &Actor,
        source: NewDirectorySource,
        sealed_bind_password: &[u8],
    ) -> Result<DirectorySource, StoreError>;
    /// By id or name (any letter case).
    async fn find_source(&self, key: &str) -> Result<DirectorySource, StoreError>;
    /// Oldest first.
    async fn list_sources(&self) -> Result<Vec<DirectorySource>, StoreError>;
    /// The source that brought `user`, and the user's anchor there.
    async fn user_source(&self, user: UserId) -> Result<Option<(SourceId, String)>, StoreError>;
    /// The bind password, still sealed.
    async fn source_bind_password(&self, source: SourceId) -> Result<Vec<u8>, StoreError>;
    /// Removes a source. Its users stay, as local users with their ImmutableID: a source never
    /// takes people with it. Returns how many users it had.
    async fn remove_source(&self, actor: &Actor, source: SourceId) -> Result<u64, StoreError>;
}

/// What a sync reads and writes: the users a source brought, and one sync's changes.
#[async_trait]
pub trait SourceSyncStore: Send + Sync {
    /// The users the source brought, with their anchors, oldest first.
    async fn linked_users(&self, source: SourceId) -> Result<Vec<LinkedUser>, StoreError>;
    /// The groups the source brought, with their anchors and the source's users in them.
    async fn linked_groups(&self, source: SourceId) -> Result<Vec<LinkedGroup>, StoreError>;
    /// Where the source's next incremental read starts, as the last applied sync saved it.
    async fn sync_cursor(&self, source: SourceId) -> Result<Option<String>, StoreError>;
    /// Applies one sync in one transaction (its cursor saved with it), each change with its audit event, and a
    /// `directory.sync` event carrying `summary`. A clash (an email or UPN taken meanwhile)
    /// changes nothing.
    async fn apply_sync(
        &self,
        actor: &Actor,
        source: SourceId,
        changes: &SyncChanges,
        summary: serde_json::Value,
    ) -> Result<(), StoreError>;
}
