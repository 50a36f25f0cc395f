//! [`ReplayStore`] in memory, as `sql/replay.rs` remembers message IDs: once each until they
//! expire, long ones by their digest.

use async_trait::async_trait;
use tessera_core::{Actor, NewAuditEvent, UnixMillis, UserState};

use super::{MemoryStore, State};
use crate::StoreError;
use crate::traits::{MessageClaim, ReplayStore, TokenRecord, TokenRecorded};

#[async_trait]
impl ReplayStore for MemoryStore {
    async fn remember_message_id(
        &self,
        issuer: &str,
        message_id: &str,
        expires_at: UnixMillis,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let claim = MessageClaim { issuer: issuer.to_string(), message_id: message_id.to_string(), expires_at, now };
        Ok(remember(&mut *self.tables()?, &claim))
    }

    async fn remember_message_id_with_audit(
        &self,
        claim: &MessageClaim,
        actor: &Actor,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        if !remember(&mut tables, claim) {
            return Ok(false);
        }
        tables.record(actor, self.clock.now_millis(), event);
        Ok(true)
    }

    async fn record_token(&self, token: TokenRecord<'_>) -> Result<TokenRecorded, StoreError> {
        let mut tables = self.tables()?;
        if let Some(claim) = token.claim
            && !remember(&mut tables, claim)
        {
            return Ok(TokenRecorded::Replayed);
        }
        let live = tables.sessions.get(token.session).is_some_and(|session| {
            tables.users.get(&session.user_id.to_string()).is_some_and(|user| user.state == UserState::Active)
        });
        if !live {
            return Ok(TokenRecorded::SessionEnded);
        }
        tables.record(token.actor, self.clock.now_millis(), token.event);
        Ok(TokenRecorded::Written)
    }
}

/// Remembers the claim's ID unless it is remembered and unexpired; whether it was new.
fn remember(tables: &mut State, claim: &MessageClaim) -> bool {
    tables.message_ids.retain(|_, until| *until >= claim.now);
    let key = (claim.issuer.clone(), claim.stored_id());
    if tables.message_ids.contains_key(&key) {
        return false;
    }
    tables.message_ids.insert(key, claim.expires_at);
    true
}
