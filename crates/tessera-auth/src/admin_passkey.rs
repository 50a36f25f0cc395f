//! Administrators' passkeys: enrolled from the admin portal by an administrator fully signed in,
//! then shown as the second factor after the password. The ceremonies are users' (the
//! [`RelyingParty`]'s), parked among parked requests for [`CEREMONY_MS`], bound to the admin
//! session, taken once; a sign-in is taken only when the store moves the counter forward.

use serde_json::json;
use tessera_core::Actor;
use tessera_store::{AdminPasskey, AdminSession, ParkedRequest};

use crate::AuthError;
use crate::account::{PasskeyRefusal, enrolled, factor_name, stored_as};
use crate::admin::{AdminCheckStore, AdminCodeOutcome, AdminSignIn};
use crate::client::ClientAddresses;
use crate::passkey::{CEREMONY_MS, RelyingParty, StoredPasskey};
use crate::passkey_check::{PasskeyPrompt, take_ceremony};
use crate::secret::sha256_hex;

/// What parked admin ceremonies are called among parked requests.
const SIGN_IN: &str = "admin.passkey.sign_in";
const ENROLMENT: &str = "admin.passkey.enrol";

fn stored(passkeys: &[AdminPasskey]) -> Vec<StoredPasskey> {
    passkeys
        .iter()
        .map(|p| StoredPasskey { credential_id: p.credential_id.clone(), passkey_json: p.passkey_json.clone() })
        .collect()
}

impl<S: AdminCheckStore + ?Sized> AdminSignIn<'_, S> {
    async fn park(&self, kind: &str, id: &str, payload: serde_json::Value) -> Result<String, AuthError> {
        let ceremony = crate::secret::new_session_id()?;
        let now = self.clock.now_millis();
        let parked = ParkedRequest {
            id: ceremony.clone(),
            browser_hash: sha256_hex(id),
            kind: kind.to_string(),
            payload,
            created_at: now,
            expires_at: now + CEREMONY_MS,
        };
        self.store.park_request(&parked).await?;
        Ok(ceremony)
    }

    /// The ceremony's payload, taken once if it is of `kind`, the session `id`'s and this
    /// administrator's.
    async fn take(
        &self,
        kind: &str,
        ceremony: &str,
        id: &str,
        admin_id: &str,
    ) -> Result<Option<serde_json::Value>, AuthError> {
        let now = self.clock.now_millis();
        take_ceremony(self.store, now, kind, ceremony, &sha256_hex(id), Some(("admin", admin_id))).await
    }

    /// The administrator's passkeys, oldest first.
    pub async fn passkeys(&self, session: &AdminSession) -> Result<Vec<AdminPasskey>, AuthError> {
        Ok(self.store.admin_passkeys(&session.admin.id).await?)
    }

    /// Offers the administrator of the session `id` their passkeys as the second factor;
    /// `None` when they have none.
    pub async fn begin_passkey_check(
        &self,
        rp: &RelyingParty,
        id: &str,
        session: &AdminSession,
    ) -> Result<Option<PasskeyPrompt>, AuthError> {
        let passkeys = self.store.admin_passkeys(&session.admin.id).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let challenge = rp.begin_sign_in(&stored(&passkeys))?;
        let payload = json!({"admin": session.admin.id, "state": challenge.state_json});
        let ceremony = self.park(SIGN_IN, id, payload).await?;
        Ok(Some(PasskeyPrompt { ceremony, options_json: challenge.options_json }))
    }

    /// Checks the browser's answer against the administrator's passkeys as they are now: the
    /// session is then complete under a new id (audited `admin.mfa`, factor `passkey`).
    pub async fn finish_passkey_check(
        &self,
        rp: &RelyingParty,
        id: &str,
        session: &AdminSession,
        from: &ClientAddresses,
        ceremony: &str,
        answer_json: &str,
    ) -> Result<AdminCodeOutcome, AuthError> {
        let admin_id = &session.admin.id;
        let Some(payload) = self.take(SIGN_IN, ceremony, id, admin_id).await? else {
            return self.finish_step(id, session, from, None, "passkey_expired").await;
        };
        let state = payload["state"].as_str().unwrap_or_default().to_string();
        let passkeys = self.store.admin_passkeys(admin_id).await?;
        let verified = match rp.finish_sign_in(answer_json, &state, &stored(&passkeys)) {
            Ok(verified) => verified,
            Err(AuthError::Passkey(why)) => {
                return self.finish_step(id, session, from, None, &format!("passkey_refused: {why}")).await;
            }
            Err(other) => return Err(other),
        };
        let now = self.clock.now_millis();
        let count = i64::from(verified.sign_count);
        let taken =
            self.store.admin_passkey_used(&verified.credential_id, count, &verified.passkey.passkey_json, now).await?;
        let reason = if taken { "" } else { "passkey_counter" };
        self.finish_step(id, session, from, taken.then_some("passkey"), reason).await
    }

    /// Starts enrolling a passkey named `name` for the administrator of the (complete) session
    /// `id`; the options for the browser's authenticator.
    pub async fn begin_passkey_enrolment(
        &self,
        rp: &RelyingParty,
        id: &str,
        session: &AdminSession,
        name: &str,
    ) -> Result<Result<PasskeyPrompt, PasskeyRefusal>, AuthError> {
        let Some(name) = factor_name(name) else { return Ok(Err(PasskeyRefusal::BadName)) };
        let existing = self.store.admin_passkeys(&session.admin.id).await?;
        let handle: [u8; 16] = match existing.first().and_then(|p| <[u8; 16]>::try_from(p.user_handle.as_slice()).ok())
        {
            Some(handle) => handle,
            None => crate::secret::random_bytes::<16>()?,
        };
        let username = &session.admin.username;
        let challenge = rp.begin_enrolment(handle, username, username, &stored(&existing))?;
        let payload =
            json!({"admin": session.admin.id, "name": name, "handle": handle.to_vec(), "state": challenge.state_json});
        let ceremony = self.park(ENROLMENT, id, payload).await?;
        Ok(Ok(PasskeyPrompt { ceremony, options_json: challenge.options_json }))
    }

    /// Finishes an enrolment with the browser's answer: the passkey's name once it is stored.
    pub async fn finish_passkey_enrolment(
        &self,
        rp: &RelyingParty,
        id: &str,
        session: &AdminSession,
        ceremony: &str,
        answer_json: &str,
    ) -> Result<Result<String, PasskeyRefusal>, AuthError> {
        let admin_id = &session.admin.id;
        let Some(payload) = self.take(ENROLMENT, ceremony, id, admin_id).await? else {
            return Ok(Err(PasskeyRefusal::Expired));
        };
        let passkey = match enrolled(rp, answer_json, payload["state"].as_str().unwrap_or_default())? {
            Ok(passkey) => passkey,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let name = payload["name"].as_str().unwrap_or_default().to_string();
        let handle: Vec<u8> = serde_json::from_value(payload["handle"].clone()).unwrap_or_default();
        if handle.len() != 16 || name.is_empty() {
            return Ok(Err(PasskeyRefusal::Refused("the enrolment's state is not readable".into())));
        }
        let now = self.clock.now_millis();
        let credential = AdminPasskey {
            admin_id: admin_id.clone(),
            name: name.clone(),
            credential_id: passkey.credential_id,
            user_handle: handle,
            passkey_json: passkey.passkey_json,
            sign_count: 0,
            created_at: now,
            last_used_at: None,
        };
        stored_as(self.store.add_admin_passkey(&Actor::admin(admin_id), &credential).await, name)
    }
}
