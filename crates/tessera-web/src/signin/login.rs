//! The login page: email or UPN and password, with smart lockout and spray throttling, and
//! one answer for every kind of failure.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::authenticate::{PasswordAccepted, PasswordOutcome};
use tessera_core::policy::{AuthnContext, Factor};
use tessera_core::{Application, User};

use super::pages::Login;
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{self, continue_id, csrf_token, require_our_form};
use crate::sign_on::PendingSignOn;
use crate::state::AppState;
use crate::ui::Ui;

/// What every failed sign-in is told, whatever the reason (a catalog key).
pub const GENERIC_FAILURE: &str = "login-failed";
/// A directory user's right password that their directory wants changed first.
pub const CHANGE_AT_SOURCE: &str = "login-change-at-source";

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
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let hint = query.username.as_deref().filter(|u| u.len() <= 254).unwrap_or("");
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    let app = parked_app(&state, parked.as_ref()).await?;
    let passwordless = offers_passwordless(&state, app.as_ref());
    let app = app.map(|app| app.label);
    let page = Login {
        ui: Ui::current(),
        csrf: &csrf,
        continue_id: &continue_id,
        username: hint,
        error: None,
        app,
        passwordless,
    };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
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

/// The application a parked sign-on is for; none for the portal's own sign-in (or once the
/// application is deleted).
pub async fn parked_app(state: &AppState, parked: Option<&PendingSignOn>) -> Result<Option<Application>, AppError> {
    let Some(pending) = parked else { return Ok(None) };
    match state.apps.find_app(&pending.app.to_string()).await {
        Ok(app) => Ok(Some(app)),
        Err(tessera_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The label of the application a parked sign-on is for, which the sign-in pages name ("to
/// continue to Microsoft 365"); none for the portal's own sign-in.
pub async fn signing_in_to(state: &AppState, parked: Option<&PendingSignOn>) -> Result<Option<String>, AppError> {
    Ok(parked_app(state, parked).await?.map(|app| app.label))
}

/// Whether the login page offers a passkey alone: the server is a relying party and the
/// sign-on's application takes one. The portal's own sign-in (no application) asks for a
/// password: its tiles lead to applications that may not take a passkey alone.
pub fn offers_passwordless(state: &AppState, app: Option<&Application>) -> bool {
    state.relying_party.is_some() && app.is_some_and(|app| app.policy.passwordless)
}

/// `path`, carrying the parked sign-on's id when there is one.
pub fn with_continue(path: &str, continue_id: &str) -> String {
    if continue_id.is_empty() { path.to_string() } else { format!("{path}?continue={continue_id}") }
}

/// Where a user goes once a sign-in step is done: the second factor, then the notice, then
/// the parked sign-on or the portal.
pub fn after_sign_in(user: &User, complete: bool, continue_id: &str) -> Response {
    if !complete {
        return pages::redirect(&with_continue("/login/mfa", continue_id), &[]);
    }
    if user.notice_acknowledged_at.is_none() {
        return pages::redirect(&with_continue("/notice", continue_id), &[]);
    }
    if continue_id.is_empty() {
        pages::redirect("/", &[])
    } else {
        pages::redirect(&format!("/resume/{continue_id}"), &[])
    }
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
            refused @ (PasswordOutcome::Failed | PasswordOutcome::ChangeAtSource) => {
                let error = match refused {
                    PasswordOutcome::ChangeAtSource => CHANGE_AT_SOURCE,
                    _ => GENERIC_FAILURE,
                };
                let app = parked_app(&state, parked.as_ref()).await?;
                let page = Login {
                    ui: Ui::current().back_to(&with_continue("/login", &continue_id)),
                    csrf: &form.csrf,
                    continue_id: &continue_id,
                    username: &username,
                    error: Some(error),
                    passwordless: offers_passwordless(&state, app.as_ref()),
                    app: app.map(|app| app.label),
                };
                return Ok(pages::html(StatusCode::OK, &page, &[]));
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
                && !current.session.authn.password_done() =>
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
