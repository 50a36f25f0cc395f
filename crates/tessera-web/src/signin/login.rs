//! The login page: email or UPN and password, with smart lockout and spray throttling, and
//! one answer for every kind of failure.

use std::sync::OnceLock;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_auth::lockout::is_familiar;
use tessera_auth::password::verify_password;
use tessera_auth::secret::sha256_hex;
use tessera_core::policy::{AuthnContext, Factor};
use tessera_core::{Actor, NewAuditEvent, User, UserState};
use tessera_store::{Location, StoreError};

use super::client::throttle_key;
use super::pages::{self, Login};
use super::session::{self, continue_id, csrf_ok, csrf_token};
use super::{client_addresses, peer};
use crate::AppState;

/// What every failed sign-in is told, whatever the reason.
pub const GENERIC_FAILURE: &str = "The email or password is incorrect, or the account cannot sign in now.";

#[derive(Deserialize, Default)]
pub struct ContinueQuery {
    #[serde(default, rename = "continue")]
    pub continue_id: String,
    /// Set when the parked request demands a fresh sign-in (SAML ForceAuthn): the form is
    /// shown even to a signed-in browser.
    #[serde(default)]
    pub fresh: Option<String>,
    /// A login hint from the relying party (WS-Federation `username`): pre-fills the form.
    #[serde(default)]
    pub username: Option<String>,
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<ContinueQuery>) -> Response {
    let continue_id = continue_id(&query.continue_id);
    let fresh = query.fresh.is_some() && !continue_id.is_empty();
    match session::current(&state, &headers).await {
        Ok(Some(current)) if current.session.complete && !fresh => {
            return after_sign_in(&current.user, true, &continue_id);
        }
        Ok(_) => {}
        Err(e) => return pages::failure(e),
    }
    let (csrf, cookie) = csrf_token(&state, &headers);
    let hint = query.username.as_deref().filter(|u| u.len() <= 254).unwrap_or("");
    let page = Login { csrf: &csrf, continue_id: &continue_id, username: hint, error: None };
    pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

/// Where a user goes once a sign-in step is done: the second factor, then the notice, then
/// the parked request or the portal.
pub fn after_sign_in(user: &User, complete: bool, continue_id: &str) -> Response {
    let query = if continue_id.is_empty() { String::new() } else { format!("?continue={continue_id}") };
    if !complete {
        return pages::redirect(&format!("/login/mfa{query}"), &[]);
    }
    if user.notice_acknowledged_at.is_none() {
        return pages::redirect(&format!("/notice{query}"), &[]);
    }
    if continue_id.is_empty() {
        pages::redirect("/", &[])
    } else {
        pages::redirect(&format!("/resume/{continue_id}"), &[])
    }
}

/// A real argon2id hash with the same parameters, verified for unknown users so that they
/// take as long as known ones. `None` only if hashing itself fails, which callers refuse.
fn dummy_hash() -> Option<&'static str> {
    static HASH: OnceLock<Option<String>> = OnceLock::new();
    HASH.get_or_init(|| tessera_auth::password::hash_password("tessera-dummy-password-for-timing").ok()).as_deref()
}

/// A request a trusted proxy forwarded with a header we cannot read.
pub fn unreadable_forwarding() -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        "Request refused",
        "Your request came through a proxy whose forwarding header could not be read. Try again.",
    )
}

fn failed(csrf: &str, continue_id: &str, username: &str) -> Response {
    let page = Login { csrf, continue_id, username, error: Some(GENERIC_FAILURE) };
    pages::html(StatusCode::OK, &page, &[])
}

pub async fn submit(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let continue_id = continue_id(&form.continue_id);
    if !csrf_ok(&state, &headers, &form.csrf) {
        return pages::form_refused();
    }
    let Some(addresses) = client_addresses(peer(&extensions), &headers, &state.signin.trusted_proxies) else {
        return unreadable_forwarding();
    };
    let Some(dummy) = dummy_hash() else { return pages::failure("the timing dummy hash could not be made") };
    let ip = addresses.client.to_string();
    let ip_key = throttle_key(addresses.client);
    let username = form.username.trim().to_string();
    let user_key = sha256_hex(&username.to_ascii_lowercase());
    let now = session::now();
    let audit = |action: &'static str, target: String, summary: serde_json::Value| {
        NewAuditEvent::new(action, "user", target, summary)
    };
    let actor = Actor(format!("ip:{ip}"));

    if username.is_empty() || username.len() > 254 || form.password.is_empty() || form.password.len() > 1024 {
        return failed(&form.csrf, &continue_id, "");
    }

    // Password spraying: too many different names failing from one address (IPv6: one /64).
    let lockout = state.signin.lockout;
    match state.store.failed_names_from_ip(&ip_key, now - lockout.spray_window_ms).await {
        Ok(names) if names >= lockout.spray_names => {
            let event = audit(
                "signin.throttled",
                username.clone(),
                json!({"ip": ip, "reason": "password_spray", "names": names}),
            );
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            return pages::message(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "There have been too many failed sign-ins from your network. Wait a few minutes and try again.",
            );
        }
        Ok(_) => {}
        Err(e) => return pages::failure(e),
    }

    let user = match state.store.find_user(&username).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return pages::failure(e),
    };

    let outcome: Result<(), &'static str> = match &user {
        None => {
            let _ = verify_password(&form.password, dummy);
            Err("unknown_user")
        }
        Some(user) => {
            let familiar = match state.store.familiar_ips(user.id).await {
                Ok(list) => is_familiar(&addresses.presented, &list),
                Err(e) => return pages::failure(e),
            };
            let (location, threshold) = if familiar {
                (Location::Familiar, lockout.familiar_threshold)
            } else {
                (Location::Unknown, lockout.unknown_threshold)
            };
            // The attempt is counted before the password is checked, atomically, so parallel
            // guesses cannot all slip under the threshold; a right password resets the count.
            let reserved = match state
                .store
                .reserve_attempt(user.id, location, threshold, lockout.observation_window_ms, now)
                .await
            {
                Ok(reserved) => reserved,
                Err(e) => return pages::failure(e),
            };
            if !reserved {
                // Locked for this location: the password is not checked at all (as AD FS),
                // but the time it would take is spent, so the answer looks the same.
                let _ = verify_password(&form.password, dummy);
                Err("locked_out")
            } else {
                let hash = user.password_hash.as_deref().unwrap_or(dummy);
                let right = verify_password(&form.password, hash).unwrap_or(false) && user.password_hash.is_some();
                match (right, user.state) {
                    (true, UserState::Active) => Ok(()),
                    (true, UserState::Suspended) => Err("suspended"),
                    (false, _) => Err("wrong_password"),
                }
            }
        }
    };

    let target = user.as_ref().map(|u| u.id.to_string()).unwrap_or_else(|| username.clone());
    let user = match (outcome, user) {
        (Ok(()), Some(user)) => user,
        (Err(reason), _) => {
            // Fail closed: the failure is recorded before the answer goes out, the same way
            // whatever the reason, so that no reason is told apart by what it writes.
            if let Err(e) = state.store.record_failed_attempt(&ip_key, &user_key, now).await {
                return pages::failure(e);
            }
            let event = audit("signin.failure", target, json!({"ip": ip, "reason": reason, "username": username}));
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            return failed(&form.csrf, &continue_id, &username);
        }
        (Ok(()), None) => return pages::failure("sign-in succeeded without a user"),
    };

    if let Err(e) = state.store.record_password_success(user.id).await {
        return pages::failure(e);
    }
    let has_totp = match state.store.totp_credential(user.id).await {
        Ok(credential) => credential.is_some_and(|c| c.confirmed),
        Err(e) => return pages::failure(e),
    };
    let event = audit("signin.password", user.id.to_string(), json!({"ip": ip, "mfa_next": has_totp}));
    if let Err(e) = state.store.append_audit(&Actor(format!("user:{}", user.id)), event).await {
        return pages::failure(e);
    }
    // An address becomes familiar only once a sign-in is complete: a password alone (with a
    // second factor still to come) does not make the attacker's address familiar.
    if !has_totp {
        for address in &addresses.presented {
            if let Err(e) = state.store.learn_familiar_ip(user.id, address, now).await {
                return pages::failure(e);
            }
        }
    }
    let authn = AuthnContext::default().with(Factor::Password, now);
    let (_, cookie) = match session::establish(&state, &headers, &user, authn, !has_totp, None).await {
        Ok(made) => made,
        Err(e) => return pages::failure(e),
    };
    let mut response = after_sign_in(&user, !has_totp, &continue_id);
    if let Ok(value) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(axum::http::header::SET_COOKIE, value);
    }
    response
}
