//! The user portal (a tile per app the user may use), launching an app through its access
//! policy, the password-update notice, and signing out.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::Extensions;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_core::policy::{PolicyOutcome, decide};
use tessera_core::{Actor, AppId, AppKind, NewAuditEvent};

use super::client_addresses;
use super::cookies;
use super::login::{ContinueQuery, after_sign_in};
use super::pages::{self, Notice, Portal, Tile};
use super::parked::{park, park_and_sign_in};
use super::session::{self, Current, continue_id, cookie_policy, csrf_ok, csrf_token};
use crate::AppState;

/// The session of a fully signed-in user, or the response that gets them there.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Current, Response> {
    match session::current(state, headers).await {
        Ok(Some(current)) if current.session.complete && current.user.notice_acknowledged_at.is_some() => Ok(current),
        Ok(Some(current)) => Err(after_sign_in(&current.user, current.session.complete, "")),
        Ok(None) => Err(pages::redirect("/login", &[])),
        Err(e) => Err(pages::failure(e)),
    }
}

pub async fn portal(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let current = match signed_in(&state, &headers).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let apps = match state.store.apps_of_user(current.user.id).await {
        Ok(apps) => apps,
        Err(e) => return pages::failure(e),
    };
    let tiles = apps
        .into_iter()
        .filter(|a| a.show_in_portal)
        .map(|a| Tile { id: a.id.to_string(), label: a.label, description: a.description, image: a.portal_image })
        .collect();
    let has_totp = match state.store.totp_credential(current.user.id).await {
        Ok(c) => c.is_some_and(|c| c.confirmed),
        Err(e) => return pages::failure(e),
    };
    let (csrf, cookie) = csrf_token(&state, &headers);
    let page = Portal { csrf: &csrf, user: &current.user.email, has_totp, tiles };
    pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>())
}

/// Opens an application for the signed-in user, if the authorization rule and the app's
/// policy allow it; otherwise says why.
pub async fn launch(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    launch_app(&state, &extensions, &headers, &app).await
}

pub async fn launch_app(state: &AppState, extensions: &Extensions, headers: &HeaderMap, app: &str) -> Response {
    let not_found = || pages::message(StatusCode::NOT_FOUND, "Application not found", "There is no such application.");
    let Ok(app_id) = app.parse::<AppId>() else { return not_found() };
    // The app must exist before anything is parked for it: no writes for made-up ids.
    let app = match state.store.find_app(&app_id.to_string()).await {
        Ok(app) => app,
        Err(tessera_store::StoreError::NotFound { .. }) => return not_found(),
        Err(e) => return pages::failure(e),
    };
    let current = match session::current(state, headers).await {
        Ok(Some(current)) if current.session.complete && current.user.notice_acknowledged_at.is_some() => current,
        Ok(_) => return park_and_sign_in(state, headers, "launch", json!({"app": app.id.to_string()})).await,
        Err(e) => return pages::failure(e),
    };
    let access = match state.store.check_access(current.user.id, app.id).await {
        Ok(access) => access,
        Err(e) => return pages::failure(e),
    };
    let Some(addresses) = client_addresses(super::peer(extensions), headers, &state.signin.trusted_proxies) else {
        return super::login::unreadable_forwarding();
    };
    let ip = addresses.client;
    let actor = Actor(format!("user:{}", current.user.id));
    let audit = |action: &'static str, summary: serde_json::Value| NewAuditEvent::new(action, "app", app.id, summary);
    match decide(&access, &app.policy, ip, &current.session.authn) {
        PolicyOutcome::Deny(denial) => {
            let event = audit(
                "signin.denied",
                json!({"user_id": current.user.id.to_string(), "ip": ip.to_string(), "reason": denial.as_str()}),
            );
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            pages::message(StatusCode::FORBIDDEN, "You cannot open this application", denial.user_message())
        }
        PolicyOutcome::NeedSecondFactor => {
            // The user has no second factor yet (those who have one show it at sign-in): enrol
            // one, then come back here.
            match park(state, headers, "launch", json!({"app": app.id.to_string()})).await {
                Ok((id, cookies)) => pages::redirect(&format!("/mfa/totp?continue={id}"), &cookies),
                Err(response) => response,
            }
        }
        PolicyOutcome::Allow => {
            let event = audit(
                "signin.launch",
                json!({"user_id": current.user.id.to_string(), "ip": ip.to_string(), "mfa": current.session.authn.mfa_done()}),
            );
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            let endpoints = app.endpoints(&state.public_url);
            match (&app.kind, endpoints.saml_sso) {
                (AppKind::Bookmark { url }, _) => pages::redirect(url, &[]),
                // Entra takes no unsolicited response: its sign-in page for the domain (the
                // Login URL) starts an SP-initiated sign-in that passes straight through.
                (AppKind::M365(c), _) => pages::redirect(&c.login_url(), &[]),
                // IdP-initiated WS-Federation: a sign-in for the relying party's realm, answered
                // at its default reply URL.
                (AppKind::WsFed(c), _) => match endpoints.wsfed_passive {
                    Some(passive) => pages::redirect(
                        &format!("{passive}?wa=wsignin1.0&wtrealm={}", tessera_xml::redirect::url_encode(&c.realm)),
                        &[],
                    ),
                    None => not_found(),
                },
                // IdP-initiated sign-on: the SSO endpoint posts an unsolicited response.
                (_, Some(sso)) => pages::redirect(&sso, &[]),
                (_, None) => not_found(),
            }
        }
    }
}

pub async fn notice_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ContinueQuery>,
) -> Response {
    let continue_id = continue_id(&query.continue_id);
    match session::current(&state, &headers).await {
        Ok(Some(current)) if current.session.complete => {
            if current.user.notice_acknowledged_at.is_some() {
                return after_sign_in(&current.user, true, &continue_id);
            }
        }
        Ok(_) => return pages::redirect("/login", &[]),
        Err(e) => return pages::failure(e),
    }
    let (csrf, cookie) = csrf_token(&state, &headers);
    pages::html(
        StatusCode::OK,
        &Notice { csrf: &csrf, continue_id: &continue_id },
        &cookie.into_iter().collect::<Vec<_>>(),
    )
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

pub async fn notice_submit(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    if !csrf_ok(&state, &headers, &form.csrf) {
        return pages::form_refused();
    }
    let mut current = match session::current(&state, &headers).await {
        Ok(Some(current)) if current.session.complete => current,
        Ok(_) => return pages::redirect("/login", &[]),
        Err(e) => return pages::failure(e),
    };
    let now = session::now();
    if let Err(e) =
        state.store.acknowledge_notice(&Actor(format!("user:{}", current.user.id)), current.user.id, now).await
    {
        return pages::failure(e);
    }
    current.user.notice_acknowledged_at = Some(now);
    after_sign_in(&current.user, true, &continue_id(&form.continue_id))
}

pub async fn logout(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&state, &headers, &form.csrf) {
        return pages::form_refused();
    }
    let ip = super::audit_ip(&state, &extensions, &headers);
    if let Err(e) = session::sign_out(&state, &headers, json!({"ip": ip})).await {
        return pages::failure(e);
    }
    pages::redirect("/login", &[cookie_policy(&state).clear(cookies::SESSION)])
}
