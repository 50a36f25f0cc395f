//! Single logout. A LogoutRequest from the registered SP (Redirect or POST, signature checked
//! when the SP signs) ends this browser's session if it belongs to the NameID named, and is
//! answered with a LogoutResponse at the SP's registered SLO URL. A plain GET signs out.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_core::{AppKind, Application, SamlBinding, User};
use tessera_protocols::saml2::logout::{
    STATUS_REQUESTER, STATUS_SUCCESS, STATUS_UNKNOWN_PRINCIPAL, StatusMessage, accept_logout_request,
    build_logout_response, redirect_query,
};
use tessera_protocols::saml2::sso::{Binding, clip};

use super::registration::{AppRoute, Registration, find};
use super::{Refused, post_message, refuse};
use crate::AppState;
use crate::signin::audit_ip;
use crate::signin::pages;
use crate::signin::session;

#[derive(Deserialize)]
pub struct PostedLogout {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A GET: a LogoutRequest by HTTP-Redirect, or a plain visit that signs out.
pub async fn get(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    route: AppRoute,
    RawQuery(query): RawQuery,
) -> Response {
    slo(&state, &extensions, &headers, route, Incoming::Query(query.unwrap_or_default())).await
}

/// A POST: a LogoutRequest by HTTP-POST.
pub async fn post(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    route: AppRoute,
    form: Result<Form<PostedLogout>, FormRejection>,
) -> Response {
    let incoming = match form {
        Ok(Form(form)) => Incoming::Form(form),
        Err(rejection) => Incoming::Rejected(clip(&rejection.body_text())),
    };
    slo(&state, &extensions, &headers, route, incoming).await
}

enum Incoming {
    Query(String),
    Form(PostedLogout),
    /// A body that is not a form of SAML fields.
    Rejected(String),
}

/// Ends this browser's session, recording how and for which app.
async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    ip: &str,
    app: &Application,
    via: &str,
) -> Result<Option<String>, Response> {
    session::sign_out(state, headers, json!({"ip": ip, "via": via, "app_id": app.id.to_string()}))
        .await
        .map_err(pages::failure)
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
    let app = &app;
    let refused = |reason: &'static str, detail: String| async move {
        refuse(state, extensions, headers, app, Refused::SignOut, reason, &detail).await
    };
    if let Incoming::Rejected(detail) = &incoming {
        return refused("malformed", detail.clone()).await;
    }
    let ip = audit_ip(state, extensions, headers);
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
            return pages::sign_out_elsewhere();
        }
        _ => {
            let cookie = match end_session(state, headers, &ip, app, "slo_url").await {
                Ok(cookie) => cookie,
                Err(response) => return response,
            };
            return pages::html(StatusCode::OK, &pages::SignedOut, &cookie.into_iter().collect::<Vec<_>>());
        }
    };
    let registration = match Registration::of(app) {
        Ok(r) => r,
        Err(e) => return pages::failure(e),
    };
    let Some(slo_url) = app.endpoints(&state.public_url).saml_slo else {
        return pages::failure("a SAML app without an SLO URL");
    };
    let now = session::now();
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
            return refused("replayed", format!("logout request {} was used already", clip(&accepted.request.id)))
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
        Some(current) if name_id_of(app, &current.user) == accepted.request.name_id => {
            match end_session(state, headers, &ip, app, "saml_slo").await {
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
            Ok(xml) => post_message(app, &destination, "SAMLResponse", &xml, accepted.relay_state.as_deref(), &cookies),
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
