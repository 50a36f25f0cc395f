//! What every protocol's sign-on does once it has a session: decide with the authorization
//! rule and the app's policy, and act on a denial or a missing second factor the same way.

use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use tessera_core::policy::{PolicyOutcome, decide};
use tessera_core::{Actor, Application, NewAuditEvent};

use super::parked::park;
use super::session::Current;
use super::{client_addresses, login, pages, peer};
use crate::AppState;

/// The decision for `current` opening `app` from this request, and the client's address.
/// `require_mfa` asks for a second factor on top of the app's policy (the relying party asked).
pub(crate) async fn decide_sign_on(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    current: &Current,
    require_mfa: bool,
) -> Result<(PolicyOutcome, String), Response> {
    let Some(addresses) = client_addresses(peer(extensions), headers, &state.signin.trusted_proxies) else {
        return Err(login::unreadable_forwarding());
    };
    let access = state.store.check_access(current.user.id, app.id).await.map_err(pages::failure)?;
    let mut policy = app.policy.clone();
    policy.require_mfa |= require_mfa;
    Ok((decide(&access, &policy, addresses.client, &current.session.authn), addresses.client.to_string()))
}

/// A denial: its audit row (`action`, e.g. `saml.denied`), then a 403 page saying why.
pub(crate) async fn denied_page(
    state: &AppState,
    app: &Application,
    current: &Current,
    action: &'static str,
    summary: serde_json::Value,
    message: &str,
) -> Response {
    let event = NewAuditEvent::new(action, "app", app.id, summary);
    if let Err(e) = state.store.append_audit(&Actor(format!("user:{}", current.user.id)), event).await {
        return pages::failure(e);
    }
    pages::message(StatusCode::FORBIDDEN, "You cannot open this application", message)
}

/// A sign-on waiting for a second factor: parked as `kind`, the browser sent to enrol or show it.
pub(crate) async fn park_for_second_factor(
    state: &AppState,
    headers: &HeaderMap,
    kind: &str,
    pending: &impl Serialize,
) -> Response {
    let payload = match serde_json::to_value(pending) {
        Ok(payload) => payload,
        Err(e) => return pages::failure(e),
    };
    match park(state, headers, kind, payload).await {
        Ok((id, cookies)) => pages::redirect(&format!("/mfa/totp?continue={id}"), &cookies),
        Err(response) => response,
    }
}
