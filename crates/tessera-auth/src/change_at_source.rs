//! A directory password the directory wants changed before the user signs in (expired, or to
//! be changed at next logon), changed from the sign-in page. Only the right password gets that
//! answer (`PasswordOutcome::ChangeAtSource`); the change form it leads to is bound to that
//! answer by a ticket, parked for [`CHANGE_WINDOW_MS`] and tied to the browser, so that the form
//! cannot be posted cold as a way around the sign-in's throttling. The change itself is the
//! account page's (`Account::change_password`): the current password checked again under the
//! same throttling and lockout, then the directory's own policy.

use serde_json::json;
use tessera_core::UserId;
use tessera_store::{ParkedRequest, StoreError};

use crate::AuthError;
use crate::account::{Account, AccountStore, PasswordChangeOutcome};
use crate::authenticate::{Authenticator, CheckStore, PasswordAccepted, PasswordOutcome};
use crate::client::ClientAddresses;
use crate::passkey_check::take_ceremony;

/// What a parked change ticket is called among parked requests.
const CHANGE_TICKET: &str = "password.change_at_source";
/// How long the change form stays valid after the password was found right.
pub const CHANGE_WINDOW_MS: i64 = 10 * 60 * 1000;

impl<S: CheckStore + ?Sized> Authenticator<'_, S> {
    /// A ticket for changing `user`'s password at their directory from the browser `binding`
    /// names, which has just shown the right (expired) password.
    pub async fn begin_change_at_source(&self, user: UserId, binding: &str) -> Result<String, AuthError> {
        let ticket = crate::secret::new_session_id()?;
        let now = self.clock.now_millis();
        let parked = ParkedRequest {
            id: ticket.clone(),
            browser_hash: binding.to_string(),
            kind: CHANGE_TICKET.to_string(),
            payload: json!({"user": user.to_string()}),
            created_at: now,
            expires_at: now + CHANGE_WINDOW_MS,
        };
        self.store.park_request(&parked).await?;
        Ok(ticket)
    }

    /// The user a ticket was given for, taken once; `None` for an unknown, expired or spent
    /// ticket, or one of another browser.
    pub async fn take_change_at_source(&self, ticket: &str, binding: &str) -> Result<Option<UserId>, AuthError> {
        if ticket.is_empty() || ticket.len() > 128 {
            return Ok(None);
        }
        let now = self.clock.now_millis();
        let payload = take_ceremony(self.store, now, CHANGE_TICKET, ticket, binding, None).await?;
        Ok(payload.and_then(|payload| payload["user"].as_str().and_then(|id| id.parse().ok())))
    }
}

/// What became of a change posted from the sign-in page's change form.
#[derive(Debug)]
pub enum AtSourceOutcome {
    /// Changed at the directory, and signed in with the new password (as the login form does:
    /// audited, the lockout count reset).
    SignedIn(Box<PasswordAccepted>),
    /// Changed, but the sign-in with the new password did not go through (a directory server
    /// that has not taken it yet): the user signs in again.
    ChangedSignInAgain,
    /// Not changed. `ticket` is a new one for another try (none after throttling, or where
    /// there is nothing to change); `directory` names the source, for its refusal's words.
    NotChanged { outcome: PasswordChangeOutcome, ticket: Option<String>, directory: Option<String> },
    /// No ticket of this browser's that is still valid: the user signs in again.
    NoTicket,
}

impl<S: AccountStore + ?Sized> Account<'_, S> {
    /// Changes the password a ticket was given for, from `current` to `new` (which passed
    /// `check_new_password`), at the user's directory, and signs in with the new one.
    pub async fn change_at_source(
        &self,
        ticket: &str,
        binding: &str,
        from: &ClientAddresses,
        current: &str,
        new: &str,
    ) -> Result<AtSourceOutcome, AuthError> {
        let authenticator = &self.authenticator;
        let Some(user) = authenticator.take_change_at_source(ticket, binding).await? else {
            return Ok(AtSourceOutcome::NoTicket);
        };
        let user = match authenticator.store.find_user(&user.to_string()).await {
            Ok(user) => user,
            Err(StoreError::NotFound { .. }) => return Ok(AtSourceOutcome::NoTicket),
            Err(e) => return Err(e.into()),
        };
        let outcome = self.change_password(&user, from, current, new).await?;
        if outcome == PasswordChangeOutcome::Changed {
            return Ok(match authenticator.check_password(from, &user.email, new, "login").await? {
                PasswordOutcome::Accepted(accepted) if accepted.user.id == user.id => {
                    AtSourceOutcome::SignedIn(accepted)
                }
                _ => AtSourceOutcome::ChangedSignInAgain,
            });
        }
        let again = !matches!(outcome, PasswordChangeOutcome::Throttled | PasswordChangeOutcome::NotChangeable);
        let ticket = if again { Some(authenticator.begin_change_at_source(user.id, binding).await?) } else { None };
        let directory = match authenticator.directory {
            Some(directory) => directory.keeper(&user).await,
            None => None,
        };
        Ok(AtSourceOutcome::NotChanged { outcome, ticket, directory })
    }
}
