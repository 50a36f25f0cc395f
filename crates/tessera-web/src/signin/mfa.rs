//! The second factor: TOTP (or a recovery code) at sign-in, and enrolling an authenticator.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::authenticate::CodeOutcome;
use tessera_auth::enrol::{Confirmation, Enroller, Enrolment};
use tessera_auth::session::Current;
use tessera_auth::{AuthError, totp};
use tessera_core::policy::Factor;

use super::login::ContinueQuery;
use super::pages::{Mfa, RecoveryCodes, TotpEnroll};
use super::steps::{after_sign_in, signing_in_to, with_continue};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{self, continue_id, csrf_token, require_our_form};
use crate::state::AppState;
use crate::ui::Ui;

const WRONG_CODE: &str = "mfa-wrong-code";

/// The second-factor page: the user's passkeys (offered to the browser's authenticator) and
/// their authenticator app's code. With `passkey` set, for a signed-in user whose app takes a
/// passkey only, the passkeys alone.
pub async fn page(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<ContinueQuery>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&query.continue_id);
    let Some(current) = session::current(&state, &ctx).await? else { return Ok(pages::redirect("/login", &[])) };
    let passkey_only = query.passkey.is_some() && current.session.complete;
    let step_up = query.again.is_some() && current.session.complete;
    if current.session.complete && !passkey_only && !step_up {
        return Ok(after_sign_in(&current.user, true, &continue_id));
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    render_page(
        &state,
        &ctx,
        &current,
        &csrf,
        &continue_id,
        None,
        passkey_only,
        &cookie.into_iter().collect::<Vec<_>>(),
    )
    .await
}

/// The second-factor page, with a new passkey ceremony when the user has passkeys.
#[allow(clippy::too_many_arguments)]
pub(super) async fn render_page(
    state: &AppState,
    ctx: &RequestContext,
    current: &Current,
    csrf: &str,
    continue_id: &str,
    error: Option<&str>,
    passkey_only: bool,
    cookies: &[String],
) -> Result<Response, AppError> {
    let parked = crate::sign_on::peek(state, ctx, continue_id).await?;
    let app = signing_in_to(state, parked.as_ref()).await?;
    let passkey = match &state.relying_party {
        Some(rp) => {
            let authenticator = state.authenticator();
            match authenticator.begin_passkey_check(rp, current.user.id, &current.session.id_hash).await {
                Ok(prompt) => prompt,
                // A stored passkey this release cannot read must not take the code field away.
                Err(AuthError::Passkey(why)) => {
                    tracing::warn!(user = %current.user.id, %why, "the user's passkeys cannot be offered");
                    None
                }
                Err(other) => return Err(other.into()),
            }
        }
        None => None,
    };
    if passkey_only && passkey.is_none() {
        return Ok(pages::passkey_required(state.relying_party.is_some()));
    }
    let totp = !passkey_only && state.enroller().has_authenticator(current.user.id).await?;
    if passkey.is_none() && !totp {
        // Nothing this user can show here (their passkeys cannot be offered): signed in, an app
        // to set up; half signed in, where to turn.
        let has_passkeys = !state.passkeys.passkeys(current.user.id).await?.is_empty();
        return Ok(match (current.session.complete, has_passkeys) {
            (true, _) => pages::redirect(&with_continue("/mfa/totp", continue_id), &[]),
            // Their second factor was removed meanwhile: the password again decides.
            (false, false) => pages::redirect(&with_continue("/login", continue_id), &[]),
            (false, true) => pages::say(StatusCode::FORBIDDEN, "mfa-nothing"),
        });
    }
    let ui = match error {
        Some(_) => Ui::current().back_to(&with_continue("/login/mfa", continue_id)),
        None => Ui::current(),
    };
    let has_passkey = passkey.is_some();
    let page = Mfa { ui, csrf, continue_id, error, app, passkey, totp, passkey_only };
    let mut response = pages::html(StatusCode::OK, &page, cookies);
    if has_passkey {
        // The authenticator is reached only from JavaScript: our own script may run here.
        pages::allow_own_scripts(&mut response);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    continue_id: String,
}

pub async fn submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let Some(current) = session::current(&state, &ctx).await? else { return Ok(pages::redirect("/login", &[])) };
    let from = ctx.client()?;
    let mut authenticator = state.authenticator();
    let parked = crate::sign_on::peek(&state, &ctx, &continue_id).await?;
    authenticator.trace = parked.as_ref().and_then(|pending| pending.trace.known_id());
    match authenticator.check_second_factor(current.user.id, from, &form.code).await? {
        CodeOutcome::Refused => {
            render_page(&state, &ctx, &current, &form.csrf, &continue_id, Some(WRONG_CODE), false, &[]).await
        }
        CodeOutcome::Accepted(factor) => {
            let cookie = session::step_up(&state, &ctx, &current, factor).await?;
            Ok(pages::with_cookie(after_sign_in(&current.user, true, &continue_id), &cookie))
        }
    }
}

/// A signed-in session (every step done but, perhaps, the notice), or the way to sign in.
async fn complete_session(state: &AppState, ctx: &RequestContext) -> Result<Result<Current, Response>, AppError> {
    Ok(match session::current(state, ctx).await? {
        Some(current) if current.session.complete => Ok(current),
        _ => Err(pages::redirect("/login", &[])),
    })
}

fn render_enrollment(
    current: &Current,
    secret: &[u8],
    csrf: &str,
    continue_id: &str,
    error: Option<&str>,
    cookies: &[String],
) -> Response {
    let ui = Ui::current();
    let url = totp::otpauth_url(ui.organization(), &current.user.upn, secret);
    let qr_svg = pages::qr_svg(&url, &ui.t("enrol-qr"));
    let page =
        TotpEnroll { ui, csrf, continue_id, qr_svg: &qr_svg, secret: &totp::base32(secret), otpauth_url: &url, error };
    pages::html(StatusCode::OK, &page, cookies)
}

fn enroller(state: &AppState) -> Enroller<'_, dyn tessera_store::Store> {
    state.enroller()
}

pub async fn enroll_page(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<ContinueQuery>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&query.continue_id);
    let current = match complete_session(&state, &ctx).await? {
        Ok(current) => current,
        Err(response) => return Ok(response),
    };
    let secret = match enroller(&state).start(current.user.id).await? {
        Enrolment::Started { secret } => secret,
        Enrolment::AlreadyEnrolled => return Ok(pages::say(StatusCode::OK, "enrol-already")),
    };
    let (csrf, cookie) = csrf_token(&state, &ctx);
    Ok(render_enrollment(&current, &secret, &csrf, &continue_id, None, &cookie.into_iter().collect::<Vec<_>>()))
}

pub async fn enroll_submit(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let continue_id = continue_id(&form.continue_id);
    require_our_form(&state, &ctx, &form.csrf)?;
    let current = match complete_session(&state, &ctx).await? {
        Ok(current) => current,
        Err(response) => return Ok(response),
    };
    let codes = match enroller(&state).confirm(current.user.id, &form.code).await? {
        Confirmation::NothingPending => return Ok(pages::redirect("/mfa/totp", &[])),
        Confirmation::WrongCode { secret } => {
            return Ok(render_enrollment(&current, &secret, &form.csrf, &continue_id, Some(WRONG_CODE), &[]));
        }
        Confirmation::Enrolled { recovery_codes } => recovery_codes,
    };
    let next = if continue_id.is_empty() { "/".to_string() } else { format!("/resume/{continue_id}") };
    let cookie = session::step_up(&state, &ctx, &current, Factor::Totp).await?;
    let page = RecoveryCodes { ui: Ui::current(), heading: "codes-heading", codes: &codes, next: &next };
    Ok(pages::html(StatusCode::OK, &page, &[cookie]))
}
