//! Where a sign-in goes once a step is done (the second factor, the notice, the parked sign-on
//! or the portal), and the login form said again: what every sign-in page shares, so that the
//! pages need not reach into each other.

use axum::http::StatusCode;
use axum::response::Response;
use tessera_core::{Application, User};

use super::pages::Login;
use crate::error::AppError;
use crate::shell::pages;
use crate::sign_on::PendingSignOn;
use crate::state::AppState;
use crate::ui::Ui;

/// What every failed sign-in is told, whatever the reason (a catalog key).
pub const GENERIC_FAILURE: &str = "login-failed";
/// A directory user's right password that their directory wants changed first.
pub const CHANGE_AT_SOURCE: &str = "login-change-at-source";

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

/// The login form again, saying `error` (a catalog key), the name typed kept.
pub async fn login_saying(
    state: &AppState,
    parked: Option<&PendingSignOn>,
    csrf: &str,
    continue_id: &str,
    username: &str,
    error: &str,
) -> Result<Response, AppError> {
    let app = parked_app(state, parked).await?;
    let page = Login {
        ui: Ui::current().back_to(&with_continue("/login", continue_id)),
        csrf,
        continue_id,
        username,
        error: Some(error),
        passwordless: offers_passwordless(state, app.as_ref()),
        app: app.map(|app| app.label),
    };
    Ok(pages::html(StatusCode::OK, &page, &[]))
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
