//! WS-Trust for the Microsoft 365 connector, under `/m365/{idp_path}/adfs/services/trust`
//! (AD FS's paths, which Windows and Office expect): the usernamemixed endpoints for WS-Trust
//! 1.3 and 2005, and MEX. A token needs what the browser flow needs: the right password under
//! the same lockout, a granted group, and the app's policy met, which here cannot include a
//! second factor: an app that requires MFA, or a user who has a second factor, gets a fault. The portal's password notice is not asked for: a device joining Entra ID
//! has no page to show it on.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tessera_core::app::ENTRA_RELYING_PARTY;
use tessera_core::policy::{AuthnContext, Factor, PolicyOutcome, decide};
use tessera_core::{Actor, Application, NewAuditEvent};
use tessera_protocols::saml11::{build_assertion, m365_params};
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::mex::{MexEndpoints, build_mex, build_mex_get_response};
use tessera_protocols::wstrust::request::{TokenRequest, parse_request};
use tessera_protocols::wstrust::response::build_response_envelope;
use tessera_protocols::wstrust::{SoapVersion, TrustVersion};
use tessera_store::StoreError;

use crate::AppState;
use crate::signin::password::{PasswordAccepted, PasswordRefusal, check_password};
use crate::signin::{audit_ip, client_addresses, peer, session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/m365/{idp_path}/adfs/services/trust/13/usernamemixed", post(usernamemixed))
        .route("/m365/{idp_path}/adfs/services/trust/2005/usernamemixed", post(usernamemixed))
        .route("/m365/{idp_path}/adfs/services/trust/mex", get(mex).post(mex))
        // A bigger body is refused (413) before it is read: the parser's cap is the same.
        .layer(axum::extract::DefaultBodyLimit::max(tessera_xml::Limits::MESSAGE.max_bytes))
}

async fn connector(state: &AppState, idp_path: &str) -> Result<Application, Response> {
    match state.store.find_app_by_idp_path(idp_path).await {
        Ok(app) => Ok(app),
        Err(StoreError::NotFound { .. }) => Err((StatusCode::NOT_FOUND, "no such application").into_response()),
        Err(e) => {
            tracing::error!(error = %e, "connector lookup failed");
            Err((StatusCode::SERVICE_UNAVAILABLE, "unavailable; retry shortly").into_response())
        }
    }
}

/// A connector's usernamemixed endpoints, which MEX lists.
fn mex_endpoints(app: &Application, public_url: &str) -> Option<(String, String)> {
    let endpoints = app.endpoints(public_url);
    Some((endpoints.wstrust_13_usernamemixed?, endpoints.wstrust_2005_usernamemixed?))
}

/// MEX: the WSDL on GET; on POST (WS-Transfer Get), the same in a SOAP GetResponse.
async fn mex(State(state): State<AppState>, Path(idp_path): Path<String>, method: Method, body: Bytes) -> Response {
    let app = match connector(&state, &idp_path).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let Some((trust_13, trust_2005)) = mex_endpoints(&app, &state.public_url) else {
        return (StatusCode::NOT_FOUND, "no such application").into_response();
    };
    let endpoints = MexEndpoints { trust_13: &trust_13, trust_2005: &trust_2005 };
    if method == Method::POST {
        xml_response(StatusCode::OK, SoapVersion::Soap12.content_type(), build_mex_get_response(&endpoints, &body))
    } else {
        xml_response(StatusCode::OK, "text/xml; charset=utf-8", build_mex(&endpoints))
    }
}

fn xml_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A usernamemixed endpoint; which WS-Trust it speaks is in its path.
async fn usernamemixed(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    matched: MatchedPath,
    Path(idp_path): Path<String>,
    body: Bytes,
) -> Response {
    let version = if matched.as_str().contains("/trust/13/") { TrustVersion::V13 } else { TrustVersion::Feb2005 };
    issue(&state, &extensions, &headers, &idp_path, version, &body).await
}

/// The action the transport names: the SOAPAction header, or SOAP 1.2's `action` parameter.
fn transport_action(headers: &HeaderMap) -> Option<String> {
    if let Some(action) = headers.get("soapaction").and_then(|v| v.to_str().ok()) {
        return Some(action.to_string());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())?;
    content_type.split(';').find_map(|p| p.trim().strip_prefix("action=")).map(|a| a.trim_matches('"').to_string())
}

async fn issue(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    idp_path: &str,
    version: TrustVersion,
    body: &[u8],
) -> Response {
    let app = match connector(state, idp_path).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let soap_guess =
        if body.windows(SoapVersion::Soap11.namespace().len()).any(|w| w == SoapVersion::Soap11.namespace().as_bytes())
        {
            SoapVersion::Soap11
        } else {
            SoapVersion::Soap12
        };
    let request = match parse_request(body, version, transport_action(headers).as_deref()) {
        Ok(request) => request,
        Err(fault) => {
            let refusal = Refusal::from(fault);
            return refuse(state, extensions, headers, &app, soap_guess, version, None, None, refusal).await;
        }
    };
    let relates = request.message_id.clone();
    match answer(state, extensions, headers, &app, &request, body).await {
        Ok(response) => response,
        Err(refusal) => {
            refuse(
                state,
                extensions,
                headers,
                &app,
                request.soap,
                version,
                relates.as_deref(),
                Some(&request.username),
                refusal,
            )
            .await
        }
    }
}

/// A fault, and whether the audit trail has it already (a failed password is `signin.failure`).
struct Refusal {
    fault: TrustFault,
    audited: bool,
}

impl From<TrustFault> for Refusal {
    fn from(fault: TrustFault) -> Self {
        Refusal { fault, audited: false }
    }
}

async fn answer(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    request: &TokenRequest,
    body: &[u8],
) -> Result<Response, Refusal> {
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "WS-Trust issuance failed");
        TrustFault::Unavailable("Tessera could not answer now; try again shortly".into())
    };
    let endpoints = app.endpoints(&state.public_url);
    let endpoint_url = match request.trust {
        TrustVersion::V13 => endpoints.wstrust_13_usernamemixed,
        TrustVersion::Feb2005 => endpoints.wstrust_2005_usernamemixed,
    }
    .unwrap_or_default();
    let now = session::now();
    let skew = state.signin.clock_skew_ms;
    request.check(now, skew, &endpoint_url, &[ENTRA_RELYING_PARTY])?;

    // Replay: a message is accepted once, by its MessageID, or by its bytes when it has none;
    // remembered for as long as its Timestamp would still pass.
    let key = match &request.message_id {
        Some(id) => id.clone(),
        None => format!("sha256:{}", tessera_auth::secret::sha256_hex(&String::from_utf8_lossy(body))),
    };
    let issuer = format!("wstrust:{}", app.id);
    match state.store.remember_message_id(&issuer, &key, request.created.max(now) + 2 * skew, now).await {
        Ok(true) => {}
        Ok(false) => return Err(TrustFault::MessageExpired("this message was received before".into()).into()),
        Err(e) => return Err(unavailable(&e).into()),
    }

    let Some(addresses) = client_addresses(peer(extensions), headers, &state.signin.trusted_proxies) else {
        return Err(TrustFault::InvalidRequest("the forwarding header could not be read".into()).into());
    };
    let PasswordAccepted { user, has_totp } =
        match check_password(state, &addresses, &request.username, &request.password, "wstrust").await {
            Ok(accepted) => accepted,
            Err(PasswordRefusal::Failed) => {
                let fault = TrustFault::FailedAuthentication(
                    "The user name or password is incorrect, or the account cannot sign in now.".into(),
                );
                return Err(Refusal { fault, audited: true });
            }
            Err(PasswordRefusal::Throttled) => {
                let fault = TrustFault::FailedAuthentication(
                    "There have been too many failed sign-ins from this network; wait a few minutes.".into(),
                );
                return Err(Refusal { fault, audited: true });
            }
            Err(PasswordRefusal::Store(e)) => return Err(unavailable(&e).into()),
        };
    // A user with a second factor shows it at every sign-in in the browser; a password alone
    // must not stand in for it here.
    if has_totp {
        audit_denied(state, app, &user, &addresses.client.to_string(), "second_factor_enrolled")
            .await
            .map_err(|e| unavailable(&e))?;
        let fault = TrustFault::RequestFailed(
            "This account signs in with a second factor, which a password-only (WS-Trust) sign-in cannot show. \
             Sign in through the browser instead."
                .into(),
        );
        return Err(Refusal { fault, audited: true });
    }
    let access = state.store.check_access(user.id, app.id).await.map_err(|e| unavailable(&e))?;
    let authn = AuthnContext::default().with(Factor::Password, now);
    match decide(&access, &app.policy, addresses.client, &authn) {
        PolicyOutcome::Allow => {}
        PolicyOutcome::Deny(denial) => {
            audit_denied(state, app, &user, &addresses.client.to_string(), denial.as_str())
                .await
                .map_err(|e| unavailable(&e))?;
            return Err(Refusal { fault: TrustFault::RequestFailed(denial.user_message().into()), audited: true });
        }
        PolicyOutcome::NeedSecondFactor => {
            audit_denied(state, app, &user, &addresses.client.to_string(), "mfa_required")
                .await
                .map_err(|e| unavailable(&e))?;
            let fault = TrustFault::RequestFailed(
                "This application requires multi-factor authentication, which a password-only (WS-Trust) sign-in cannot \
                 provide. Sign in through the browser instead."
                    .into(),
            );
            return Err(Refusal { fault, audited: true });
        }
    }

    let signer = state.keys.signer(app.id).await.map_err(|e| unavailable(&e))?;
    let issuer = app.issuer.as_deref().ok_or_else(|| unavailable(&"a connector without an issuer"))?;
    let assertion_id = format!("_{}", uuid::Uuid::new_v4().simple());
    let params = m365_params(&user, issuer, crate::wsfed::extra_claims(app, &user), &authn, &assertion_id, now);
    let envelope = build_assertion(&params, signer.as_ref())
        .and_then(|assertion| {
            build_response_envelope(
                request.soap,
                request.trust,
                request.message_id.as_deref(),
                &params,
                &request.applies_to,
                &assertion,
            )
        })
        .map_err(|e| unavailable(&e))?;
    // Fail closed: no token leaves without its audit row.
    let event = NewAuditEvent::new(
        "wstrust.issued",
        "app",
        app.id,
        json!({"user_id": user.id.to_string(), "ip": addresses.client.to_string(), "assertion_id": assertion_id,
               "trust": request.trust.name(), "soap": request.soap.name()}),
    );
    state.store.append_audit(&Actor(format!("user:{}", user.id)), event).await.map_err(|e| unavailable(&e))?;
    Ok(xml_response(StatusCode::OK, request.soap.content_type(), envelope))
}

async fn audit_denied(
    state: &AppState,
    app: &Application,
    user: &tessera_core::User,
    ip: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let event = NewAuditEvent::new(
        "wstrust.denied",
        "app",
        app.id,
        json!({"user_id": user.id.to_string(), "ip": ip, "reason": reason}),
    );
    state.store.append_audit(&Actor(format!("user:{}", user.id)), event).await
}

/// A fault, audited as `wstrust.refused` unless the trail has it already. Never a token.
#[allow(clippy::too_many_arguments)] // the request's context, each part needed for the answer or the audit row
async fn refuse(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    soap: SoapVersion,
    trust: TrustVersion,
    relates_to: Option<&str>,
    username: Option<&str>,
    refusal: Refusal,
) -> Response {
    let Refusal { fault, audited } = refusal;
    if !audited {
        let ip = audit_ip(state, extensions, headers);
        let event = NewAuditEvent::new(
            "wstrust.refused",
            "app",
            app.id,
            json!({"reason": fault.code(), "detail": tessera_protocols::saml2::sso::clip(&fault.to_string()),
                   "username": username.map(tessera_protocols::saml2::sso::clip), "ip": ip, "trust": trust.name()}),
        );
        if let Err(e) = state.store.append_audit(&Actor(format!("ip:{ip}")), event).await {
            tracing::error!(error = %e, "could not audit a WS-Trust refusal");
        }
    }
    let status = StatusCode::from_u16(fault.http_status(soap)).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    xml_response(status, soap.content_type(), fault.envelope(soap, trust, relates_to))
}
