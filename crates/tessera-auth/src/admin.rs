//! The admin portal's sign-in: an administrator's password under the same gate, spray
//! throttling and lockout counting as users' (one counter per administrator, since
//! administrators have no familiar locations yet), and admin sessions with their own idle and
//! absolute timeouts. Every outcome is audited; unknown names only as a keyed pseudonym.

use serde_json::json;
use tessera_core::{Actor, AuditAction, Clock, NewAuditEvent};
use tessera_keys::Secrets;
use tessera_store::{AdminSession, AdminSignInStore, AdminStore, AuditLog, LockoutStore, ParkingStore, StoreError};

use crate::AuthError;
use crate::authenticate::{dummy_hash, verify};
use crate::client::ClientAddresses;
use crate::gate::PasswordGate;
use crate::lockout::LockoutPolicy;
use crate::secret::{new_session_id, sha256_hex};
use crate::session::SessionPolicy;

/// The store roles the admin sign-in reads and writes.
pub trait AdminCheckStore: AdminStore + AdminSignInStore + LockoutStore + ParkingStore + AuditLog {}
impl<T: AdminStore + AdminSignInStore + LockoutStore + ParkingStore + AuditLog + ?Sized> AdminCheckStore for T {}

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
    pub secrets: &'a Secrets,
    pub gate: &'a PasswordGate,
    pub sessions: &'a SessionPolicy,
    /// Every administrator must show a second factor (`serve --admin-mfa required`): one
    /// without an authenticator app enrols one before anything else.
    pub mfa_required: bool,
    /// Passkeys can be shown here (the server is a WebAuthn relying party): only then does an
    /// administrator's passkey count as a second factor to ask for.
    pub passkeys_usable: bool,
}

/// A second-factor step of the admin sign-in.
#[derive(Debug)]
pub enum AdminCodeOutcome {
    /// The session is complete, under this new id.
    Accepted(String),
    /// A wrong code, a code used before, or too many wrong codes: one answer.
    Refused,
}

/// What an administrator's TOTP secret is sealed under: bound to them.
fn seal_context(admin_id: &str) -> String {
    format!("tessera-admin-totp-secret:v1:{admin_id}")
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
        if let Some(old) = replacing {
            self.store.delete_admin_session(&sha256_hex(old)).await?;
        }
        let has_second_factor = self.has_second_factor_of(&admin.id).await?;
        let complete = !has_second_factor && !self.mfa_required;
        // Codes count on the same counter: it starts again only when the sign-in is complete,
        // or a right password would buy another round of code guesses.
        if complete {
            self.store.clear_admin_failures(&admin.id).await?;
        }
        let id = new_session_id()?;
        self.store.create_admin_session(&sha256_hex(&id), &admin.id, complete, now).await?;
        let event = NewAuditEvent::new(
            AuditAction::AdminSignin,
            "admin",
            &admin.id,
            json!({"ip": ip, "username": admin.username, "must_change_password": admin.must_change_password,
                   "mfa_next": !complete}),
        );
        self.store.append_audit(&Actor::admin(&admin.id), event).await?;
        let session = AdminSession { admin, created_at: now, last_seen_at: now, complete };
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

    /// Whether the administrator has a second factor to show: a confirmed authenticator app,
    /// or a passkey where passkeys can be shown.
    pub async fn has_second_factor(&self, session: &AdminSession) -> Result<bool, AuthError> {
        self.has_second_factor_of(&session.admin.id).await
    }

    async fn has_second_factor_of(&self, admin_id: &str) -> Result<bool, AuthError> {
        Ok(self.has_authenticator_app(admin_id).await?
            || (self.passkeys_usable && !self.store.admin_passkeys(admin_id).await?.is_empty()))
    }

    /// A session that has not shown the second factor its administrator has.
    async fn owes_second_factor(&self, session: &AdminSession) -> Result<bool, AuthError> {
        Ok(!session.complete && self.has_second_factor(session).await?)
    }

    /// Whether the administrator has a confirmed authenticator app.
    pub async fn has_authenticator_app(&self, admin_id: &str) -> Result<bool, AuthError> {
        Ok(self.store.admin_totp(admin_id).await?.is_some_and(|t| t.confirmed))
    }

    /// A code from the administrator's authenticator app, counted like a password attempt
    /// before it is checked: right, the session is complete under a new id.
    pub async fn check_code(
        &self,
        id: &str,
        session: &AdminSession,
        from: &ClientAddresses,
        code: &str,
    ) -> Result<AdminCodeOutcome, AuthError> {
        let admin = &session.admin;
        let now = self.clock.now_millis();
        let lockout = self.lockout;
        let reserved = self
            .store
            .reserve_admin_attempt(&admin.id, lockout.unknown_threshold, lockout.observation_window_ms, now)
            .await?;
        let step = match self.store.admin_totp(&admin.id).await? {
            Some(totp) if totp.confirmed && reserved => {
                let secret = self.secrets.open_secret(&totp.sealed_secret, &seal_context(&admin.id))?;
                crate::totp::matching_step(&secret, code, now / 1000)
            }
            _ => None,
        };
        let accepted = match step {
            Some(step) => self.store.use_admin_totp_step(&admin.id, step).await?,
            None => false,
        };
        let reason = if reserved { "wrong_code" } else { "locked_out" };
        self.finish_step(id, session, from, accepted.then_some("totp"), reason).await
    }

    /// Starts (or restarts) enrolment of an authenticator app: a new secret, pending until a
    /// code from it is shown. `None` when one is enrolled already, or when the session has yet
    /// to show the second factor the administrator has (a passkey): enrolling an app is no way
    /// around it.
    pub async fn start_enrolment(&self, session: &AdminSession) -> Result<Option<Vec<u8>>, AuthError> {
        if self.has_authenticator_app(&session.admin.id).await? || self.owes_second_factor(session).await? {
            return Ok(None);
        }
        let secret = crate::totp::new_secret()?;
        let sealed = self.secrets.seal_secret(&secret, &seal_context(&session.admin.id))?;
        self.store.put_pending_admin_totp(&session.admin.id, &sealed, self.clock.now_millis()).await?;
        Ok(Some(secret))
    }

    /// The pending secret, to show again after a wrong code.
    pub async fn pending_secret(&self, session: &AdminSession) -> Result<Option<Vec<u8>>, AuthError> {
        match self.store.admin_totp(&session.admin.id).await? {
            Some(totp) if !totp.confirmed => {
                Ok(Some(self.secrets.open_secret(&totp.sealed_secret, &seal_context(&session.admin.id))?))
            }
            _ => Ok(None),
        }
    }

    /// Finishes enrolment when `code` comes from the pending secret; the session is then
    /// complete under a new id.
    pub async fn confirm_enrolment(
        &self,
        id: &str,
        session: &AdminSession,
        from: &ClientAddresses,
        code: &str,
    ) -> Result<AdminCodeOutcome, AuthError> {
        let admin = &session.admin;
        let now = self.clock.now_millis();
        if self.owes_second_factor(session).await? {
            return self.finish_step(id, session, from, None, "second_factor_owed").await;
        }
        let step = match self.pending_secret(session).await? {
            Some(secret) => crate::totp::matching_step(&secret, code, now / 1000),
            None => None,
        };
        let accepted = match step {
            Some(step) => self.store.confirm_admin_totp(&Actor::admin(&admin.id), &admin.id, step).await?,
            None => false,
        };
        self.finish_step(id, session, from, accepted.then_some("totp"), "wrong_enrolment_code").await
    }

    /// A second-factor step's end: the factor `accepted` (by name), or a refusal for `reason`.
    pub(crate) async fn finish_step(
        &self,
        id: &str,
        session: &AdminSession,
        from: &ClientAddresses,
        accepted: Option<&str>,
        reason: &str,
    ) -> Result<AdminCodeOutcome, AuthError> {
        let admin = &session.admin;
        let actor = Actor::admin(&admin.id);
        let ip = from.client.to_string();
        let Some(factor) = accepted else {
            let event = NewAuditEvent::new(
                AuditAction::AdminMfaFailure,
                "admin",
                &admin.id,
                json!({"ip": ip, "reason": reason}),
            );
            self.store.append_audit(&actor, event).await?;
            return Ok(AdminCodeOutcome::Refused);
        };
        self.store.clear_admin_failures(&admin.id).await?;
        let new_id = new_session_id()?;
        if !self.store.complete_admin_session(&sha256_hex(id), &sha256_hex(&new_id)).await? {
            return Ok(AdminCodeOutcome::Refused);
        }
        let event = NewAuditEvent::new(AuditAction::AdminMfa, "admin", &admin.id, json!({"ip": ip, "factor": factor}));
        self.store.append_audit(&actor, event).await?;
        Ok(AdminCodeOutcome::Accepted(new_id))
    }

    /// A new session for the administrator of `session`, as complete as it was: a password
    /// change ends all their sessions, and the one that made the change goes on under a new id.
    pub async fn renew(&self, session: &AdminSession) -> Result<String, AuthError> {
        let id = new_session_id()?;
        let now = self.clock.now_millis();
        self.store.create_admin_session(&sha256_hex(&id), &session.admin.id, session.complete, now).await?;
        Ok(id)
    }

    pub async fn sign_out(&self, id: &str, session: &AdminSession) -> Result<(), AuthError> {
        self.store.delete_admin_session(&sha256_hex(id)).await?;
        let event = NewAuditEvent::new(AuditAction::AdminSignout, "admin", &session.admin.id, json!({}));
        self.store.append_audit(&Actor::admin(&session.admin.id), event).await?;
        Ok(())
    }
}
