//! WS-Trust for the Microsoft 365 connector, under `/m365/{idp_path}/adfs/services/trust`
//! (AD FS's paths, which Windows and Office expect): the usernamemixed endpoints for WS-Trust
//! 1.3 and 2005 (`usernamemixed`), the windowstransport ones for Kerberos (`windowstransport`,
//! the organization's networks only), and MEX. A token needs what the browser flow needs: the
//! user proven under the same lockout, a granted group, and the app's policy met, which here
//! cannot include a second factor: an app that requires MFA gets a fault that says so. A user
//! who has a second factor gets a single-factor token (no `multipleauthn`), on which Entra runs
//! its own MFA, and the trail says the second factor was not shown.
//! The portal's password notice is not asked for: a device joining Entra ID has no page to
//! show it on.

mod usernamemixed;
mod windowstransport;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tessera_auth::authenticate::NAME_PSEUDONYM;
use tessera_auth::client::ClientAddresses;
use tessera_core::policy::{AuthnContext, decide_password_only};
use tessera_core::{Actor, Application, AuditAction, NewAuditEvent, User};
use tessera_protocols::saml2::sso::clip;
use tessera_protocols::saml11::{Claim, build_assertion, inside_corporate_network, m365_params, mapped_claims};
use tessera_protocols::wstrust::fault::TrustFault;
use tessera_protocols::wstrust::mex::{MexEndpoints, WindowsEndpoints, build_mex, build_mex_get_response};
use tessera_protocols::wstrust::response::build_response_envelope;
use tessera_protocols::wstrust::{SoapVersion, TrustVersion};
use tessera_store::StoreError;

use crate::error::{AppError, Failure, Soap, Text};
use crate::shell::context::RequestContext;
use crate::sign_on::Trace;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    let base = "/m365/{idp_path}/adfs/services/trust";
    let routes = Router::new()
        .route(&format!("{base}/13/usernamemixed"), post(usernamemixed::usernamemixed))
        .route(&format!("{base}/2005/usernamemixed"), post(usernamemixed::usernamemixed))
        .route(&format!("{base}/13/windowstransport"), post(windowstransport::windowstransport))
        .route(&format!("{base}/2005/windowstransport"), post(windowstransport::windowstransport))
        .route(&format!("{base}/mex"), get(mex).post(mex));
    // A bigger body is refused (413) before it is read: the parser's cap is the same.
    crate::shell::body_limit::layers::<_, { tessera_xml::Limits::MESSAGE.max_bytes }>(routes)
}

async fn connector(state: &AppState, idp_path: &str) -> Result<Application, AppError<Text>> {
    match state.apps.find_app_by_idp_path(idp_path).await {
        Ok(app) => Ok(app),
        Err(StoreError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

fn not_found() -> AppError<Text> {
    AppError::refused(StatusCode::NOT_FOUND, "not_found", "Not found", "no such application")
}

/// MEX: the WSDL on GET; on POST (WS-Transfer Get), the same in a SOAP GetResponse. The
/// windowstransport endpoints are listed only to a client they serve (AD FS keeps them off
/// its proxy for the same reason: outside, they are of no use and say what is inside).
async fn mex(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(idp_path): Path<String>,
    method: Method,
    body: Bytes,
) -> Result<Response, AppError<Text>> {
    let app = connector(&state, &idp_path).await?;
    let endpoints = app.endpoints(&state.public_url);
    let (Some(trust_13), Some(trust_2005)) = (endpoints.wstrust_13_usernamemixed, endpoints.wstrust_2005_usernamemixed)
    else {
        return Err(not_found());
    };
    let windows = match (endpoints.wstrust_13_windowstransport, endpoints.wstrust_2005_windowstransport) {
        (Some(trust_13), Some(trust_2005)) if crate::signin::windows_sign_in::offered(&state, &ctx) => {
            Some((trust_13, trust_2005))
        }
        _ => None,
    };
    let endpoints = MexEndpoints {
        trust_13: &trust_13,
        trust_2005: &trust_2005,
        windows: windows.as_ref().map(|(trust_13, trust_2005)| WindowsEndpoints { trust_13, trust_2005 }),
    };
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

/// The SOAP version a request that could not be read was most likely in, for its fault.
fn soap_guess(body: &[u8]) -> SoapVersion {
    let soap11 = SoapVersion::Soap11.namespace().as_bytes();
    match body.windows(soap11.len()).any(|w| w == soap11) {
        true => SoapVersion::Soap11,
        false => SoapVersion::Soap12,
    }
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

/// The request a token answers: how to wrap it, and for whom.
struct Answering<'a> {
    soap: SoapVersion,
    trust: TrustVersion,
    message_id: Option<&'a str>,
    applies_to: &'a str,
}

impl Answering<'_> {
    /// The signed assertion wrapped in this request's RSTR, with the request's facts for the
    /// audit row.
    fn envelope(
        &self,
        params: &tessera_protocols::saml11::AssertionParams<'_>,
        signer: &dyn tessera_xml::Signer,
    ) -> Result<String, Refusal> {
        let assertion = build_assertion(params, signer)?;
        Ok(build_response_envelope(self.soap, self.trust, self.message_id, params, self.applies_to, &assertion)?)
    }

    fn summary(&self) -> serde_json::Value {
        json!({"trust": self.trust.name(), "soap": self.soap.name()})
    }
}

/// A user's token for `app` after they were proven as `authn` says: their grants and the app's
/// policy first (a denial is audited `wstrust.denied`), then the token, its audit row (`how`
/// joined to the summary), and the traced copy.
#[allow(clippy::too_many_arguments)] // one argument per fact the token and its audit row need
async fn issue_for_user(
    state: &AppState,
    app: &Application,
    user: &User,
    authn: &AuthnContext,
    from: &ClientAddresses,
    answering: &Answering<'_>,
    trace: &Trace,
    how: serde_json::Value,
) -> Result<Response, Refusal> {
    let access = tessera_core::access::for_app(state.access.check_access(user.id, app.id).await?, &app.kind, &user.upn);
    if let Err(denial) = decide_password_only(&access, &app.policy, from.client, authn) {
        audit_denied(state, app, user, from, denial.as_str(), trace).await?;
        return Err(Refusal::audited(TrustFault::RequestFailed(denial.user_message().into())));
    }
    let now = state.clock.now_millis();
    let signer = state.keys.signer(app.id).await?;
    let issuer = issuer_of(app)?;
    let assertion_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let mut claims = mapped_claims(app, user);
    claims.extend(corporate_network_claim(state, from));
    claims.extend(state.password_expiry_claims(user, authn).await);
    let params = m365_params(user, issuer, claims, authn, &assertion_id, now);
    let envelope = answering.envelope(&params, signer.as_ref())?;
    // Fail closed: no token leaves without its audit row.
    let mut summary = answering.summary();
    merge(
        &mut summary,
        json!({"user_id": user.id.to_string(), "ip": from.client.to_string(),
                               "assertion_id": assertion_id, "mfa": false}),
    );
    merge(&mut summary, how);
    trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::WsTrustIssued, "app", app.id, summary);
    state.audit.append_audit(&Actor::user(user.id), event).await?;
    crate::sign_on::tokens::keep(state, app, user.id, trace, &envelope).await;
    Ok(xml_response(StatusCode::OK, answering.soap.content_type(), envelope))
}

fn issuer_of(app: &Application) -> Result<&str, Refusal> {
    app.issuer.as_deref().ok_or_else(|| Refusal::Internal("a connector without an issuer".into()))
}

/// AD FS's `insidecorporatenetwork`, where the organization's networks are configured.
fn corporate_network_claim(state: &AppState, from: &ClientAddresses) -> Option<Claim> {
    state.signin.inside_corporate_network(from.client).map(inside_corporate_network)
}

fn merge(into: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(more)) = (into.as_object_mut(), more) {
        into.extend(more);
    }
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

/// The fault for a request refused before it was read (or could be): in the SOAP version its
/// bytes suggest, with no RelatesTo. Audited `wstrust.refused`.
async fn refuse_unread(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    body: &[u8],
    trust: TrustVersion,
    fault: TrustFault,
) -> Response {
    let channel = Soap { soap: soap_guess(body), trust, relates_to: None };
    refuse(state, ctx, app, channel, None, Refusal::unaudited(fault)).await
}

/// Which WS-Trust an endpoint speaks, from its path.
fn version_of(path: &str) -> TrustVersion {
    if path.contains("/trust/13/") { TrustVersion::V13 } else { TrustVersion::Feb2005 }
}
