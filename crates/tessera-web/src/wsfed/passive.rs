//! The passive endpoint. `wsignin1.0` is checked against the relying party (realm, reply
//! address), then answered at once on a live session or after sign-in through a parked
//! sign-on: an auto-POST of `wa`, `wresult` (a WS-Trust 2005 RSTR around a signed SAML 1.1
//! assertion) and the untouched `wctx` to the registered reply address (Entra's `login.srf`
//! for a connector). `wsignout1.0` and `wsignoutcleanup1.0` end the session and return to a
//! registered reply address.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent, UserAttribute};
use tessera_protocols::saml2::sso::clip;
use tessera_protocols::saml11::{
    TrustVersion, build_assertion, build_rstr, inside_corporate_network, m365_params, mapped_claims,
    relying_party_params,
};
use tessera_protocols::wsfed::{
    PassiveRequest, SignInRequest, WsFedReply, accept_sign_in, parse_passive_query, registration,
};
use tessera_store::{TokenRecord, TokenRecorded};

use super::{SIGN_IN_REFUSED, find};
use crate::error::AppError;
use crate::shell::apps::AppRoute;
use crate::shell::context::RequestContext;
use crate::shell::pages::{self, FieldValue, PostForm};
use crate::shell::refusal::refuse;
use crate::shell::session;
use crate::sign_on::{self, Denial, Go, PendingSignOn, Step, Trace};
use crate::state::AppState;

pub async fn get(
    State(state): State<AppState>,
    ctx: RequestContext,
    route: AppRoute,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let app = find(&state, route).await?;
    match parse_passive_query(&query.unwrap_or_default()) {
        Ok(PassiveRequest::SignIn(request)) => sign_in(&state, &ctx, &app, request).await,
        Ok(PassiveRequest::SignOut { reply, cleanup }) => sign_out(&state, &ctx, &app, reply.as_deref(), cleanup).await,
        Err(refusal) => refuse(&state, &ctx, &app, &SIGN_IN_REFUSED, refusal.code(), &refusal.to_string()).await,
    }
}

async fn sign_in(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    request: SignInRequest,
) -> Result<Response, AppError> {
    let (realm, replies) = registration(app);
    let reply_to = match accept_sign_in(&request, realm, &replies) {
        Ok(reply_to) => reply_to,
        Err(refusal) => return refuse(state, ctx, app, &SIGN_IN_REFUSED, refusal.code(), &refusal.to_string()).await,
    };
    // The wsignin1.0 parameters as they were read, for the sign-in's trace.
    let read = json!({
        "protocol": "wsfed", "wa": "wsignin1.0", "wtrealm": request.realm, "wreply": request.reply,
        "wctx": request.context.is_some(), "username": request.login_hint, "fresh": request.fresh,
        "wfresh_minutes": request.max_age_ms.map(|ms| ms / 60_000), "mfa": request.mfa,
    });
    let pending = PendingSignOn {
        app: app.id,
        demand: request.demand(),
        login_hint: request.login_hint,
        received_at: state.clock.now_millis(),
        trace: Trace::of(read),
        reply: WsFedReply { realm: request.realm, reply_to, context: request.context },
    };
    continue_sign_on(state, ctx, app, pending).await
}

/// Answers `pending` with the browser's session, or sends the browser to sign in first.
pub async fn continue_sign_on(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    pending: PendingSignOn<WsFedReply>,
) -> Result<Response, AppError> {
    let denial = Denial { action: AuditAction::WsFedDenied, extra: json!({}) };
    match sign_on::proceed(state, ctx, app, &pending, &denial).await? {
        Step::Issue(go) => issue(state, ctx, app, &pending.reply, *go).await,
        Step::Answered(response) => Ok(response),
        Step::CannotBePassive | Step::DeniedPassively => {
            Err(AppError::internal("a WS-Federation sign-in is never passive"))
        }
    }
}

/// The token: a signed SAML 1.1 assertion in an RSTR, posted to the reply address.
async fn issue(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    reply: &WsFedReply,
    go: Go,
) -> Result<Response, AppError> {
    let current = &go.current;
    let signer = state.keys.signer(app.id).await?;
    let issuer = app.issuer.as_deref().ok_or_else(|| AppError::internal("a relying party without an issuer"))?;
    let assertion_id = format!("_{}", tessera_auth::secret::unique_id()?);
    let authn = &current.session.authn;
    let now = state.clock.now_millis();
    let claims = mapped_claims(app, &current.user);
    let name_identifier = match &app.kind {
        AppKind::WsFed(c) => current.user.attribute(c.name_id_source),
        _ => String::new(),
    };
    let params = match &app.kind {
        AppKind::WsFed(c) => {
            let is_email = c.name_id_source == UserAttribute::Email;
            relying_party_params(&name_identifier, is_email, issuer, &c.realm, claims, authn, &assertion_id, now)
        }
        _ => {
            let mut claims = claims;
            claims.extend(state.signin.inside_corporate_network(go.client).map(inside_corporate_network));
            claims.extend(state.password_expiry_claims(&current.user, authn).await);
            m365_params(&current.user, issuer, claims, authn, &assertion_id, now)
        }
    };
    // Fail closed: no token leaves without its audit row.
    let summary = go.issued_summary(|summary| {
        summary.field("assertion_id", &assertion_id).field("reply", &reply.reply_to);
    });
    let event = NewAuditEvent::new(AuditAction::WsFedIssued, "app", app.id, summary);
    let actor = Actor::user(current.user.id);
    let token = TokenRecord { session: &current.session.id_hash, claim: None, actor: &actor, event };
    let sign = || -> Result<String, AppError> {
        let assertion = build_assertion(&params, signer.as_ref())?;
        Ok(build_rstr(TrustVersion::Feb2005, &params, &reply.realm, &assertion)?)
    };
    let (recorded, wresult) = sign_on::tokens::made_while_recorded(state, token, sign).await;
    match recorded? {
        TokenRecorded::Written => {}
        TokenRecorded::Replayed => {
            return Err(AppError::internal("a token without a request ID came back as a replay"));
        }
        TokenRecorded::SessionEnded => return sign_on::session_ended(state, ctx, app, AuditAction::WsFedRefused).await,
    }
    let wresult = wresult.map_err(sign_on::tokens::unmade)?;
    sign_on::tokens::keep(state, app, current.user.id, &go.trace, &wresult).await;
    let mut fields = vec![("wa", FieldValue::Text("wsignin1.0")), ("wresult", FieldValue::Markup(&wresult))];
    if let Some(context) = &reply.context {
        fields.push(("wctx", FieldValue::Text(context)));
    }
    Ok(pages::post_form(
        &PostForm { ui: crate::ui::Ui::current(), label: &app.label, action: &reply.reply_to, fields },
        &[],
    ))
}

/// Ends the session. A sign-out the browser is not showing as a page (an image or script on
/// another site) only asks; cleanup may run in a frame, as identity providers do it.
async fn sign_out(
    state: &AppState,
    ctx: &RequestContext,
    app: &Application,
    reply: Option<&str>,
    cleanup: bool,
) -> Result<Response, AppError> {
    let destination = ctx.fetch_dest();
    if destination != "document" && !(cleanup && destination == "iframe") {
        return Ok(pages::sign_out_elsewhere());
    }
    let ip = ctx.audit_ip();
    let via = if cleanup { "wsignoutcleanup1.0" } else { "wsignout1.0" };
    let cookie = session::sign_out(state, ctx, json!({"ip": ip, "via": via, "app_id": app.id.to_string()})).await?;
    let cookies: Vec<String> = cookie.into_iter().collect();
    // A reply is followed only to the origin of a registered reply address.
    let registered_origins: Vec<String> = registration(app).1.iter().filter_map(|r| pages::origin_of(r)).collect();
    match reply {
        Some(reply) if pages::origin_of(reply).is_some_and(|o| registered_origins.contains(&o)) => {
            Ok(pages::redirect(reply, &cookies))
        }
        Some(reply) => {
            let event = NewAuditEvent::new(
                AuditAction::WsFedReplyRefused,
                "app",
                app.id,
                json!({"ip": ip, "reply": clip(reply), "via": via}),
            );
            state.audit.append_audit(&Actor::ip(&ip), event).await?;
            Ok(pages::html(StatusCode::OK, &pages::SignedOut { ui: crate::ui::Ui::current() }, &cookies))
        }
        None => Ok(pages::html(StatusCode::OK, &pages::SignedOut { ui: crate::ui::Ui::current() }, &cookies)),
    }
}
