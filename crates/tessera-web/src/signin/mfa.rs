//! The second factor: TOTP (or a recovery code) at sign-in, and enrolling an authenticator.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::Extensions;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_auth::secret::{new_recovery_codes, recovery_code_hash, sha256_hex};
use tessera_auth::totp;
use tessera_core::policy::Factor;
use tessera_core::{Actor, NewAuditEvent, UserId};
use tessera_store::Location;

use super::client::throttle_key;
use super::login::{ContinueQuery, after_sign_in};
use super::pages::{self, Mfa, RecoveryCodes, TotpEnroll};
use super::session::{self, Current, continue_id, csrf_ok, csrf_token};
use super::{client_addresses, peer};
use crate::AppState;

const WRONG_CODE: &str = "That code is not right. Check your authenticator app and try again.";

fn seal_context(user: UserId) -> String {
    format!("tessera-totp-secret:v1:{user}")
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<ContinueQuery>) -> Response {
    let continue_id = continue_id(&query.continue_id);
    let current = match session::current(&state, &headers).await {
        Ok(Some(current)) => current,
        Ok(None) => return pages::redirect("/login", &[]),
        Err(e) => return pages::failure(e),
    };
    if current.session.complete {
        return after_sign_in(&current.user, true, &continue_id);
    }
    let (csrf, cookie) = csrf_token(&state, &headers);
    pages::html(
        StatusCode::OK,
        &Mfa { csrf: &csrf, continue_id: &continue_id, error: None },
        &cookie.into_iter().collect::<Vec<_>>(),
    )
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

/// Checks a TOTP code (once per time step) or a recovery code (once ever) for `user`.
async fn code_is_right(state: &AppState, user: UserId, code: &str, now_ms: i64) -> Result<Option<Factor>, Response> {
    let credential = match state.store.totp_credential(user).await {
        Ok(Some(credential)) if credential.confirmed => credential,
        Ok(_) => return Ok(None),
        Err(e) => return Err(pages::failure(e)),
    };
    let secret = state.keys.open_secret(&credential.sealed_secret, &seal_context(user)).map_err(pages::failure)?;
    if let Some(step) = totp::matching_step(&secret, code, now_ms / 1000) {
        return match state.store.use_totp_step(user, step).await {
            Ok(true) => Ok(Some(Factor::Totp)),
            Ok(false) => Ok(None),
            Err(e) => Err(pages::failure(e)),
        };
    }
    if code.trim().len() >= 10 {
        return match state.store.use_recovery_code(user, &recovery_code_hash(code)).await {
            Ok(true) => Ok(Some(Factor::RecoveryCode)),
            Ok(false) => Ok(None),
            Err(e) => Err(pages::failure(e)),
        };
    }
    Ok(None)
}

pub async fn submit(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let continue_id = continue_id(&form.continue_id);
    if !csrf_ok(&state, &headers, &form.csrf) {
        return pages::form_refused();
    }
    let current = match session::current(&state, &headers).await {
        Ok(Some(current)) => current,
        Ok(None) => return pages::redirect("/login", &[]),
        Err(e) => return pages::failure(e),
    };
    let user = current.user.id;
    let Some(addresses) = client_addresses(peer(&extensions), &headers, &state.signin.trusted_proxies) else {
        return super::login::unreadable_forwarding();
    };
    let ip = addresses.client.to_string();
    let now = session::now();
    let lockout = state.signin.lockout;
    // Counted before the code is checked, atomically (see the login page); a right code resets.
    let reserved = match state
        .store
        .reserve_attempt(user, Location::SecondFactor, lockout.unknown_threshold, lockout.observation_window_ms, now)
        .await
    {
        Ok(reserved) => reserved,
        Err(e) => return pages::failure(e),
    };
    let actor = Actor(format!("user:{user}"));
    let factor = if reserved {
        match code_is_right(&state, user, &form.code, now).await {
            Ok(factor) => factor,
            Err(response) => return response,
        }
    } else {
        None
    };
    let Some(factor) = factor else {
        let key = sha256_hex(&format!("mfa:{user}"));
        if let Err(e) = state.store.record_failed_attempt(&throttle_key(addresses.client), &key, now).await {
            return pages::failure(e);
        }
        let reason = if reserved { "wrong_code" } else { "locked_out" };
        let event = NewAuditEvent::new("signin.mfa_failure", "user", user, json!({"ip": ip, "reason": reason}));
        if let Err(e) = state.store.append_audit(&actor, event).await {
            return pages::failure(e);
        }
        return pages::html(
            StatusCode::OK,
            &Mfa { csrf: &form.csrf, continue_id: &continue_id, error: Some(WRONG_CODE) },
            &[],
        );
    };
    if let Err(e) = state.store.clear_second_factor_failures(user).await {
        return pages::failure(e);
    }
    for address in &addresses.presented {
        if let Err(e) = state.store.learn_familiar_ip(user, address, now).await {
            return pages::failure(e);
        }
    }
    let factor_name = if factor == Factor::Totp { "totp" } else { "recovery_code" };
    let event = NewAuditEvent::new("signin.mfa", "user", user, json!({"ip": ip, "factor": factor_name}));
    if let Err(e) = state.store.append_audit(&actor, event).await {
        return pages::failure(e);
    }
    match session::step_up(&state, &headers, &current, factor).await {
        Ok((_, cookie)) => with_cookie(after_sign_in(&current.user, true, &continue_id), &cookie),
        Err(e) => pages::failure(e),
    }
}

fn qr_svg(text: &str) -> String {
    use qrcodegen::{QrCode, QrCodeEcc};
    let Ok(qr) = QrCode::encode_text(text, QrCodeEcc::Medium) else { return String::new() };
    let border = 4;
    let size = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"QR code\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    )
}

async fn complete_session(state: &AppState, headers: &HeaderMap) -> Result<Current, Response> {
    match session::current(state, headers).await {
        Ok(Some(current)) if current.session.complete => Ok(current),
        Ok(_) => Err(pages::redirect("/login", &[])),
        Err(e) => Err(pages::failure(e)),
    }
}

fn render_enrollment(
    current: &Current,
    secret: &[u8],
    csrf: &str,
    continue_id: &str,
    error: Option<&str>,
    cookies: &[String],
) -> Response {
    let url = totp::otpauth_url("Tessera", &current.user.upn, secret);
    let page = TotpEnroll {
        csrf,
        continue_id,
        qr_svg: &qr_svg(&url),
        secret: &totp::base32(secret),
        otpauth_url: &url,
        error,
    };
    pages::html(StatusCode::OK, &page, cookies)
}

pub async fn enroll_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ContinueQuery>,
) -> Response {
    let continue_id = continue_id(&query.continue_id);
    let current = match complete_session(&state, &headers).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    match state.store.totp_credential(current.user.id).await {
        Ok(Some(c)) if c.confirmed => {
            return pages::message(
                StatusCode::OK,
                "Authenticator app already set up",
                "You already use an authenticator app. If you lost it, ask your administrator to reset it.",
            );
        }
        Ok(_) => {}
        Err(e) => return pages::failure(e),
    }
    let secret = match totp::new_secret() {
        Ok(secret) => secret,
        Err(e) => return pages::failure(e),
    };
    let sealed = match state.keys.seal_secret(&secret, &seal_context(current.user.id)) {
        Ok(sealed) => sealed,
        Err(e) => return pages::failure(e),
    };
    if let Err(e) = state.store.put_pending_totp(current.user.id, &sealed, session::now()).await {
        return pages::failure(e);
    }
    let (csrf, cookie) = csrf_token(&state, &headers);
    render_enrollment(&current, &secret, &csrf, &continue_id, None, &cookie.into_iter().collect::<Vec<_>>())
}

pub async fn enroll_submit(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    let continue_id = continue_id(&form.continue_id);
    if !csrf_ok(&state, &headers, &form.csrf) {
        return pages::form_refused();
    }
    let current = match complete_session(&state, &headers).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let user = current.user.id;
    let pending = match state.store.totp_credential(user).await {
        Ok(Some(c)) if !c.confirmed => c,
        Ok(_) => return pages::redirect("/mfa/totp", &[]),
        Err(e) => return pages::failure(e),
    };
    let secret = match state.keys.open_secret(&pending.sealed_secret, &seal_context(user)) {
        Ok(secret) => secret,
        Err(e) => return pages::failure(e),
    };
    let Some(step) = totp::matching_step(&secret, &form.code, session::now() / 1000) else {
        return render_enrollment(&current, &secret, &form.csrf, &continue_id, Some(WRONG_CODE), &[]);
    };
    let codes = match new_recovery_codes() {
        Ok(codes) => codes,
        Err(e) => return pages::failure(e),
    };
    let hashes: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    match state.store.confirm_totp(&Actor(format!("user:{user}")), user, step, &hashes).await {
        Ok(true) => {}
        Ok(false) => return pages::redirect("/mfa/totp", &[]),
        Err(e) => return pages::failure(e),
    }
    let next = if continue_id.is_empty() { "/".to_string() } else { format!("/resume/{continue_id}") };
    match session::step_up(&state, &headers, &current, Factor::Totp).await {
        Ok((_, cookie)) => pages::html(StatusCode::OK, &RecoveryCodes { codes: &codes, next: &next }, &[cookie]),
        Err(e) => pages::failure(e),
    }
}
