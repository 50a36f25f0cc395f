//! Signing in with a passkey: its answer as the second factor (`/login/mfa/passkey`), and a
//! passkey alone where the application takes it (`/login/passkey`, then its answer at
//! `/login/passkey/finish`). The ceremonies themselves are `tessera_auth::passkey_check`'s.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::authenticate::CodeOutcome;
use tessera_auth::passkey_check::PasswordlessOutcome;
use tessera_auth::secret::sha256_hex;
use tessera_core::policy::{AuthnContext, Factor};

use super::mfa::render_page;
use super::pages::{Login, PasskeySignIn};
use super::steps::{after_sign_in, offers_passwordless, parked_app, with_continue};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{self, continue_id, csrf_token, require_our_form};
use crate::state::AppState;
use crate::ui::Ui;

#[derive(Deserialize)]
pub struct PasskeyAnswer {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    answer: String,
}

/// `/login/mfa/passkey`: the authenticator's answer to the second-factor page's ceremony.
pub async fn second_factor(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasskeyAnswer>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let Some(current) = session::current(&state, &ctx).await? else { return Ok(pages::redirect("/login", &[])) };
    let Some(rp) = state.relying_party.clone() else {
        return Ok(pages::redirect(&with_continue("/login/mfa", &continue_id), &[]));
    };
    let mut authenticator = state.authenticator();
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    authenticator.trace = parked.as_ref().and_then(|pending| pending.trace.known_id());
    let from = ctx.client()?;
    let outcome = authenticator
        .finish_passkey_check(&rp, current.user.id, from, &form.ceremony, &current.session.id_hash, &form.answer)
        .await?;
    match outcome {
        CodeOutcome::Accepted(factor) => {
            let cookie = session::step_up(&state, &ctx, &current, factor).await?;
            Ok(pages::with_cookie(after_sign_in(&current.user, true, &continue_id), &cookie))
        }
        CodeOutcome::Refused => {
            let passkey_only = current.session.complete;
            let error = Some("mfa-passkey-refused");
            render_page(&state, &ctx, &current, &form.csrf, &continue_id, error, passkey_only, &[]).await
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordlessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

/// What ties a passwordless ceremony to its browser before anyone is signed in: the form
/// token the browser's cookie holds (the same for every ceremony of that browser; the
/// ceremony's random id tells them apart).
fn browser_binding(ctx: &RequestContext) -> Option<String> {
    ctx.csrf_cookie.as_deref().map(|token| sha256_hex(&format!("passkey-ceremony:{token}")))
}

/// `/login/passkey`: the page that asks the browser's authenticator for a passkey of this
/// site, for a sign-on to an application that takes a passkey alone.
pub async fn begin_passwordless(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasswordlessForm>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    let app = parked_app(&state, parked.as_ref()).await?;
    let (Some(rp), Some(binding), true) =
        (state.relying_party.clone(), browser_binding(&ctx), offers_passwordless(&state, app.as_ref()))
    else {
        return Ok(pages::say_with(StatusCode::FORBIDDEN, "passkey-sign-in-title", "passkey-passwordless-off", &[]));
    };
    let prompt = state.authenticator().begin_passwordless(&rp, &binding).await?;
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let back = with_continue("/login", &continue_id);
    let page = PasskeySignIn {
        ui: Ui::current().back_to(&back),
        csrf: &csrf,
        continue_id: &continue_id,
        app: app.map(|app| app.label),
        ceremony: &prompt.ceremony,
        options_json: &prompt.options_json,
        back: &back,
    };
    let mut response = pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>());
    pages::allow_own_scripts(&mut response);
    Ok(response)
}

/// `/login/passkey/finish`: the authenticator's answer; a session of the passkey alone (MFA by
/// itself: the user was verified on it), or the login page saying it was not accepted.
pub async fn finish_passwordless(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasskeyAnswer>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let (Some(rp), Some(binding)) = (state.relying_party.clone(), browser_binding(&ctx)) else {
        return Ok(pages::redirect(&with_continue("/login", &continue_id), &[]));
    };
    let mut authenticator = state.authenticator();
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    authenticator.trace = parked.as_ref().and_then(|pending| pending.trace.known_id());
    let from = ctx.client()?;
    match authenticator.finish_passwordless(&rp, from, &form.ceremony, &binding, &form.answer).await? {
        PasswordlessOutcome::Accepted(user) => {
            let authn = AuthnContext::default().with(Factor::Passkey, state.clock.now_millis());
            let cookie = session::establish(&state, &ctx, &user, authn, true).await?;
            Ok(pages::with_cookie(after_sign_in(&user, true, &continue_id), &cookie))
        }
        PasswordlessOutcome::Refused => {
            let app = parked_app(&state, parked.as_ref()).await?;
            let page = Login {
                ui: Ui::current().back_to(&with_continue("/login", &continue_id)),
                csrf: &form.csrf,
                continue_id: &continue_id,
                username: "",
                error: Some("login-passkey-refused"),
                passwordless: offers_passwordless(&state, app.as_ref()),
                app: app.map(|app| app.label),
            };
            Ok(pages::html(StatusCode::OK, &page, &[]))
        }
    }
}
