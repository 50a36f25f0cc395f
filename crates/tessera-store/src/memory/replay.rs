//! [`ReplayStore`] in memory, as `sql/replay.rs` remembers message IDs: once each until they
//! expire, long ones by their digest.

use async_trait::async_trait;
use tessera_core::UnixMillis;

use super::MemoryStore;
use crate::StoreError;
use crate::traits::ReplayStore;

#[async_trait]
impl ReplayStore for MemoryStore {
    async fn remember_message_id(
        &self,
        issuer: &str,
        message_id: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let message_id = if message_id.len() > crate::sql::MAX_STORED_MESSAGE_ID {
            format!("sha256:{}", crate::sql::sha256_hex(message_id.as_bytes()))
        } else {
            message_id.to_string()
        };
        let mut tables = self.tables()?;
        tables.message_ids.retain(|_, until| *until >= now);
        let key = (issuer.to_string(), message_id);
        if tables.message_ids.contains_key(&key) {
            return Ok(false);
        }
        tables.message_ids.insert(key, expires_at);
        Ok(true)
    }
}
