//! The sign-in page's change of a directory password that the directory wants changed first
//! (expired, or to be changed at next logon): offered after the right password got that answer,
//! posted to `/login/password`. The rules are `tessera_auth::change_at_source`'s.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::account::{NewPasswordRefusal, PasswordChangeOutcome, check_new_password};
use tessera_auth::change_at_source::AtSourceOutcome;
use tessera_auth::password::MIN_PASSWORD_CHARS;
use tessera_auth::secret::sha256_hex;
use tessera_core::UserId;
use tessera_core::policy::{AuthnContext, Factor};

use super::account::password_refusal;
use super::pages::ChangeAtSource;
use super::steps::{CHANGE_AT_SOURCE, GENERIC_FAILURE, after_sign_in, login_saying, signing_in_to, with_continue};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{self, continue_id, require_our_form};
use crate::sign_on::PendingSignOn;
use crate::state::AppState;
use crate::ui::Ui;

/// What ties a change ticket to its browser before anyone is signed in: its form token.
fn browser_binding(ctx: &RequestContext) -> Option<String> {
    ctx.csrf_cookie.as_deref().map(|token| sha256_hex(&format!("change-at-source:{token}")))
}

/// The change form, for `user` who has just shown their right, expired password as `username`.
pub async fn offer(
    state: &AppState,
    ctx: &RequestContext,
    parked: Option<&PendingSignOn>,
    user: UserId,
    username: &str,
    csrf: &str,
    continue_id: &str,
) -> Result<Response, AppError> {
    let Some(binding) = browser_binding(ctx) else {
        return login_saying(state, parked, csrf, continue_id, username, CHANGE_AT_SOURCE).await;
    };
    let ticket = state.authenticator().begin_change_at_source(user, &binding).await?;
    render(state, parked, &ticket, username, csrf, continue_id, None).await
}

async fn render(
    state: &AppState,
    parked: Option<&PendingSignOn>,
    ticket: &str,
    username: &str,
    csrf: &str,
    continue_id: &str,
    error: Option<String>,
) -> Result<Response, AppError> {
    let back = with_continue("/login", continue_id);
    let page = ChangeAtSource {
        ui: Ui::current().back_to(&back),
        csrf,
        continue_id,
        ticket,
        username,
        app: signing_in_to(state, parked).await?,
        min_password: MIN_PASSWORD_CHARS as i64,
        error,
        back: &back,
    };
    Ok(pages::html(StatusCode::OK, &page, &[]))
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

/// A refusal in the user's words, with the directory's own where it gave them.
fn refusal_text(key: &str, directory: Option<&str>, said: Option<&str>) -> String {
    let directory = directory.unwrap_or("Your organization's directory");
    password_refusal(&Ui::current(), key, directory, said.unwrap_or(""))
}

/// `/login/password`: the change, then a sign-in with the new password.
pub async fn submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let username = form.username.trim();
    let username = if username.len() <= 254 && !username.chars().any(char::is_control) { username } else { "" };
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    let parked = parked.as_ref();
    let Some(binding) = browser_binding(&ctx) else {
        return login_saying(&state, parked, &form.csrf, &continue_id, username, "change-at-source-expired").await;
    };
    if let Err(refusal) = check_new_password(&form.current, &form.new, &form.again) {
        // Nothing was checked or spent: the same ticket serves the next try.
        let key = match refusal {
            NewPasswordRefusal::Mismatch => "account-password-mismatch",
            NewPasswordRefusal::Unchanged => "account-password-same",
            NewPasswordRefusal::Policy => "account-password-weak",
        };
        let ticket = if form.ticket.len() <= 128 { form.ticket.as_str() } else { "" };
        let error = Some(refusal_text(key, None, None));
        return render(&state, parked, ticket, username, &form.csrf, &continue_id, error).await;
    }
    let from = ctx.client()?;
    let changed = state.account().change_at_source(&form.ticket, &binding, from, &form.current, &form.new).await?;
    match changed {
        AtSourceOutcome::SignedIn(accepted) => {
            let complete = !accepted.has_second_factor;
            let authn = AuthnContext::default().with(Factor::Password, state.clock.now_millis());
            let cookie = session::establish(&state, &ctx, &accepted.user, authn, complete).await?;
            Ok(pages::with_cookie(after_sign_in(&accepted.user, complete, &continue_id), &cookie))
        }
        AtSourceOutcome::ChangedSignInAgain => {
            login_saying(&state, parked, &form.csrf, &continue_id, username, "change-at-source-changed").await
        }
        AtSourceOutcome::NoTicket => {
            login_saying(&state, parked, &form.csrf, &continue_id, username, "change-at-source-expired").await
        }
        AtSourceOutcome::NotChanged { outcome: PasswordChangeOutcome::Throttled, .. } => {
            Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled"))
        }
        AtSourceOutcome::NotChanged { ticket: None, .. } => {
            login_saying(&state, parked, &form.csrf, &continue_id, username, GENERIC_FAILURE).await
        }
        AtSourceOutcome::NotChanged { outcome, ticket: Some(ticket), directory } => {
            let (key, said) = match outcome {
                PasswordChangeOutcome::RefusedByDirectory(Some(said)) => ("account-password-refused", Some(said)),
                PasswordChangeOutcome::RefusedByDirectory(None) => ("account-password-rules", None),
                PasswordChangeOutcome::DirectoryUnavailable => ("account-password-unavailable", None),
                _ => ("account-password-wrong", None),
            };
            let error = Some(refusal_text(key, directory.as_deref(), said.as_deref()));
            render(&state, parked, &ticket, username, &form.csrf, &continue_id, error).await
        }
    }
}
