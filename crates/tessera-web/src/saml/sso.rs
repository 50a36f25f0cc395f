//! Single sign-on. An AuthnRequest (HTTP-Redirect or HTTP-POST) is checked against the
//! application's registered SP, then answered: at once on a live session, or after sign-in
//! through a parked sign-on. Its ID is recorded against replay in the same trip to the store
//! as the answer's audit record (or when the request is parked), so an answer waits for one
//! write. The answer is an auto-POST page to the registered ACS. A GET without a request is
//! IdP-initiated: an unsolicited response for a SAML app, Microsoft's sign-in page (the Login
//! URL) for a Microsoft 365 connector.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_core::policy::{AuthnContext, Demand};
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent, UnixMillis, User};
use tessera_protocols::percent;
use tessera_protocols::saml2::logout::{STATUS_REQUESTER, STATUS_RESPONDER, StatusMessage, build_status_response};
use tessera_protocols::saml2::registration::Registration;
use tessera_protocols::saml2::response::{Signing, build_response, m365_params, sp_params, sp_values};
use tessera_protocols::saml2::sso::{
    AcceptedRequest, Binding, RequestedContext, SamlReply, accept_authn_request, clip, idp_initiated_relay_state,
};
use tessera_store::{MessageClaim, TokenRecord, TokenRecorded};
use tessera_xml::Signer;

use super::{SIGN_IN_REFUSED, find, post_message};
use crate::error::AppError;
use crate::shell::apps::AppRoute;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::refusal::refuse;
use crate::sign_on::{self, Denial, Go, PendingSignOn, Step, Trace};
use crate::state::AppState;

const NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
const NO_AUTHN_CONTEXT: &str = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext";
const INVALID_NAME_ID_POLICY: &str = "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";
const REQUEST_DENIED: &str = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied";

#[derive(Deserialize)]
pub struct PostedRequest {
    #[serde(rename = "SAMLRequest", default)]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A GET: an AuthnRequest by HTTP-Redirect, or without one, IdP-initiated sign-on.
pub async fn get(
    State(state): State<AppState>,
    ctx: RequestContext,
    route: AppRoute,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let app = find(&state, route).await?;
    let query = query.unwrap_or_default();
    if percent::has_param(&query, "SAMLRequest") {
        return answer_request(&state, &ctx, &app, Binding::Redirect { raw_query: &query }).await;
    }
    idp_initiated(&state, &ctx, &app, &query).await
}

/// A POST: an AuthnRequest by HTTP-POST.
pub async fn post(
    State(state): State<AppState>,
    ctx: RequestContext,
    route: AppRoute,
    form: Result<Form<PostedRequest>, FormRejection>,
) -> Result<Response, AppError> {
    let app = find(&state, route).await?;
    // A body that is not a form of one SAMLRequest is refused like any other bad request.
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => {
            let detail = clip(&rejection.body_text());
            return super::refuse_form(&state, &ctx, &app, &SIGN_IN_REFUSED, rejection.status(), &detail).await;
        }
    };
    let binding = Binding::Post { saml_request: &form.saml_request, relay_state: form.relay_state.as_deref() };
    answer_request(&state, &ctx, &app, binding).await
}

async fn answer_request(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    binding: Binding<'_>,
) -> Result<Response, AppError> {
    let registration = Registration::of(app)?;
    let sso_url =
        app.saml_sso_url(&state.public_url).ok_or_else(|| AppError::internal("a SAML app without an SSO URL"))?;
    let now = state.clock.now_millis();
    let skew = state.signin.clock_skew_ms;
    let binding_kind = matches!(binding, Binding::Post { .. });
    let accepted: AcceptedRequest = match accept_authn_request(binding, &registration.registered(), &sso_url, now, skew)
    {
        Ok(accepted) => accepted,
        Err(refusal) => return refuse(state, ctx, app, &SIGN_IN_REFUSED, refusal.code(), &refusal.to_string()).await,
    };
    let claim = MessageClaim {
        issuer: accepted.issuer.clone(),
        message_id: accepted.id.clone(),
        expires_at: AcceptedRequest::remember_until(now, skew),
        now,
    };
    let binding_name = match binding_kind {
        true => "HTTP-POST",
        false => "HTTP-Redirect",
    };
    // The AuthnRequest as it was read, for the sign-in's trace.
    let request = json!({
        "protocol": "saml", "binding": binding_name, "id": accepted.id, "issuer": accepted.issuer,
        "issue_instant": tessera_core::format_millis(accepted.issue_instant), "acs": accepted.acs_url,
        "force_authn": accepted.force_authn, "is_passive": accepted.is_passive, "context": accepted.context,
        "signed_with": accepted.signed_with.map(|a| a.uri().to_string()),
        "relay_state": accepted.relay_state.is_some(),
        "unsupported_name_id_format": accepted.unsupported_name_id_format,
    });
    let pending = PendingSignOn {
        app: app.id,
        demand: accepted.demand(),
        login_hint: None,
        received_at: now,
        trace: Trace::of(request),
        reply: accepted.reply(),
    };
    // A valid request this IdP cannot satisfy is answered at the registered ACS.
    if let Some(format) = &accepted.unsupported_name_id_format {
        tracing::info!(app = %app.id, %format, "NameID format not issued for this SP");
        return status_answer(state, ctx, app, &pending, Some(&claim), INVALID_NAME_ID_POLICY).await;
    }
    if accepted.context == RequestedContext::Unsatisfiable {
        return status_answer(state, ctx, app, &pending, Some(&claim), NO_AUTHN_CONTEXT).await;
    }
    sign_on_with(state, ctx, app, pending, Some(&claim)).await
}

async fn idp_initiated(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    query: &str,
) -> Result<Response, AppError> {
    if let AppKind::M365(c) = &app.kind {
        // Entra accepts no unsolicited response: Microsoft's sign-in page for the domain
        // starts an SP-initiated sign-in that comes straight back here.
        return Ok(pages::redirect(&c.login_url(), &[]));
    }
    if let AppKind::Saml(sp) = &app.kind
        && !sp.idp_initiated
    {
        let detail = "this application accepts only sign-ins it starts itself; open it directly";
        return refuse(state, ctx, app, &SIGN_IN_REFUSED, "idp_initiated_off", detail).await;
    }
    let registration = Registration::of(app)?;
    let Some(acs) = registration.default_acs() else {
        let detail = "the SP registers no HTTP-POST ACS";
        return refuse(state, ctx, app, &SIGN_IN_REFUSED, "unregistered_acs", detail).await;
    };
    let relay_state = match idp_initiated_relay_state(query) {
        Ok(relay_state) => relay_state,
        Err(refusal) => return refuse(state, ctx, app, &SIGN_IN_REFUSED, refusal.code(), &refusal.to_string()).await,
    };
    let request = json!({"protocol": "saml", "idp_initiated": true, "acs": acs, "relay_state": relay_state.is_some()});
    let pending = PendingSignOn {
        app: app.id,
        demand: Demand::default(),
        login_hint: None,
        received_at: state.clock.now_millis(),
        trace: Trace::of(request),
        reply: SamlReply::unsolicited(acs, relay_state),
    };
    continue_sign_on(state, ctx, app, pending).await
}

/// Answers `pending` (a parked sign-on, its request's ID recorded already) with the browser's
/// session, or sends the browser to sign in first.
pub async fn continue_sign_on(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: PendingSignOn<SamlReply>,
) -> Result<Response, AppError> {
    sign_on_with(state, ctx, app, pending, None).await
}

/// As [`continue_sign_on`]; `claim` is the request's ID when it is not recorded yet.
async fn sign_on_with(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: PendingSignOn<SamlReply>,
    claim: Option<&MessageClaim>,
) -> Result<Response, AppError> {
    let denial = Denial { action: AuditAction::SamlDenied, extra: json!({"request_id": pending.reply.request_id}) };
    match sign_on::proceed(state, ctx, app, &pending, &denial).await? {
        Step::Issue(go) => issue(state, ctx, app, &pending.reply, *go, claim).await,
        Step::CannotBePassive => status_answer(state, ctx, app, &pending, claim, NO_PASSIVE).await,
        Step::DeniedPassively => status_answer(state, ctx, app, &pending, claim, REQUEST_DENIED).await,
        // Parked for a sign-in, or denied on a page: the ID is recorded now, so a replay of the
        // request is refused however this one ends.
        Step::Answered(response) => match claim {
            Some(claim) if !remember(state, claim).await? => replayed(state, ctx, app, claim).await,
            _ => Ok(response),
        },
    }
}

async fn remember(state: &AppState, claim: &MessageClaim) -> Result<bool, AppError> {
    Ok(state.replay.remember_message_id(&claim.issuer, &claim.message_id, claim.expires_at, claim.now).await?)
}

/// Whether an answer's audit record was written.
enum Recorded<'a> {
    Yes,
    /// No: the request's ID was used already.
    Replay(&'a MessageClaim),
}

/// Writes an answer's audit record, with the request's ID when it is not recorded yet (one
/// trip to the store); nothing when that ID was used already.
async fn record<'a>(
    state: &AppState,
    claim: Option<&'a MessageClaim>,
    actor: &Actor,
    event: NewAuditEvent,
) -> Result<Recorded<'a>, AppError> {
    match claim {
        Some(claim) => match state.replay.remember_message_id_with_audit(claim, actor, event).await? {
            true => Ok(Recorded::Yes),
            false => Ok(Recorded::Replay(claim)),
        },
        None => {
            state.audit.append_audit(actor, event).await?;
            Ok(Recorded::Yes)
        }
    }
}

async fn replayed(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    claim: &MessageClaim,
) -> Result<Response, AppError> {
    let detail = format!("request {} was used already", clip(&claim.message_id));
    refuse(state, ctx, app, &SIGN_IN_REFUSED, "replayed", &detail).await
}

/// The assertion, signed, in a Response posted to the ACS.
async fn issue(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    reply: &SamlReply,
    go: Go,
    claim: Option<&MessageClaim>,
) -> Result<Response, AppError> {
    let current = &go.current;
    let signer = state.keys.signer(app.id).await?;
    let response_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let assertion_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let ids = (response_id.as_str(), assertion_id.as_str());
    let now = state.clock.now_millis();
    // Fail closed: no assertion leaves without its audit row.
    let summary = go.issued_summary(|summary| {
        summary
            .field("request_id", &reply.request_id)
            .field("assertion_id", &assertion_id)
            .field("acs", &reply.acs_url)
            .field("request_signature", &reply.signed_with)
            .field("sha1", &reply.signed_with.as_deref().is_some_and(|a| a.ends_with("rsa-sha1")));
    });
    let event = NewAuditEvent::new(AuditAction::SamlIssued, "app", app.id, summary);
    let actor = Actor::user(current.user.id);
    let token = TokenRecord { session: &current.session.id_hash, claim, actor: &actor, event };
    let sign = || signed_response(app, &current.user, &current.session.authn, reply, ids, now, signer.as_ref());
    let (recorded, xml) = sign_on::tokens::made_while_recorded(state, token, sign).await;
    match recorded? {
        TokenRecorded::Written => {}
        TokenRecorded::Replayed => match claim {
            Some(claim) => return replayed(state, ctx, app, claim).await,
            None => return Err(AppError::internal("a token without a request ID came back as a replay")),
        },
        TokenRecorded::SessionEnded => return sign_on::session_ended(state, ctx, app, AuditAction::SamlRefused).await,
    }
    let xml = xml.map_err(sign_on::tokens::unmade)?;
    sign_on::tokens::keep(state, app, current.user.id, &go.trace, &xml).await;
    Ok(post_message(app, &reply.acs_url, "SAMLResponse", &xml, reply.relay_state.as_deref(), &[]))
}

/// The signed Response carrying `user`'s assertion, as `app` wants it, answering `reply`:
/// for Microsoft 365 the assertion signed (Entra's profile), for an SP as it registered.
/// `ids` are the Response's and the assertion's.
pub(super) fn signed_response(
    app: &Application,
    user: &User,
    authn: &AuthnContext,
    reply: &SamlReply,
    ids: (&str, &str),
    now: UnixMillis,
    signer: &dyn Signer,
) -> Result<String, AppError> {
    let issuer = app.issuer.as_deref().ok_or_else(|| AppError::internal("a SAML app without an issuer"))?;
    let in_response_to = reply.request_id.as_deref();
    Ok(match &app.kind {
        AppKind::M365(_) => {
            let extra = tessera_protocols::claims::mapped_attributes(app, user);
            let mut params = m365_params(user, issuer, in_response_to, authn, ids, now);
            params.attributes.extend(extra.iter().map(|(n, v)| (n.as_str(), vec![v.as_str()])));
            build_response(&params, Signing { assertion: true, response: false }, signer)?
        }
        AppKind::Saml(sp) => {
            let values = sp_values(user, sp);
            let params = sp_params(&values, sp, issuer, &reply.acs_url, in_response_to, authn, ids, now);
            let signing = Signing { assertion: sp.sign_assertion, response: sp.sign_response };
            build_response(&params, signing, signer)?
        }
        AppKind::WsFed(_) | AppKind::Bookmark { .. } => {
            return Err(AppError::internal("this application does not sign in with SAML"));
        }
    })
}

/// A Response with a non-success status and no assertion, to the registered ACS.
async fn status_answer(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: &PendingSignOn<SamlReply>,
    claim: Option<&MessageClaim>,
    second: &str,
) -> Result<Response, AppError> {
    let reply = &pending.reply;
    let signer = state.keys.signer(app.id).await?;
    let issuer = app.issuer.as_deref().ok_or_else(|| AppError::internal("a SAML app without an issuer"))?;
    let id = format!("_{}", uuid::Uuid::new_v4().simple());
    let top = if matches!(second, NO_PASSIVE | NO_AUTHN_CONTEXT | REQUEST_DENIED) {
        STATUS_RESPONDER
    } else {
        STATUS_REQUESTER
    };
    let message = StatusMessage {
        id: &id,
        issuer,
        destination: &reply.acs_url,
        in_response_to: reply.request_id.as_deref(),
        top_status: top,
        second_status: Some(second),
        now: state.clock.now_millis(),
    };
    let mut summary = json!({"status": second, "request_id": reply.request_id, "acs": reply.acs_url});
    pending.trace.mark(&mut summary, true);
    let event = NewAuditEvent::new(AuditAction::SamlStatus, "app", app.id, summary);
    // Signed first, as `issue` does: the record says an answer went out only when one can.
    let xml = build_status_response(&message, signer.as_ref())?;
    if let Recorded::Replay(claim) = record(state, claim, &Actor::system(), event).await? {
        return replayed(state, ctx, app, claim).await;
    }
    Ok(post_message(app, &reply.acs_url, "SAMLResponse", &xml, reply.relay_state.as_deref(), &[]))
}
