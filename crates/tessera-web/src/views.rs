//! The JSON shapes of directory objects: the REST API's bodies and the CLI's `--json` output
//! are the same, so scripts can switch between them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use tessera_core::{AppKind, Application, AuditEvent, Group, User, format_millis};
use tessera_store::{Administrator, ApiToken};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub upn: String,
    pub first_name: String,
    pub last_name: String,
    /// Entra's sourceAnchor for this user (base64 of 16 bytes unless set).
    pub immutable_id: String,
    /// `active` or `suspended`.
    pub state: String,
    pub has_password: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.to_string(),
            email: u.email.clone(),
            upn: u.upn.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            immutable_id: u.immutable_id.clone(),
            state: u.state.as_str().to_string(),
            has_password: u.password_hash.is_some(),
            created_at: format_millis(u.created_at),
            updated_at: format_millis(u.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        GroupView {
            id: g.id.to_string(),
            name: g.name.clone(),
            description: g.description.clone(),
            created_at: format_millis(g.created_at),
        }
    }
}

/// A directory source: its settings, never its bind password.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    /// `ad` or `openldap`.
    pub kind: String,
    pub urls: Vec<String>,
    pub bind_dn: String,
    pub base_dn: String,
    /// Whether the servers' certificates are checked against the source's own CA (else the
    /// system's).
    pub private_ca: bool,
    /// `bind` (users sign in with their directory password) or `none`.
    pub authenticate: String,
    pub user_filter: String,
    pub group_filter: String,
    pub insecure_plaintext: bool,
    /// Which attribute carries what.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub created_at: String,
}

impl From<&tessera_core::DirectorySource> for SourceView {
    fn from(s: &tessera_core::DirectorySource) -> Self {
        let c = &s.config;
        SourceView {
            id: s.id.to_string(),
            name: s.name.clone(),
            kind: c.kind.as_str().to_string(),
            urls: c.urls.clone(),
            bind_dn: c.bind_dn.clone(),
            base_dn: c.base_dn.clone(),
            private_ca: c.ca_pem.is_some(),
            authenticate: c.authenticate.as_str().to_string(),
            user_filter: c.user_filter.clone(),
            group_filter: c.group_filter.clone(),
            insecure_plaintext: c.insecure_plaintext,
            attributes: serde_json::to_value(&c.attributes).unwrap_or_default(),
            created_at: format_millis(s.created_at),
        }
    }
}

/// An application as CONTRACT.md describes `app show --json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppView {
    pub id: String,
    /// `m365`, `saml` or `bookmark`.
    pub kind: String,
    pub label: String,
    pub description: String,
    pub show_in_portal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal_image: Option<String>,
    /// The IdP entity ID / IssuerUri this app signs as (null for bookmarks).
    pub issuer: Option<String>,
    /// Base64 DER of the certificate in use (null for bookmarks, which sign nothing).
    pub signing_certificate: Option<String>,
    pub next_signing_certificate: Option<String>,
    /// Absolute URLs under the public URL; a key is absent where the kind does not serve it.
    #[schema(value_type = Object)]
    pub endpoints: serde_json::Value,
    /// Who may use the app from where, with which factors.
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The Microsoft 365 connector's settings: IdP URL path, Login URL, additional attributes,
    /// whether Entra's AuthnRequests must be signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub m365: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The service provider's registration, for `saml` apps.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub service_provider: Option<serde_json::Value>,
    /// A WS-Federation relying party's registration: realm, reply URLs, claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub relying_party: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl AppView {
    pub fn new(app: &Application, public_url: &str) -> Self {
        let m365 = match &app.kind {
            AppKind::M365(c) => Some(serde_json::json!({
                "idp_path": c.idp_path(),
                "login_url": c.login_url(),
                "attributes": c.attributes,
                "require_signed_requests": c.require_signed_requests,
                "device_realms": c.device_realms,
            })),
            _ => None,
        };
        let (domain, url, service_provider) = match &app.kind {
            AppKind::M365(c) => (Some(c.domain.clone()), None, None),
            AppKind::Bookmark { url } => (None, Some(url.clone()), None),
            AppKind::Saml(c) => (None, None, serde_json::to_value(c).ok()),
            AppKind::WsFed(_) => (None, None, None),
        };
        let relying_party = match &app.kind {
            AppKind::WsFed(c) => serde_json::to_value(c).ok(),
            _ => None,
        };
        AppView {
            id: app.id.to_string(),
            kind: app.kind.name().to_string(),
            label: app.label.clone(),
            description: app.description.clone(),
            show_in_portal: app.show_in_portal,
            portal_image: app.portal_image.clone(),
            issuer: app.issuer.clone(),
            signing_certificate: app.certificates.current.as_deref().map(|der| STANDARD.encode(der)),
            next_signing_certificate: app.certificates.next.as_deref().map(|der| STANDARD.encode(der)),
            endpoints: serde_json::to_value(app.endpoints(public_url)).unwrap_or_default(),
            policy: serde_json::to_value(&app.policy).unwrap_or_default(),
            domain,
            m365,
            url,
            service_provider,
            relying_party,
            created_at: format_millis(app.created_at),
            updated_at: format_millis(app.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

impl From<&AuditEvent> for AuditView {
    fn from(e: &AuditEvent) -> Self {
        AuditView {
            id: e.id,
            at: format_millis(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target_kind: e.target_kind.clone(),
            target_id: e.target_id.clone(),
            summary: e.summary.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// `admin`, `app-admin` or `auditor`.
    pub role: String,
}

impl From<&ApiToken> for ApiTokenView {
    fn from(t: &ApiToken) -> Self {
        ApiTokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            created_at: format_millis(t.created_at),
            revoked_at: t.revoked_at.map(format_millis),
            role: t.role.to_string(),
        }
    }
}

/// An administrator, without the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminView {
    pub id: String,
    pub username: String,
    /// The one-time password of the first start is still in use.
    pub must_change_password: bool,
    pub created_at: String,
    /// `admin`, `app-admin` or `auditor`.
    pub role: String,
    /// An application administrator's applications (ids); empty for the other roles.
    pub apps: Vec<String>,
}

impl AdminView {
    pub fn new(a: &Administrator, authority: &tessera_core::Authority) -> Self {
        AdminView {
            id: a.id.clone(),
            username: a.username.clone(),
            must_change_password: a.must_change_password,
            created_at: format_millis(a.created_at),
            role: a.role.to_string(),
            apps: authority.apps.iter().map(ToString::to_string).collect(),
        }
    }
}

/// The outcome of the authorization rule for one user and one app.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    pub user_id: String,
    pub app_id: String,
    pub allowed: bool,
    /// Why access is denied: `user_suspended` or `no_granted_group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The granted groups that hold the user.
    pub via_groups: Vec<String>,
}

impl AccessView {
    pub fn new(user: &User, app: &Application, decision: &tessera_core::AccessDecision) -> Self {
        let (allowed, reason, via_groups) = match decision {
            tessera_core::AccessDecision::Allowed { via } => (true, None, via.iter().map(|g| g.to_string()).collect()),
            tessera_core::AccessDecision::Denied(r) => (false, Some(r.as_str().to_string()), Vec::new()),
        };
        AccessView { user_id: user.id.to_string(), app_id: app.id.to_string(), allowed, reason, via_groups }
    }
}
