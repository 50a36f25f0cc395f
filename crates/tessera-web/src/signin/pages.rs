//! The sign-in pages, as askama templates (auto-escaped).

use askama::Template;

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mfa.html")]
pub struct Mfa<'a> {
    pub csrf: &'a str,
    pub continue_id: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice<'a> {
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
    pub csrf: &'a str,
    pub user: &'a str,
    pub has_totp: bool,
    pub tiles: Vec<Tile>,
}

#[derive(Template)]
#[template(path = "totp_enroll.html")]
pub struct TotpEnroll<'a> {
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
    pub codes: &'a [String],
    pub next: &'a str,
}
