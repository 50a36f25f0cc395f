//! Administrator sign-in, the one-time password's replacement, and sign-out.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_admin::AdminError;
use tessera_auth::admin::AdminPasswordOutcome;
use tessera_core::Actor;

use super::pages::{AdminLogin, AdminPassword};
use super::{Gate, session};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{cookie_policy, csrf_token, require_our_form};
use crate::state::AppState;

const GENERIC_FAILURE: &str = "The name or password is incorrect, or the account cannot sign in now.";

pub async fn page(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    if session(&state, &ctx).await?.is_some() {
        return Ok(pages::redirect("/admin/applications", &[]));
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let page = AdminLogin { csrf: &csrf, username: "", error: None };
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
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    require_our_form(&state, &ctx, &form.csrf)?;
    let from = ctx.client()?;
    let username = form.username.trim();
    let outcome =
        state.admin_sign_in().check_password(from, username, &form.password, ctx.admin_session_id.as_deref()).await?;
    match outcome {
        AdminPasswordOutcome::Accepted(session, id) => {
            let next = if !session.complete {
                "/admin/mfa"
            } else if session.admin.must_change_password {
                "/admin/password"
            } else {
                "/admin/applications"
            };
            Ok(pages::redirect(next, &[cookie_policy(&state).admin_session(&id)]))
        }
        AdminPasswordOutcome::Throttled => Ok(pages::message(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "There have been too many failed sign-ins from your network. Wait a few minutes and try again.",
        )),
        AdminPasswordOutcome::Failed => {
            let page = AdminLogin { csrf: &form.csrf, username, error: Some(GENERIC_FAILURE) };
            Ok(pages::html(StatusCode::OK, &page, &[]))
        }
    }
}

/// Only for an administrator still on the one-time password of the first start.
pub async fn password_page(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let Some((session, _)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if !session.complete {
        return Ok(Gate::SecondFactor.response());
    }
    if !session.admin.must_change_password {
        return Ok(pages::redirect("/admin/applications", &[]));
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let page = AdminPassword { csrf: &csrf, admin: &session.admin.username, error: None };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    require_our_form(&state, &ctx, &form.csrf)?;
    let Some((session, _)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if !session.complete {
        return Ok(Gate::SecondFactor.response());
    }
    if !session.admin.must_change_password {
        return Ok(pages::redirect("/admin/applications", &[]));
    }
    let admin = &session.admin;
    let refused = |error: &str| {
        let page = AdminPassword { csrf: &form.csrf, admin: &admin.username, error: Some(error) };
        pages::html(StatusCode::UNPROCESSABLE_ENTITY, &page, &[])
    };
    if form.password != form.confirm {
        return Ok(refused("The two passwords are not the same."));
    }
    match state.admin.set_admin_password(&Actor::admin(&admin.id), &admin.id, form.password).await {
        Ok(_) => {
            let id = state.admin_sign_in().renew(&session).await?;
            Ok(pages::redirect("/admin/applications", &[cookie_policy(&state).admin_session(&id)]))
        }
        Err(AdminError::Invalid { message, .. }) => Ok(refused(&message)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<SignOutForm>,
) -> Result<Response, AppError> {
    require_our_form(&state, &ctx, &form.csrf)?;
    if let Some((session, id)) = session(&state, &ctx).await? {
        state.admin_sign_in().sign_out(&id, &session).await?;
    }
    Ok(pages::redirect("/admin/login", &[cookie_policy(&state).clear_admin_session()]))
}
