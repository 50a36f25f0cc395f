//! SAML ECP (the profile's IdP side, SOAP binding) for rich clients: Exchange Online's, when a
//! domain is federated over SAML, and any ECP client of a SAML SP. The AuthnRequest comes in a
//! SOAP 1.1 envelope with the user's name and password as HTTP Basic credentials. It is checked
//! as a browser's request is (registered SP, signature, freshness, ACS, replay of its ID), the
//! password as the form's is (lockout, spray throttling, the password gate), then the user's
//! grants and the app's policy, which here cannot include a second factor: an app that
//! requires one, or a request that asks for one, gets a fault that says so, and so does a user
//! with a second factor at any SP but Entra, whose token says password only (no
//! `multipleauthn`), as after WS-Trust, and whose own rules (`federatedIdpMfaBehavior`,
//! Conditional Access) decide about more. Only an SP's PAOS ACS is answered (Entra's
//! `login.srf` too). The Response is
//! the browser profile's, signed the same way, in a SOAP envelope naming the request's ACS.
//! Every refusal is a SOAP fault and, but for a request without credentials, an audit row; no
//! refusal carries a Response.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use tessera_auth::authenticate::{NAME_PSEUDONYM, PasswordAccepted, PasswordOutcome};
use tessera_core::policy::{AuthnContext, Factor, decide_password_only};
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent, User};
use tessera_protocols::saml2::ecp::{FaultCode, authn_request_of, fault_envelope, response_envelope};
use tessera_protocols::saml2::registration::Registration;
use tessera_protocols::saml2::sso::{AcceptedRequest, Binding, RequestedContext, accept_authn_request, clip};
use tessera_store::StoreError;

use super::find;
use super::sso::signed_response;
use crate::error::{EcpFault, soap11 as soap};
use crate::shell::apps::AppRoute;
use crate::shell::context::RequestContext;
use crate::sign_on::Trace;
use crate::state::AppState;

/// The realm a Basic challenge names.
const CHALLENGE: &str = "Basic realm=\"Tessera\", charset=\"UTF-8\"";

/// An ECP endpoint: `/m365/{idp_path}/saml/ecp` or `/apps/{app}/saml/ecp`.
pub async fn ecp(
    State(state): State<AppState>,
    ctx: RequestContext,
    route: AppRoute,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let app = match find(&state, route).await {
        Ok(app) => app,
        Err(e) => return e.on(EcpFault).into_response(),
    };
    let username = basic_credentials(&headers).ok().flatten().map(|(name, _)| name);
    match answer(&state, &ctx, &app, &headers, &body).await {
        Ok(response) => response,
        Err(refusal) => refuse(&state, &ctx, &app, username.as_deref(), refusal).await,
    }
}

async fn answer(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let envelope = std::str::from_utf8(body).map_err(|_| Refusal::client("malformed", "the message is not UTF-8"))?;
    let authn_request = authn_request_of(envelope).map_err(|e| Refusal::client("malformed", clip(&e.to_string())))?;
    let registration = Registration::of(app).map_err(|e| Refusal::Internal(e.to_string()))?;
    let ecp_url = app.endpoints(&state.public_url).saml_ecp.unwrap_or_default();
    let now = state.clock.now_millis();
    let skew = state.signin.clock_skew_ms;
    let binding = Binding::Soap { authn_request: &authn_request };
    let accepted = accept_authn_request(binding, &registration.registered(), &ecp_url, now, skew)
        .map_err(|refusal| Refusal::client(refusal.code(), refusal.to_string()))?;
    if let Some(format) = &accepted.unsupported_name_id_format {
        let detail = format!("this IdP does not issue the NameID format {} to this SP", clip(format));
        return Err(Refusal::client("unsupported_name_id_format", detail));
    }
    match accepted.context {
        RequestedContext::Any => {}
        RequestedContext::Mfa => {
            return Err(Refusal::client(
                "mfa_requested",
                "the request asks for multi-factor authentication, which a password over ECP cannot show; \
                 sign in through the browser",
            ));
        }
        RequestedContext::Unsatisfiable => {
            return Err(Refusal::client(
                "no_authn_context",
                "the request asks for an authentication this IdP cannot show",
            ));
        }
    }
    // A client sends its credentials after the challenge, with the same request: nothing is
    // written until they come.
    let Some((username, password)) =
        basic_credentials(headers).map_err(|detail| Refusal::client("malformed", detail))?
    else {
        return Err(Refusal::NoCredentials);
    };
    let Ok(from) = ctx.client() else {
        return Err(Refusal::client("malformed", "the forwarding header could not be read"));
    };

    // A turn at the password gate before anything is written: a request refused as busy
    // leaves no replay record behind, so the client's retry is not taken for a replay.
    let turn = state.signin.password_gate.turn().await?;
    let remember_until = AcceptedRequest::remember_until(now, skew);
    if !state.replay.remember_message_id(&accepted.issuer, &accepted.id, remember_until, now).await? {
        return Err(Refusal::client("replayed", format!("request {} was used already", clip(&accepted.id))));
    }
    // The request as it was read, never the password, for the sign-in's trace.
    let trace = Trace::of(json!({
        "protocol": "saml", "binding": "SOAP", "id": accepted.id, "issuer": accepted.issuer,
        "acs": accepted.acs_url, "username": username, "signed_with": accepted.signed_with.map(|a| a.uri().to_string()),
    }));
    let mut authenticator = state.authenticator();
    authenticator.trace = Some(trace.id.clone());
    let PasswordAccepted { user, has_second_factor } =
        match authenticator.check_password_in_turn(turn, from, &username, &password, "ecp").await? {
            PasswordOutcome::Accepted(accepted) => *accepted,
            PasswordOutcome::Failed => {
                let detail = "The user name or password is incorrect, or the account cannot sign in now.";
                return Err(Refusal::Challenge(detail.into()));
            }
            PasswordOutcome::ChangeAtSource(_) => {
                let detail = "The password must be changed in the organization's directory before signing in.";
                return Err(Refusal::audited(detail));
            }
            PasswordOutcome::Throttled => {
                return Err(Refusal::audited(
                    "There have been too many failed sign-ins from this network; wait a few minutes.",
                ));
            }
        };
    let authn = AuthnContext::default().with(Factor::Password, now);
    // A person with a second factor shows it at the form; ECP cannot carry one. Entra gets a
    // token that says password only and applies its own rules to it (as after WS-Trust); any
    // other SP would take it as the whole sign-in.
    if has_second_factor && !matches!(app.kind, AppKind::M365(_)) {
        let reason = "second_factor_enrolled";
        audit_denied(state, app, &user, &accepted, reason, &trace, &from.client.to_string()).await?;
        return Err(Refusal::audited(
            "This account signs in with a second factor, which a password over ECP cannot show; sign in through the browser.",
        ));
    }
    let access = tessera_core::access::for_app(state.access.check_access(user.id, app.id).await?, &app.kind, &user.upn);
    if let Err(denial) = decide_password_only(&access, &app.policy, from.client, &authn) {
        audit_denied(state, app, &user, &accepted, denial.as_str(), &trace, &from.client.to_string()).await?;
        return Err(Refusal::audited(denial.user_message()));
    }
    issue(state, app, &user, &authn, &accepted, &trace, has_second_factor, &from.client.to_string()).await
}

/// The signed Response in its envelope, after its audit row (fail closed: no token leaves
/// without one).
#[allow(clippy::too_many_arguments)] // one argument per fact the token and its audit row need
async fn issue(
    state: &AppState,
    app: &Application,
    user: &User,
    authn: &AuthnContext,
    accepted: &AcceptedRequest,
    trace: &Trace,
    has_second_factor: bool,
    ip: &str,
) -> Result<Response, Refusal> {
    let signer = state.keys.signer(app.id).await.map_err(|e| Refusal::Internal(e.to_string()))?;
    let reply = accepted.reply();
    let response_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let assertion_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let now = state.clock.now_millis();
    let xml = signed_response(app, user, authn, &reply, (&response_id, &assertion_id), now, signer.as_ref())
        .map_err(|e| Refusal::Internal(format!("{:?}", e.failure)))?;
    let mut summary = json!({"request_id": accepted.id, "assertion_id": assertion_id, "acs": accepted.acs_url,
        "binding": "SOAP", "user_id": user.id.to_string(), "ip": ip, "mfa": false,
        "second_factor_enrolled": has_second_factor, "request_signature": reply.signed_with});
    trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", app.id, summary);
    state.audit.append_audit(&Actor::user(user.id), event).await?;
    crate::sign_on::tokens::keep(state, app, user.id, trace, &xml).await;
    Ok(soap(StatusCode::OK, response_envelope(&accepted.acs_url, &xml)))
}

async fn audit_denied(
    state: &AppState,
    app: &Application,
    user: &User,
    accepted: &AcceptedRequest,
    reason: &str,
    trace: &Trace,
    ip: &str,
) -> Result<(), StoreError> {
    let mut summary = json!({"user_id": user.id.to_string(), "ip": ip, "reason": reason,
                             "request_id": accepted.id, "binding": "SOAP"});
    trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::SamlDenied, "app", app.id, summary);
    state.audit.append_audit(&Actor::user(user.id), event).await
}

/// The HTTP Basic credentials, if any: `Err` when the header is there but unreadable.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let unreadable = || "the Authorization header is not HTTP Basic credentials".to_string();
    let value = value.to_str().map_err(|_| unreadable())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(unreadable)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unreadable());
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| unreadable())?;
    let text = String::from_utf8(decoded).map_err(|_| unreadable())?;
    let (name, password) = text.split_once(':').ok_or_else(unreadable)?;
    Ok(Some((name.to_string(), password.to_string())))
}

/// Why a request gets no token.
enum Refusal {
    /// The client's request, credentials or rights: `S:Client`, with whether the audit trail
    /// has it already (a failed password is `signin.failure`, a denial `saml.denied`).
    Fault { reason: &'static str, detail: String, audited: bool },
    /// Wrong credentials: 401 with a Basic challenge (the trail has the failed password).
    Challenge(String),
    /// No credentials: 401 with a Basic challenge, and nothing written. Most clients send
    /// their credentials only after the challenge; a refusal row for each would be noise.
    NoCredentials,
    /// A failure on our side: logged once, answered `S:Server`.
    Internal(String),
    /// Too many password checks at once: 503 with `Retry-After`, nothing written.
    Busy { retry_after_secs: u32 },
}

impl Refusal {
    fn client(reason: &'static str, detail: impl Into<String>) -> Self {
        Refusal::Fault { reason, detail: detail.into(), audited: false }
    }

    fn audited(detail: &str) -> Self {
        Refusal::Fault { reason: "audited", detail: detail.into(), audited: true }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Internal(e.to_string())
    }
}

impl From<tessera_auth::AuthError> for Refusal {
    fn from(e: tessera_auth::AuthError) -> Self {
        match e {
            tessera_auth::AuthError::Busy { retry_after_secs } => Refusal::Busy { retry_after_secs },
            other => Refusal::Internal(other.to_string()),
        }
    }
}

/// The fault, audited as `saml.refused` unless the trail has it already. Never a token.
async fn refuse(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    username: Option<&str>,
    refusal: Refusal,
) -> Response {
    let (status, code, reason, detail, audited) = match refusal {
        Refusal::Fault { reason, detail, audited } => {
            (StatusCode::INTERNAL_SERVER_ERROR, FaultCode::Client, reason, detail, audited)
        }
        Refusal::Challenge(detail) => {
            (StatusCode::UNAUTHORIZED, FaultCode::Client, "failed_authentication", detail, true)
        }
        Refusal::NoCredentials => {
            let detail = "the request carries no credentials".to_string();
            (StatusCode::UNAUTHORIZED, FaultCode::Client, "no_credentials", detail, true)
        }
        Refusal::Internal(cause) => {
            tracing::error!(app = %app.id, %cause, "an ECP request could not be answered");
            let detail = "Tessera could not answer now; try again shortly".to_string();
            (StatusCode::INTERNAL_SERVER_ERROR, FaultCode::Server, "unavailable", detail, false)
        }
        Refusal::Busy { retry_after_secs } => {
            let mut response = soap(
                StatusCode::SERVICE_UNAVAILABLE,
                fault_envelope(FaultCode::Server, "Tessera is busy; try again shortly"),
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return response;
        }
    };
    if !audited {
        let ip = ctx.audit_ip();
        let pseudonym = username.map(|name| state.keys.secrets().pseudonym(NAME_PSEUDONYM, &name.to_ascii_lowercase()));
        let summary = json!({"reason": reason, "detail": clip(&detail), "ip": ip, "binding": "SOAP",
                             "username_pseudonym": pseudonym});
        let event = NewAuditEvent::new(AuditAction::SamlRefused, "app", app.id, summary);
        if let Err(e) = state.audit.append_audit(&Actor::ip(&ip), event).await {
            // The fault goes out all the same (it gives nothing away); the lost row is logged.
            tracing::error!(error = %e, "could not audit an ECP refusal");
        }
    }
    let mut response = soap(status, fault_envelope(code, &detail));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(CHALLENGE));
    }
    response
}
