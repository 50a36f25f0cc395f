//! The login page: email or UPN and password, with smart lockout and spray throttling, and
//! one answer for every kind of failure.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::authenticate::{PasswordAccepted, PasswordOutcome};
use tessera_core::policy::{AuthnContext, Factor};

use super::pages::Login;
use super::steps::{GENERIC_FAILURE, after_sign_in, login_saying, offers_passwordless, parked_app};
use super::windows_sign_in::{self, WithTicket};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{self, continue_id, csrf_token, require_our_form};
use crate::state::AppState;
use crate::ui::Ui;

#[derive(Deserialize, Default)]
pub struct ContinueQuery {
    #[serde(default, rename = "continue")]
    pub continue_id: String,
    /// Set when the parked sign-on demands a fresh sign-in (SAML ForceAuthn): the form is
    /// shown even to a signed-in browser.
    #[serde(default)]
    pub fresh: Option<String>,
    /// A login hint from the relying party (WS-Federation `username`): pre-fills the form.
    #[serde(default)]
    pub username: Option<String>,
    /// Set when the parked sign-on's application takes a passkey only (the second-factor page
    /// offers passkeys alone, to a user signed in already).
    #[serde(default)]
    pub passkey: Option<String>,
    /// Set when the parked sign-on's application wants a second factor the signed-in user has
    /// not shown yet (they enrolled one since): the second-factor page, as a step up.
    #[serde(default)]
    pub again: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    Query(query): Query<ContinueQuery>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&query.continue_id);
    let fresh = query.fresh.is_some() && !continue_id.is_empty();
    if let Some(current) = session::current(&state, &ctx).await?
        && current.session.complete
        && !fresh
    {
        return Ok(after_sign_in(&current.user, true, &continue_id));
    }
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    // A sign-on that demands a fresh sign-in (SAML ForceAuthn, WS-Fed wfresh, a maximum age)
    // gets the form whatever the URL says: the user is asked, not their computer.
    let wants_the_user =
        fresh || parked.as_ref().is_some_and(|pending| pending.demand.fresh || pending.demand.max_age_ms.is_some());
    let mut error = None;
    if !wants_the_user {
        match windows_sign_in::sign_in_with_ticket(&state, &ctx, &headers, parked.as_ref(), &continue_id).await? {
            WithTicket::SignedIn(next) => return Ok(next),
            WithTicket::Refused => error = Some("login-windows-refused"),
            WithTicket::NoTicket => {}
        }
    }
    let challenge = !wants_the_user && error.is_none() && windows_sign_in::offered(&state, &ctx);
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let hint = query.username.as_deref().filter(|u| u.len() <= 254).unwrap_or("");
    let app = parked_app(&state, parked.as_ref()).await?;
    let passwordless = offers_passwordless(&state, app.as_ref());
    let app = app.map(|app| app.label);
    let page =
        Login { ui: Ui::current(), csrf: &csrf, continue_id: &continue_id, username: hint, error, app, passwordless };
    let mut cookies = cookie.into_iter().collect::<Vec<_>>();
    if error.is_some() {
        cookies.push(windows_sign_in::not_again(&state));
    }
    let mut response = pages::html(StatusCode::OK, &page, &cookies);
    if challenge {
        windows_sign_in::offer(&state, &headers, &mut response);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let from = ctx.client()?;
    let username = form.username.trim().to_string();
    let now = state.clock.now_millis();
    let mut authenticator = state.authenticator();
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    authenticator.trace = parked.as_ref().and_then(|pending| pending.trace.known_id());
    let PasswordAccepted { user, has_second_factor } =
        match authenticator.check_password(from, &username, &form.password, "login").await? {
            PasswordOutcome::Accepted(accepted) => *accepted,
            PasswordOutcome::Throttled => return Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled")),
            PasswordOutcome::ChangeAtSource(user) => {
                let parked = parked.as_ref();
                return super::change_at_source::offer(&state, &ctx, parked, user, &username, &form.csrf, &continue_id)
                    .await;
            }
            PasswordOutcome::Failed => {
                return login_saying(&state, parked.as_ref(), &form.csrf, &continue_id, &username, GENERIC_FAILURE)
                    .await;
            }
        };
    // The same user signed in with a passkey alone, asked for a password by an app that takes
    // no passkey alone: the passkey still counts (this browser's, this session's) and the
    // session keeps its start (its absolute timeout). Not where the sign-on demands a fresh
    // sign-in: every factor is shown again then.
    let wants_fresh =
        parked.as_ref().is_some_and(|pending| pending.demand.fresh || pending.demand.max_age_ms.is_some());
    let carried = match session::current(&state, &ctx).await? {
        Some(current)
            if !wants_fresh
                && current.session.complete
                && current.user.id == user.id
                && current.session.authn.phishing_resistant_done()
                && !current.session.authn.primary_done() =>
        {
            Some(current.session)
        }
        _ => None,
    };
    let complete = !has_second_factor || carried.is_some();
    let (authn, started_at) = match carried {
        Some(session) => (session.authn, Some(session.created_at)),
        None => (AuthnContext::default(), None),
    };
    let authn = authn.with(Factor::Password, now);
    let cookie = session::establish_since(&state, &ctx, &user, authn, complete, started_at).await?;
    Ok(pages::with_cookie(after_sign_in(&user, complete, &continue_id), &cookie))
}
