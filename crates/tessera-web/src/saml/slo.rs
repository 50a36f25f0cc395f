//! Single logout. A LogoutRequest from the registered SP (Redirect or POST, signature checked
//! when the SP signs) ends this browser's session if it belongs to the NameID named, and is
//! answered with a LogoutResponse at the SP's registered SLO URL. A plain GET signs out.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_core::{AppKind, Application, SamlBinding, User};
use tessera_protocols::saml2::logout::{
    STATUS_REQUESTER, STATUS_SUCCESS, STATUS_UNKNOWN_PRINCIPAL, StatusMessage, accept_logout_request,
    build_logout_response, redirect_query,
};
use tessera_protocols::saml2::registration::Registration;
use tessera_protocols::saml2::sso::{AcceptedRequest, Binding, clip};

use super::{SIGN_OUT_REFUSED, find, post_message};
use crate::error::AppError;
use crate::shell::apps::AppRoute;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::refusal::refuse;
use crate::shell::session;
use crate::state::AppState;

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
    ctx: RequestContext,
    route: AppRoute,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    slo(&state, &ctx, route, Incoming::Query(query.unwrap_or_default())).await
}

/// A POST: a LogoutRequest by HTTP-POST.
pub async fn post(
    State(state): State<AppState>,
    ctx: RequestContext,
    route: AppRoute,
    form: Result<Form<PostedLogout>, FormRejection>,
) -> Result<Response, AppError> {
    let incoming = match form {
        Ok(Form(form)) => Incoming::Form(form),
        Err(rejection) => Incoming::Rejected(rejection.status(), clip(&rejection.body_text())),
    };
    slo(&state, &ctx, route, incoming).await
}

enum Incoming {
    Query(String),
    Form(PostedLogout),
    /// A body that is not a form of SAML fields, or too large to read.
    Rejected(StatusCode, String),
}

/// Ends this browser's session, recording how and for which app; the cookie that clears it.
async fn end_session(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    via: &str,
) -> Result<Option<String>, AppError> {
    session::sign_out(state, ctx, json!({"ip": ctx.audit_ip(), "via": via, "app_id": app.id.to_string()})).await
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
    ctx: &RequestContext,
    route: AppRoute,
    incoming: Incoming,
) -> Result<Response, AppError> {
    let app = &find(state, route).await?;
    if let Incoming::Rejected(status, detail) = &incoming {
        return super::refuse_form(state, ctx, app, &SIGN_OUT_REFUSED, *status, detail).await;
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
        _ if !ctx.shows_a_page() => return Ok(pages::sign_out_elsewhere()),
        _ => {
            let cookie = end_session(state, ctx, app, "slo_url").await?;
            return Ok(pages::html(
                StatusCode::OK,
                &pages::SignedOut { ui: crate::ui::Ui::current() },
                &cookie.into_iter().collect::<Vec<_>>(),
            ));
        }
    };
    let registration = Registration::of(app)?;
    let slo_url =
        app.endpoints(&state.public_url).saml_slo.ok_or_else(|| AppError::internal("a SAML app without an SLO URL"))?;
    let now = state.clock.now_millis();
    let skew = state.signin.clock_skew_ms;
    let accepted = match accept_logout_request(binding, &registration.registered(), &slo_url, now, skew) {
        Ok(accepted) => accepted,
        Err(refusal) => return refuse(state, ctx, app, &SIGN_OUT_REFUSED, refusal.code(), &refusal.to_string()).await,
    };
    let Some(target) = registration.slo.clone() else {
        let detail = format!("{} registers no single-logout endpoint", app.label);
        return refuse(state, ctx, app, &SIGN_OUT_REFUSED, "no_slo", &detail).await;
    };
    let until = AcceptedRequest::remember_until(now, skew);
    if !state.replay.remember_message_id(&registration.entity_id, &accepted.request.id, until, now).await? {
        let detail = format!("logout request {} was used already", clip(&accepted.request.id));
        return refuse(state, ctx, app, &SIGN_OUT_REFUSED, "replayed", &detail).await;
    }
    // Only this browser's session can end here, and only if it is the principal named.
    let (status, cookie) = match session::current(state, ctx).await? {
        Some(current) if name_id_of(app, &current.user) == accepted.request.name_id => {
            (None, end_session(state, ctx, app, "saml_slo").await?)
        }
        Some(_) => (Some(STATUS_UNKNOWN_PRINCIPAL), None),
        None => (None, None),
    };
    let issuer = app.issuer.as_deref().ok_or_else(|| AppError::internal("a SAML app without an issuer"))?;
    let signer = state.keys.signer(app.id).await?;
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
        SamlBinding::HttpPost => {
            let xml = build_logout_response(&message, Some(signer.as_ref()))?;
            Ok(post_message(app, &destination, "SAMLResponse", &xml, accepted.relay_state.as_deref(), &cookies))
        }
        _ => {
            let xml = build_logout_response(&message, None)?;
            let query = redirect_query("SAMLResponse", &xml, accepted.relay_state.as_deref(), signer.as_ref())?;
            let separator = if destination.contains('?') { '&' } else { '?' };
            Ok(pages::redirect(&format!("{destination}{separator}{query}"), &cookies))
        }
    }
}
