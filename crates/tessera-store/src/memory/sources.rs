//! [`SourceStore`] in memory, as `sql/sources.rs` keeps directory sources: a name names one
//! source in any letter case; removing one leaves its users as local users.

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AuditAction, DirectorySource, NewAuditEvent, NewDirectorySource, SourceId, UserId};

use super::MemoryStore;
use crate::StoreError;
use crate::traits::SourceStore;

#[async_trait]
impl SourceStore for MemoryStore {
    async fn create_source(
        &self,
        actor: &Actor,
        source: NewDirectorySource,
        sealed_bind_password: &[u8],
    ) -> Result<DirectorySource, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let name = source.name.to_lowercase();
        if tables.sources.values().any(|(s, _)| s.name.to_lowercase() == name) {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("a directory source named {:?} exists already", source.name),
            });
        }
        let created =
            DirectorySource { id: source.id, name: source.name, config: source.config, created_at: at, updated_at: at };
        let config = &created.config;
        let summary = json!({
            "name": created.name, "kind": config.kind.as_str(), "urls": config.urls,
            "base_dn": config.base_dn, "bind_dn": config.bind_dn, "authenticate": config.authenticate.as_str(),
        });
        tables.record(actor, at, NewAuditEvent::new(AuditAction::DirectoryAdd, "directory", created.id, summary));
        tables.sources.insert(created.id.to_string(), (created.clone(), sealed_bind_password.to_vec()));
        Ok(created)
    }

    async fn find_source(&self, key: &str) -> Result<DirectorySource, StoreError> {
        let key = key.trim();
        let tables = self.tables()?;
        let found = tables
            .sources
            .get(key)
            .or_else(|| tables.sources.values().find(|(s, _)| s.name.to_lowercase() == key.to_lowercase()));
        found.map(|(s, _)| s.clone()).ok_or_else(|| StoreError::not_found("directory source", key))
    }

    async fn list_sources(&self) -> Result<Vec<DirectorySource>, StoreError> {
        Ok(self.tables()?.sources.values().map(|(s, _)| s.clone()).collect())
    }

    async fn user_source(&self, user: UserId) -> Result<Option<(SourceId, String)>, StoreError> {
        let tables = self.tables()?;
        match tables.user_sources.get(&user.to_string()) {
            Some((source, anchor)) => Ok(Some((crate::sql::parse_id(source)?, anchor.clone()))),
            None => Ok(None),
        }
    }

    async fn source_bind_password(&self, source: SourceId) -> Result<Vec<u8>, StoreError> {
        let tables = self.tables()?;
        let found = tables.sources.get(&source.to_string());
        found
            .map(|(_, sealed)| sealed.clone())
            .ok_or_else(|| StoreError::not_found("directory source", source.to_string()))
    }

    async fn remove_source(&self, actor: &Actor, source: SourceId) -> Result<u64, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let id = source.to_string();
        let (removed, _) =
            tables.sources.remove(&id).ok_or_else(|| StoreError::not_found("directory source", id.clone()))?;
        let before = tables.user_sources.len();
        let detached: Vec<String> =
            tables.user_sources.iter().filter(|(_, (of, _))| *of == id).map(|(user, _)| user.clone()).collect();
        for user in &detached {
            tables.user_sources.remove(user);
            tables.source_suspended.remove(user);
        }
        tables.group_sources.retain(|_, (of, _)| *of != id);
        tables.sync_cursors.remove(&id);
        let detached = u64::try_from(before - tables.user_sources.len()).unwrap_or(u64::MAX);
        let summary = json!({"name": removed.name, "users_kept": detached});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::DirectoryRemove, "directory", source, summary));
        Ok(detached)
    }
}
