//! The account page's passkeys: adding one (the name and the password, then the page that
//! hands the creation options to the browser's authenticator, then its answer) and removing
//! one (the password again). Refusals are said in the page's passkeys section.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::account::{Confirmed, PasskeyRefusal};

use super::account::{posted_by_signed_in, render};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{csrf_token, require_our_form};
use crate::state::AppState;
use crate::ui::Ui;

#[derive(Template)]
#[template(path = "passkey_enrol.html")]
pub struct PasskeyEnrolPage<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub name: &'a str,
    pub ceremony: &'a str,
    pub options_json: &'a str,
}

#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// A refusal in the passkeys section.
fn passkey_refused(key: &'static str) -> Option<(&'static str, &'static str)> {
    Some(("passkeys", key))
}

/// `/account/passkeys/new`: the name and the password; the page that asks the browser's
/// authenticator for a new passkey.
pub async fn begin_passkey(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasskeyForm>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    let Some(rp) = state.relying_party.clone() else {
        return render(&state, &ctx, &current, None, passkey_refused("account-passkeys-unavailable")).await;
    };
    let begun = state
        .account()
        .begin_passkey_enrolment(&rp, &current.user, ctx.client()?, &form.password, &form.name, &current.session)
        .await?;
    match begun {
        Confirmed::Done(Ok(enrolment)) => {
            let (csrf, cookie) = csrf_token(&state, &ctx);
            let page = PasskeyEnrolPage {
                ui: Ui::current().back_to("/account"),
                csrf: &csrf,
                name: form.name.trim(),
                ceremony: &enrolment.ceremony,
                options_json: &enrolment.options_json,
            };
            let mut response = pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>());
            // The one user page that runs a script: the authenticator is reached only from
            // JavaScript.
            pages::allow_own_scripts(&mut response);
            Ok(response)
        }
        Confirmed::Done(Err(refusal)) => {
            render(&state, &ctx, &current, None, passkey_refused(refusal_key(&current, &refusal))).await
        }
        Confirmed::WrongPassword => {
            render(&state, &ctx, &current, None, passkey_refused("account-password-wrong")).await
        }
        Confirmed::Throttled => Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled")),
    }
}

#[derive(Deserialize)]
pub struct PasskeyAnswer {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    answer: String,
}

/// `/account/passkeys/add`: the authenticator's answer; the account page with the passkey, or
/// saying why not.
pub async fn add_passkey(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasskeyAnswer>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    let Some(rp) = state.relying_party.clone() else {
        return render(&state, &ctx, &current, None, passkey_refused("account-passkeys-unavailable")).await;
    };
    let finished = state
        .account()
        .finish_passkey_enrolment(&rp, &current.user, &form.ceremony, &current.session.id_hash, &form.answer)
        .await?;
    let key = match finished {
        Ok(_) => return Ok(pages::redirect("/account?done=passkey-added", &[])),
        Err(refusal) => refusal_key(&current, &refusal),
    };
    render(&state, &ctx, &current, None, passkey_refused(key)).await
}

/// What the passkeys section says of a refusal (a catalog key); the details go to the log.
fn refusal_key(current: &tessera_auth::session::Current, refusal: &PasskeyRefusal) -> &'static str {
    match refusal {
        PasskeyRefusal::Expired => "account-passkey-expired",
        PasskeyRefusal::NameTaken => "account-passkey-name-taken",
        PasskeyRefusal::AlreadyEnrolled => "account-passkey-already",
        PasskeyRefusal::BadName => "account-factor-name-invalid",
        PasskeyRefusal::ShowAPasskeyFirst => "account-passkey-show-one-first",
        PasskeyRefusal::ModelNotAllowed(model) => {
            tracing::info!(user = %current.user.id, %model, "a passkey of a model not allowed was refused");
            "account-passkey-model"
        }
        PasskeyRefusal::Refused(why) => {
            tracing::info!(user = %current.user.id, %why, "a passkey enrolment was refused");
            "account-passkey-refused"
        }
    }
}

/// `/account/passkeys/remove`: one of the user's passkeys, once the password is shown.
pub async fn remove_passkey(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasskeyForm>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    match state.account().remove_passkey(&current.user, ctx.client()?, &form.password, &form.name).await? {
        Confirmed::Done(true) => Ok(pages::redirect("/account?done=passkey-removed", &[])),
        Confirmed::Done(false) => Ok(pages::redirect("/account", &[])),
        Confirmed::WrongPassword => {
            render(&state, &ctx, &current, None, passkey_refused("account-password-wrong")).await
        }
        Confirmed::Throttled => Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled")),
    }
}
