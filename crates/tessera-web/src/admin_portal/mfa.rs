//! The administrator's second factor: a code from their authenticator app after the
//! password, and enrolling one (required before anything else under `serve --admin-mfa
//! required`, or chosen by the administrator).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_auth::admin::AdminCodeOutcome;
use tessera_auth::totp;
use tessera_store::AdminSession;

use super::pages::{AdminMfa, AdminMfaEnrol};
use super::{Fields, Gate, session};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{cookie_policy, csrf_token, require_our_form};
use crate::state::AppState;

const WRONG_CODE: &str = "That code is not right. Check your authenticator app and try again.";

/// Where a session goes once its second factor is shown.
fn onwards(session: &AdminSession) -> &'static str {
    if session.admin.must_change_password { "/admin/password" } else { "/admin/applications" }
}

pub async fn code_page(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let Some((session, _)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if session.complete {
        return Ok(pages::redirect(onwards(&session), &[]));
    }
    if !state.admin_sign_in().has_second_factor(&session).await? {
        return Ok(pages::redirect("/admin/mfa/enrol", &[]));
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let page = AdminMfa { csrf: &csrf, admin: &session.admin.username, error: None };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
}

pub async fn submit_code(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    require_our_form(&state, &ctx, fields.one("csrf"))?;
    let Some((session, id)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if session.complete {
        return Ok(pages::redirect(onwards(&session), &[]));
    }
    let from = ctx.client()?;
    match state.admin_sign_in().check_code(&id, &session, from, fields.one("code").trim()).await? {
        AdminCodeOutcome::Accepted(new_id) => {
            Ok(pages::redirect(onwards(&session), &[cookie_policy(&state).admin_session(&new_id)]))
        }
        AdminCodeOutcome::Refused => {
            let page = AdminMfa { csrf: fields.one("csrf"), admin: &session.admin.username, error: Some(WRONG_CODE) };
            Ok(pages::html(StatusCode::OK, &page, &[]))
        }
    }
}

fn enrol_page(
    state: &AppState,
    session: &AdminSession,
    csrf: &str,
    secret: &[u8],
    error: Option<&str>,
) -> AdminMfaEnrolPage {
    let url = totp::otpauth_url("Tessera administration", &session.admin.username, secret);
    AdminMfaEnrolPage {
        csrf: csrf.to_string(),
        required: state.signin.admin_mfa_required,
        qr_svg: pages::qr_svg(&url, "QR code"),
        secret: totp::base32(secret),
        error: error.map(str::to_string),
    }
}

/// The enrolment page's values, owned (the template borrows them).
struct AdminMfaEnrolPage {
    csrf: String,
    required: bool,
    qr_svg: String,
    secret: String,
    error: Option<String>,
}

impl AdminMfaEnrolPage {
    fn render(&self, status: StatusCode, cookies: &[String]) -> Response {
        let page = AdminMfaEnrol {
            csrf: &self.csrf,
            required: self.required,
            enrolled: false,
            qr_svg: &self.qr_svg,
            secret: &self.secret,
            error: self.error.as_deref(),
        };
        pages::html(status, &page, cookies)
    }
}

pub async fn enrol(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let Some((session, _)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if session.complete && session.admin.must_change_password {
        return Ok(Gate::ChangePassword.response());
    }
    let sign_in = state.admin_sign_in();
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let cookies: Vec<String> = cookie.into_iter().collect();
    let Some(secret) = sign_in.start_enrolment(&session).await? else {
        if !session.complete {
            return Ok(pages::redirect("/admin/mfa", &[]));
        }
        let page = AdminMfaEnrol { csrf: &csrf, required: false, enrolled: true, qr_svg: "", secret: "", error: None };
        return Ok(pages::html(StatusCode::OK, &page, &cookies));
    };
    Ok(enrol_page(&state, &session, &csrf, &secret, None).render(StatusCode::OK, &cookies))
}

pub async fn confirm_enrolment(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    require_our_form(&state, &ctx, fields.one("csrf"))?;
    let Some((session, id)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if session.complete && session.admin.must_change_password {
        return Ok(Gate::ChangePassword.response());
    }
    let sign_in = state.admin_sign_in();
    let from = ctx.client()?;
    match sign_in.confirm_enrolment(&id, &session, from, fields.one("code").trim()).await? {
        AdminCodeOutcome::Accepted(new_id) => {
            Ok(pages::redirect(onwards(&session), &[cookie_policy(&state).admin_session(&new_id)]))
        }
        AdminCodeOutcome::Refused => match sign_in.pending_secret(&session).await? {
            Some(secret) => Ok(enrol_page(&state, &session, fields.one("csrf"), &secret, Some(WRONG_CODE))
                .render(StatusCode::UNPROCESSABLE_ENTITY, &[])),
            None => Ok(pages::redirect("/admin/mfa/enrol", &[])),
        },
    }
}
