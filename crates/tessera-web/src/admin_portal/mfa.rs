//! The administrator's second factor: a passkey or a code from their authenticator app after
//! the password, and enrolling them (an authenticator app is required before anything else
//! under `serve --admin-mfa required`; passkeys are added once signed in).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use tessera_auth::account::PasskeyRefusal;
use tessera_auth::admin::AdminCodeOutcome;
use tessera_auth::passkey::RelyingParty;
use tessera_auth::totp;
use tessera_store::AdminSession;

use super::pages::{AdminMfa, AdminMfaEnrol, AdminPasskeyEnrol};
use super::{Fields, Gate, session};
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::pages;
use crate::shell::session::{cookie_policy, csrf_token, require_our_form};
use crate::state::AppState;

const WRONG_CODE: &str = "That code is not right. Check your authenticator app and try again.";
const NOTHING_TO_SHOW: &str = "Your passkeys cannot be used on this server. Ask another administrator to reset \
                               your second factors (tessera admin mfa reset).";
const PASSKEY_REFUSED: &str = "Your passkey was not accepted. Try again, or use your authenticator app.";

/// Where a session goes once its second factor is shown.
fn onwards(session: &AdminSession) -> &'static str {
    if session.admin.must_change_password { "/admin/password" } else { "/admin/applications" }
}

pub async fn code_page(State(state): State<AppState>, ctx: RequestContext) -> Result<Response, AppError> {
    let Some((session, id)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if session.complete {
        return Ok(pages::redirect(onwards(&session), &[]));
    }
    if !state.admin_sign_in().has_second_factor(&session).await? {
        return Ok(pages::redirect("/admin/mfa/enrol", &[]));
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    render_code_page(&state, &session, &id, &csrf, None, &cookie.into_iter().collect::<Vec<_>>()).await
}

/// The second-factor page: the administrator's passkeys (a new ceremony) and the code field,
/// for what they have.
async fn render_code_page(
    state: &AppState,
    session: &AdminSession,
    id: &str,
    csrf: &str,
    error: Option<&str>,
    cookies: &[String],
) -> Result<Response, AppError> {
    let sign_in = state.admin_sign_in();
    let passkey = match &state.relying_party {
        Some(rp) => match sign_in.begin_passkey_check(rp, id, session).await {
            Ok(prompt) => prompt,
            Err(tessera_auth::AuthError::Passkey(why)) => {
                tracing::warn!(admin = %session.admin.id, %why, "the administrator's passkeys cannot be offered");
                None
            }
            Err(other) => return Err(other.into()),
        },
        None => None,
    };
    let totp = sign_in.has_authenticator_app(&session.admin.id).await?;
    let has_passkey = passkey.is_some();
    // Passkeys this server cannot offer (unreadable, or no relying party) and no app: say so.
    let error = match (has_passkey, totp, error) {
        (false, false, None) => Some(NOTHING_TO_SHOW),
        (_, _, error) => error,
    };
    let page = AdminMfa { csrf, admin: &session.admin.username, error, passkey, totp };
    let mut response = pages::html(StatusCode::OK, &page, cookies);
    if has_passkey {
        pages::allow_own_scripts(&mut response);
    }
    Ok(response)
}

/// `/admin/mfa/passkey`: the authenticator's answer to the second-factor page's ceremony.
pub async fn submit_passkey(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, id) = match half_signed_in(&state, &ctx, &fields).await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let Some(rp) = state.relying_party.clone() else { return Ok(pages::redirect("/admin/mfa", &[])) };
    let from = ctx.client()?;
    let sign_in = state.admin_sign_in();
    let outcome =
        sign_in.finish_passkey_check(&rp, &id, &session, from, fields.one("ceremony"), fields.one("answer")).await?;
    after_step(&state, &session, &id, fields.one("csrf"), outcome, PASSKEY_REFUSED).await
}

/// A second-factor form posted by an administrator who has shown their password only: the
/// session and its id; or where the browser goes instead.
async fn half_signed_in(
    state: &AppState,
    ctx: &RequestContext,
    fields: &Fields,
) -> Result<Result<(AdminSession, String), Response>, AppError> {
    require_our_form(state, ctx, fields.one("csrf"))?;
    let Some((session, id)) = session(state, ctx).await? else { return Ok(Err(Gate::SignIn.response())) };
    if session.complete {
        return Ok(Err(pages::redirect(onwards(&session), &[])));
    }
    Ok(Ok((session, id)))
}

/// Where a second-factor step leads: on, under the new session id, or the page again saying
/// `refused`.
async fn after_step(
    state: &AppState,
    session: &AdminSession,
    id: &str,
    csrf: &str,
    outcome: AdminCodeOutcome,
    refused: &str,
) -> Result<Response, AppError> {
    match outcome {
        AdminCodeOutcome::Accepted(new_id) => {
            Ok(pages::redirect(onwards(session), &[cookie_policy(state).admin_session(&new_id)]))
        }
        AdminCodeOutcome::Refused => render_code_page(state, session, id, csrf, Some(refused), &[]).await,
    }
}

pub async fn submit_code(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, id) = match half_signed_in(&state, &ctx, &fields).await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let from = ctx.client()?;
    let outcome = state.admin_sign_in().check_code(&id, &session, from, fields.one("code").trim()).await?;
    after_step(&state, &session, &id, fields.one("csrf"), outcome, WRONG_CODE).await
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
        passkeys: None,
        passkey_message: None,
    }
}

/// The enrolment page's values, owned (the template borrows them).
struct AdminMfaEnrolPage {
    csrf: String,
    required: bool,
    qr_svg: String,
    secret: String,
    error: Option<String>,
    passkeys: Option<Vec<(String, String, String)>>,
    passkey_message: Option<&'static str>,
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
            passkeys: self.passkeys.clone(),
            passkey_message: self.passkey_message,
        };
        pages::html(status, &page, cookies)
    }
}

/// The administrator's passkeys as the enrolment page lists them, where they may add one: a
/// complete session, on a server that is a relying party.
async fn passkey_rows(
    state: &AppState,
    session: &AdminSession,
) -> Result<Option<Vec<(String, String, String)>>, AppError> {
    if !session.complete || state.relying_party.is_none() {
        return Ok(None);
    }
    let ui = crate::ui::Ui::current();
    let passkeys = state.admin_sign_in().passkeys(session).await?;
    Ok(Some(
        passkeys
            .into_iter()
            .map(|p| {
                let used = p.last_used_at.map_or_else(|| "never".to_string(), |at| ui.date_time(at));
                (p.name, ui.date_time(p.created_at), used)
            })
            .collect(),
    ))
}

#[derive(serde::Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn enrol(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let Some((session, _)) = session(&state, &ctx).await? else { return Ok(Gate::SignIn.response()) };
    if session.complete && session.admin.must_change_password {
        return Ok(Gate::ChangePassword.response());
    }
    let (csrf, cookie) = csrf_token(&state, &ctx);
    let cookies: Vec<String> = cookie.into_iter().collect();
    let message = match query.done.as_deref() {
        Some("passkey-added") => Some("The passkey has been added."),
        _ => None,
    };
    render_enrolment(&state, &session, &csrf, message, &cookies).await
}

/// The second-factors page: the authenticator app (set up, or a QR code for a new one) and,
/// once signed in, the passkeys, with `message` in their section.
async fn render_enrolment(
    state: &AppState,
    session: &AdminSession,
    csrf: &str,
    message: Option<&'static str>,
    cookies: &[String],
) -> Result<Response, AppError> {
    let passkeys = passkey_rows(state, session).await?;
    let Some(secret) = state.admin_sign_in().start_enrolment(session).await? else {
        if !session.complete {
            return Ok(pages::redirect("/admin/mfa", &[]));
        }
        let page = AdminMfaEnrol {
            csrf,
            required: false,
            enrolled: true,
            qr_svg: "",
            secret: "",
            error: None,
            passkeys,
            passkey_message: message,
        };
        return Ok(pages::html(StatusCode::OK, &page, cookies));
    };
    let mut page = enrol_page(state, session, csrf, &secret, None);
    page.passkeys = passkeys;
    page.passkey_message = message;
    Ok(page.render(StatusCode::OK, cookies))
}

/// A passkey form posted by a fully signed-in administrator where the server is a relying
/// party: the session, its id and the relying party; or where the browser goes instead.
async fn passkey_form(
    state: &AppState,
    ctx: &RequestContext,
    fields: &Fields,
) -> Result<Result<(AdminSession, String, Arc<RelyingParty>), Response>, AppError> {
    require_our_form(state, ctx, fields.one("csrf"))?;
    let Some((session, id)) = session(state, ctx).await? else { return Ok(Err(Gate::SignIn.response())) };
    if !session.complete {
        return Ok(Err(Gate::SecondFactor.response()));
    }
    if session.admin.must_change_password {
        return Ok(Err(Gate::ChangePassword.response()));
    }
    let Some(rp) = state.relying_party.clone() else { return Ok(Err(pages::redirect("/admin/mfa/enrol", &[]))) };
    Ok(Ok((session, id, rp)))
}

/// `/admin/passkeys/new`: the page that asks the browser's authenticator for a new passkey
/// for the signed-in administrator.
pub async fn begin_passkey(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, id, rp) = match passkey_form(&state, &ctx, &fields).await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let name = fields.one("name");
    match state.admin_sign_in().begin_passkey_enrolment(&rp, &id, &session, name).await? {
        Ok(prompt) => {
            let page = AdminPasskeyEnrol {
                csrf: fields.one("csrf"),
                name: name.trim(),
                ceremony: &prompt.ceremony,
                options_json: &prompt.options_json,
            };
            let mut response = pages::html(StatusCode::OK, &page, &[]);
            pages::allow_own_scripts(&mut response);
            Ok(response)
        }
        Err(refusal) => render_enrolment(&state, &session, fields.one("csrf"), Some(refusal_text(&refusal)), &[]).await,
    }
}

/// `/admin/passkeys/add`: the authenticator's answer; the second-factors page with the new
/// passkey, or saying why not.
pub async fn add_passkey(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: String,
) -> Result<Response, AppError> {
    let fields = Fields::parse(&body)?;
    let (session, id, rp) = match passkey_form(&state, &ctx, &fields).await? {
        Ok(found) => found,
        Err(elsewhere) => return Ok(elsewhere),
    };
    let sign_in = state.admin_sign_in();
    match sign_in.finish_passkey_enrolment(&rp, &id, &session, fields.one("ceremony"), fields.one("answer")).await? {
        Ok(_) => Ok(pages::redirect("/admin/mfa/enrol?done=passkey-added", &[])),
        Err(refusal) => {
            if let PasskeyRefusal::Refused(why) | PasskeyRefusal::ModelNotAllowed(why) = &refusal {
                tracing::info!(admin = %session.admin.id, %why, "an administrator's passkey enrolment was refused");
            }
            render_enrolment(&state, &session, fields.one("csrf"), Some(refusal_text(&refusal)), &[]).await
        }
    }
}

/// What the passkeys section says of a refusal.
fn refusal_text(refusal: &PasskeyRefusal) -> &'static str {
    match refusal {
        PasskeyRefusal::Expired => "That passkey request has ended (it waits five minutes). Start again.",
        PasskeyRefusal::NameTaken => "You already have a passkey of that name. Choose another name.",
        PasskeyRefusal::AlreadyEnrolled => "That authenticator already holds one of your passkeys.",
        PasskeyRefusal::BadName => "Give a name of 1 to 64 characters.",
        PasskeyRefusal::ShowAPasskeyFirst => "Sign in with one of your passkeys first.",
        PasskeyRefusal::ModelNotAllowed(_) => "This deployment does not allow this kind of authenticator.",
        PasskeyRefusal::Refused(_) => {
            "Your authenticator's answer was not accepted. Try again, or use another authenticator."
        }
    }
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
