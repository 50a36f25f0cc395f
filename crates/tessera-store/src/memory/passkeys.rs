//! [`PasskeyStore`] in memory, as `sql/passkeys.rs` keeps passkeys: named one of a kind per
//! user, credential IDs one of a kind across users, the counter moved forward only; enrolment
//! and removal record their audit events beside the change.

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AuditAction, NewAuditEvent, UnixMillis, UserId};

use super::MemoryStore;
use crate::StoreError;
use crate::traits::{PasskeyCredential, PasskeyStore};

#[derive(Default)]
pub(super) struct Tables {
    /// In the order they were added.
    passkeys: Vec<PasskeyCredential>,
}

impl Tables {
    pub(super) fn forget(&mut self, user: UserId) {
        self.passkeys.retain(|p| p.user_id != user);
    }
}

#[async_trait]
impl PasskeyStore for MemoryStore {
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyCredential>, StoreError> {
        let tables = self.tables()?;
        let mut found: Vec<PasskeyCredential> =
            tables.passkeys.passkeys.iter().filter(|p| p.user_id == user).cloned().collect();
        found.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        Ok(found)
    }

    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<PasskeyCredential>, StoreError> {
        Ok(self.tables()?.passkeys.passkeys.iter().find(|p| p.credential_id == credential_id).cloned())
    }

    async fn add_passkey(&self, actor: &Actor, passkey: &PasskeyCredential) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if !tables.users.contains_key(&passkey.user_id.to_string()) {
            return Err(StoreError::not_found("referenced record", ""));
        }
        let stored = &tables.passkeys.passkeys;
        if stored.iter().any(|p| p.credential_id == passkey.credential_id) {
            return Err(StoreError::Conflict {
                field: "credential_id",
                message: "that passkey is enrolled already".into(),
            });
        }
        if stored.iter().any(|p| p.user_id == passkey.user_id && p.name == passkey.name) {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("{:?}: the user has a passkey of that name", passkey.name),
            });
        }
        tables.passkeys.passkeys.push(passkey.clone());
        let summary = json!({"factor": "passkey", "name": passkey.name});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::UserMfaEnroll, "user", passkey.user_id, summary));
        Ok(())
    }

    async fn passkey_used(
        &self,
        credential_id: &[u8],
        sign_count: i64,
        passkey_json: &str,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        let Some(passkey) = tables.passkeys.passkeys.iter_mut().find(|p| p.credential_id == credential_id) else {
            return Ok(false);
        };
        if !(passkey.sign_count < sign_count || (sign_count == 0 && passkey.sign_count == 0)) {
            return Ok(false);
        }
        passkey.sign_count = sign_count;
        passkey.passkey_json = passkey_json.to_string();
        passkey.last_used_at = Some(at);
        Ok(true)
    }

    async fn remove_passkey(&self, actor: &Actor, user: UserId, name: &str) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let before = tables.passkeys.passkeys.len();
        tables.passkeys.passkeys.retain(|p| !(p.user_id == user && p.name == name));
        if tables.passkeys.passkeys.len() == before {
            return Ok(false);
        }
        let summary = json!({"factor": "passkey", "name": name});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, summary));
        Ok(true)
    }

    async fn remove_passkeys(&self, actor: &Actor, user: UserId) -> Result<u64, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let before = tables.passkeys.passkeys.len();
        tables.passkeys.forget(user);
        let removed = u64::try_from(before - tables.passkeys.passkeys.len()).unwrap_or(u64::MAX);
        if removed > 0 {
            let summary = json!({"factor": "passkey", "removed": removed});
            tables.record(actor, at, NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, summary));
        }
        Ok(removed)
    }
}
