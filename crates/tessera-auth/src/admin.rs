//! The admin portal's sign-in: an administrator's password under the same gate, spray
//! throttling and lockout counting as users' (one counter per administrator, since
//! administrators have no familiar locations yet), and admin sessions with their own idle and
//! absolute timeouts. Every outcome is audited; unknown names only as a keyed pseudonym.

use serde_json::json;
use tessera_core::{Actor, AuditAction, Clock, NewAuditEvent};
use tessera_keys::KeyService;
use tessera_store::{AdminSession, AdminSignInStore, AdminStore, AuditLog, LockoutStore, StoreError};

use crate::AuthError;
use crate::authenticate::{dummy_hash, verify};
use crate::client::ClientAddresses;
use crate::gate::PasswordGate;
use crate::lockout::LockoutPolicy;
use crate::secret::{new_session_id, sha256_hex};
use crate::session::SessionPolicy;

/// The store roles the admin sign-in reads and writes.
pub trait AdminCheckStore: AdminStore + AdminSignInStore + LockoutStore + AuditLog {}
impl<T: AdminStore + AdminSignInStore + LockoutStore + AuditLog + ?Sized> AdminCheckStore for T {}

const ADMIN_NAME_PSEUDONYM: &str = "admin-name";

/// Activity is recorded at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Debug)]
pub enum AdminPasswordOutcome {
    /// The right password: a session for this administrator.
    Accepted(AdminSession, String),
    Throttled,
    /// Wrong password, unknown name or locked: one answer for all.
    Failed,
}

/// The admin sign-in over a store, for one request.
pub struct AdminSignIn<'a, S: ?Sized> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub lockout: &'a LockoutPolicy,
    pub secrets: &'a KeyService,
    pub gate: &'a PasswordGate,
    pub sessions: &'a SessionPolicy,
}

impl<S: AdminCheckStore + ?Sized> AdminSignIn<'_, S> {
    /// Checks an administrator's password from `from`; on success a new session (replacing
    /// `replacing`, so an id planted before sign-in is worth nothing) and its id.
    pub async fn check_password(
        &self,
        from: &ClientAddresses,
        username: &str,
        password: &str,
        replacing: Option<&str>,
    ) -> Result<AdminPasswordOutcome, AuthError> {
        if username.is_empty()
            || username.len() > 254
            || username.chars().any(char::is_control)
            || password.is_empty()
            || password.len() > 1024
        {
            return Ok(AdminPasswordOutcome::Failed);
        }
        let Some(dummy) = dummy_hash() else {
            return Err(AuthError::Hashing("the timing dummy hash could not be made".into()));
        };
        let turn = self.gate.turn().await?;
        let ip = from.client.to_string();
        let ip_key = from.throttle_key();
        let name_key = self.secrets.pseudonym(ADMIN_NAME_PSEUDONYM, &username.to_ascii_lowercase());
        let now = self.clock.now_millis();
        let lockout = self.lockout;

        let names = self.store.failed_names_from_ip(&ip_key, now - lockout.spray_window_ms).await?;
        if names >= lockout.spray_names {
            let event = NewAuditEvent::new(
                AuditAction::SigninThrottled,
                "admin",
                format!("name:{name_key}"),
                json!({"ip": ip, "reason": "password_spray", "names": names, "via": "admin", "username_pseudonym": name_key}),
            );
            self.store.append_audit(&Actor::client(from.client), event).await?;
            return Ok(AdminPasswordOutcome::Throttled);
        }

        let admin = match self.store.find_admin(username).await {
            Ok(admin) => Some(admin),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let outcome = match &admin {
            None => {
                verify(turn, password, dummy).await;
                Err("unknown_admin")
            }
            Some(admin) => {
                let reserved = self
                    .store
                    .reserve_admin_attempt(&admin.id, lockout.unknown_threshold, lockout.observation_window_ms, now)
                    .await?;
                if !reserved {
                    verify(turn, password, dummy).await;
                    Err("locked_out")
                } else if verify(turn, password, &admin.password_hash).await {
                    Ok(())
                } else {
                    Err("wrong_password")
                }
            }
        };
        let admin = match (outcome, admin) {
            (Ok(()), Some(admin)) => admin,
            (Err(reason), admin) => {
                self.store.record_failed_attempt(&ip_key, &name_key, now).await?;
                let (target, mut summary) = match &admin {
                    Some(admin) => (admin.id.clone(), json!({"username": admin.username})),
                    None => (format!("name:{name_key}"), json!({"username_pseudonym": name_key})),
                };
                summary["ip"] = ip.into();
                summary["reason"] = reason.into();
                let event = NewAuditEvent::new(AuditAction::AdminSigninFailure, "admin", target, summary);
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(AdminPasswordOutcome::Failed);
            }
            (Ok(()), None) => {
                return Err(StoreError::Config("sign-in succeeded without an administrator".into()).into());
            }
        };
        self.store.clear_admin_failures(&admin.id).await?;
        if let Some(old) = replacing {
            self.store.delete_admin_session(&sha256_hex(old)).await?;
        }
        let id = new_session_id()?;
        self.store.create_admin_session(&sha256_hex(&id), &admin.id, now).await?;
        let event = NewAuditEvent::new(
            AuditAction::AdminSignin,
            "admin",
            &admin.id,
            json!({"ip": ip, "username": admin.username, "must_change_password": admin.must_change_password}),
        );
        self.store.append_audit(&Actor::admin(&admin.id), event).await?;
        let session = AdminSession { admin, created_at: now, last_seen_at: now };
        Ok(AdminPasswordOutcome::Accepted(session, id))
    }

    /// The live session `id` names: within both timeouts, its administrator still there. A dead
    /// session is removed.
    pub async fn current(&self, id: &str) -> Result<Option<AdminSession>, AuthError> {
        let hash = sha256_hex(id);
        let Some(session) = self.store.admin_session(&hash).await? else { return Ok(None) };
        let now = self.clock.now_millis();
        if now - session.created_at >= self.sessions.absolute_timeout_ms
            || now - session.last_seen_at >= self.sessions.idle_timeout_ms
            || now < session.created_at
        {
            self.store.delete_admin_session(&hash).await?;
            return Ok(None);
        }
        if now - session.last_seen_at > TOUCH_EVERY_MS {
            self.store.touch_admin_session(&hash, now).await?;
        }
        Ok(Some(session))
    }

    pub async fn sign_out(&self, id: &str, session: &AdminSession) -> Result<(), AuthError> {
        self.store.delete_admin_session(&sha256_hex(id)).await?;
        let event = NewAuditEvent::new(AuditAction::AdminSignout, "admin", &session.admin.id, json!({}));
        self.store.append_audit(&Actor::admin(&session.admin.id), event).await?;
        Ok(())
    }
}
