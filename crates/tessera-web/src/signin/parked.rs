//! Parked requests: a protocol endpoint stores the request it validated, sends the browser to
//! sign in, and resumes it afterwards. The browser comes back with the parked id only, never a
//! URL, and only the browser that parked it can take it.

use axum::extract::{Path, State};
use axum::http::Extensions;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use tessera_auth::secret::{new_session_id, sha256_hex};
use tessera_core::{Actor, NewAuditEvent};
use tessera_store::ParkedRequest;

use super::cookies::{self, Site};
use super::pages;
use super::session::{self, continue_id, cookie_policy};
use crate::AppState;

/// Parks `payload` under `kind` for this browser: the parked id, and the cookies to set (the
/// browser binding, when the browser has none yet).
pub async fn park(
    state: &AppState,
    headers: &HeaderMap,
    kind: &str,
    payload: serde_json::Value,
) -> Result<(String, Vec<String>), Response> {
    let mut set_cookies = Vec::new();
    let browser = match cookies::read(headers, cookies::BROWSER) {
        Some(browser) => browser,
        None => {
            let browser = new_session_id().map_err(pages::failure)?;
            set_cookies.push(cookie_policy(state).set(cookies::BROWSER, &browser, Site::CrossSite, Some(400 * 86_400)));
            browser
        }
    };
    let id = new_session_id().map_err(pages::failure)?;
    let now = session::now();
    let parked = ParkedRequest {
        id: id.clone(),
        browser_hash: sha256_hex(&browser),
        kind: kind.to_string(),
        payload,
        created_at: now,
        expires_at: now + state.signin.parked_ttl_ms,
    };
    state.store.park_request(&parked).await.map_err(pages::failure)?;
    Ok((id, set_cookies))
}

/// Parks `payload` under `kind` for this browser and sends it to sign in.
pub async fn park_and_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    kind: &str,
    payload: serde_json::Value,
) -> Response {
    match park(state, headers, kind, payload).await {
        Ok((id, cookies)) => pages::redirect(&format!("/login?continue={id}"), &cookies),
        Err(response) => response,
    }
}

pub async fn resume(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let id = continue_id(&id);
    match session::current(&state, &headers).await {
        Ok(Some(current)) if current.session.complete && current.user.notice_acknowledged_at.is_some() => {}
        Ok(_) => return pages::redirect(&format!("/login?continue={id}"), &[]),
        Err(e) => return pages::failure(e),
    }
    let gone = || {
        pages::message(
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot continue",
            "It has expired or was started in another browser. Go back to the application and sign in again.",
        )
    };
    let Some(browser) = cookies::read(&headers, cookies::BROWSER) else { return gone() };
    let parked = match state.store.take_parked_request(&id, &sha256_hex(&browser), session::now()).await {
        Ok(Some(parked)) => parked,
        Ok(None) => {
            let event = NewAuditEvent::new("signin.resume_refused", "parked_request", &id, json!({}));
            if let Err(e) = state.store.append_audit(&Actor::system(), event).await {
                return pages::failure(e);
            }
            return gone();
        }
        Err(e) => return pages::failure(e),
    };
    match parked.kind.as_str() {
        "launch" => {
            let app = parked.payload["app"].as_str().unwrap_or_default().to_string();
            super::portal::launch_app(&state, &extensions, &headers, &app).await
        }
        "saml" => {
            let Ok(pending) = serde_json::from_value::<crate::saml::Pending>(parked.payload) else { return gone() };
            let app = match state.store.find_app(&pending.app).await {
                Ok(app) => app,
                Err(tessera_store::StoreError::NotFound { .. }) => return gone(),
                Err(e) => return pages::failure(e),
            };
            crate::saml::continue_pending(&state, &extensions, &headers, &app, pending).await
        }
        "wsfed" => {
            let Ok(pending) = serde_json::from_value::<crate::wsfed::Pending>(parked.payload) else { return gone() };
            let app = match state.store.find_app(&pending.app).await {
                Ok(app) => app,
                Err(tessera_store::StoreError::NotFound { .. }) => return gone(),
                Err(e) => return pages::failure(e),
            };
            crate::wsfed::continue_pending(&state, &extensions, &headers, &app, pending).await
        }
        _ => gone(),
    }
}
