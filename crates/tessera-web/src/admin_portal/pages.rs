//! The admin portal's pages, as askama templates (auto-escaped).

use askama::Template;

#[derive(Template)]
#[template(path = "admin_login.html")]
pub struct AdminLogin<'a> {
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin_password.html")]
pub struct AdminPassword<'a> {
    pub csrf: &'a str,
    pub admin: &'a str,
    pub error: Option<&'a str>,
}

/// One row of the SSO Applications list.
pub struct AppRow {
    pub label: String,
    /// The domain of a Microsoft 365 connector, a bookmark's URL, a SAML SP's entity ID.
    pub detail: String,
    pub kind: &'static str,
    pub shown: bool,
    /// The signing certificate's expiry date, or "—" for apps that sign nothing.
    pub expires: String,
}

#[derive(Template)]
#[template(path = "admin_applications.html")]
pub struct Applications<'a> {
    pub csrf: &'a str,
    pub admin: &'a str,
    pub query: &'a str,
    pub rows: Vec<AppRow>,
}
