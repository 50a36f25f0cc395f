//! Enrolling an authenticator app: a new secret, sealed under the master key and pending until
//! the user shows a code from it; then ten single-use recovery codes, stored hashed.

use tessera_core::{Actor, Clock, UserId};
use tessera_keys::Secrets;
use tessera_store::MfaStore;

use crate::authenticate::totp_seal_context;
use crate::secret::{new_recovery_codes, recovery_code_hash};
use crate::{AuthError, totp};

#[derive(Debug)]
pub enum Enrolment {
    /// The user has an authenticator app already (a lost one is reset by an administrator).
    AlreadyEnrolled,
    /// A new secret, pending until a code from it is shown.
    Started { secret: Vec<u8> },
}

#[derive(Debug)]
pub enum Confirmation {
    /// No enrolment is waiting (or it finished elsewhere meanwhile).
    NothingPending,
    /// The code does not match the pending secret, which is shown again.
    WrongCode { secret: Vec<u8> },
    /// Enrolled; the recovery codes are shown once.
    Enrolled { recovery_codes: Vec<String> },
}

/// Enrolment over a store, for one request.
pub struct Enroller<'a, S: ?Sized> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub secrets: &'a Secrets,
}

impl<S: MfaStore + ?Sized> Enroller<'_, S> {
    /// Whether the user has a confirmed authenticator app.
    pub async fn has_authenticator(&self, user: UserId) -> Result<bool, AuthError> {
        Ok(self.store.totp_credential(user).await?.is_some_and(|c| c.confirmed))
    }

    /// Starts (or restarts) enrolment with a new secret.
    pub async fn start(&self, user: UserId) -> Result<Enrolment, AuthError> {
        if self.store.totp_credential(user).await?.is_some_and(|c| c.confirmed) {
            return Ok(Enrolment::AlreadyEnrolled);
        }
        let secret = totp::new_secret()?;
        let sealed = self.secrets.seal_secret(&secret, &totp_seal_context(user))?;
        self.store.put_pending_totp(user, &sealed, self.clock.now_millis()).await?;
        Ok(Enrolment::Started { secret })
    }

    /// Finishes enrolment when `code` comes from the pending secret.
    pub async fn confirm(&self, user: UserId, code: &str) -> Result<Confirmation, AuthError> {
        let pending = match self.store.totp_credential(user).await? {
            Some(credential) if !credential.confirmed => credential,
            _ => return Ok(Confirmation::NothingPending),
        };
        let secret = self.secrets.open_secret(&pending.sealed_secret, &totp_seal_context(user))?;
        let Some(step) = totp::matching_step(&secret, code, self.clock.now_millis() / 1000) else {
            return Ok(Confirmation::WrongCode { secret });
        };
        let recovery_codes = new_recovery_codes()?;
        let hashes: Vec<String> = recovery_codes.iter().map(|c| recovery_code_hash(c)).collect();
        if !self.store.confirm_totp(&Actor::user(user), user, step, &hashes).await? {
            return Ok(Confirmation::NothingPending);
        }
        Ok(Confirmation::Enrolled { recovery_codes })
    }
}
