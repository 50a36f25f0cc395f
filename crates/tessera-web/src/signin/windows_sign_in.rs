//! Windows integrated sign-in on the login page: to a client on the organization's networks
//! (`serve --intranet`), with Kerberos set up (`serve --kerberos-keytab`), the login page
//! answers 401 with `WWW-Authenticate: Negotiate` and the form itself as its body. A browser
//! that holds a ticket for the service (a domain-joined Windows, a browser told to trust the
//! site) asks again with it; one that holds none shows the body, the form, and no prompt (no
//! Basic or NTLM challenge is ever made). The ticket's checks are
//! `tessera_auth::kerberos`'s; a refused ticket gets the form with a 200, so no browser loops.

use axum::http::header::{AUTHORIZATION, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use tessera_auth::kerberos::{KerberosOutcome, Welcome};
use tessera_core::policy::{AuthnContext, Factor};

use super::steps::after_sign_in;
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::cookies::{self, Site};
use crate::shell::pages;
use crate::shell::session::{self, cookie_policy};
use crate::sign_on::PendingSignOn;
use crate::state::AppState;

/// Whether this client is offered Windows integrated sign-in: Kerberos is set up and the
/// client's address (after trusted proxies) is on one of the organization's networks.
pub fn offered(state: &AppState, ctx: &RequestContext) -> bool {
    let Some(_) = &state.signin.kerberos else { return false };
    let Ok(from) = ctx.client() else { return false };
    state.signin.intranet.iter().any(|network| network.contains(from.client))
}

/// The form for a client that may be offered Windows sign-in: with the challenge the first
/// time; without it, and not again in this browser session, once the browser came back without
/// answering it (it holds no ticket, or its user dismissed a prompt: it is not asked at every
/// visit).
pub fn offer(state: &AppState, headers: &HeaderMap, response: &mut Response) {
    let policy = cookie_policy(state);
    let cookie = match cookies::read(headers, cookies::WINDOWS).as_deref() {
        Some("off") => return,
        Some("asked") => policy.set(cookies::WINDOWS, "off", Site::CrossSite, None),
        _ => {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
            policy.set(cookies::WINDOWS, "asked", Site::CrossSite, None)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// The cookie that keeps this browser from being asked again in its session (after a refused
/// ticket, or a sign-out).
pub fn not_again(state: &AppState) -> String {
    cookie_policy(state).set(cookies::WINDOWS, "off", Site::CrossSite, None)
}

/// The `Negotiate` token of the request, decoded: `None` without one, an empty token when it is
/// not base64 (refused as malformed, and audited).
pub(crate) fn negotiate_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("negotiate") {
        return None;
    }
    Some(base64::engine::general_purpose::STANDARD.decode(token.trim()).unwrap_or_default())
}

/// What came of a request's ticket.
pub enum WithTicket {
    /// No ticket, or none this client may use: the form (with the challenge, where offered).
    NoTicket,
    /// Refused (audited): the form, saying so, without a challenge.
    Refused,
    /// Signed in: the sign-in's next step.
    SignedIn(Response),
}

/// Signs in with the request's ticket, where one is offered and this client may use it: the
/// next step of the sign-in (the second factor, the notice, the parked sign-on).
pub async fn sign_in_with_ticket(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    parked: Option<&PendingSignOn>,
    continue_id: &str,
) -> Result<WithTicket, AppError> {
    let (Some(acceptor), true) = (&state.signin.kerberos, offered(state, ctx)) else { return Ok(WithTicket::NoTicket) };
    let Some(token) = negotiate_token(headers) else { return Ok(WithTicket::NoTicket) };
    let from = ctx.client()?;
    let mut authenticator = state.authenticator();
    authenticator.trace = parked.and_then(|pending| pending.trace.known_id());
    match authenticator.check_kerberos(acceptor, state.principals(), Welcome::Users, from, token).await? {
        KerberosOutcome::Accepted { user, has_second_factor, reply } => {
            let complete = !has_second_factor;
            let authn = AuthnContext::default().with(Factor::Kerberos, state.clock.now_millis());
            let cookie = session::establish(state, ctx, &user, authn, complete).await?;
            let mut response = pages::with_cookie(after_sign_in(&user, complete, continue_id), &cookie);
            response = pages::with_cookie(response, &cookie_policy(state).clear(cookies::WINDOWS));
            if let Some(reply) = reply {
                let value = format!("Negotiate {}", base64::engine::general_purpose::STANDARD.encode(reply));
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(WWW_AUTHENTICATE, value);
                }
            }
            Ok(WithTicket::SignedIn(response))
        }
        // Computers are not welcome here (refused, and audited, before this).
        KerberosOutcome::Refused | KerberosOutcome::Computer { .. } => Ok(WithTicket::Refused),
    }
}
