//! [`SettingsStore`] in memory, as `sql/settings.rs` keeps settings and job leases.

use async_trait::async_trait;
use tessera_core::{Actor, NewAuditEvent};

use super::MemoryStore;
use crate::StoreError;
use crate::traits::SettingsStore;

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.tables()?.settings.get(key).cloned())
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tables()?.settings.insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn change_setting(
        &self,
        actor: &Actor,
        key: &str,
        value: Option<&str>,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let existed = match value {
            Some(value) => tables.settings.insert(key.to_string(), value.to_string()).is_some(),
            None => match tables.settings.remove(key) {
                Some(_) => true,
                None => return Ok(false),
            },
        };
        tables.record(actor, at, event);
        Ok(existed)
    }

    async fn take_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = self.clock.now_millis();
        let mut tables = self.tables()?;
        let free = match tables.leases.get(name) {
            None => true,
            Some((current, until)) => *until <= now || current == holder,
        };
        if free {
            tables.leases.insert(name.to_string(), (holder.to_string(), now.saturating_add(ttl_ms)));
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        if tables.leases.get(name).is_some_and(|(current, _)| current == holder) {
            tables.leases.remove(name);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<Option<i64>, StoreError> {
        self.tables().map(|_| None)
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
