//! Single sign-on. An AuthnRequest (HTTP-Redirect or HTTP-POST) is checked against the
//! application's registered SP, its ID recorded against replay, then answered: at once on a
//! live session, or after sign-in through a parked request. The answer is an auto-POST page to
//! the registered ACS. A GET without a request is IdP-initiated: an unsolicited response for a
//! SAML app, Microsoft's sign-in page (the Login URL) for a Microsoft 365 connector.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::policy::PolicyOutcome;
use tessera_core::{Actor, AppKind, Application, NewAuditEvent, UnixMillis};
use tessera_protocols::saml2::logout::{STATUS_REQUESTER, STATUS_RESPONDER, StatusMessage, build_status_response};
use tessera_protocols::saml2::response::{Signing, build_response, m365_params, sp_params, sp_values};
use tessera_protocols::saml2::sso::{
    AcceptedRequest, Binding, MAX_RELAY_STATE, RequestedContext, SsoRefusal, accept_authn_request, clip,
};

use super::registration::{AppRoute, Registration, find};
use super::{Refused, post_message, refuse};
use crate::AppState;
use crate::signin::pages;
use crate::signin::parked::park;
use crate::signin::session::{self, Current};
use crate::signin::sign_on::{decide_sign_on, denied_page, park_for_second_factor};

const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
const NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
const INVALID_NAME_ID_POLICY: &str = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
const REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";

/// A validated sign-on waiting to be answered; parked (as JSON) while its user signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub app: String,
    /// `None` for IdP-initiated.
    pub request_id: Option<String>,
    pub acs_url: String,
    pub relay_state: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub context: RequestedContext,
    /// When the request arrived: a ForceAuthn request needs a password shown after this.
    pub received_at: UnixMillis,
    /// The request's signature algorithm, when it was signed (SHA-1 is flagged in audit).
    #[serde(default)]
    pub signed_with: Option<String>,
}

#[derive(Deserialize)]
pub struct PostedRequest {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn has_param(query: &str, name: &str) -> bool {
    query.split('&').any(|pair| pair.split('=').next() == Some(name))
}

/// A GET: an AuthnRequest by HTTP-Redirect, or without one, IdP-initiated sign-on.
pub async fn get(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    route: AppRoute,
    RawQuery(query): RawQuery,
) -> Response {
    let app = match find(&state, route).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let query = query.unwrap_or_default();
    if has_param(&query, "SAMLRequest") {
        return answer_request(&state, &extensions, &headers, &app, Binding::Redirect { raw_query: &query }).await;
    }
    idp_initiated(&state, &extensions, &headers, &app, &query).await
}

/// A POST: an AuthnRequest by HTTP-POST.
pub async fn post(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    route: AppRoute,
    form: Result<Form<PostedRequest>, FormRejection>,
) -> Response {
    let app = match find(&state, route).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    // A body that is not a form of one SAMLRequest is refused like any other bad request.
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let detail = clip(&rejection.body_text());
            return refuse(&state, &extensions, &headers, &app, Refused::SignIn, "malformed", &detail).await;
        }
    };
    let binding = Binding::Post { saml_request: &form.saml_request, relay_state: form.relay_state.as_deref() };
    answer_request(&state, &extensions, &headers, &app, binding).await
}

async fn answer_request(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    binding: Binding<'_>,
) -> Response {
    let registration = match Registration::of(app) {
        Ok(r) => r,
        Err(e) => return pages::failure(e),
    };
    let Some(sso_url) = app.endpoints(&state.public_url).saml_sso else {
        return pages::failure("a SAML app without an SSO URL");
    };
    let now = session::now();
    let accepted: AcceptedRequest =
        match accept_authn_request(binding, &registration.registered(), &sso_url, now, state.signin.clock_skew_ms) {
            Ok(accepted) => accepted,
            Err(refusal) => {
                return refuse(state, extensions, headers, app, Refused::SignIn, refusal.code(), &refusal.to_string())
                    .await;
            }
        };
    // The ID is remembered past the longest time the request could still be accepted.
    match state
        .store
        .remember_message_id(&accepted.issuer, &accepted.id, now + 2 * state.signin.clock_skew_ms, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let detail = format!("request {} was used already", clip(&accepted.id));
            return refuse(state, extensions, headers, app, Refused::SignIn, "replayed", &detail).await;
        }
        Err(e) => return pages::failure(e),
    }
    let pending = Pending {
        app: app.id.to_string(),
        request_id: Some(accepted.id.clone()),
        acs_url: accepted.acs_url.clone(),
        relay_state: accepted.relay_state.clone(),
        force_authn: accepted.force_authn,
        is_passive: accepted.is_passive,
        context: accepted.context.clone(),
        received_at: now,
        signed_with: accepted.signed_with.map(|a| a.uri().to_string()),
    };
    // A valid request this IdP cannot satisfy is answered at the registered ACS.
    if let Some(format) = &accepted.unsupported_name_id_format {
        tracing::info!(app = %app.id, %format, "NameID format not issued for this SP");
        return status_answer(state, app, &pending, INVALID_NAME_ID_POLICY).await;
    }
    if accepted.context == RequestedContext::Unsatisfiable {
        return status_answer(state, app, &pending, NO_AUTHN_CONTEXT).await;
    }
    continue_pending(state, extensions, headers, app, pending).await
}

async fn idp_initiated(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    query: &str,
) -> Response {
    if let AppKind::M365(c) = &app.kind {
        // Entra accepts no unsolicited response: Microsoft's sign-in page for the domain
        // starts an SP-initiated sign-in that comes straight back here.
        return pages::redirect(&c.login_url(), &[]);
    }
    if let AppKind::Saml(sp) = &app.kind
        && !sp.idp_initiated
    {
        let detail = "this application accepts only sign-ins it starts itself; open it directly";
        return refuse(state, extensions, headers, app, Refused::SignIn, "idp_initiated_off", detail).await;
    }
    let registration = match Registration::of(app) {
        Ok(r) => r,
        Err(e) => return pages::failure(e),
    };
    let Some(acs) = registration.default_acs() else {
        return refuse(
            state,
            extensions,
            headers,
            app,
            Refused::SignIn,
            "unregistered_acs",
            "the SP registers no HTTP-POST ACS",
        )
        .await;
    };
    let relay_state = match query.split('&').find_map(|p| p.strip_prefix("RelayState=")) {
        Some(raw) => match tessera_xml::redirect::url_decode(raw) {
            Ok(relay) if relay.len() <= MAX_RELAY_STATE => Some(relay),
            _ => {
                let detail = SsoRefusal::RelayStateTooLong.to_string();
                return refuse(state, extensions, headers, app, Refused::SignIn, "relay_state_too_long", &detail).await;
            }
        },
        None => None,
    };
    let pending = Pending {
        app: app.id.to_string(),
        request_id: None,
        acs_url: acs.to_string(),
        relay_state,
        force_authn: false,
        is_passive: false,
        context: RequestedContext::Any,
        received_at: session::now(),
        signed_with: None,
    };
    continue_pending(state, extensions, headers, app, pending).await
}

/// Whether this session may answer `pending`: complete, notice seen, and for ForceAuthn a
/// password shown after the request arrived.
fn session_serves(current: &Current, pending: &Pending) -> bool {
    let fresh = !pending.force_authn
        || current
            .session
            .authn
            .factors
            .iter()
            .any(|(f, at)| *f == tessera_core::policy::Factor::Password && *at >= pending.received_at);
    current.session.complete && current.user.notice_acknowledged_at.is_some() && fresh
}

/// Answers `pending` with the browser's session, or sends the browser to sign in first.
pub(crate) async fn continue_pending(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    pending: Pending,
) -> Response {
    let current = match session::current(state, headers).await {
        Ok(current) => current,
        Err(e) => return pages::failure(e),
    };
    match current {
        Some(current) if session_serves(&current, &pending) => {
            issue(state, extensions, headers, app, pending, current).await
        }
        _ if pending.is_passive => status_answer(state, app, &pending, NO_PASSIVE).await,
        _ => {
            let fresh = pending.force_authn;
            let payload = match serde_json::to_value(&pending) {
                Ok(payload) => payload,
                Err(e) => return pages::failure(e),
            };
            match park(state, headers, "saml", payload).await {
                Ok((id, cookies)) => {
                    let fresh = if fresh { "&fresh=1" } else { "" };
                    pages::redirect(&format!("/login?continue={id}{fresh}"), &cookies)
                }
                Err(response) => response,
            }
        }
    }
}

/// Decides with the authorization rule and the app's policy, then issues the assertion.
async fn issue(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    pending: Pending,
    current: Current,
) -> Response {
    let require_mfa = pending.context == RequestedContext::Mfa;
    let (outcome, ip) = match decide_sign_on(state, extensions, headers, app, &current, require_mfa).await {
        Ok(decided) => decided,
        Err(response) => return response,
    };
    let actor = Actor(format!("user:{}", current.user.id));
    match outcome {
        PolicyOutcome::Deny(denial) if pending.is_passive => {
            // A passive request must not take over the screen: the SP hears "denied".
            let event = NewAuditEvent::new(
                "saml.denied",
                "app",
                app.id,
                json!({"user_id": current.user.id.to_string(), "ip": ip, "reason": denial.as_str(),
                       "request_id": pending.request_id, "passive": true}),
            );
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            status_answer(state, app, &pending, REQUEST_DENIED).await
        }
        PolicyOutcome::Deny(denial) => {
            let summary = json!({"user_id": current.user.id.to_string(), "ip": ip, "reason": denial.as_str(),
                                 "request_id": pending.request_id});
            denied_page(state, app, &current, "saml.denied", summary, denial.user_message()).await
        }
        PolicyOutcome::NeedSecondFactor if pending.is_passive => status_answer(state, app, &pending, NO_PASSIVE).await,
        PolicyOutcome::NeedSecondFactor => park_for_second_factor(state, headers, "saml", &pending).await,
        PolicyOutcome::Allow => {
            let signer = match state.keys.signer(app.id).await {
                Ok(signer) => signer,
                Err(e) => return pages::failure(e),
            };
            let Some(issuer) = app.issuer.as_deref() else { return pages::failure("a SAML app without an issuer") };
            let response_id = format!("_{}", uuid::Uuid::new_v4().simple());
            let assertion_id = format!("_{}", uuid::Uuid::new_v4().simple());
            let ids = (response_id.as_str(), assertion_id.as_str());
            let now = session::now();
            let authn = &current.session.authn;
            let in_response_to = pending.request_id.as_deref();
            let built = match &app.kind {
                AppKind::M365(c) => {
                    let extra: Vec<(String, String)> = c
                        .attributes
                        .iter()
                        .map(|m| (m.name.clone(), current.user.attribute(m.source)))
                        .filter(|(_, v)| !v.is_empty())
                        .collect();
                    let mut params = m365_params(&current.user, issuer, in_response_to, authn, ids, now);
                    params.attributes.extend(extra.iter().map(|(n, v)| (n.as_str(), vec![v.as_str()])));
                    build_response(&params, Signing { assertion: true, response: false }, signer.as_ref())
                }
                AppKind::Saml(sp) => {
                    let values = sp_values(&current.user, sp);
                    let params = sp_params(&values, sp, issuer, &pending.acs_url, in_response_to, authn, ids, now);
                    let signing = Signing { assertion: sp.sign_assertion, response: sp.sign_response };
                    build_response(&params, signing, signer.as_ref())
                }
                AppKind::WsFed(_) | AppKind::Bookmark { .. } => {
                    return pages::failure("this application does not sign in with SAML");
                }
            };
            let xml = match built {
                Ok(xml) => xml,
                Err(e) => return pages::failure(e),
            };
            // Fail closed: no assertion leaves without its audit row.
            let event = NewAuditEvent::new(
                "saml.issued",
                "app",
                app.id,
                json!({"user_id": current.user.id.to_string(), "ip": ip, "request_id": pending.request_id,
                       "assertion_id": assertion_id, "acs": pending.acs_url, "mfa": authn.mfa_done(),
                       "request_signature": pending.signed_with,
                       "sha1": pending.signed_with.as_deref().is_some_and(|a| a.ends_with("rsa-sha1"))}),
            );
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            post_message(app, &pending.acs_url, "SAMLResponse", &xml, pending.relay_state.as_deref(), &[])
        }
    }
}

/// A Response with a non-success status and no assertion, to the registered ACS.
async fn status_answer(state: &AppState, app: &Application, pending: &Pending, second: &str) -> Response {
    let signer = match state.keys.signer(app.id).await {
        Ok(signer) => signer,
        Err(e) => return pages::failure(e),
    };
    let Some(issuer) = app.issuer.as_deref() else { return pages::failure("a SAML app without an issuer") };
    let id = format!("_{}", uuid::Uuid::new_v4().simple());
    let top = if matches!(second, NO_PASSIVE | NO_AUTHN_CONTEXT | REQUEST_DENIED) {
        STATUS_RESPONDER
    } else {
        STATUS_REQUESTER
    };
    let message = StatusMessage {
        id: &id,
        issuer,
        destination: &pending.acs_url,
        in_response_to: pending.request_id.as_deref(),
        top_status: top,
        second_status: Some(second),
        now: session::now(),
    };
    let event = NewAuditEvent::new(
        "saml.status",
        "app",
        app.id,
        json!({"status": second, "request_id": pending.request_id, "acs": pending.acs_url}),
    );
    if let Err(e) = state.store.append_audit(&Actor::system(), event).await {
        return pages::failure(e);
    }
    match build_status_response(&message, signer.as_ref()) {
        Ok(xml) => post_message(app, &pending.acs_url, "SAMLResponse", &xml, pending.relay_state.as_deref(), &[]),
        Err(e) => pages::failure(e),
    }
}
