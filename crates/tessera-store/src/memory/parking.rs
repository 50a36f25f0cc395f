//! [`ParkingStore`] in memory, as `sql/parking.rs` parks requests: each bound to one browser,
//! taken once, and gone when expired.

use async_trait::async_trait;
use tessera_core::UnixMillis;

use super::MemoryStore;
use crate::StoreError;
use crate::traits::{ParkedRequest, ParkingStore};

#[async_trait]
impl ParkingStore for MemoryStore {
    async fn park_request(&self, parked: &ParkedRequest) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        tables.parked.retain(|_, request| request.expires_at >= parked.created_at);
        if tables.parked.contains_key(&parked.id) {
            return Err(StoreError::Conflict { field: "unknown", message: "that record already exists".into() });
        }
        tables.parked.insert(parked.id.clone(), parked.clone());
        Ok(())
    }

    async fn take_parked_request(
        &self,
        id: &str,
        browser_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<ParkedRequest>, StoreError> {
        let mut tables = self.tables()?;
        if tables.parked.get(id).is_none_or(|request| request.browser_hash != browser_hash) {
            return Ok(None);
        }
        Ok(tables.parked.remove(id).filter(|request| request.expires_at >= now))
    }

    async fn peek_parked_request(
        &self,
        id: &str,
        browser_hash: &str,
        now: UnixMillis,
    ) -> Result<Option<ParkedRequest>, StoreError> {
        let tables = self.tables()?;
        Ok(tables
            .parked
            .get(id)
            .filter(|request| request.browser_hash == browser_hash && request.expires_at >= now)
            .cloned())
    }
}
