//! [`SessionStore`] in memory, as `sql/sessions.rs` keeps sessions: by the hash of their id, each
//! naming a user that exists.

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AuditAction, NewAuditEvent, UnixMillis, User, UserId};

use super::{MemoryStore, State};
use crate::StoreError;
use crate::traits::{Session, SessionStore};

impl State {
    fn insert_session(&mut self, session: &Session) -> Result<(), StoreError> {
        // What the schema's foreign key refuses.
        self.user(session.user_id).map_err(|_| StoreError::not_found("referenced record", ""))?;
        if self.sessions.contains_key(&session.id_hash) {
            return Err(StoreError::Conflict { field: "unknown", message: "that record already exists".into() });
        }
        self.sessions.insert(session.id_hash.clone(), session.clone());
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.tables()?.insert_session(session)
    }

    async fn find_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        Ok(self.tables()?.sessions.get(id_hash).cloned())
    }

    async fn find_session_with_user(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError> {
        let tables = self.tables()?;
        let Some(session) = tables.sessions.get(id_hash) else { return Ok(None) };
        Ok(tables.users.get(&session.user_id.to_string()).map(|user| (session.clone(), user.clone())))
    }

    async fn find_session_for_token(&self, id_hash: &str) -> Result<Option<(Session, User)>, StoreError> {
        self.find_session_with_user(id_hash).await
    }

    async fn touch_session(&self, id_hash: &str, now: UnixMillis) -> Result<(), StoreError> {
        if let Some(session) = self.tables()?.sessions.get_mut(id_hash) {
            session.last_seen_at = now;
        }
        Ok(())
    }

    async fn rotate_session(&self, old_id_hash: &str, new: &Session) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let old = tables.sessions.remove(old_id_hash);
        if let Err(e) = tables.insert_session(new) {
            // As the transaction rolls back: the old session stays.
            if let Some(old) = old {
                tables.sessions.insert(old_id_hash.to_string(), old);
            }
            return Err(e);
        }
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.tables()?.sessions.remove(id_hash);
        Ok(())
    }

    async fn end_user_sessions(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let before = tables.sessions.len();
        tables.sessions.retain(|_, session| session.user_id != user);
        let ended = u64::try_from(before - tables.sessions.len()).unwrap_or(u64::MAX);
        tables.record(
            actor,
            at,
            NewAuditEvent::new(AuditAction::UserSignOut, "user", user, json!({"sessions": ended})),
        );
        Ok(ended)
    }

    async fn acknowledge_notice(&self, actor: &Actor, user: UserId, now: UnixMillis) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        let Some(found) = tables.users.get_mut(&user.to_string()) else { return Ok(()) };
        if found.notice_acknowledged_at.is_none() {
            found.notice_acknowledged_at = Some(now);
            tables.record(actor, now, NewAuditEvent::new(AuditAction::UserNoticeAcknowledged, "user", user, json!({})));
        }
        Ok(())
    }
}
