//! [`MfaStore`] in memory: the TOTP credential, its used steps and the recovery codes, as
//! `sql/mfa.rs` keeps them; enrolment and reset record their audit events beside the change, as
//! the SQL store writes them in the same transaction.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use serde_json::json;
use tessera_core::{Actor, AuditAction, NewAuditEvent, UnixMillis, UserId};

use super::MemoryStore;
use crate::StoreError;
use crate::traits::{MfaStore, TotpCredential};

#[derive(Default)]
pub(super) struct Tables {
    credentials: HashMap<UserId, TotpCredential>,
    recovery_codes: HashMap<UserId, HashSet<String>>,
}

impl Tables {
    pub(super) fn forget(&mut self, user: UserId) {
        self.credentials.remove(&user);
        self.recovery_codes.remove(&user);
    }
}

#[async_trait]
impl MfaStore for MemoryStore {
    async fn totp_credential(&self, user: UserId) -> Result<Option<TotpCredential>, StoreError> {
        Ok(self.tables()?.mfa.credentials.get(&user).cloned())
    }

    async fn put_pending_totp(&self, user: UserId, sealed_secret: &[u8], now: UnixMillis) -> Result<(), StoreError> {
        let mut tables = self.tables()?;
        if tables.mfa.credentials.get(&user).is_some_and(|c| c.confirmed) {
            return Ok(());
        }
        let pending = TotpCredential::pending(sealed_secret, now);
        tables.mfa.credentials.insert(user, pending);
        Ok(())
    }

    async fn confirm_totp(
        &self,
        actor: &Actor,
        user: UserId,
        step: i64,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let mfa = &mut tables.mfa;
        let Some(credential) = mfa.credentials.get_mut(&user).filter(|c| !c.confirmed) else { return Ok(false) };
        credential.confirmed = true;
        credential.last_step = step;
        mfa.recovery_codes.insert(user, recovery_code_hashes.iter().cloned().collect());
        let event = NewAuditEvent::new(AuditAction::UserMfaEnroll, "user", user, json!({"factor": "totp"}));
        tables.record(actor, at, event);
        Ok(true)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let mut tables = self.tables()?;
        match tables.mfa.credentials.get_mut(&user) {
            Some(credential) if credential.confirmed && credential.last_step < step => {
                credential.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_recovery_code(&self, user: UserId, code_hash: &str) -> Result<bool, StoreError> {
        Ok(self.tables()?.mfa.recovery_codes.get_mut(&user).is_some_and(|codes| codes.remove(code_hash)))
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let tables = self.tables()?;
        Ok(u32::try_from(tables.mfa.recovery_codes.get(&user).map_or(0, HashSet::len)).unwrap_or(u32::MAX))
    }

    async fn reset_mfa(&self, actor: &Actor, user: UserId) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let had_totp = tables.mfa.credentials.remove(&user).is_some();
        let had_codes = tables.mfa.recovery_codes.remove(&user).is_some_and(|codes| !codes.is_empty());
        let removed = had_totp || had_codes;
        if removed {
            tables.record(actor, at, NewAuditEvent::new(AuditAction::UserMfaReset, "user", user, json!({})));
        }
        Ok(removed)
    }

    async fn rename_totp(&self, actor: &Actor, user: UserId, name: &str) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        let Some(credential) = tables.mfa.credentials.get_mut(&user).filter(|c| c.confirmed) else { return Ok(false) };
        credential.name = Some(name.to_string());
        let summary = json!({"factor": "totp", "name": name});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AccountMfaRename, "user", user, summary));
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        actor: &Actor,
        user: UserId,
        recovery_code_hashes: &[String],
    ) -> Result<bool, StoreError> {
        let at = self.clock.now_millis();
        let mut tables = self.tables()?;
        if !tables.mfa.credentials.get(&user).is_some_and(|c| c.confirmed) {
            return Ok(false);
        }
        tables.mfa.recovery_codes.insert(user, recovery_code_hashes.iter().cloned().collect());
        let summary = json!({"count": recovery_code_hashes.len()});
        tables.record(actor, at, NewAuditEvent::new(AuditAction::AccountRecoveryCodes, "user", user, summary));
        Ok(true)
    }
}
