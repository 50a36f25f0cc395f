//! Single logout. A LogoutRequest from the registered SP (Redirect or POST, signature checked
//! when the SP signs) ends this browser's session if it belongs to the NameID named, and is
//! answered with a LogoutResponse at the SP's registered SLO URL. A plain GET signs out.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_core::{Actor, AppKind, Application, NewAuditEvent, SamlBinding, User};
use tessera_protocols::saml2::logout::{
    STATUS_REQUESTER, STATUS_SUCCESS, STATUS_UNKNOWN_PRINCIPAL, StatusMessage, accept_logout_request,
    build_logout_response, redirect_query,
};
use tessera_protocols::saml2::sso::Binding;

use super::registration::{AppRoute, Registration, find};
use crate::AppState;
use crate::signin::cookies;
use crate::signin::pages::{self, PostForm};
use crate::signin::session::{self, cookie_policy};
use crate::signin::{client_addresses, peer};

#[derive(Deserialize)]
pub struct PostedLogout {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

pub async fn m365_get(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(idp_path): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    slo(&state, &extensions, &headers, AppRoute::M365(idp_path), Incoming::Query(query.unwrap_or_default())).await
}

pub async fn app_get(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(app): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    slo(&state, &extensions, &headers, AppRoute::Id(app), Incoming::Query(query.unwrap_or_default())).await
}

pub async fn m365_post(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(idp_path): Path<String>,
    form: Result<Form<PostedLogout>, FormRejection>,
) -> Response {
    slo(&state, &extensions, &headers, AppRoute::M365(idp_path), Incoming::from_form(form)).await
}

pub async fn app_post(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Path(app): Path<String>,
    form: Result<Form<PostedLogout>, FormRejection>,
) -> Response {
    slo(&state, &extensions, &headers, AppRoute::Id(app), Incoming::from_form(form)).await
}

enum Incoming {
    Query(String),
    Form(PostedLogout),
    /// A body that is not a form of SAML fields.
    Rejected(String),
}

impl Incoming {
    fn from_form(form: Result<Form<PostedLogout>, FormRejection>) -> Self {
        match form {
            Ok(Form(form)) => Incoming::Form(form),
            Err(rejection) => Incoming::Rejected(tessera_protocols::saml2::sso::clip(&rejection.body_text())),
        }
    }
}

fn client_ip(state: &AppState, extensions: &Extensions, headers: &HeaderMap) -> String {
    client_addresses(peer(extensions), headers, &state.signin.trusted_proxies)
        .map(|a| a.client.to_string())
        .unwrap_or_else(|| "unreadable".into())
}

/// Ends this browser's session (audited) and clears its cookie.
async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    app: &Application,
    via: &str,
) -> Result<Option<String>, Response> {
    let Some(id) = cookies::read(headers, cookies::SESSION) else { return Ok(None) };
    let hash = tessera_auth::secret::sha256_hex(&id);
    if let Ok(Some(session)) = state.store.find_session(&hash).await {
        let event = NewAuditEvent::new(
            "signin.logout",
            "user",
            session.user_id,
            json!({"ip": ip, "via": via, "app_id": app.id.to_string()}),
        );
        state.store.append_audit(&Actor(format!("user:{}", session.user_id)), event).await.map_err(pages::failure)?;
    }
    state.store.delete_session(&hash).await.map_err(pages::failure)?;
    Ok(Some(cookie_policy(state).clear(cookies::SESSION)))
}

/// The NameID this app's tokens carry for `user`.
fn name_id_of(app: &Application, user: &User) -> String {
    match &app.kind {
        AppKind::Saml(sp) => user.attribute(sp.name_id_source),
        _ => user.immutable_id.clone(),
    }
}

async fn slo(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    route: AppRoute,
    incoming: Incoming,
) -> Response {
    let app = match find(state, route).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let ip = client_ip(state, extensions, headers);
    if let Incoming::Rejected(detail) = &incoming {
        let event = NewAuditEvent::new(
            "saml.logout_refused",
            "app",
            app.id,
            json!({"reason": "malformed", "detail": detail, "ip": ip}),
        );
        if let Err(e) = state.store.append_audit(&Actor(format!("ip:{ip}")), event).await {
            return pages::failure(e);
        }
        return pages::message(StatusCode::BAD_REQUEST, "This sign-out request was refused", detail);
    }
    let binding = match &incoming {
        Incoming::Query(query) if query.split('&').any(|p| p.starts_with("SAMLRequest=")) => {
            Binding::Redirect { raw_query: query }
        }
        Incoming::Form(PostedLogout { saml_request: Some(request), relay_state }) => {
            Binding::Post { saml_request: request, relay_state: relay_state.as_deref() }
        }
        // A plain visit (or an SP's LogoutResponse to a logout we never started): sign out, but
        // only when the browser is showing this page (an image or script on another site
        // must not sign users out); otherwise ask.
        _ if headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok()).is_some_and(|d| d != "document") => {
            return pages::message(
                StatusCode::OK,
                "Sign out",
                "To sign out of Tessera, open your applications page and choose Sign out.",
            );
        }
        _ => {
            let cookie = match end_session(state, headers, &ip, &app, "slo_url").await {
                Ok(cookie) => cookie,
                Err(response) => return response,
            };
            return pages::html(StatusCode::OK, &pages::SignedOut, &cookie.into_iter().collect::<Vec<_>>());
        }
    };
    let registration = match Registration::of(&app) {
        Ok(r) => r,
        Err(e) => return pages::failure(e),
    };
    let Some(slo_url) = app.endpoints(&state.public_url).saml_slo else {
        return pages::failure("a SAML app without an SLO URL");
    };
    let now = session::now();
    let refused = |reason: &'static str, detail: String| async move {
        let event = NewAuditEvent::new(
            "saml.logout_refused",
            "app",
            app.id,
            json!({"reason": reason, "detail": detail, "ip": ip}),
        );
        if let Err(e) = state.store.append_audit(&Actor(format!("ip:{ip}")), event).await {
            return pages::failure(e);
        }
        pages::message(StatusCode::BAD_REQUEST, "This sign-out request was refused", &detail)
    };
    let accepted =
        match accept_logout_request(binding, &registration.registered(), &slo_url, now, state.signin.clock_skew_ms) {
            Ok(accepted) => accepted,
            Err(refusal) => return refused(refusal.code(), refusal.to_string()).await,
        };
    let Some(target) = registration.slo.clone() else {
        return refused("no_slo", format!("{} registers no single-logout endpoint", app.label)).await;
    };
    match state
        .store
        .remember_message_id(&registration.entity_id, &accepted.request.id, now + 2 * state.signin.clock_skew_ms, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return refused(
                "replayed",
                format!(
                    "logout request {} was used already",
                    tessera_protocols::saml2::sso::clip(&accepted.request.id)
                ),
            )
            .await;
        }
        Err(e) => return pages::failure(e),
    }
    // Only this browser's session can end here, and only if it is the principal named.
    let current = match session::current(state, headers).await {
        Ok(current) => current,
        Err(e) => return pages::failure(e),
    };
    let (status, cookie) = match current {
        Some(current) if name_id_of(&app, &current.user) == accepted.request.name_id => {
            match end_session(state, headers, &client_ip(state, extensions, headers), &app, "saml_slo").await {
                Ok(cookie) => (None, cookie),
                Err(response) => return response,
            }
        }
        Some(_) => (Some(STATUS_UNKNOWN_PRINCIPAL), None),
        None => (None, None),
    };
    let Some(issuer) = app.issuer.as_deref() else { return pages::failure("a SAML app without an issuer") };
    let signer = match state.keys.signer(app.id).await {
        Ok(signer) => signer,
        Err(e) => return pages::failure(e),
    };
    let destination = target.response_url.clone().unwrap_or(target.url.clone());
    let id = format!("_{}", uuid::Uuid::new_v4().simple());
    let message = StatusMessage {
        id: &id,
        issuer,
        destination: &destination,
        in_response_to: Some(&accepted.request.id),
        top_status: if status.is_some() { STATUS_REQUESTER } else { STATUS_SUCCESS },
        second_status: status,
        now,
    };
    let cookies: Vec<String> = cookie.into_iter().collect();
    match target.binding {
        SamlBinding::HttpPost => match build_logout_response(&message, Some(signer.as_ref())) {
            Ok(xml) => {
                use base64::Engine;
                let encoded = base64::engine::general_purpose::STANDARD.encode(xml);
                let mut fields = vec![("SAMLResponse", encoded.as_str())];
                if let Some(relay) = &accepted.relay_state {
                    fields.push(("RelayState", relay.as_str()));
                }
                pages::post_form(&PostForm { label: &app.label, action: &destination, fields }, &cookies)
            }
            Err(e) => pages::failure(e),
        },
        _ => {
            let xml = match build_logout_response(&message, None) {
                Ok(xml) => xml,
                Err(e) => return pages::failure(e),
            };
            match redirect_query("SAMLResponse", &xml, accepted.relay_state.as_deref(), signer.as_ref()) {
                Ok(query) => {
                    let separator = if destination.contains('?') { '&' } else { '?' };
                    pages::redirect(&format!("{destination}{separator}{query}"), &cookies)
                }
                Err(e) => pages::failure(e),
            }
        }
    }
}
