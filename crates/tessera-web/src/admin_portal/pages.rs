//! The admin portal's pages, as askama templates (auto-escaped).

use askama::Template;
use tessera_core::{AdminRole, Application};

/// What every page behind the sign-in carries: the form token, who is signed in, and their
/// role (the menu offers only what it reaches).
pub struct Frame {
    pub csrf: String,
    pub admin: String,
    pub role: AdminRole,
}

impl Frame {
    /// Full administrators add and delete applications and change the directory.
    pub fn manages(&self) -> bool {
        self.role == AdminRole::Admin
    }

    /// Full administrators and auditors see the directory and the audit trail.
    pub fn oversees(&self) -> bool {
        self.role != AdminRole::AppAdmin
    }

    /// Auditors change nothing.
    pub fn changes(&self) -> bool {
        self.role != AdminRole::Auditor
    }

    pub fn role_title(&self) -> &'static str {
        self.role.title()
    }
}

#[derive(Template)]
#[template(path = "admin_message.html")]
pub struct MessagePage {
    pub frame: Frame,
    pub title: &'static str,
    pub message: &'static str,
}

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
    pub id: String,
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
    pub frame: Frame,
    pub query: &'a str,
    pub rows: Vec<AppRow>,
    pub notice: Option<String>,
    /// Failed automatic rollover steps: the application's id and what failed.
    pub warnings: Vec<(String, String)>,
}

/// What the catalog offers ("+ Add New Application").
pub struct CatalogEntry {
    pub kind: &'static str,
    pub name: &'static str,
    pub about: &'static str,
}

#[derive(Template)]
#[template(path = "admin_catalog.html")]
pub struct Catalog<'a> {
    pub frame: Frame,
    pub query: &'a str,
    pub entries: Vec<&'a CatalogEntry>,
}

/// The settings of a new application, as typed so far (files are not sent back: a browser
/// cannot be given a file to re-send).
#[derive(Default)]
pub struct General {
    pub domain: String,
    pub url: String,
    pub label: String,
    pub description: String,
    pub show_in_portal: bool,
    pub metadata_url: String,
    pub entity_id: String,
    pub acs_url: String,
    pub slo_url: String,
    pub certificate: String,
    pub realm: String,
    /// One per line.
    pub reply_urls: String,
}

#[derive(Template)]
#[template(path = "admin_new_app.html")]
pub struct NewApplication<'a> {
    pub frame: Frame,
    pub entry: &'a CatalogEntry,
    pub general: General,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin_app_saved.html")]
pub struct Saved<'a> {
    pub frame: Frame,
    pub id: &'a str,
    pub label: &'a str,
}

/// What every tab of an application shows above itself.
pub struct AppHeader {
    pub id: String,
    pub label: String,
    pub description: String,
    pub show_in_portal: bool,
    /// Where its User Portal Image is served, if it has one.
    pub image_url: Option<String>,
}

/// An application's configuration panel: which application, which tab, and what the last
/// change said.
pub struct Panel {
    pub app: AppHeader,
    pub tabs: Vec<(&'static str, &'static str)>,
    pub tab: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Panel {
    pub fn new(app: &Application, tab: &'static str) -> Panel {
        let connector = matches!(app.kind, tessera_core::AppKind::M365(_));
        let app = AppHeader {
            id: app.id.to_string(),
            label: app.label.clone(),
            description: app.description.clone(),
            show_in_portal: app.show_in_portal,
            image_url: crate::signin::portal_image_url(app),
        };
        Panel {
            app,
            tabs: [
                ("general", "General"),
                ("sso", "SSO"),
                ("federation", "Federation"),
                ("entra-users", "Entra users"),
                ("doctor", "Doctor"),
                ("groups", "User Groups"),
                ("policy", "Access policy"),
                ("sign-ins", "Sign-ins"),
            ]
            .into_iter()
            // Only a Microsoft 365 connector federates a domain.
            .filter(|(path, _)| !matches!(*path, "federation" | "entra-users" | "doctor") || connector)
            .collect(),
            tab,
            notice: None,
            error: None,
        }
    }

    pub fn saying(mut self, notice: impl Into<String>) -> Panel {
        self.notice = Some(notice.into());
        self
    }

    /// What a change said: its notice, or its refusal (as `application::said` gives them).
    pub fn telling(mut self, notice: Option<String>, error: Option<String>) -> Panel {
        self.notice = notice;
        self.error = error;
        self
    }

    pub fn refusing(mut self, error: String) -> Panel {
        self.error = Some(error);
        self
    }
}

#[derive(Template)]
#[template(path = "admin_app_general.html")]
pub struct GeneralTab<'a> {
    pub frame: Frame,
    pub panel: Panel,
    pub kind: &'a str,
}

/// The SSO tab of an application that signs.
pub struct SsoDetails {
    pub entity_id: String,
    pub login_url: Option<String>,
    pub idp_path: Option<String>,
    pub expires: String,
    pub thumbprint: String,
    pub powershell: Option<String>,
}

/// What the SSO tab shows of the relying party and edits of its tokens.
pub struct SsoSettings {
    /// What the relying party declared (its entity ID, ACS URLs, realm...), read-only.
    pub sp: Vec<(&'static str, String)>,
    /// SAML: the NameID formats offered (URI, name, chosen).
    pub formats: Vec<(String, String, bool)>,
    /// SAML and WS-Federation: the NameID sources offered (name, chosen).
    pub sources: Vec<(&'static str, bool)>,
    /// Additional attributes, `NAME=SOURCE` per line.
    pub attributes: String,
    /// SAML only.
    pub sign_response: Option<bool>,
    pub idp_initiated: Option<bool>,
    /// Microsoft 365 only: the realms whose domain-joined computers get hybrid join tokens, one
    /// per line.
    pub device_realms: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_app_sso.html")]
pub struct SsoTab<'a> {
    pub frame: Frame,
    pub panel: Panel,
    pub kind: &'a str,
    pub sso: Option<SsoDetails>,
    pub settings: Option<SsoSettings>,
}

/// One row of an application's Sign-ins tab.
pub struct SignInRow {
    pub at: String,
    pub user: String,
    pub what: String,
    pub ip: String,
    pub mfa: &'static str,
    /// The sign-in's trace, when it has one.
    pub trace: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_app_sign_ins.html")]
pub struct SignInsTab {
    pub frame: Frame,
    pub panel: Panel,
    pub rows: Vec<SignInRow>,
    /// Whether tracing is on, in words.
    pub tracing: Option<String>,
    pub max_minutes: u32,
    pub max_days: u32,
}

pub struct GroupChoice {
    pub id: String,
    pub name: String,
    pub granted: bool,
}

#[derive(Template)]
#[template(path = "admin_app_groups.html")]
pub struct GroupsTab {
    pub frame: Frame,
    pub panel: Panel,
    pub groups: Vec<GroupChoice>,
}

#[derive(Template)]
#[template(path = "admin_delete.html")]
pub struct DeleteApplications<'a> {
    pub frame: Frame,
    /// Id and label of each application to delete.
    pub apps: Vec<(String, String)>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin_mfa.html")]
pub struct AdminMfa<'a> {
    pub csrf: &'a str,
    pub admin: &'a str,
    pub error: Option<&'a str>,
    /// A passkey ceremony, when the administrator has passkeys.
    pub passkey: Option<tessera_auth::passkey_check::PasskeyPrompt>,
    /// The administrator has an authenticator app.
    pub totp: bool,
}

#[derive(Template)]
#[template(path = "admin_mfa_enrol.html")]
pub struct AdminMfaEnrol<'a> {
    pub csrf: &'a str,
    pub required: bool,
    pub enrolled: bool,
    pub qr_svg: &'a str,
    pub secret: &'a str,
    pub error: Option<&'a str>,
    /// The administrator's passkeys (name, added, last used), where they may add one (a
    /// complete session, the server a relying party).
    pub passkeys: Option<Vec<(String, String, String)>>,
    /// What the passkeys section says (a refusal, or that one was added).
    pub passkey_message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "admin_passkey_enrol.html")]
pub struct AdminPasskeyEnrol<'a> {
    pub csrf: &'a str,
    pub name: &'a str,
    pub ceremony: &'a str,
    pub options_json: &'a str,
}

#[derive(Template)]
#[template(path = "admin_app_policy.html")]
pub struct PolicyTab {
    pub frame: Frame,
    pub panel: Panel,
    /// `no`, `yes` or `phishing-resistant`.
    pub require_mfa: &'static str,
    pub passwordless: bool,
    /// One CIDR per line.
    pub networks: String,
}
