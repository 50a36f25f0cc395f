//! Signing in with a passkey: as the second factor after a password (the user is known, the
//! browser is offered that user's passkeys), or alone, where the application allows it (the
//! browser offers the passkeys it keeps for this site, and the answer names the user). Each
//! ceremony waits among parked requests for [`CEREMONY_MS`], bound to the browser that began
//! it, and is taken once whatever the answer. A sign-in is taken only when the store moves the
//! passkey's counter forward (`PasskeyStore::passkey_used`). Refusals are audited with the
//! reason; the browser is told only that the passkey was not accepted.

use serde_json::json;
use tessera_core::policy::Factor;
use tessera_core::{Actor, AuditAction, NewAuditEvent, UnixMillis, User, UserId, UserState};
use tessera_store::{ParkedRequest, ParkingStore, StoreError};

use crate::AuthError;
use crate::authenticate::{Authenticator, CheckStore, CodeOutcome, factor_name};
use crate::client::ClientAddresses;
use crate::passkey::{CEREMONY_MS, RelyingParty, StoredPasskey, Verified};

/// What a parked second-factor passkey ceremony is called among parked requests.
const SECOND_FACTOR: &str = "passkey.sign_in";
/// What a parked passwordless ceremony is called among parked requests.
const PASSWORDLESS: &str = "passkey.passwordless";

/// A ceremony begun: its id (the state waits on the server) and the options the browser's
/// `navigator.credentials.get` takes.
#[derive(Debug, Clone)]
pub struct PasskeyPrompt {
    pub ceremony: String,
    pub options_json: String,
}

/// A passwordless sign-in.
#[derive(Debug)]
pub enum PasswordlessOutcome {
    Accepted(Box<User>),
    /// Not accepted (an unknown passkey, a bad answer, an expired ceremony, a suspended user):
    /// one answer for all.
    Refused,
}

/// A parked ceremony's payload, taken once if it is `binding`'s, of `kind`, for `owner` (a
/// payload field and the id it must hold) and unexpired; one of another kind or owner is left
/// in place (a browser posting one ceremony's id to another's page spends nothing).
pub(crate) async fn take_ceremony<S: ParkingStore + ?Sized>(
    store: &S,
    now: UnixMillis,
    kind: &str,
    ceremony: &str,
    binding: &str,
    owner: Option<(&str, &str)>,
) -> Result<Option<serde_json::Value>, AuthError> {
    let ours = |parked: &ParkedRequest| {
        parked.kind == kind && owner.is_none_or(|(field, id)| parked.payload[field].as_str() == Some(id))
    };
    match store.peek_parked_request(ceremony, binding, now).await? {
        Some(parked) if ours(&parked) => {}
        _ => return Ok(None),
    }
    Ok(store
        .take_parked_request(ceremony, binding, now)
        .await?
        .filter(|parked| ours(parked))
        .map(|parked| parked.payload))
}

fn stored(passkeys: &[tessera_store::PasskeyCredential]) -> Vec<StoredPasskey> {
    passkeys
        .iter()
        .map(|p| StoredPasskey { credential_id: p.credential_id.clone(), passkey_json: p.passkey_json.clone() })
        .collect()
}

impl<S: CheckStore + ?Sized> Authenticator<'_, S> {
    async fn park_ceremony(
        &self,
        kind: &str,
        binding: &str,
        payload: serde_json::Value,
        options_json: String,
    ) -> Result<PasskeyPrompt, AuthError> {
        let ceremony = crate::secret::new_session_id()?;
        let now = self.clock.now_millis();
        let parked = ParkedRequest {
            id: ceremony.clone(),
            browser_hash: binding.to_string(),
            kind: kind.to_string(),
            payload,
            created_at: now,
            expires_at: now + CEREMONY_MS,
        };
        self.store.park_request(&parked).await?;
        Ok(PasskeyPrompt { ceremony, options_json })
    }

    /// Offers `user` (who showed their password) their passkeys as the second factor; `None`
    /// when they have none. `binding` is the half-signed-in session's hash.
    pub async fn begin_passkey_check(
        &self,
        rp: &RelyingParty,
        user: UserId,
        binding: &str,
    ) -> Result<Option<PasskeyPrompt>, AuthError> {
        let passkeys = self.store.passkeys(user).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let challenge = rp.begin_sign_in(&stored(&passkeys))?;
        let payload = json!({"user": user.to_string(), "state": challenge.state_json});
        Ok(Some(self.park_ceremony(SECOND_FACTOR, binding, payload, challenge.options_json).await?))
    }

    /// Checks the browser's answer to the ceremony `begin_passkey_check` began, against the
    /// user's passkeys as they are now (one removed meanwhile is refused).
    pub async fn finish_passkey_check(
        &self,
        rp: &RelyingParty,
        user: UserId,
        from: &ClientAddresses,
        ceremony: &str,
        binding: &str,
        answer_json: &str,
    ) -> Result<CodeOutcome, AuthError> {
        let now = self.clock.now_millis();
        let owner = user.to_string();
        let verdict =
            match take_ceremony(self.store, now, SECOND_FACTOR, ceremony, binding, Some(("user", &owner))).await? {
                Some(payload) => {
                    let state = payload["state"].as_str().unwrap_or_default().to_string();
                    let passkeys = self.store.passkeys(user).await?;
                    match rp.finish_sign_in(answer_json, &state, &stored(&passkeys)) {
                        Ok(verified) => Ok((verified, passkeys)),
                        Err(AuthError::Passkey(why)) => Err(why),
                        Err(other) => return Err(other),
                    }
                }
                _ => Err("the sign-in expired or is not this browser's".to_string()),
            };
        let accepted = match verdict {
            Ok((verified, passkeys)) => self
                .take_sign_in(&verified)
                .await?
                .then(|| passkeys.iter().find(|p| p.credential_id == verified.credential_id).map(|p| p.name.clone())),
            Err(why) => {
                self.refuse_passkey(user, from, &why).await?;
                return Ok(CodeOutcome::Refused);
            }
        };
        let Some(name) = accepted else {
            self.refuse_passkey(user, from, COUNTER_STOOD_STILL).await?;
            return Ok(CodeOutcome::Refused);
        };
        self.store.clear_second_factor_failures(user).await?;
        self.learn_addresses(user, from, now).await?;
        let summary = self.traced(json!({"ip": from.client.to_string(), "factor": factor_name(Factor::Passkey),
                                         "passkey": name}));
        let event = NewAuditEvent::new(AuditAction::SigninMfa, "user", user, summary);
        self.store.append_audit(&Actor::user(user), event).await?;
        Ok(CodeOutcome::Accepted(Factor::Passkey))
    }

    /// Begins a sign-in with a passkey alone. `binding` ties it to the browser (its form
    /// token's hash): the same options for everyone, so nothing tells whose passkeys exist.
    pub async fn begin_passwordless(&self, rp: &RelyingParty, binding: &str) -> Result<PasskeyPrompt, AuthError> {
        let challenge = rp.begin_passwordless()?;
        self.park_ceremony(PASSWORDLESS, binding, json!({"state": challenge.state_json}), challenge.options_json).await
    }

    /// Checks the browser's answer to a passwordless ceremony: the passkey it names, whose user
    /// handle must be the one kept at enrolment, of an active user.
    pub async fn finish_passwordless(
        &self,
        rp: &RelyingParty,
        from: &ClientAddresses,
        ceremony: &str,
        binding: &str,
        answer_json: &str,
    ) -> Result<PasswordlessOutcome, AuthError> {
        let refuse = |why: String, user: Option<UserId>| async move {
            let target = user.map(|u| u.to_string()).unwrap_or_else(|| "passkey".to_string());
            let summary = self.traced(json!({"ip": from.client.to_string(), "reason": "passkey_refused",
                                             "detail": why, "via": "passwordless"}));
            let event = NewAuditEvent::new(AuditAction::SigninFailure, "user", target, summary);
            self.store.append_audit(&Actor::client(from.client), event).await?;
            Ok::<_, AuthError>(PasswordlessOutcome::Refused)
        };
        let now = self.clock.now_millis();
        let Some(payload) = take_ceremony(self.store, now, PASSWORDLESS, ceremony, binding, None).await? else {
            return refuse("the sign-in expired or is not this browser's".into(), None).await;
        };
        let state = payload["state"].as_str().unwrap_or_default().to_string();
        let claimed = match rp.claimed(answer_json) {
            Ok(claimed) => claimed,
            Err(AuthError::Passkey(why)) => return refuse(why, None).await,
            Err(other) => return Err(other),
        };
        let Some(credential) = self.store.passkey_by_credential(&claimed.credential_id).await? else {
            return refuse("no user has this passkey".into(), None).await;
        };
        let user = match self.store.find_user(&credential.user_id.to_string()).await {
            Ok(user) => user,
            Err(StoreError::NotFound { .. }) => return refuse("the passkey's user is gone".into(), None).await,
            Err(e) => return Err(e.into()),
        };
        let passkey = StoredPasskey {
            credential_id: credential.credential_id.clone(),
            passkey_json: credential.passkey_json.clone(),
        };
        let verified = match rp.finish_passwordless(answer_json, &state, &passkey, &credential.user_handle) {
            Ok(verified) => verified,
            Err(AuthError::Passkey(why)) => return refuse(why, Some(user.id)).await,
            Err(other) => return Err(other),
        };
        if user.state != UserState::Active {
            return refuse("the user is suspended".into(), Some(user.id)).await;
        }
        if !self.take_sign_in(&verified).await? {
            return refuse(COUNTER_STOOD_STILL.into(), Some(user.id)).await;
        }
        self.learn_addresses(user.id, from, now).await?;
        let summary = self.traced(json!({"ip": from.client.to_string(), "factor": factor_name(Factor::Passkey),
                                         "passkey": credential.name, "passwordless": true}));
        let event = NewAuditEvent::new(AuditAction::SigninMfa, "user", user.id, summary);
        self.store.append_audit(&Actor::user(user.id), event).await?;
        Ok(PasswordlessOutcome::Accepted(Box::new(user)))
    }

    /// Records a verified sign-in with its counter; false when the store refused it (the
    /// counter did not move forward, or the passkey is gone).
    async fn take_sign_in(&self, verified: &Verified) -> Result<bool, AuthError> {
        let now = self.clock.now_millis();
        Ok(self
            .store
            .passkey_used(&verified.credential_id, i64::from(verified.sign_count), &verified.passkey.passkey_json, now)
            .await?)
    }

    async fn refuse_passkey(&self, user: UserId, from: &ClientAddresses, why: &str) -> Result<(), AuthError> {
        let summary = self.traced(json!({"ip": from.client.to_string(), "reason": "passkey_refused", "detail": why}));
        let event = NewAuditEvent::new(AuditAction::SigninMfaFailure, "user", user, summary);
        self.store.append_audit(&Actor::user(user), event).await?;
        Ok(())
    }
}

/// Why a verified answer was not taken: the store's counter check.
const COUNTER_STOOD_STILL: &str = "the passkey's signature counter did not move forward: it may have been copied";
