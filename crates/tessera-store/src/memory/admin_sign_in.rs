//! [`AdminSignInStore`] in memory, as `sql/admin_sign_in.rs` keeps the admin portal's sessions,
//! its lockout counter per administrator and administrators' authenticators.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AuditAction, NewAuditEvent, UnixMillis};

use super::MemoryStore;
use crate::StoreError;
use crate::traits::{AdminPasskey, AdminSession, AdminSignInStore, LockoutCounter, TotpCredential};

struct StoredSession {
    admin_id: String,
    created_at: UnixMillis,
    last_seen_at: UnixMillis,
    complete: bool,
}

#[derive(Default)]
pub(super) struct Tables {
    sessions: HashMap<String, StoredSession>,
    counters: HashMap<String, LockoutCounter>,
    totp: HashMap<String, TotpCredential>,
    /// In the order they were added.
    passkeys: Vec<AdminPasskey>,
}

impl Tables {
    pub(super) fn end_sessions_of(&mut self, admin_id: &str) {
        self.sessions.retain(|_, session| session.admin_id != admin_id);
    }

    /// Everything of a deleted administrator, as the schema's cascades remove it.
    pub(super) fn forget(&mut self, admin_id: &str) {
        self.end_sessions_of(admin_id);
        self.counters.remove(admin_id);
        self.totp.remove(admin_id);
        self.passkeys.retain(|p| p.admin_id != admin_id);
    }
}

/// What the schema's foreign key to `admins` refuses.
fn no_such_admin() -> StoreError {
    StoreError::not_found("referenced record", "")
}

#[async_trait]
impl AdminSignInStore for MemoryStore {
    async fn create_admin_session(
        &self,
        id_hash: &str,
        admin_id: &str,
        complete: bool,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        if !tables.admins.exists(admin_id) {
            return Err(no_such_admin());
        }
        let sessions = &mut tables.admin_sign_in.sessions;
        if sessions.contains_key(id_hash) {
            return Err(StoreError::Conflict { field: "unknown", message: "that record already exists".into() });
        }
        let session = StoredSession { admin_id: admin_id.to_string(), created_at: now, last_seen_at: now, complete };
        sessions.insert(id_hash.to_string(), session);
        Ok(())
    }

    async fn complete_admin_session(&self, old_hash: &str, new_hash: &str) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        let sessions = &mut tables.admin_sign_in.sessions;
        if old_hash != new_hash && sessions.contains_key(new_hash) {
            return Err(StoreError::Conflict { field: "unknown", message: "that record already exists".into() });
        }
        let Some(mut session) = sessions.remove(old_hash) else { return Ok(false) };
        session.complete = true;
        sessions.insert(new_hash.to_string(), session);
        Ok(true)
    }

    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
        let tables = self.tables()?;
        let Some(session) = tables.admin_sign_in.sessions.get(id_hash) else { return Ok(None) };
        Ok(tables.admins.admin(&session.admin_id).map(|admin| AdminSession {
            admin: admin.clone(),
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            complete: session.complete,
        }))
    }

    async fn touch_admin_session(&self, id_hash: &str, now: UnixMillis) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        if let Some(session) = tables.admin_sign_in.sessions.get_mut(id_hash).filter(|s| s.last_seen_at < now) {
            session.last_seen_at = now;
        }
        Ok(())
    }

    async fn delete_admin_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.tables()?.admin_sign_in.sessions.remove(id_hash);
        Ok(())
    }

    async fn reserve_admin_attempt(
        &self,
        admin_id: &str,
        threshold: u32,
        window_ms: i64,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        if !tables.admins.exists(admin_id) {
            return Err(no_such_admin());
        }
        let counters = &mut tables.admin_sign_in.counters;
        match counters.get_mut(admin_id) {
            None => {
                counters.insert(admin_id.to_string(), LockoutCounter { failures: 1, last_failure_at: now });
                Ok(true)
            }
            Some(counter) if counter.failures < threshold || counter.last_failure_at <= now - window_ms => {
                counter.failures = counter.failures.saturating_add(1);
                counter.last_failure_at = now;
                Ok(true)
            }
            Some(_) => Ok(false),
        }
    }

    async fn clear_admin_failures(&self, admin_id: &str) -> Result<(), StoreError> {
        self.tables()?.admin_sign_in.counters.remove(admin_id);
        Ok(())
    }

    async fn admin_totp(&self, admin_id: &str) -> Result<Option<TotpCredential>, StoreError> {
        Ok(self.tables()?.admin_sign_in.totp.get(admin_id).cloned())
    }

    async fn put_pending_admin_totp(
        &self,
        admin_id: &str,
        sealed_secret: &[u8],
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        if !tables.admins.exists(admin_id) {
            return Err(no_such_admin());
        }
        let totp = &mut tables.admin_sign_in.totp;
        if !totp.get(admin_id).is_some_and(|credential| credential.confirmed) {
            let pending = TotpCredential::pending(sealed_secret, now);
            totp.insert(admin_id.to_string(), pending);
        }
        Ok(())
    }

    async fn confirm_admin_totp(&self, actor: &Actor, admin_id: &str, step: i64) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let Some(credential) = tables.admin_sign_in.totp.get_mut(admin_id).filter(|c| !c.confirmed) else {
            return Ok(false);
        };
        credential.confirmed = true;
        credential.last_step = step;
        let event = NewAuditEvent::new(AuditAction::AdminMfaEnroll, "admin", admin_id, json!({"factor": "totp"}));
        tables.record(actor, at, event);
        Ok(true)
    }

    async fn use_admin_totp_step(&self, admin_id: &str, step: i64) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        match tables.admin_sign_in.totp.get_mut(admin_id) {
            Some(credential) if credential.confirmed && credential.last_step < step => {
                credential.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn reset_admin_mfa(&self, actor: &Actor, admin_id: &str) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let app = tables.admin_sign_in.totp.remove(admin_id).is_some();
        let before = tables.admin_sign_in.passkeys.len();
        tables.admin_sign_in.passkeys.retain(|p| p.admin_id != admin_id);
        let passkeys = before - tables.admin_sign_in.passkeys.len();
        if !app && passkeys == 0 {
            return Ok(false);
        }
        tables.admin_sign_in.end_sessions_of(admin_id);
        let summary = json!({"app": app, "passkeys": passkeys});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AdminMfaReset, "admin", admin_id, summary));
        Ok(true)
    }

    async fn admin_passkeys(&self, admin_id: &str) -> Result<Vec<AdminPasskey>, StoreError> {
        let tables = self.tables()?;
        let mut found: Vec<AdminPasskey> =
            tables.admin_sign_in.passkeys.iter().filter(|p| p.admin_id == admin_id).cloned().collect();
        found.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        Ok(found)
    }

    async fn add_admin_passkey(&self, actor: &Actor, passkey: &AdminPasskey) -> Result<(), StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if !tables.admins.exists(&passkey.admin_id) {
            return Err(StoreError::not_found("referenced record", ""));
        }
        let stored = &tables.admin_sign_in.passkeys;
        if stored.iter().any(|p| p.credential_id == passkey.credential_id) {
            return Err(StoreError::Conflict {
                field: "credential_id",
                message: "that passkey is enrolled already".into(),
            });
        }
        if stored.iter().any(|p| p.admin_id == passkey.admin_id && p.name == passkey.name) {
            return Err(StoreError::Conflict {
                field: "name",
                message: format!("{:?}: you have a passkey of that name", passkey.name),
            });
        }
        tables.admin_sign_in.passkeys.push(passkey.clone());
        let summary = json!({"factor": "passkey", "name": passkey.name});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AdminMfaEnroll, "admin", &passkey.admin_id, summary));
        Ok(())
    }

    async fn admin_passkey_used(
        &self,
        credential_id: &[u8],
        sign_count: i64,
        passkey_json: &str,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        let Some(passkey) = tables.admin_sign_in.passkeys.iter_mut().find(|p| p.credential_id == credential_id) else {
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
}
