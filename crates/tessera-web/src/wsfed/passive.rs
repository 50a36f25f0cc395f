//! The passive endpoint. `wsignin1.0` is checked against the connector (realm, reply address),
//! then answered at once on a live session or after sign-in through a parked request: an
//! auto-POST of `wa`, `wresult` (a WS-Trust 2005 RSTR around a signed SAML 1.1 assertion) and
//! the untouched `wctx` to Entra's `login.srf`. `wsignout1.0` and `wsignoutcleanup1.0` end the
//! session and return to a registered reply address.

use axum::extract::{RawQuery, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_core::app::ENTRA_RELYING_PARTY;
use tessera_core::policy::{Factor, PolicyOutcome};
use tessera_core::{Actor, AppKind, Application, NewAuditEvent, UnixMillis};
use tessera_protocols::saml2::response::ENTRA_ACS;
use tessera_protocols::saml2::sso::clip;
use tessera_protocols::saml11::{Claim, TrustVersion, build_assertion, build_rstr, m365_params, relying_party_params};
use tessera_protocols::wsfed::{PassiveRequest, SignInRequest, accept_sign_in, parse_passive};

use crate::AppState;
use crate::saml::{AppRoute, Refused, refuse};
use crate::signin::audit_ip;
use crate::signin::pages::{self, PostForm};
use crate::signin::parked::park;
use crate::signin::session::{self, Current};
use crate::signin::sign_on::{decide_sign_on, denied_page, park_for_second_factor};

/// A validated passive sign-in waiting to be answered; parked (as JSON) while its user signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub app: String,
    pub realm: String,
    /// The registered address the answer is posted to.
    pub reply_to: String,
    pub context: Option<String>,
    pub login_hint: Option<String>,
    pub fresh: bool,
    pub max_age_ms: Option<i64>,
    pub mfa: bool,
    pub received_at: UnixMillis,
}

/// The realm a relying party signs in with, and the reply addresses registered for it (the
/// first is the default): Entra's for a connector.
fn registration(app: &Application) -> (&str, Vec<&str>) {
    match &app.kind {
        AppKind::M365(_) => (ENTRA_RELYING_PARTY, vec![ENTRA_ACS]),
        AppKind::WsFed(c) => (c.realm.as_str(), c.reply_urls.iter().map(String::as_str).collect()),
        _ => ("", Vec::new()),
    }
}

fn query_params(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| tessera_xml::redirect::url_decode(text).map_err(|e| e.to_string());
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

pub async fn get(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    route: AppRoute,
    RawQuery(query): RawQuery,
) -> Response {
    let app = match super::find(&state, route).await {
        Ok(app) => app,
        Err(response) => return response,
    };
    let request = match query_params(&query.unwrap_or_default()).map_err(|e| format!("the query is malformed: {e}")) {
        Ok(params) => parse_passive(&params).map_err(|refusal| (refusal.code(), refusal.to_string())),
        Err(detail) => Err(("malformed", detail)),
    };
    let request = match request {
        Ok(request) => request,
        Err((code, detail)) => return refuse(&state, &extensions, &headers, &app, Refused::WsFed, code, &detail).await,
    };
    match request {
        PassiveRequest::SignIn(request) => sign_in(&state, &extensions, &headers, &app, request).await,
        PassiveRequest::SignOut { reply, cleanup } => {
            sign_out(&state, &extensions, &headers, &app, reply.as_deref(), cleanup).await
        }
    }
}

async fn sign_in(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    request: SignInRequest,
) -> Response {
    let (realm, replies) = registration(app);
    let reply_to = match accept_sign_in(&request, realm, &replies) {
        Ok(reply_to) => reply_to,
        Err(refusal) => {
            return refuse(state, extensions, headers, app, Refused::WsFed, refusal.code(), &refusal.to_string()).await;
        }
    };
    let pending = Pending {
        app: app.id.to_string(),
        realm: request.realm,
        reply_to,
        context: request.context,
        login_hint: request.login_hint,
        fresh: request.fresh,
        max_age_ms: request.max_age_ms,
        mfa: request.mfa,
        received_at: session::now(),
    };
    continue_pending(state, extensions, headers, app, pending).await
}

/// Whether this session may answer `pending`: complete, notice seen, a password shown after
/// the request arrived when it asked for a fresh sign-in, and within its maximum age.
fn session_serves(current: &Current, pending: &Pending, now: UnixMillis) -> bool {
    let password_at =
        current.session.authn.factors.iter().filter(|(f, _)| *f == Factor::Password).map(|(_, at)| *at).max();
    let fresh_enough = match (pending.fresh, pending.max_age_ms) {
        (true, _) => password_at.is_some_and(|at| at >= pending.received_at),
        (false, Some(max_age)) => password_at.is_some_and(|at| at >= now - max_age),
        (false, None) => true,
    };
    current.session.complete && current.user.notice_acknowledged_at.is_some() && fresh_enough
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
        Some(current) if session_serves(&current, &pending, session::now()) => {
            issue(state, extensions, headers, app, pending, current).await
        }
        current => {
            // A session that is live but too old (or a request demanding a fresh sign-in)
            // needs the form, not just a resume.
            let fresh = pending.fresh || (pending.max_age_ms.is_some() && current.is_some_and(|c| c.session.complete));
            let hint = pending.login_hint.clone();
            let payload = match serde_json::to_value(&pending) {
                Ok(payload) => payload,
                Err(e) => return pages::failure(e),
            };
            match park(state, headers, "wsfed", payload).await {
                Ok((id, cookies)) => {
                    let mut target = format!("/login?continue={id}");
                    if fresh {
                        target.push_str("&fresh=1");
                    }
                    if let Some(hint) = hint {
                        target.push_str("&username=");
                        target.push_str(&tessera_xml::redirect::url_encode(&hint));
                    }
                    pages::redirect(&target, &cookies)
                }
                Err(response) => response,
            }
        }
    }
}

/// Decides with the authorization rule and the app's policy, then issues the token.
async fn issue(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    pending: Pending,
    current: Current,
) -> Response {
    let (outcome, ip) = match decide_sign_on(state, extensions, headers, app, &current, pending.mfa).await {
        Ok(decided) => decided,
        Err(response) => return response,
    };
    let actor = Actor(format!("user:{}", current.user.id));
    match outcome {
        PolicyOutcome::Deny(denial) => {
            let summary = json!({"user_id": current.user.id.to_string(), "ip": ip, "reason": denial.as_str()});
            denied_page(state, app, &current, "wsfed.denied", summary, denial.user_message()).await
        }
        PolicyOutcome::NeedSecondFactor => park_for_second_factor(state, headers, "wsfed", &pending).await,
        PolicyOutcome::Allow => {
            let signer = match state.keys.signer(app.id).await {
                Ok(signer) => signer,
                Err(e) => return pages::failure(e),
            };
            let Some(issuer) = app.issuer.as_deref() else { return pages::failure("a connector without an issuer") };
            let assertion_id = format!("_{}", uuid::Uuid::new_v4().simple());
            let authn = &current.session.authn;
            let name_identifier = match &app.kind {
                AppKind::WsFed(c) => current.user.attribute(c.name_id_source),
                _ => String::new(),
            };
            let params = match &app.kind {
                AppKind::WsFed(c) => relying_party_params(
                    &name_identifier,
                    c.name_id_source == tessera_core::UserAttribute::Email,
                    issuer,
                    &c.realm,
                    extra_claims(app, &current.user),
                    authn,
                    &assertion_id,
                    session::now(),
                ),
                _ => m365_params(
                    &current.user,
                    issuer,
                    extra_claims(app, &current.user),
                    authn,
                    &assertion_id,
                    session::now(),
                ),
            };
            let wresult = match build_assertion(&params, signer.as_ref())
                .and_then(|assertion| build_rstr(TrustVersion::Feb2005, &params, &pending.realm, &assertion))
            {
                Ok(wresult) => wresult,
                Err(e) => return pages::failure(e),
            };
            // Fail closed: no token leaves without its audit row.
            let event = NewAuditEvent::new(
                "wsfed.issued",
                "app",
                app.id,
                json!({"user_id": current.user.id.to_string(), "ip": ip, "assertion_id": assertion_id,
                       "reply": pending.reply_to, "mfa": authn.mfa_done()}),
            );
            if let Err(e) = state.store.append_audit(&actor, event).await {
                return pages::failure(e);
            }
            let mut fields = vec![("wa", "wsignin1.0"), ("wresult", wresult.as_str())];
            if let Some(context) = &pending.context {
                fields.push(("wctx", context.as_str()));
            }
            pages::post_form(&PostForm { label: &app.label, action: &pending.reply_to, fields }, &[])
        }
    }
}

/// The app's mapped attributes, as claims (`NAME=SOURCE`, the name a claim type).
pub(crate) fn extra_claims(app: &Application, user: &tessera_core::User) -> Vec<Claim> {
    let mappings = match &app.kind {
        AppKind::M365(c) => &c.attributes,
        AppKind::WsFed(c) => &c.attribute_mappings,
        _ => return Vec::new(),
    };
    mappings
        .iter()
        .map(|m| Claim::from_type(&m.name, user.attribute(m.source)))
        .filter(|claim| !claim.value.is_empty())
        .collect()
}

/// Ends the session. A sign-out the browser is not showing as a page (an image or script on
/// another site) only asks; cleanup may run in a frame, as identity providers do it.
async fn sign_out(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
    app: &Application,
    reply: Option<&str>,
    cleanup: bool,
) -> Response {
    let destination = headers.get("sec-fetch-dest").and_then(|v| v.to_str().ok()).unwrap_or("document");
    if destination != "document" && !(cleanup && destination == "iframe") {
        return pages::sign_out_elsewhere();
    }
    let ip = audit_ip(state, extensions, headers);
    let via = if cleanup { "wsignoutcleanup1.0" } else { "wsignout1.0" };
    let cookie =
        match session::sign_out(state, headers, json!({"ip": ip, "via": via, "app_id": app.id.to_string()})).await {
            Ok(cookie) => cookie,
            Err(e) => return pages::failure(e),
        };
    let cookies: Vec<String> = cookie.into_iter().collect();
    // A reply is followed only to the origin of a registered reply address.
    let registered_origins: Vec<String> = registration(app).1.iter().filter_map(|r| pages::origin_of(r)).collect();
    match reply {
        Some(reply) if pages::origin_of(reply).is_some_and(|o| registered_origins.contains(&o)) => {
            pages::redirect(reply, &cookies)
        }
        Some(reply) => {
            let event = NewAuditEvent::new(
                "wsfed.reply_refused",
                "app",
                app.id,
                json!({"ip": ip, "reply": clip(reply), "via": via}),
            );
            if let Err(e) = state.store.append_audit(&Actor(format!("ip:{ip}")), event).await {
                return pages::failure(e);
            }
            pages::html(StatusCode::OK, &pages::SignedOut, &cookies)
        }
        None => pages::html(StatusCode::OK, &pages::SignedOut, &cookies),
    }
}
