//! WS-Trust for the Microsoft 365 connector, under `/m365/{idp_path}/adfs/services/trust`
//! (AD FS's paths, which Windows and Office expect): the usernamemixed endpoints for WS-Trust
//! 1.3 and 2005, and MEX. A token needs what the browser flow needs: the right password under
//! the same lockout, a granted group, and the app's policy met, which here cannot include a
//! second factor: an app that requires MFA gets a fault that says so. A user who has a second
//! factor gets a password-only token (no `multipleauthn`), on which Entra runs its own MFA, and
//! the trail says the second factor was not shown.
//! The portal's password notice is not asked for: a device joining Entra ID has no page to
//! show it on.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tessera_auth::authenticate::{NAME_PSEUDONYM, PasswordAccepted, PasswordOutcome};
use tessera_auth::client::ClientAddresses;
use tessera_core::app::ENTRA_RELYING_PARTY;
use tessera_core::policy::{AuthnContext, Factor, decide_password_only};
use tessera_core::{Actor, Application, AuditAction, NewAuditEvent, User};
use tessera_protocols::saml2::sso::clip;
use tessera_protocols::saml11::{build_assertion, inside_corporate_network, m365_params, mapped_claims};
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::mex::{MexEndpoints, build_mex, build_mex_get_response};
use tessera_protocols::wstrust::request::{TokenRequest, parse_request};
use tessera_protocols::wstrust::response::build_response_envelope;
use tessera_protocols::wstrust::{SoapVersion, TrustVersion};
use tessera_store::StoreError;

use crate::error::{AppError, Failure, Soap, Text};
use crate::shell::context::RequestContext;
use crate::sign_on::Trace;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/m365/{idp_path}/adfs/services/trust/13/usernamemixed", post(usernamemixed))
        .route("/m365/{idp_path}/adfs/services/trust/2005/usernamemixed", post(usernamemixed))
        .route("/m365/{idp_path}/adfs/services/trust/mex", get(mex).post(mex));
    // A bigger body is refused (413) before it is read: the parser's cap is the same.
    crate::shell::body_limit::layers::<_, { tessera_xml::Limits::MESSAGE.max_bytes }>(routes)
}

async fn connector(state: &AppState, idp_path: &str) -> Result<Application, AppError<Text>> {
    match state.apps.find_app_by_idp_path(idp_path).await {
        Ok(app) => Ok(app),
        Err(StoreError::NotFound { .. }) => {
            Err(AppError::refused(StatusCode::NOT_FOUND, "not_found", "Not found", "no such application"))
        }
        Err(e) => Err(e.into()),
    }
}

/// MEX: the WSDL on GET; on POST (WS-Transfer Get), the same in a SOAP GetResponse.
async fn mex(
    State(state): State<AppState>,
    Path(idp_path): Path<String>,
    method: Method,
    body: Bytes,
) -> Result<Response, AppError<Text>> {
    let app = connector(&state, &idp_path).await?;
    let endpoints = app.endpoints(&state.public_url);
    let (Some(trust_13), Some(trust_2005)) = (endpoints.wstrust_13_usernamemixed, endpoints.wstrust_2005_usernamemixed)
    else {
        return Err(AppError::refused(StatusCode::NOT_FOUND, "not_found", "Not found", "no such application"));
    };
    let endpoints = MexEndpoints { trust_13: &trust_13, trust_2005: &trust_2005 };
    Ok(if method == Method::POST {
        xml_response(StatusCode::OK, SoapVersion::Soap12.content_type(), build_mex_get_response(&endpoints, &body))
    } else {
        xml_response(StatusCode::OK, "text/xml; charset=utf-8", build_mex(&endpoints))
    })
}

fn xml_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The action the transport names: the SOAPAction header, or SOAP 1.2's `action` parameter.
fn transport_action(headers: &HeaderMap) -> Option<String> {
    if let Some(action) = headers.get("soapaction").and_then(|v| v.to_str().ok()) {
        return Some(action.to_string());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())?;
    content_type.split(';').find_map(|p| p.trim().strip_prefix("action=")).map(|a| a.trim_matches('"').to_string())
}

/// A usernamemixed endpoint; which WS-Trust it speaks is in its path.
async fn usernamemixed(
    State(state): State<AppState>,
    ctx: RequestContext,
    matched: MatchedPath,
    Path(idp_path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError<Text>> {
    let version = if matched.as_str().contains("/trust/13/") { TrustVersion::V13 } else { TrustVersion::Feb2005 };
    let app = connector(&state, &idp_path).await?;
    let soap_guess = match body
        .windows(SoapVersion::Soap11.namespace().len())
        .any(|w| w == SoapVersion::Soap11.namespace().as_bytes())
    {
        true => SoapVersion::Soap11,
        false => SoapVersion::Soap12,
    };
    let request = match parse_request(&body, version, transport_action(&headers).as_deref()) {
        Ok(request) => request,
        Err(fault) => {
            let channel = Soap { soap: soap_guess, trust: version, relates_to: None };
            return Ok(refuse(&state, &ctx, &app, channel, None, Refusal::unaudited(fault)).await);
        }
    };
    let channel = Soap { soap: request.soap, trust: version, relates_to: request.message_id.clone() };
    Ok(match answer(&state, &ctx, &app, &request, &body).await {
        Ok(response) => response,
        Err(refusal) => refuse(&state, &ctx, &app, channel, Some(&request.username), refusal).await,
    })
}

/// Why a request gets no token.
enum Refusal {
    /// A fault, and whether the audit trail has it already (a failed password is
    /// `signin.failure`, a denial `wstrust.denied`).
    Fault { fault: TrustFault, audited: bool },
    /// A failure on our side: logged once, answered as "unavailable".
    Internal(String),
    /// Too many password checks at once: 503 with `Retry-After`, nothing written.
    Busy { retry_after_secs: u32 },
}

impl Refusal {
    fn unaudited(fault: TrustFault) -> Self {
        Refusal::Fault { fault, audited: false }
    }

    fn audited(fault: TrustFault) -> Self {
        Refusal::Fault { fault, audited: true }
    }
}

impl From<TrustFault> for Refusal {
    fn from(fault: TrustFault) -> Self {
        Refusal::unaudited(fault)
    }
}

/// Failures of the store, keys and XML on the way to a token are ours, never the client's.
macro_rules! internal_refusal {
    ($($error:ty),*) => {$(
        impl From<$error> for Refusal {
            fn from(e: $error) -> Self {
                Refusal::Internal(e.to_string())
            }
        }
    )*};
}

internal_refusal!(StoreError, tessera_keys::KeyError, tessera_xml::XmlError);

impl From<tessera_auth::AuthError> for Refusal {
    fn from(e: tessera_auth::AuthError) -> Self {
        match e {
            tessera_auth::AuthError::Busy { retry_after_secs } => Refusal::Busy { retry_after_secs },
            other => Refusal::Internal(other.to_string()),
        }
    }
}

async fn answer(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    request: &TokenRequest,
    body: &[u8],
) -> Result<Response, Refusal> {
    let endpoints = app.endpoints(&state.public_url);
    let endpoint_url = match request.trust {
        TrustVersion::V13 => endpoints.wstrust_13_usernamemixed,
        TrustVersion::Feb2005 => endpoints.wstrust_2005_usernamemixed,
    }
    .unwrap_or_default();
    let now = state.clock.now_millis();
    let skew = state.signin.clock_skew_ms;
    request.check(now, skew, &endpoint_url, &[ENTRA_RELYING_PARTY])?;

    // A turn at the password gate before anything is written: a request refused as busy
    // leaves no replay record behind, so the client's retry is not taken for a replay.
    let turn = state.signin.password_gate.turn().await?;
    // Replay: a message is accepted once, by its MessageID, or by its bytes when it has none.
    let replay_scope = format!("wstrust:{}", app.id);
    if !state
        .replay
        .remember_message_id(&replay_scope, &request.replay_key(body), request.remember_until(now, skew), now)
        .await?
    {
        return Err(TrustFault::MessageExpired("this message was received before".into()).into());
    }

    let Ok(from) = ctx.client() else {
        return Err(TrustFault::InvalidRequest("the forwarding header could not be read".into()).into());
    };
    // The RST as it was read, never its password, for the sign-in's trace.
    let trace = Trace::of(json!({
        "protocol": "wstrust", "trust": request.trust.name(), "soap": request.soap.name(),
        "username": request.username, "applies_to": request.applies_to, "message_id": request.message_id,
    }));
    let mut authenticator = state.authenticator();
    authenticator.trace = Some(trace.id.clone());
    let PasswordAccepted { user, has_second_factor } = match authenticator
        .check_password_in_turn(turn, from, &request.username, &request.password, "wstrust")
        .await?
    {
        PasswordOutcome::Accepted(accepted) => *accepted,
        PasswordOutcome::Failed => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "The user name or password is incorrect, or the account cannot sign in now.".into(),
            )));
        }
        PasswordOutcome::ChangeAtSource(_) => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "The password must be changed in the organization's directory before signing in.".into(),
            )));
        }
        PasswordOutcome::Throttled => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "There have been too many failed sign-ins from this network; wait a few minutes.".into(),
            )));
        }
    };
    let access = tessera_core::access::for_app(state.access.check_access(user.id, app.id).await?, &app.kind, &user.upn);
    let authn = AuthnContext::default().with(Factor::Password, now);
    if let Err(denial) = decide_password_only(&access, &app.policy, from.client, &authn) {
        audit_denied(state, app, &user, from, denial.as_str(), &trace).await?;
        return Err(Refusal::audited(TrustFault::RequestFailed(denial.user_message().into())));
    }

    let signer = state.keys.signer(app.id).await?;
    let issuer = app.issuer.as_deref().ok_or_else(|| Refusal::Internal("a connector without an issuer".into()))?;
    let assertion_id = format!("_{}", uuid::Uuid::new_v4().simple());
    let mut claims = mapped_claims(app, &user);
    claims.extend(state.signin.inside_corporate_network(from.client).map(inside_corporate_network));
    let params = m365_params(&user, issuer, claims, &authn, &assertion_id, now);
    let assertion = build_assertion(&params, signer.as_ref())?;
    let envelope = build_response_envelope(
        request.soap,
        request.trust,
        request.message_id.as_deref(),
        &params,
        &request.applies_to,
        &assertion,
    )?;
    // Fail closed: no token leaves without its audit row.
    let mut summary = json!({"user_id": user.id.to_string(), "ip": from.client.to_string(), "assertion_id": assertion_id,
               "trust": request.trust.name(), "soap": request.soap.name(), "mfa": false,
               "second_factor_enrolled": has_second_factor});
    trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::WsTrustIssued, "app", app.id, summary);
    state.audit.append_audit(&Actor::user(user.id), event).await?;
    crate::sign_on::tokens::keep(state, app, user.id, &trace, &envelope).await;
    Ok(xml_response(StatusCode::OK, request.soap.content_type(), envelope))
}

async fn audit_denied(
    state: &AppState,
    app: &Application,
    user: &User,
    from: &ClientAddresses,
    reason: &str,
    trace: &Trace,
) -> Result<(), StoreError> {
    let mut summary = json!({"user_id": user.id.to_string(), "ip": from.client.to_string(), "reason": reason});
    trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::WsTrustDenied, "app", app.id, summary);
    state.audit.append_audit(&Actor::user(user.id), event).await
}

/// The fault, audited as `wstrust.refused` unless the trail has it already. Never a token.
async fn refuse(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    channel: Soap,
    username: Option<&str>,
    refusal: Refusal,
) -> Response {
    let (failure, audited) = match refusal {
        Refusal::Fault { fault, audited } => (Failure::Fault(fault), audited),
        Refusal::Internal(cause) => (Failure::Internal { cause, unavailable: false }, false),
        // A flood is not written down request by request: that would be the work it avoids.
        Refusal::Busy { retry_after_secs } => (Failure::Busy { retry_after_secs }, true),
    };
    if !audited {
        let (code, detail) = match &failure {
            Failure::Fault(fault) => (fault.code(), clip(&fault.to_string())),
            _ => ("unavailable", "Tessera could not answer now; try again shortly".to_string()),
        };
        let ip = ctx.audit_ip();
        let event = NewAuditEvent::new(
            AuditAction::WsTrustRefused,
            "app",
            app.id,
            json!({"reason": code, "detail": detail, "ip": ip, "trust": channel.trust.name(),
                   "username_pseudonym": username.map(|name| state.keys.secrets().pseudonym(NAME_PSEUDONYM, &name.to_ascii_lowercase()))}),
        );
        if let Err(e) = state.audit.append_audit(&Actor::ip(&ip), event).await {
            // The fault goes out all the same (it gives nothing away); the lost row is logged.
            tracing::error!(error = %e, "could not audit a WS-Trust refusal");
        }
    }
    AppError::<Soap>::new(failure).on(channel).into_response()
}
