//! The password check every channel shares (the login form, WS-Trust): spray throttling,
//! smart lockout per location, the same time and the same answer for every kind of failure,
//! and the failure recorded before the answer goes out.

use std::sync::OnceLock;

use serde_json::json;
use tessera_auth::lockout::is_familiar;
use tessera_auth::password::verify_password;
use tessera_auth::secret::sha256_hex;
use tessera_core::{Actor, NewAuditEvent, User, UserState};
use tessera_store::{Location, StoreError};

use super::client::{ClientAddresses, throttle_key};
use super::session;
use crate::AppState;

pub(crate) struct PasswordAccepted {
    pub user: User,
    /// The user has a second factor, which a complete sign-in needs.
    pub has_totp: bool,
}

pub(crate) enum PasswordRefusal {
    /// Too many different names failed from this network (password spraying).
    Throttled,
    /// Wrong password, unknown name, locked out or suspended: one answer for all.
    Failed,
    Store(StoreError),
}

impl From<StoreError> for PasswordRefusal {
    fn from(e: StoreError) -> Self {
        PasswordRefusal::Store(e)
    }
}

/// A real argon2id hash with the same parameters, verified for unknown users so that they
/// take as long as known ones. `None` only if hashing itself fails, which callers refuse.
fn dummy_hash() -> Option<&'static str> {
    static HASH: OnceLock<Option<String>> = OnceLock::new();
    HASH.get_or_init(|| tessera_auth::password::hash_password("tessera-dummy-password-for-timing").ok()).as_deref()
}

/// argon2id off the async workers: a verification takes tens of milliseconds of CPU.
async fn verify(password: &str, hash: &str) -> bool {
    let (password, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || verify_password(&password, &hash).unwrap_or(false)).await.unwrap_or(false)
}

/// Checks `username`'s password from `addresses`; `via` names the channel in the audit trail.
pub(crate) async fn check_password(
    state: &AppState,
    addresses: &ClientAddresses,
    username: &str,
    password: &str,
    via: &'static str,
) -> Result<PasswordAccepted, PasswordRefusal> {
    let Some(dummy) = dummy_hash() else {
        return Err(PasswordRefusal::Store(StoreError::Config("the timing dummy hash could not be made".into())));
    };
    let ip = addresses.client.to_string();
    let ip_key = throttle_key(addresses.client);
    let user_key = sha256_hex(&username.to_ascii_lowercase());
    let now = session::now();
    let audit = |action: &'static str, target: String, summary: serde_json::Value| {
        NewAuditEvent::new(action, "user", target, summary)
    };
    let actor = Actor(format!("ip:{ip}"));

    // A name with control characters is no one's; it is not written anywhere either (a NUL
    // cannot be stored in PostgreSQL's text).
    if username.is_empty()
        || username.len() > 254
        || username.chars().any(char::is_control)
        || password.is_empty()
        || password.len() > 1024
    {
        return Err(PasswordRefusal::Failed);
    }

    // Password spraying: too many different names failing from one address (IPv6: one /64).
    let lockout = state.signin.lockout;
    let names = state.store.failed_names_from_ip(&ip_key, now - lockout.spray_window_ms).await?;
    if names >= lockout.spray_names {
        let event = audit(
            "signin.throttled",
            username.to_string(),
            json!({"ip": ip, "reason": "password_spray", "names": names, "via": via}),
        );
        state.store.append_audit(&actor, event).await?;
        return Err(PasswordRefusal::Throttled);
    }

    let user = match state.store.find_user(username).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };

    let outcome: Result<(), &'static str> = match &user {
        None => {
            verify(password, dummy).await;
            Err("unknown_user")
        }
        Some(user) => {
            let familiar = is_familiar(&addresses.presented, &state.store.familiar_ips(user.id).await?);
            let (location, threshold) = if familiar {
                (Location::Familiar, lockout.familiar_threshold)
            } else {
                (Location::Unknown, lockout.unknown_threshold)
            };
            // The attempt is counted before the password is checked, atomically, so parallel
            // guesses cannot all slip under the threshold; a right password resets the count.
            let reserved =
                state.store.reserve_attempt(user.id, location, threshold, lockout.observation_window_ms, now).await?;
            if !reserved {
                // Locked for this location: the password is not checked at all (as AD FS),
                // but the time it would take is spent, so the answer looks the same.
                verify(password, dummy).await;
                Err("locked_out")
            } else {
                let hash = user.password_hash.as_deref().unwrap_or(dummy);
                let right = verify(password, hash).await && user.password_hash.is_some();
                match (right, user.state) {
                    (true, UserState::Active) => Ok(()),
                    (true, UserState::Suspended) => Err("suspended"),
                    (false, _) => Err("wrong_password"),
                }
            }
        }
    };

    let target = user.as_ref().map(|u| u.id.to_string()).unwrap_or_else(|| username.to_string());
    let user = match (outcome, user) {
        (Ok(()), Some(user)) => user,
        (Err(reason), _) => {
            // Fail closed: the failure is recorded before the answer goes out, the same way
            // whatever the reason, so that no reason is told apart by what it writes.
            state.store.record_failed_attempt(&ip_key, &user_key, now).await?;
            let event =
                audit("signin.failure", target, json!({"ip": ip, "reason": reason, "username": username, "via": via}));
            state.store.append_audit(&actor, event).await?;
            return Err(PasswordRefusal::Failed);
        }
        (Ok(()), None) => {
            return Err(PasswordRefusal::Store(StoreError::Config("sign-in succeeded without a user".into())));
        }
    };

    state.store.record_password_success(user.id).await?;
    let has_totp = state.store.totp_credential(user.id).await?.is_some_and(|c| c.confirmed);
    let event = audit("signin.password", user.id.to_string(), json!({"ip": ip, "mfa_next": has_totp, "via": via}));
    state.store.append_audit(&Actor(format!("user:{}", user.id)), event).await?;
    // An address becomes familiar only once a sign-in is complete: a password alone (with a
    // second factor still to come) does not make the attacker's address familiar.
    if !has_totp {
        for address in &addresses.presented {
            state.store.learn_familiar_ip(user.id, address, now).await?;
        }
    }
    Ok(PasswordAccepted { user, has_totp })
}
