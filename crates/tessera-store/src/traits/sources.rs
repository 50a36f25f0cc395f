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
    /// The bind password, still sealed.
    async fn source_bind_password(&self, source: SourceId) -> Result<Vec<u8>, StoreError>;
    /// Removes a source. Its users stay, as local users with their ImmutableID: a source never
    /// takes people with it. Returns how many users it had.
    async fn remove_source(&self, actor: &Actor, source: SourceId) -> Result<u64, StoreError>;
}
