//! The windowstransport endpoints: Windows integrated authentication (Kerberos) for the
//! organization's own networks, as AD FS serves it to domain-joined Windows. A user's ticket
//! gets the user's token; a domain-joined computer's ticket (its account `WS01$`) gets the
//! hybrid join token Entra's device registration needs (`accounttype` `DJ`, `onpremobjectguid`,
//! `primarysid`, and `issuerid` with more than one federated domain), the computer's account
//! read from Active Directory when its ticket comes.
//!
//! The ticket comes as Windows sends it, in HTTP `Authorization: Negotiate` after a 401
//! challenge (MSAL for .NET's RST has no security header at all), or in the header's
//! BinarySecurityToken (the WS-Security Kerberos Token Profile). Served only with
//! `serve --kerberos-keytab`, and only to `--intranet` clients (after trusted proxies): others
//! get a fault, and MEX does not list these endpoints to them.

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, State};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use tessera_auth::client::ClientAddresses;
use tessera_auth::kerberos::{KerberosAcceptor, KerberosOutcome, Welcome};
use tessera_core::app::ENTRA_RELYING_PARTY;
use tessera_core::computers::DomainComputer;
use tessera_core::policy::{AuthnContext, Factor, PolicyDenial};
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent};
use tessera_protocols::saml11::m365_device_params;
use tessera_protocols::wstrust::TrustVersion;
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::request::{WindowsTokenRequest, parse_windows_request};
use tessera_store::{PageRequest, StoreError};

use super::{
    Answering, Refusal, connector, corporate_network_claim, issue_for_user, issuer_of, merge, not_found, refuse,
    refuse_unread, transport_action, version_of, xml_response,
};
use crate::error::{AppError, Soap, Text};
use crate::shell::context::RequestContext;
use crate::sign_on::Trace;
use crate::signin::windows_sign_in::{negotiate_token, offered};
use crate::state::AppState;

/// A windowstransport endpoint; which WS-Trust it speaks is in its path.
pub(super) async fn windowstransport(
    State(state): State<AppState>,
    ctx: RequestContext,
    matched: MatchedPath,
    Path(idp_path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError<Text>> {
    let version = version_of(matched.as_str());
    let app = connector(&state, &idp_path).await?;
    // Without a keytab there is no such endpoint, as AD FS's is off until it is enabled.
    let Some(acceptor) = state.signin.kerberos.clone() else { return Err(not_found()) };
    // Outside the organization's networks nothing of the request is read.
    if !offered(&state, &ctx) {
        let fault = TrustFault::RequestFailed(
            "Windows integrated authentication is served to the organization's own networks only.".into(),
        );
        return Ok(refuse_unread(&state, &ctx, &app, &body, version, fault).await);
    }
    let request = match parse_windows_request(&body, version, transport_action(&headers).as_deref()) {
        Ok(request) => request,
        Err(fault) => return Ok(refuse_unread(&state, &ctx, &app, &body, version, fault).await),
    };
    let channel = Soap { soap: request.soap, trust: version, relates_to: request.message_id.clone() };
    let Some(token) = request.kerberos.clone().or_else(|| negotiate_token(&headers)) else {
        return Ok(challenge(channel));
    };
    Ok(match answer(&state, &ctx, &app, &acceptor, &request, token).await {
        Ok(response) => response,
        Err(refusal) => refuse(&state, &ctx, &app, channel, None, refusal).await,
    })
}

/// The first leg of HTTP `Negotiate`: 401 and the challenge, with a fault saying what is asked
/// for (a client without a ticket reads that). Not audited: it is how every exchange begins.
fn challenge(channel: Soap) -> Response {
    let fault = TrustFault::FailedAuthentication("Windows integrated authentication (Kerberos) is required.".into());
    let mut response = AppError::<Soap>::new(crate::error::Failure::Fault(fault)).on(channel).into_response();
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
    response
}

async fn answer(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    acceptor: &KerberosAcceptor,
    request: &WindowsTokenRequest,
    token: Vec<u8>,
) -> Result<Response, Refusal> {
    let endpoints = app.endpoints(&state.public_url);
    let endpoint_url = match request.trust {
        TrustVersion::V13 => endpoints.wstrust_13_windowstransport,
        TrustVersion::Feb2005 => endpoints.wstrust_2005_windowstransport,
    }
    .unwrap_or_default();
    let now = state.clock.now_millis();
    let skew = state.signin.clock_skew_ms;
    request.check(now, skew, &endpoint_url, &[ENTRA_RELYING_PARTY])?;
    let Ok(from) = ctx.client() else {
        return Err(TrustFault::InvalidRequest("the forwarding header could not be read".into()).into());
    };
    let trace = Trace::of(json!({
        "protocol": "wstrust", "trust": request.trust.name(), "soap": request.soap.name(), "via": "kerberos",
        "applies_to": request.applies_to, "message_id": request.message_id,
    }));
    let mut authenticator = state.authenticator();
    authenticator.trace = Some(trace.id.clone());
    let outcome =
        authenticator.check_kerberos(acceptor, state.principals(), Welcome::UsersAndComputers, from, token).await?;
    // The ticket's authenticator is recorded against replays already; the message is remembered
    // once someone is proven, so that nobody unproven can fill the record. Without a MessageID
    // there is nothing more to remember (a message's bytes repeat from an honest client that
    // asks again with a fresh ticket).
    if !matches!(outcome, KerberosOutcome::Refused)
        && let Some(message_id) = &request.message_id
        && !state
            .replay
            .remember_message_id(
                &format!("wstrust-windows:{}", app.id),
                message_id,
                request.remember_until(now, skew),
                now,
            )
            .await?
    {
        return Err(TrustFault::MessageExpired("this message was received before".into()).into());
    }
    let answering = Answering {
        soap: request.soap,
        trust: request.trust,
        message_id: request.message_id.as_deref(),
        applies_to: &request.applies_to,
    };
    let authn = AuthnContext::default().with(Factor::Kerberos, now);
    let (response, reply) = match outcome {
        KerberosOutcome::Accepted { user, has_second_factor, reply } => {
            let how = json!({"second_factor_enrolled": has_second_factor, "via": "kerberos"});
            (issue_for_user(state, app, &user, &authn, from, &answering, &trace, how).await?, reply)
        }
        KerberosOutcome::Computer { computer, realm, reply } => {
            let device = Device { computer: &computer, realm: &realm };
            (issue_for_computer(state, app, &device, &authn, from, &answering, &trace).await?, reply)
        }
        KerberosOutcome::Refused => {
            return Err(Refusal::audited(TrustFault::FailedAuthentication(
                "The Kerberos ticket was not accepted.".into(),
            )));
        }
    };
    Ok(with_mutual_authentication(response, reply))
}

/// GSSAPI's answer token, for a client that asked for mutual authentication.
fn with_mutual_authentication(mut response: Response, reply: Option<Vec<u8>>) -> Response {
    if let Some(reply) = reply {
        let value = format!("Negotiate {}", base64::engine::general_purpose::STANDARD.encode(reply));
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// A computer whose ticket was taken, and the realm it came from.
struct Device<'a> {
    computer: &'a DomainComputer,
    realm: &'a str,
}

/// A domain-joined computer's hybrid join token: from a connector that vouches for the
/// computers of its realm (`app set --device-realm`), to any enabled member of Domain
/// Computers there, as under AD FS's rules (group grants are for people; a device token opens
/// nothing but the device's registration). Another realm's computer is denied
/// (`wstrust.denied`).
async fn issue_for_computer(
    state: &AppState,
    app: &Application,
    device: &Device<'_>,
    authn: &AuthnContext,
    from: &ClientAddresses,
    answering: &Answering<'_>,
    trace: &Trace,
) -> Result<Response, Refusal> {
    let computer = device.computer;
    let vouched = matches!(&app.kind, AppKind::M365(c) if c.vouches_for_devices_of(device.realm));
    // The app's networks hold for devices as for people (its other rules, a second factor, are
    // for people).
    let denial = match (vouched, app.policy.allows_network(from.client)) {
        (false, _) => Some((
            "device_realm_not_granted",
            format!("This connector gives no device tokens to computers of {}.", device.realm),
        )),
        (true, false) => {
            let denial = PolicyDenial::NetworkNotAllowed;
            Some((denial.as_str(), denial.user_message().to_string()))
        }
        (true, true) => None,
    };
    if let Some((reason, message)) = denial {
        let mut summary = json!({"device": computer.account, "realm": device.realm, "ip": from.client.to_string(),
                                 "reason": reason});
        trace.mark(&mut summary, true);
        let event = NewAuditEvent::new(AuditAction::WsTrustDenied, "app", app.id, summary);
        state.audit.append_audit(&Actor::client(from.client), event).await?;
        return Err(Refusal::audited(TrustFault::RequestFailed(message)));
    }
    let now = state.clock.now_millis();
    let signer = state.keys.signer(app.id).await?;
    let issuer = issuer_of(app)?;
    let issuer_id = several_federated_domains(state).await?.then_some(issuer);
    let assertion_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let claims = corporate_network_claim(state, from).into_iter().collect();
    let params = m365_device_params(computer, issuer, issuer_id, claims, authn, &assertion_id, now);
    let envelope = answering.envelope(&params, signer.as_ref())?;
    let mut summary = answering.summary();
    merge(
        &mut summary,
        json!({"device": computer.account, "object_guid": computer.object_guid, "ip": from.client.to_string(),
               "assertion_id": assertion_id, "via": "kerberos", "issuer_id": issuer_id.is_some()}),
    );
    trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::WsTrustIssued, "app", app.id, summary);
    state.audit.append_audit(&Actor::client(from.client), event).await?;
    Ok(xml_response(StatusCode::OK, answering.soap.content_type(), envelope))
}

/// Whether more than one domain is federated to this deployment: Entra then needs a computer's
/// token to say which (`issuerid`).
async fn several_federated_domains(state: &AppState) -> Result<bool, StoreError> {
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    let mut connectors = 0;
    loop {
        let got = state.apps.list_apps(&page).await?;
        connectors += got.items.iter().filter(|app| matches!(app.kind, AppKind::M365(_))).count();
        if connectors > 1 {
            return Ok(true);
        }
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(false),
        }
    }
}
