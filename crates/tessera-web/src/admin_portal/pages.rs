//! The admin portal's pages, as askama templates (auto-escaped).

use askama::Template;
use tessera_core::Application;

/// What every page behind the sign-in carries: the form token, and who is signed in.
pub struct Frame {
    pub csrf: String,
    pub admin: String,
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

/// The General settings of a new application, as typed so far.
pub struct General<'a> {
    pub domain: &'a str,
    pub url: &'a str,
    pub label: &'a str,
    pub description: &'a str,
    pub show_in_portal: bool,
}

#[derive(Template)]
#[template(path = "admin_new_app.html")]
pub struct NewApplication<'a> {
    pub frame: Frame,
    pub entry: &'a CatalogEntry,
    pub general: General<'a>,
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
}

/// An application's configuration panel: which application, which tab, and what the last
/// change said.
pub struct Panel {
    pub app: AppHeader,
    pub tabs: [(&'static str, &'static str); 4],
    pub tab: &'static str,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

impl Panel {
    pub fn new(app: &Application, tab: &'static str) -> Panel {
        let app = AppHeader {
            id: app.id.to_string(),
            label: app.label.clone(),
            description: app.description.clone(),
            show_in_portal: app.show_in_portal,
        };
        Panel {
            app,
            tabs: [("general", "General"), ("sso", "SSO"), ("groups", "User Groups"), ("policy", "Access policy")],
            tab,
            notice: None,
            error: None,
        }
    }

    pub fn saying(mut self, notice: &'static str) -> Panel {
        self.notice = Some(notice);
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

#[derive(Template)]
#[template(path = "admin_app_sso.html")]
pub struct SsoTab<'a> {
    pub frame: Frame,
    pub panel: Panel,
    pub kind: &'a str,
    pub sso: Option<SsoDetails>,
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
#[template(path = "admin_regenerate.html")]
pub struct Regenerate {
    pub frame: Frame,
    pub panel: Panel,
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
}

#[derive(Template)]
#[template(path = "admin_app_policy.html")]
pub struct PolicyTab {
    pub frame: Frame,
    pub panel: Panel,
    pub require_mfa: bool,
    /// One CIDR per line.
    pub networks: String,
}
