//! The sign-in pages, as askama templates (auto-escaped). Their words are the catalog's: an
//! `error` is a message key.

use askama::Template;
use tessera_auth::passkey_check::PasskeyPrompt;

use crate::ui::Ui;

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// The application the parked sign-on is for.
    pub app: Option<String>,
    /// The application takes a passkey alone: the page offers it.
    pub passwordless: bool,
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub struct Mfa<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub error: Option<&'a str>,
    pub app: Option<String>,
    /// A passkey ceremony, when the user has passkeys.
    pub passkey: Option<PasskeyPrompt>,
    /// The user has an authenticator app (and recovery codes).
    pub totp: bool,
    /// The app takes a passkey only: the page says so.
    pub passkey_only: bool,
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub continue_id: &'a str,
}

pub struct Tile {
    pub id: String,
    pub label: String,
    pub description: String,
    pub image: Option<String>,
}

#[derive(Template)]
#[template(path = "portal.html")]
pub struct Portal<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub user: &'a str,
    pub has_totp: bool,
    pub tiles: Vec<Tile>,
}

#[derive(Template)]
#[template(path = "totp_enroll.html")]
pub struct TotpEnroll<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub qr_svg: &'a str,
    pub secret: &'a str,
    pub otpauth_url: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodes<'a> {
    pub ui: Ui,
    /// The heading's message key: the codes of a new enrolment, or new codes.
    pub heading: &'a str,
    pub codes: &'a [String],
    pub next: &'a str,
}

#[derive(Template)]
#[template(path = "passkey_sign_in.html")]
pub struct PasskeySignIn<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub app: Option<String>,
    pub ceremony: &'a str,
    pub options_json: &'a str,
    /// The password form, for a user who would rather.
    pub back: &'a str,
}

#[derive(Template)]
#[template(path = "change_at_source.html")]
pub struct ChangeAtSource<'a> {
    pub ui: Ui,
    pub csrf: &'a str,
    pub continue_id: &'a str,
    /// What ties the form to the sign-in that found the password right.
    pub ticket: &'a str,
    pub username: &'a str,
    pub app: Option<String>,
    pub min_password: i64,
    /// A refusal, in words.
    pub error: Option<String>,
    pub back: &'a str,
}
