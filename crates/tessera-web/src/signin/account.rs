//! The account page: the user's own password, authenticator app, recovery codes, recent
//! sign-ins and sessions. Every form posts here and comes back to the page (a change says so
//! once, by a `done` key the page knows); a refusal is said beside the form it concerns.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tessera_auth::account::{
    Confirmed, NewPasswordRefusal, PasswordChangeOutcome, authenticator_of, check_new_password, manages_password,
};
use tessera_auth::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use tessera_auth::session::Current;
use tessera_core::AuditEvent;
use tessera_core::policy::Factor;
use tessera_store::AuditQuery;

use super::pages::RecoveryCodes;
use crate::error::AppError;
use crate::shell::context::RequestContext;
use crate::shell::cookies;
use crate::shell::pages;
use crate::shell::session::{self, cookie_policy, csrf_token, require_our_form};
use crate::state::AppState;
use crate::ui::{Arg, Ui};

/// How many sign-ins the page lists.
const RECENT: usize = 10;

/// What the changes the page confirms are called in its `done` query, and their messages.
const DONE: [(&str, &str); 5] = [
    ("password", "account-password-changed"),
    ("renamed", "account-factor-renamed"),
    ("removed", "account-factor-removed"),
    ("passkey-added", "account-passkey-added"),
    ("passkey-removed", "account-passkey-removed"),
];

/// How Tessera stands to the user's password.
pub enum PasswordSection {
    /// Tessera keeps it: the form.
    Kept,
    /// The named directory source keeps it: the form, which changes it there.
    Directory(String),
    /// There is none to change here.
    None,
}

pub struct FactorView {
    pub name: String,
    pub added: i64,
    pub codes_left: i64,
}

pub struct PasskeyView {
    pub name: String,
    pub added: i64,
    pub ever_used: bool,
    /// When it last signed in (when `ever_used`).
    pub used: i64,
}

pub struct SignInRow {
    pub at: i64,
    pub what: String,
    pub from: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub name: String,
    pub email: &'a str,
    pub password: PasswordSection,
    pub min_password: i64,
    pub factor: Option<FactorView>,
    pub passkeys: Vec<PasskeyView>,
    /// Whether this server can be a WebAuthn relying party (a host name in its public URL).
    pub passkeys_offered: bool,
    pub sign_ins: Vec<SignInRow>,
    /// A change just made (a message key).
    pub done: Option<&'static str>,
    /// A refusal: the section (`password`, `factor`, `codes`) and its message key.
    pub error: Option<(&'static str, &'static str)>,
    /// The directory's own words for a refused new password.
    pub directory_said: Option<String>,
}

impl AccountPage<'_> {
    /// The directory source that keeps the password, as the page names it.
    pub fn directory_name(&self) -> &str {
        match &self.password {
            PasswordSection::Directory(name) => name,
            _ => "",
        }
    }

    /// The refusal said in `section`, if any, in words.
    pub fn error_in(&self, section: &str) -> Option<String> {
        let (_, key) = self.error.filter(|(at, _)| *at == section)?;
        Some(password_refusal(&self.ui, key, self.directory_name(), self.directory_said.as_deref().unwrap_or("")))
    }
}

/// A refusal of a new password in words (a catalog key): the length rules, or the directory
/// that keeps the password and what it said.
pub fn password_refusal(ui: &Ui, key: &str, directory: &str, said: &str) -> String {
    let args = [
        ("min", Arg::Number(MIN_PASSWORD_CHARS as i64)),
        ("max", Arg::Number(MAX_PASSWORD_CHARS as i64)),
        ("directory", Arg::Text(directory)),
        ("reason", Arg::Text(said)),
    ];
    ui.text(key, &args)
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// The signed-in user of a form post (its token checked first), or the way to sign in.
macro_rules! posted_by_signed_in {
    ($state:expr, $ctx:expr, $csrf:expr) => {{
        require_our_form(&$state, &$ctx, &$csrf)?;
        match $crate::signin::account::signed_in(&$state, &$ctx).await? {
            Ok(current) => current,
            Err(response) => return Ok(response),
        }
    }};
}

pub(super) use posted_by_signed_in;

/// The signed-in user, or the way to sign in.
pub(super) async fn signed_in(state: &AppState, ctx: &RequestContext) -> Result<Result<Current, Response>, AppError> {
    Ok(match session::current(state, ctx).await? {
        Some(current) if current.is_signed_in() => Ok(current),
        _ => Err(pages::redirect("/login", &[])),
    })
}

pub async fn page(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<DoneQuery>,
) -> Result<Response, AppError> {
    let current = match signed_in(&state, &ctx).await? {
        Ok(current) => current,
        Err(response) => return Ok(response),
    };
    let done = DONE.iter().find(|(name, _)| *name == query.done).map(|(_, key)| *key);
    render(&state, &ctx, &current, done, None).await
}

pub(super) async fn render(
    state: &AppState,
    ctx: &RequestContext,
    current: &Current,
    done: Option<&'static str>,
    error: Option<(&'static str, &'static str)>,
) -> Result<Response, AppError> {
    render_saying(state, ctx, current, done, error, None).await
}

async fn render_saying(
    state: &AppState,
    ctx: &RequestContext,
    current: &Current,
    done: Option<&'static str>,
    error: Option<(&'static str, &'static str)>,
    directory_said: Option<String>,
) -> Result<Response, AppError> {
    let ui = Ui::current().back_to("/account");
    let user = &current.user;
    let password = if manages_password(user) {
        PasswordSection::Kept
    } else if let Some(source) = state.password_keeper(user).await {
        PasswordSection::Directory(source)
    } else {
        PasswordSection::None
    };
    let factor = authenticator_of(&*state.second_factors, user.id).await?.map(|(credential, left)| FactorView {
        name: credential.name.unwrap_or_else(|| ui.t("account-factor-app")),
        added: credential.created_at,
        codes_left: i64::from(left),
    });
    let passkeys = state.passkeys.passkeys(user.id).await?;
    let passkeys = passkeys
        .into_iter()
        .map(|p| PasskeyView {
            name: p.name,
            added: p.created_at,
            ever_used: p.last_used_at.is_some(),
            used: p.last_used_at.unwrap_or_default(),
        })
        .collect();
    let sign_ins = recent_sign_ins(state, current, &ui).await?;
    let name = format!("{} {}", user.first_name, user.last_name).trim().to_string();
    let (csrf, cookie) = csrf_token(state, ctx);
    let page = AccountPage {
        ui,
        csrf: &csrf,
        name: if name.is_empty() { user.email.clone() } else { name },
        email: &user.email,
        password,
        min_password: MIN_PASSWORD_CHARS as i64,
        factor,
        passkeys,
        passkeys_offered: state.relying_party.is_some(),
        sign_ins,
        done,
        error,
        directory_said,
    };
    Ok(pages::html(StatusCode::OK, &page, &cookie.into_iter().collect::<Vec<_>>()))
}

/// The user's recent sign-in events, newest first, in words.
async fn recent_sign_ins(state: &AppState, current: &Current, ui: &Ui) -> Result<Vec<SignInRow>, AppError> {
    let query = AuditQuery { user: Some(current.user.id), newest_first: true, limit: 100, ..AuditQuery::default() };
    let events = state.traces.list_audit(&query).await?;
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut rows = Vec::new();
    for event in events {
        let Some(what) = describe(state, ui, &event, &mut labels).await? else { continue };
        let from = event.summary.get("ip").and_then(|ip| ip.as_str()).unwrap_or("").to_string();
        rows.push(SignInRow { at: event.at, what, from });
        if rows.len() == RECENT {
            break;
        }
    }
    Ok(rows)
}

/// An event as the user reads it; `None` for events that are not a sign-in's.
async fn describe(
    state: &AppState,
    ui: &Ui,
    event: &AuditEvent,
    labels: &mut HashMap<String, String>,
) -> Result<Option<String>, AppError> {
    let key = match event.action.as_str() {
        // The account page's own password checks are no sign-in.
        "signin.password" if event.summary.get("via").and_then(|v| v.as_str()) == Some("account") => return Ok(None),
        "signin.password" => return Ok(Some(ui.t("account-sign-in-password"))),
        "signin.failure" | "signin.mfa_failure" => return Ok(Some(ui.t("account-sign-in-failed"))),
        "signin.mfa" => return Ok(Some(ui.t("account-sign-in-mfa"))),
        "signin.logout" => return Ok(Some(ui.t("account-sign-in-signed-out"))),
        "saml.issued" | "wsfed.issued" | "wstrust.issued" | "signin.launch" => "account-sign-in-app",
        "saml.denied" | "wsfed.denied" | "wstrust.denied" | "signin.denied" => "account-sign-in-denied",
        _ => return Ok(None),
    };
    let app = if event.target_kind == "app" {
        match labels.get(&event.target_id) {
            Some(label) => label.clone(),
            None => {
                let label = match state.apps.find_app(&event.target_id).await {
                    Ok(app) => app.label,
                    Err(tessera_store::StoreError::NotFound { .. }) => ui.t("account-unknown-app"),
                    Err(e) => return Err(e.into()),
                };
                labels.insert(event.target_id.clone(), label.clone());
                label
            }
        }
    } else {
        ui.t("account-unknown-app")
    };
    Ok(Some(ui.text(key, &[("app", Arg::Text(&app))])))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    if let Err(refusal) = check_new_password(&form.current, &form.new, &form.again) {
        let key = match refusal {
            NewPasswordRefusal::Mismatch => "account-password-mismatch",
            NewPasswordRefusal::Unchanged => "account-password-same",
            NewPasswordRefusal::Policy => "account-password-weak",
        };
        return render(&state, &ctx, &current, None, Some(("password", key))).await;
    }
    let from = ctx.client()?;
    let refused = |key: &'static str| Some(("password", key));
    match state.account().change_password(&current.user, from, &form.current, &form.new).await? {
        PasswordChangeOutcome::Changed => {
            // Every session ended with the old password; this browser signs in again at once,
            // as it was.
            let authn = current.session.authn.clone().with(Factor::Password, state.clock.now_millis());
            let cookie = session::establish(&state, &ctx, &current.user, authn, true).await?;
            Ok(pages::redirect("/account?done=password", &[cookie]))
        }
        PasswordChangeOutcome::WrongPassword => {
            render(&state, &ctx, &current, None, refused("account-password-wrong")).await
        }
        PasswordChangeOutcome::Throttled => Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled")),
        PasswordChangeOutcome::RefusedByDirectory(Some(reason)) => {
            render_saying(&state, &ctx, &current, None, refused("account-password-refused"), Some(reason)).await
        }
        PasswordChangeOutcome::RefusedByDirectory(None) => {
            render(&state, &ctx, &current, None, refused("account-password-rules")).await
        }
        PasswordChangeOutcome::DirectoryUnavailable => {
            render(&state, &ctx, &current, None, refused("account-password-unavailable")).await
        }
        PasswordChangeOutcome::NotChangeable => {
            render(&state, &ctx, &current, None, refused("account-password-none")).await
        }
    }
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn rename_factor(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<NameForm>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    match state.account().rename_authenticator(current.user.id, &form.name).await? {
        Some(_) => Ok(pages::redirect("/account?done=renamed", &[])),
        None => render(&state, &ctx, &current, None, Some(("factor", "account-factor-name-invalid"))).await,
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn remove_factor(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    match state.account().remove_authenticator(&current.user, ctx.client()?, &form.password).await? {
        Confirmed::Done(true) => Ok(pages::redirect("/account?done=removed", &[])),
        // Nothing was there to remove (removed meanwhile, from another browser).
        Confirmed::Done(false) => Ok(pages::redirect("/account", &[])),
        Confirmed::WrongPassword => {
            render(&state, &ctx, &current, None, Some(("factor", "account-password-wrong"))).await
        }
        Confirmed::Throttled => Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled")),
    }
}

pub async fn renew_codes(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    match state.account().renew_recovery_codes(&current.user, ctx.client()?, &form.password).await? {
        Confirmed::Done(Some(codes)) => {
            let page =
                RecoveryCodes { ui: Ui::current(), heading: "codes-new-heading", codes: &codes, next: "/account" };
            Ok(pages::html(StatusCode::OK, &page, &[]))
        }
        Confirmed::Done(None) => Ok(pages::redirect("/account", &[])),
        Confirmed::WrongPassword => {
            render(&state, &ctx, &current, None, Some(("codes", "account-password-wrong"))).await
        }
        Confirmed::Throttled => Ok(pages::say(StatusCode::TOO_MANY_REQUESTS, "login-throttled")),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    ctx: RequestContext,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, AppError> {
    let current = posted_by_signed_in!(state, ctx, form.csrf);
    state.account().sign_out_everywhere(current.user.id).await?;
    let page = pages::SignedOut { ui: Ui::current() };
    Ok(pages::html(StatusCode::OK, &page, &[cookie_policy(&state).clear(cookies::SESSION)]))
}
