//! A user managing their own account: their password (when Tessera keeps it), their
//! authenticator app (a name, removal, new recovery codes) and their sessions. Every change
//! that weakens the account asks for the current password first, checked as a sign-in is
//! (smart lockout, spray throttling), so a browser left signed in is not enough to take it over.

use serde_json::json;
use tessera_core::{Actor, AuditAction, NewAuditEvent, User, UserId};
use tessera_store::{MfaStore, ParkedRequest, PasskeyCredential, Session, SessionStore, StoreError};

use crate::AuthError;
use crate::authenticate::{Authenticator, CheckStore, PasswordOutcome};
use crate::client::ClientAddresses;
use crate::directory::DirectoryChange;
use crate::passkey::{RelyingParty, StoredPasskey};
use crate::passkey_check::take_ceremony;
use crate::password::check_policy;
use crate::secret::{new_recovery_codes, recovery_code_hash};

/// The longest name an authenticator app may be given.
pub const MAX_FACTOR_NAME: usize = 64;

/// What became of a request that needs the current password.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmed<T> {
    Done(T),
    /// The current password was wrong (or the account is locked): one answer for both.
    WrongPassword,
    /// Too many failures from this network.
    Throttled,
}

/// What became of a password change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordChangeOutcome {
    Changed,
    /// The current password was wrong (or the account is locked).
    WrongPassword,
    Throttled,
    /// The user's directory refused the new password: its words (`None`: its rules, unnamed).
    RefusedByDirectory(Option<String>),
    /// The user's directory could not be reached; nothing changed.
    DirectoryUnavailable,
    /// Neither Tessera nor a directory source keeps a password of this user's.
    NotChangeable,
}

/// Why a new password was refused, before anything was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewPasswordRefusal {
    /// The two new passwords differ.
    Mismatch,
    /// The same as the current one.
    Unchanged,
    /// Too short or too long, or with control characters.
    Policy,
}

/// Self-service over a store, for one request.
pub struct Account<'a, S: ?Sized> {
    /// Checks the current password as a sign-in does.
    pub authenticator: Authenticator<'a, S>,
}

/// The store roles self-service reads and writes.
pub trait AccountStore: CheckStore + SessionStore {}
impl<T: CheckStore + SessionStore + ?Sized> AccountStore for T {}
/// What a parked passkey enrolment is called among parked requests.
const PASSKEY_ENROLMENT: &str = "passkey.enrol";

/// A passkey enrolment begun: the ceremony's id (its state waits on the server) and the
/// options the browser's `navigator.credentials.create` takes.
#[derive(Debug)]
pub struct PasskeyEnrolment {
    pub ceremony: String,
    pub options_json: String,
}

/// Why a passkey enrolment did not finish.
#[derive(Debug, PartialEq, Eq)]
pub enum PasskeyRefusal {
    /// The ceremony is unknown, another browser's, taken already or expired.
    Expired,
    /// The user has a passkey of that name.
    NameTaken,
    /// That authenticator's passkey is enrolled already.
    AlreadyEnrolled,
    /// The authenticator's answer was refused (why, in an administrator's words).
    Refused(String),
    /// The name is empty, too long, or holds control characters.
    BadName,
    /// The user has a passkey but did not sign in with one: another is added only by someone
    /// who shows one (a phished password and code must not plant a passkey that then passes
    /// for phishing-resistant).
    ShowAPasskeyFirst,
    /// The authenticator's model is not on the server's allow-list (the AAGUID it states).
    ModelNotAllowed(String),
}

/// A name a user gives a second factor: trimmed, 1 to [`MAX_FACTOR_NAME`] characters, no control
/// characters.
pub(crate) fn factor_name(name: &str) -> Option<&str> {
    let name = name.trim();
    (!name.is_empty() && name.chars().count() <= MAX_FACTOR_NAME && !name.chars().any(char::is_control)).then_some(name)
}

/// Whether Tessera keeps `user`'s password (a directory user's is their directory's, which the
/// directory changes).
pub fn manages_password(user: &User) -> bool {
    user.password_hash.is_some()
}

/// The new password's own checks, before the current one is verified.
pub fn check_new_password(current: &str, new: &str, again: &str) -> Result<(), NewPasswordRefusal> {
    if new != again {
        return Err(NewPasswordRefusal::Mismatch);
    }
    if new == current {
        return Err(NewPasswordRefusal::Unchanged);
    }
    check_policy(new).map_err(|_| NewPasswordRefusal::Policy)
}

impl<S: AccountStore + ?Sized> Account<'_, S> {
    /// Checks `password` as `user`'s current one, from `from`.
    async fn confirm(&self, user: &User, from: &ClientAddresses, password: &str) -> Result<Confirmed<()>, AuthError> {
        match self.authenticator.check_password(from, &user.email, password, "account").await? {
            PasswordOutcome::Accepted(accepted) if accepted.user.id == user.id => Ok(Confirmed::Done(())),
            PasswordOutcome::Throttled => Ok(Confirmed::Throttled),
            _ => Ok(Confirmed::WrongPassword),
        }
    }

    /// Changes the user's password, once the current one is shown: Tessera's own, or, for a
    /// user whose directory keeps it, at the directory (as its policy allows). Every session of
    /// the user ends (the caller gives this browser a new one). `new` passed
    /// [`check_new_password`].
    pub async fn change_password(
        &self,
        user: &User,
        from: &ClientAddresses,
        current: &str,
        new: &str,
    ) -> Result<PasswordChangeOutcome, AuthError> {
        let directory = match (manages_password(user), self.authenticator.directory) {
            (true, _) => None,
            // Asked before the password is checked: no lockout count for a change that cannot be.
            (false, Some(directory)) if directory.keeper(user).await.is_some() => Some(directory),
            (false, _) => return Ok(PasswordChangeOutcome::NotChangeable),
        };
        // A directory password that must be changed (expired, or to change at next logon) is
        // the right one, and here is where it is changed.
        match self.authenticator.check_password(from, &user.email, current, "account").await? {
            PasswordOutcome::Accepted(accepted) if accepted.user.id == user.id => {}
            PasswordOutcome::ChangeAtSource(changing) if changing == user.id && directory.is_some() => {}
            PasswordOutcome::Throttled => return Ok(PasswordChangeOutcome::Throttled),
            _ => return Ok(PasswordChangeOutcome::WrongPassword),
        }
        let store = self.authenticator.store;
        let actor = Actor::user(user.id);
        match directory {
            None => {
                // A hash costs what a verification costs: one a core at once, like them.
                let on_core = self.authenticator.gate.turn().await?.verifying().await;
                let new = new.to_string();
                let hash = tokio::task::spawn_blocking(move || {
                    let hash = crate::password::hash_password(&new);
                    drop(on_core);
                    hash
                })
                .await
                .map_err(|e| AuthError::Hashing(e.to_string()))??;
                store.set_password(&actor, user.id, &hash).await?;
            }
            Some(directory) => match directory.change(user, current, new).await {
                Some(DirectoryChange::Changed) => {
                    let event = NewAuditEvent::new(
                        AuditAction::UserSetPassword,
                        "user",
                        user.id,
                        json!({"at": "directory", "source": directory.keeper(user).await}),
                    );
                    store.append_audit(&actor, event).await?;
                }
                Some(DirectoryChange::WrongPassword) => return Ok(PasswordChangeOutcome::WrongPassword),
                Some(DirectoryChange::Refused(reason)) => return Ok(PasswordChangeOutcome::RefusedByDirectory(reason)),
                Some(DirectoryChange::Unavailable) => return Ok(PasswordChangeOutcome::DirectoryUnavailable),
                None => return Ok(PasswordChangeOutcome::NotChangeable),
            },
        }
        store.end_user_sessions(&actor, user.id).await?;
        Ok(PasswordChangeOutcome::Changed)
    }

    /// Names the user's authenticator app: 1 to [`MAX_FACTOR_NAME`] characters, no control
    /// characters. `None` when the name is refused or there is no app.
    pub async fn rename_authenticator(&self, user: UserId, name: &str) -> Result<Option<String>, AuthError> {
        let Some(name) = factor_name(name) else { return Ok(None) };
        let renamed = self.authenticator.store.rename_totp(&Actor::user(user), user, name).await?;
        Ok(renamed.then(|| name.to_string()))
    }

    /// Removes the user's authenticator app and recovery codes, once the password is shown.
    pub async fn remove_authenticator(
        &self,
        user: &User,
        from: &ClientAddresses,
        password: &str,
    ) -> Result<Confirmed<bool>, AuthError> {
        Ok(match self.confirm(user, from, password).await? {
            Confirmed::Done(()) => {
                Confirmed::Done(self.authenticator.store.reset_mfa(&Actor::user(user.id), user.id).await?)
            }
            Confirmed::WrongPassword => Confirmed::WrongPassword,
            Confirmed::Throttled => Confirmed::Throttled,
        })
    }

    /// New recovery codes (the old stop working), once the password is shown: shown once.
    /// `Done(None)` when the user has no authenticator app.
    pub async fn renew_recovery_codes(
        &self,
        user: &User,
        from: &ClientAddresses,
        password: &str,
    ) -> Result<Confirmed<Option<Vec<String>>>, AuthError> {
        match self.confirm(user, from, password).await? {
            Confirmed::Done(()) => {}
            Confirmed::WrongPassword => return Ok(Confirmed::WrongPassword),
            Confirmed::Throttled => return Ok(Confirmed::Throttled),
        }
        let codes = new_recovery_codes()?;
        let hashes: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
        let store = self.authenticator.store;
        let replaced = store.replace_recovery_codes(&Actor::user(user.id), user.id, &hashes).await?;
        Ok(Confirmed::Done(replaced.then_some(codes)))
    }

    /// Starts enrolling a passkey named `name` from `session`, once the password is shown (a
    /// browser left signed in must not plant a credential that outlives its session). Refused
    /// before the password is counted: a bad name, and a user who has a passkey but did not
    /// show one in this session. The ceremony's state is parked for
    /// [`crate::passkey::CEREMONY_MS`], bound to the session (its hash): only that session
    /// finishes it, once.
    pub async fn begin_passkey_enrolment(
        &self,
        rp: &RelyingParty,
        user: &User,
        from: &ClientAddresses,
        password: &str,
        name: &str,
        session: &Session,
    ) -> Result<Confirmed<Result<PasskeyEnrolment, PasskeyRefusal>>, AuthError> {
        let (binding, shown) = (&session.id_hash, &session.authn);
        let Some(name) = factor_name(name) else { return Ok(Confirmed::Done(Err(PasskeyRefusal::BadName))) };
        let store = self.authenticator.store;
        let existing = store.passkeys(user.id).await?;
        if !existing.is_empty() && !shown.phishing_resistant_done() {
            return Ok(Confirmed::Done(Err(PasskeyRefusal::ShowAPasskeyFirst)));
        }
        match self.confirm(user, from, password).await? {
            Confirmed::Done(()) => {}
            Confirmed::WrongPassword => return Ok(Confirmed::WrongPassword),
            Confirmed::Throttled => return Ok(Confirmed::Throttled),
        }
        let handle: [u8; 16] = match existing.first().and_then(|p| <[u8; 16]>::try_from(p.user_handle.as_slice()).ok())
        {
            Some(handle) => handle,
            None => crate::secret::random_bytes::<16>()?,
        };
        let stored: Vec<StoredPasskey> = existing
            .iter()
            .map(|p| StoredPasskey { credential_id: p.credential_id.clone(), passkey_json: p.passkey_json.clone() })
            .collect();
        let display = format!("{} {}", user.first_name, user.last_name).trim().to_string();
        let display = if display.is_empty() { user.email.clone() } else { display };
        let challenge = rp.begin_enrolment(handle, &user.email, &display, &stored)?;
        let ceremony = crate::secret::new_session_id()?;
        let now = self.authenticator.clock.now_millis();
        let parked = ParkedRequest {
            id: ceremony.clone(),
            browser_hash: binding.to_string(),
            kind: PASSKEY_ENROLMENT.to_string(),
            payload: json!({"user": user.id.to_string(), "name": name, "handle": handle.to_vec(), "state": challenge.state_json}),
            created_at: now,
            expires_at: now + crate::passkey::CEREMONY_MS,
        };
        store.park_request(&parked).await?;
        Ok(Confirmed::Done(Ok(PasskeyEnrolment { ceremony, options_json: challenge.options_json })))
    }

    /// Finishes the enrolment `ceremony` with the browser's answer: the passkey's name once it
    /// is stored (audited `user.mfa_enroll`). The ceremony is taken whatever the answer.
    pub async fn finish_passkey_enrolment(
        &self,
        rp: &RelyingParty,
        user: &User,
        ceremony: &str,
        binding: &str,
        answer_json: &str,
    ) -> Result<Result<String, PasskeyRefusal>, AuthError> {
        let store = self.authenticator.store;
        let now = self.authenticator.clock.now_millis();
        let owner = user.id.to_string();
        let Some(payload) =
            take_ceremony(store, now, PASSKEY_ENROLMENT, ceremony, binding, Some(("user", &owner))).await?
        else {
            return Ok(Err(PasskeyRefusal::Expired));
        };
        let text = |key: &str| payload.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let handle: Vec<u8> = serde_json::from_value(payload["handle"].clone()).unwrap_or_default();
        let name = text("name");
        if handle.len() != 16 || name.is_empty() {
            return Ok(Err(PasskeyRefusal::Refused("the enrolment's state is not readable".into())));
        }
        let passkey = match enrolled(rp, answer_json, &text("state"))? {
            Ok(passkey) => passkey,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let credential = PasskeyCredential {
            user_id: user.id,
            name: name.clone(),
            credential_id: passkey.credential_id,
            user_handle: handle,
            passkey_json: passkey.passkey_json,
            sign_count: 0,
            created_at: now,
            last_used_at: None,
        };
        stored_as(store.add_passkey(&Actor::user(user.id), &credential).await, name)
    }

    /// Removes the user's passkey named `name`, once the password is shown; `Done(false)`
    /// when they have none of that name.
    pub async fn remove_passkey(
        &self,
        user: &User,
        from: &ClientAddresses,
        password: &str,
        name: &str,
    ) -> Result<Confirmed<bool>, AuthError> {
        Ok(match self.confirm(user, from, password).await? {
            Confirmed::Done(()) => {
                Confirmed::Done(self.authenticator.store.remove_passkey(&Actor::user(user.id), user.id, name).await?)
            }
            Confirmed::WrongPassword => Confirmed::WrongPassword,
            Confirmed::Throttled => Confirmed::Throttled,
        })
    }

    /// Ends every session of the user, this browser's included.
    pub async fn sign_out_everywhere(&self, user: UserId) -> Result<u64, AuthError> {
        Ok(self.authenticator.store.end_user_sessions(&Actor::user(user), user).await?)
    }
}

/// What the account page shows of the user's second factor.
pub async fn authenticator_of<S: MfaStore + ?Sized>(
    store: &S,
    user: UserId,
) -> Result<Option<(tessera_store::TotpCredential, u32)>, AuthError> {
    match store.totp_credential(user).await? {
        Some(credential) if credential.confirmed => {
            let left = store.recovery_codes_left(user).await?;
            Ok(Some((credential, left)))
        }
        _ => Ok(None),
    }
}

/// The browser's enrolment answer checked by the relying party: the passkey, or why not.
pub(crate) fn enrolled(
    rp: &RelyingParty,
    answer_json: &str,
    state_json: &str,
) -> Result<Result<StoredPasskey, PasskeyRefusal>, AuthError> {
    match rp.finish_enrolment(answer_json, state_json) {
        Ok(passkey) => Ok(Ok(passkey)),
        Err(AuthError::Passkey(why)) => Ok(Err(PasskeyRefusal::Refused(why))),
        Err(AuthError::PasskeyModel(model)) => Ok(Err(PasskeyRefusal::ModelNotAllowed(model))),
        Err(other) => Err(other),
    }
}

/// A new passkey's storing, as the enrolment tells it: its name, or the clash.
pub(crate) fn stored_as(
    stored: Result<(), StoreError>,
    name: String,
) -> Result<Result<String, PasskeyRefusal>, AuthError> {
    match stored {
        Ok(()) => Ok(Ok(name)),
        Err(StoreError::Conflict { field: "name", .. }) => Ok(Err(PasskeyRefusal::NameTaken)),
        Err(StoreError::Conflict { field: "credential_id", .. }) => Ok(Err(PasskeyRefusal::AlreadyEnrolled)),
        Err(other) => Err(other.into()),
    }
}
