//! The checks every sign-in channel shares (the login form, WS-Trust): a password under spray
//! throttling and smart lockout per location, with the same time and the same answer for every
//! kind of failure and the failure recorded before the answer goes out; then a second factor
//! (a TOTP code, each time step once, or a recovery code, each once) under its own counter.

use std::sync::OnceLock;

use serde_json::json;
use tessera_core::policy::Factor;
use tessera_core::{Actor, AuditAction, Clock, NewAuditEvent, User, UserId, UserState};
use tessera_keys::Secrets;
use tessera_store::{
    AuditLog, Location, LockoutStore, MfaStore, ParkingStore, PasskeyStore, ReplayStore, StoreError, UserStore,
};

use crate::client::ClientAddresses;
use crate::directory::DirectoryVerdict;
use crate::gate::{PasswordGate, PasswordTurn};
use crate::lockout::{LockoutPolicy, is_familiar};
use crate::password::verify_password;
use crate::secret::{recovery_code_hash, sha256_hex};
use crate::{AuthError, totp};

/// The store roles a sign-in check reads and writes (passkey ceremonies wait among parked
/// requests; Kerberos tokens are kept against replays among protocol message IDs).
pub trait CheckStore:
    UserStore + LockoutStore + MfaStore + PasskeyStore + ParkingStore + ReplayStore + AuditLog
{
}
impl<T: UserStore + LockoutStore + MfaStore + PasskeyStore + ParkingStore + ReplayStore + AuditLog + ?Sized> CheckStore
    for T
{
}

/// A password that was right, for an active user.
#[derive(Debug)]
pub struct PasswordAccepted {
    pub user: User,
    /// The user has a second factor, which a complete sign-in needs.
    pub has_second_factor: bool,
}

#[derive(Debug)]
pub enum PasswordOutcome {
    Accepted(Box<PasswordAccepted>),
    /// Too many different names failed from this network (password spraying).
    Throttled,
    /// Wrong password, unknown name, locked out or suspended: one answer for all.
    Failed,
    /// The right password of a directory user, whose directory wants it changed first (expired,
    /// or to be changed at next logon). Said as such: only the right password gets this answer
    /// (AD's data codes 532 and 773 come only after the password checks), and the user can only
    /// change it at the directory (the sign-in page offers that change: `change_at_source`).
    ChangeAtSource(UserId),
}

/// A second factor at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOutcome {
    Accepted(Factor),
    /// A wrong code, or too many wrong codes: one answer for both.
    Refused,
}

/// The sign-in checks over a store, for one request.
pub struct Authenticator<'a, S: ?Sized> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub lockout: &'a LockoutPolicy,
    /// Opens second-factor secrets; keys the pseudonyms of names that are no one's.
    pub secrets: &'a Secrets,
    /// Bounds the argon2id verifications running at once.
    pub gate: &'a PasswordGate,
    /// The sign-on these checks are part of: its events carry this trace id.
    pub trace: Option<String>,
    /// Checks the passwords of users a directory source brought (pass-through sign-in).
    pub directory: Option<&'a dyn crate::directory::DirectoryPasswords>,
    /// Passkeys can be shown here (the server is a WebAuthn relying party): only then does a
    /// user's passkey count as a second factor to ask for.
    pub passkeys_usable: bool,
}

/// What the failure records call a typed name: a keyed pseudonym, never the name itself (a
/// password typed into the name field must not stay readable in the append-only trail).
pub const NAME_PSEUDONYM: &str = "signin-name";

/// A real argon2id hash with the same parameters, verified for unknown users so that they
/// take as long as known ones. `None` only if hashing itself fails, which callers refuse.
pub(crate) fn dummy_hash() -> Option<&'static str> {
    static HASH: OnceLock<Option<String>> = OnceLock::new();
    HASH.get_or_init(|| crate::password::hash_password("tessera-dummy-password-for-timing").ok()).as_deref()
}

/// argon2id off the async workers: a verification takes tens of milliseconds of CPU. The
/// blocking thread holds the turn until the hash is done, even if the request is dropped.
pub(crate) async fn verify(turn: PasswordTurn, password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    let verifying = turn.verifying().await;
    tokio::task::spawn_blocking(move || {
        let right = verify_password(&password, &hash).unwrap_or(false);
        drop(verifying);
        right
    })
    .await
    .unwrap_or(false)
}

/// What the audit trail calls a factor.
pub(crate) fn factor_name(factor: Factor) -> &'static str {
    match factor {
        Factor::Password => "password",
        Factor::Totp => "totp",
        Factor::RecoveryCode => "recovery_code",
        Factor::Passkey => "passkey",
        Factor::Kerberos => "kerberos",
    }
}

/// The context a TOTP secret is sealed under: bound to its user.
pub(crate) fn totp_seal_context(user: UserId) -> String {
    format!("tessera-totp-secret:v1:{user}")
}

impl<S: CheckStore + ?Sized> Authenticator<'_, S> {
    /// An event's summary with the sign-on's trace id, when these checks are part of one.
    pub(crate) fn traced(&self, mut summary: serde_json::Value) -> serde_json::Value {
        if let (Some(trace), Some(map)) = (&self.trace, summary.as_object_mut()) {
            map.insert("trace".into(), json!(trace));
        }
        summary
    }

    /// Checks `username`'s password from `from`; `via` names the channel in the audit trail.
    /// Waits for a turn at the gate first: refused as busy, it has read and written nothing.
    pub async fn check_password(
        &self,
        from: &ClientAddresses,
        username: &str,
        password: &str,
        via: &'static str,
    ) -> Result<PasswordOutcome, AuthError> {
        let turn = self.gate.turn().await?;
        self.check_password_in_turn(turn, from, username, password, via).await
    }

    /// [`Authenticator::check_password`] with a turn the caller took before it wrote
    /// anything of its own (WS-Trust's replay record).
    pub async fn check_password_in_turn(
        &self,
        turn: PasswordTurn,
        from: &ClientAddresses,
        username: &str,
        password: &str,
        via: &'static str,
    ) -> Result<PasswordOutcome, AuthError> {
        let Some(dummy) = dummy_hash() else {
            return Err(AuthError::Hashing("the timing dummy hash could not be made".into()));
        };
        let ip = from.client.to_string();
        let ip_key = from.throttle_key();
        let user_key = self.secrets.pseudonym(NAME_PSEUDONYM, &username.to_ascii_lowercase());
        let now = self.clock.now_millis();
        let audit = |action: AuditAction, target: String, summary: serde_json::Value| {
            NewAuditEvent::new(action, "user", target, self.traced(summary))
        };
        let lockout = self.lockout;

        // A name with control characters is no one's; it is not written anywhere either (a NUL
        // cannot be stored in PostgreSQL's text).
        if username.is_empty()
            || username.len() > 254
            || username.chars().any(char::is_control)
            || password.is_empty()
            || password.len() > 1024
        {
            return Ok(PasswordOutcome::Failed);
        }
        // Password spraying: too many different names failing from one address (IPv6: one /64).
        let names = self.store.failed_names_from_ip(&ip_key, now - lockout.spray_window_ms).await?;
        if names >= lockout.spray_names {
            let event = audit(
                AuditAction::SigninThrottled,
                format!("name:{user_key}"),
                json!({"ip": ip, "reason": "password_spray", "names": names, "via": via, "username_pseudonym": user_key}),
            );
            self.store.append_audit(&Actor::client(from.client), event).await?;
            return Ok(PasswordOutcome::Throttled);
        }

        let user = match self.store.find_user(username).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };

        // Where the attempt was counted, for giving it back.
        let mut attempt_location = Location::Unknown;
        let outcome: Result<(), &'static str> = match &user {
            None => {
                verify(turn, password, dummy).await;
                Err("unknown_user")
            }
            Some(user) => {
                let familiar = is_familiar(&from.presented, &self.store.familiar_ips(user.id).await?);
                let (location, threshold) = if familiar {
                    (Location::Familiar, lockout.familiar_threshold)
                } else {
                    (Location::Unknown, lockout.unknown_threshold)
                };
                attempt_location = location;
                // The attempt is counted before the password is checked, atomically, so
                // parallel guesses cannot all slip under the threshold; a right password
                // resets the count.
                let reserved = self
                    .store
                    .reserve_attempt(user.id, location, threshold, lockout.observation_window_ms, now)
                    .await?;
                if !reserved {
                    // Locked for this location: the password is not checked at all (as AD FS),
                    // but the time it would take is spent, so the answer looks the same.
                    verify(turn, password, dummy).await;
                    Err("locked_out")
                } else {
                    // A user without a password of Tessera's may be one whose directory decides.
                    // The argon2id turn is not held while the directory answers (it may take
                    // seconds): a turn is taken again only for the timing dummy.
                    let (by_directory, turn) = match (&user.password_hash, self.directory) {
                        (None, Some(directory)) => {
                            drop(turn);
                            (directory.check(user, password).await, None)
                        }
                        _ => (None, Some(turn)),
                    };
                    match by_directory {
                        Some(verdict) => match (verdict, user.state) {
                            (DirectoryVerdict::Right, UserState::Active) => Ok(()),
                            (
                                DirectoryVerdict::Right | DirectoryVerdict::Expired | DirectoryVerdict::MustChange,
                                UserState::Suspended,
                            ) => Err("suspended"),
                            (refused, _) => Err(refused.refusal()),
                        },
                        None => {
                            // The attempt is counted already: a busy refusal now would leave it.
                            let turn = match turn {
                                Some(turn) => turn,
                                None => self.gate.turn_already_counted().await,
                            };
                            let hash = user.password_hash.as_deref().unwrap_or(dummy);
                            let right = verify(turn, password, hash).await && user.password_hash.is_some();
                            match (right, user.state) {
                                (true, UserState::Active) => Ok(()),
                                (true, UserState::Suspended) => Err("suspended"),
                                (false, _) => Err("wrong_password"),
                            }
                        }
                    }
                }
            }
        };

        // A name that is no one's is kept only as its pseudonym.
        let (target, name_field, name) = match &user {
            Some(user) => (user.id.to_string(), "username", username.to_string()),
            None => (format!("name:{user_key}"), "username_pseudonym", user_key.clone()),
        };
        let user = match (outcome, user) {
            (Ok(()), Some(user)) => user,
            (Err(reason), refused) => {
                let change_at_source = [DirectoryVerdict::Expired, DirectoryVerdict::MustChange]
                    .iter()
                    .any(|verdict| verdict.refusal() == reason);
                // Fail closed: the failure is recorded before the answer goes out, the same way
                // whatever the reason, so that no reason is told apart by what it writes; but a
                // directory that did not answer is no guess, and counts against no address.
                if reason != DirectoryVerdict::Unavailable.refusal() {
                    self.store.record_failed_attempt(&ip_key, &user_key, now).await?;
                }
                // Nor against the user: an outage must not lock everyone out, and a right
                // password the directory wants changed is no guess (the change form checks it
                // again each time it is posted).
                if (reason == DirectoryVerdict::Unavailable.refusal() || change_at_source)
                    && let Some(user) = &refused
                {
                    self.store.release_attempt(user.id, attempt_location).await?;
                }
                let mut summary = json!({"ip": ip, "reason": reason, "via": via});
                summary[name_field] = name.into();
                let event = audit(AuditAction::SigninFailure, target, summary);
                self.store.append_audit(&Actor::client(from.client), event).await?;
                return Ok(match refused {
                    Some(user) if change_at_source => PasswordOutcome::ChangeAtSource(user.id),
                    _ => PasswordOutcome::Failed,
                });
            }
            (Ok(()), None) => return Err(StoreError::Config("sign-in succeeded without a user".into()).into()),
        };

        self.store.record_password_success(user.id).await?;
        let has_second_factor = self.has_second_factor(user.id).await?;
        let event = audit(
            AuditAction::SigninPassword,
            user.id.to_string(),
            json!({"ip": ip, "mfa_next": has_second_factor, "via": via}),
        );
        self.store.append_audit(&Actor::user(user.id), event).await?;
        // An address becomes familiar only once a sign-in is complete: a password alone (with
        // a second factor still to come) does not make the attacker's address familiar.
        if !has_second_factor {
            self.learn_addresses(user.id, from, now).await?;
        }
        Ok(PasswordOutcome::Accepted(Box::new(PasswordAccepted { user, has_second_factor })))
    }

    /// Checks a second-factor code for `user`, who showed the right password: counted before
    /// it is checked, atomically (as passwords are); a right code resets the count and makes
    /// the address familiar.
    pub async fn check_second_factor(
        &self,
        user: UserId,
        from: &ClientAddresses,
        code: &str,
    ) -> Result<CodeOutcome, AuthError> {
        let ip = from.client.to_string();
        let now = self.clock.now_millis();
        let lockout = self.lockout;
        let reserved = self
            .store
            .reserve_attempt(
                user,
                Location::SecondFactor,
                lockout.unknown_threshold,
                lockout.observation_window_ms,
                now,
            )
            .await?;
        let factor = if reserved { self.code_is_right(user, code, now).await? } else { None };
        let actor = Actor::user(user);
        let Some(factor) = factor else {
            let key = sha256_hex(&format!("mfa:{user}"));
            self.store.record_failed_attempt(&from.throttle_key(), &key, now).await?;
            let reason = if reserved { "wrong_code" } else { "locked_out" };
            let summary = self.traced(json!({"ip": ip, "reason": reason}));
            let event = NewAuditEvent::new(AuditAction::SigninMfaFailure, "user", user, summary);
            self.store.append_audit(&actor, event).await?;
            return Ok(CodeOutcome::Refused);
        };
        self.store.clear_second_factor_failures(user).await?;
        self.learn_addresses(user, from, now).await?;
        let summary = self.traced(json!({"ip": ip, "factor": factor_name(factor)}));
        let event = NewAuditEvent::new(AuditAction::SigninMfa, "user", user, summary);
        self.store.append_audit(&actor, event).await?;
        Ok(CodeOutcome::Accepted(factor))
    }

    /// A TOTP code (once per time step) or a recovery code (once ever) of `user`.
    async fn code_is_right(&self, user: UserId, code: &str, now: i64) -> Result<Option<Factor>, AuthError> {
        let credential = match self.store.totp_credential(user).await? {
            Some(credential) if credential.confirmed => credential,
            _ => return Ok(None),
        };
        let secret = self.secrets.open_secret(&credential.sealed_secret, &totp_seal_context(user))?;
        if let Some(step) = totp::matching_step(&secret, code, now / 1000) {
            return Ok(self.store.use_totp_step(user, step).await?.then_some(Factor::Totp));
        }
        if code.trim().len() >= 10 {
            return Ok(self
                .store
                .use_recovery_code(user, &recovery_code_hash(code))
                .await?
                .then_some(Factor::RecoveryCode));
        }
        Ok(None)
    }

    /// A confirmed authenticator app, or a passkey where passkeys can be shown.
    pub(crate) async fn has_second_factor(&self, user: UserId) -> Result<bool, AuthError> {
        Ok(self.store.totp_credential(user).await?.is_some_and(|c| c.confirmed)
            || (self.passkeys_usable && !self.store.passkeys(user).await?.is_empty()))
    }

    pub(crate) async fn learn_addresses(
        &self,
        user: UserId,
        from: &ClientAddresses,
        now: i64,
    ) -> Result<(), AuthError> {
        for address in &from.presented {
            self.store.learn_familiar_ip(user, address, now).await?;
        }
        Ok(())
    }
}
