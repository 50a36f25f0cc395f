//! Applications: what users sign in to. Three kinds, each with the portal fields of the seed
//! product (display label, description, portal image, show-in-portal).

use serde::{Deserialize, Serialize};

use crate::validate;
use crate::{AppId, CoreError, UnixMillis};

/// Microsoft 365 / Entra ID's own identifier as a relying party (M365-PROTOCOLS.md §0).
pub const ENTRA_RELYING_PARTY: &str = "urn:federation:MicrosoftOnline";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SamlBinding {
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")]
    HttpPost,
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")]
    HttpRedirect,
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact")]
    HttpArtifact,
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:bindings:PAOS")]
    Paos,
    #[serde(rename = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP")]
    Soap,
}

impl SamlBinding {
    pub const ALL: [SamlBinding; 5] = [
        SamlBinding::HttpPost,
        SamlBinding::HttpRedirect,
        SamlBinding::HttpArtifact,
        SamlBinding::Paos,
        SamlBinding::Soap,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            SamlBinding::HttpPost => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            SamlBinding::HttpRedirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            SamlBinding::HttpArtifact => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
            SamlBinding::Paos => "urn:oasis:names:tc:SAML:2.0:bindings:PAOS",
            SamlBinding::Soap => "urn:oasis:names:tc:SAML:2.0:bindings:SOAP",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.uri() == uri)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEndpoint {
    pub url: String,
    pub binding: SamlBinding,
    pub index: u16,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloEndpoint {
    pub url: String,
    pub binding: SamlBinding,
    /// Where the SP wants LogoutResponses, when it differs from `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
}

/// A user attribute a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAttribute {
    Id,
    Email,
    Upn,
    FirstName,
    LastName,
    DisplayName,
    ImmutableId,
}

/// Which user attribute becomes the SAML NameID.
pub type NameIdSource = UserAttribute;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeMapping {
    /// The attribute name the SP expects.
    pub name: String,
    pub source: UserAttribute,
}

pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSpConfig {
    pub entity_id: String,
    pub acs: Vec<AcsEndpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloEndpoint>,
    pub name_id_format: String,
    pub name_id_source: NameIdSource,
    #[serde(default)]
    pub attribute_mappings: Vec<AttributeMapping>,
    /// The SP signs its AuthnRequests, so unsigned ones are refused.
    pub sign_requests: bool,
    /// Base64 DER of the SP's signing certificate, from its metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Sign the assertion (the default, and what most SPs require).
    #[serde(default = "yes")]
    pub sign_assertion: bool,
    /// Sign the whole Response too.
    #[serde(default)]
    pub sign_response: bool,
    /// Accept RSA-SHA1 request signatures from this SP (flagged in audit).
    #[serde(default)]
    pub allow_sha1: bool,
    /// Allow IdP-initiated sign-on (the portal tile, or a GET of the SSO URL without a
    /// request). Off for SPs that must only ever answer their own requests.
    #[serde(default = "yes")]
    pub idp_initiated: bool,
}

fn yes() -> bool {
    true
}

impl SamlSpConfig {
    /// The NameID source that suits a format: the ImmutableID for persistent identifiers, the
    /// email otherwise.
    pub fn default_source_for(format: &str) -> NameIdSource {
        if format == NAMEID_PERSISTENT { UserAttribute::ImmutableId } else { UserAttribute::Email }
    }

    /// Checks what metadata parsing cannot: https endpoints, unique indexes, one default.
    pub fn validate(mut self) -> Result<Self, CoreError> {
        if self.entity_id.trim().is_empty() || self.entity_id.len() > 1024 {
            return Err(CoreError::invalid("entity_id", "must be 1 to 1024 characters"));
        }
        if self.acs.is_empty() {
            return Err(CoreError::invalid("acs", "the SP declares no AssertionConsumerService"));
        }
        for acs in &mut self.acs {
            acs.url = validate::endpoint_url("acs", &acs.url)?;
            if !matches!(acs.binding, SamlBinding::HttpPost | SamlBinding::HttpArtifact | SamlBinding::Paos) {
                return Err(CoreError::invalid(
                    "acs",
                    format!("binding {} cannot carry a Response to an ACS", acs.binding.uri()),
                ));
            }
        }
        let mut indexes: Vec<u16> = self.acs.iter().map(|a| a.index).collect();
        indexes.sort_unstable();
        if indexes.windows(2).any(|w| w[0] == w[1]) {
            return Err(CoreError::invalid("acs", "two AssertionConsumerService share an index"));
        }
        if self.acs.iter().filter(|a| a.is_default).count() > 1 {
            return Err(CoreError::invalid("acs", "more than one AssertionConsumerService is the default"));
        }
        if let Some(slo) = &mut self.slo {
            slo.url = validate::endpoint_url("slo", &slo.url)?;
            if let Some(r) = &slo.response_url {
                slo.response_url = Some(validate::endpoint_url("slo", r)?);
            }
        }
        if !self.sign_assertion && !self.sign_response {
            return Err(CoreError::invalid("signing", "sign the assertion, the response, or both"));
        }
        if self.name_id_format.trim().is_empty() || self.name_id_format.len() > 256 {
            return Err(CoreError::invalid("name_id_format", "must be a NameID format URI"));
        }
        self.attribute_mappings = validate_mappings(std::mem::take(&mut self.attribute_mappings), &[])?;
        if self.sign_requests && self.certificate.is_none() {
            return Err(CoreError::invalid(
                "certificate",
                "the SP says it signs requests (AuthnRequestsSigned) but its metadata has no signing certificate",
            ));
        }
        Ok(self)
    }
}

impl std::str::FromStr for UserAttribute {
    type Err = CoreError;

    fn from_str(text: &str) -> Result<Self, CoreError> {
        serde_json::from_value(serde_json::Value::String(text.trim().to_string())).map_err(|_| {
            CoreError::invalid(
                "attribute",
                format!("{text:?} is not one of id, email, upn, first_name, last_name, display_name, immutable_id"),
            )
        })
    }
}

impl AttributeMapping {
    /// `NAME=SOURCE`, as the CLI takes it.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        let (name, source) = text
            .rsplit_once('=')
            .ok_or_else(|| CoreError::invalid("attribute", format!("{text:?} is not NAME=SOURCE")))?;
        Ok(AttributeMapping { name: name.trim().to_string(), source: source.parse()? })
    }
}

/// A change to an application's sign-in settings; `None` leaves a setting as it is. Fields
/// that do not apply to the app's kind are refused. The M365 domain and IdP path never
/// change: the federated domain's settings point at them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// Replaces the attribute mappings (M365: added after `IDPEmail`).
    #[serde(default)]
    pub attributes: Option<Vec<AttributeMapping>>,
    /// M365: where the portal tile sends users.
    #[serde(default)]
    pub login_url: Option<String>,
    /// M365: require Entra's signed AuthnRequests.
    #[serde(default)]
    pub require_signed_requests: Option<bool>,
    /// M365: base64 DER of Entra's request-signing certificate.
    #[serde(default)]
    pub entra_certificate: Option<String>,
    /// M365: replaces the realms whose domain-joined computers get hybrid join tokens.
    #[serde(default)]
    pub device_realms: Option<Vec<String>>,
    /// SAML: the NameID format issued.
    #[serde(default)]
    pub name_id_format: Option<String>,
    /// SAML: which attribute becomes the NameID.
    #[serde(default)]
    pub name_id_source: Option<UserAttribute>,
    #[serde(default)]
    pub sign_assertion: Option<bool>,
    #[serde(default)]
    pub sign_response: Option<bool>,
    #[serde(default)]
    pub allow_sha1: Option<bool>,
    /// SAML: allow IdP-initiated sign-on.
    #[serde(default)]
    pub idp_initiated: Option<bool>,
}

impl SettingsChange {
    pub fn is_empty(&self) -> bool {
        *self == SettingsChange::default()
    }

    /// The kind with this change applied and validated.
    pub fn apply(&self, kind: &AppKind) -> Result<AppKind, CoreError> {
        // The first field given that this kind of application does not have.
        let only_its_own = |fields: &[(bool, &str)], kind: &str| match fields.iter().find(|(set, _)| *set) {
            Some((_, field)) => Err(CoreError::invalid(*field, format!("does not apply to a {kind} application"))),
            None => Ok(()),
        };
        match kind {
            AppKind::M365(c) => {
                only_its_own(
                    &[
                        (self.name_id_format.is_some(), "name_id_format"),
                        (self.name_id_source.is_some(), "name_id_source"),
                        (self.sign_assertion.is_some(), "sign_assertion"),
                        (self.sign_response.is_some(), "sign_response"),
                        (self.allow_sha1.is_some(), "allow_sha1"),
                        (self.idp_initiated.is_some(), "idp_initiated"),
                    ],
                    "Microsoft 365",
                )?;
                let mut c = c.clone();
                if let Some(attributes) = &self.attributes {
                    c.attributes = attributes.clone();
                }
                if let Some(url) = &self.login_url {
                    c.login_url = Some(url.clone());
                }
                if let Some(certificate) = &self.entra_certificate {
                    c.entra_certificate = Some(certificate.trim().to_string());
                }
                if let Some(required) = self.require_signed_requests {
                    c.require_signed_requests = required;
                }
                if let Some(realms) = &self.device_realms {
                    c.device_realms = realms.clone();
                }
                Ok(AppKind::M365(c.validate()?))
            }
            AppKind::Saml(c) => {
                only_its_own(
                    &[
                        (self.login_url.is_some(), "login_url"),
                        (self.require_signed_requests.is_some(), "require_signed_requests"),
                        (self.entra_certificate.is_some(), "entra_certificate"),
                        (self.device_realms.is_some(), "device_realms"),
                    ],
                    "SAML",
                )?;
                let mut c = c.clone();
                if let Some(attributes) = &self.attributes {
                    c.attribute_mappings = attributes.clone();
                }
                if let Some(format) = &self.name_id_format {
                    c.name_id_format = format.trim().to_string();
                }
                if let Some(source) = self.name_id_source {
                    c.name_id_source = source;
                }
                if let Some(v) = self.sign_assertion {
                    c.sign_assertion = v;
                }
                if let Some(v) = self.sign_response {
                    c.sign_response = v;
                }
                if let Some(v) = self.allow_sha1 {
                    c.allow_sha1 = v;
                }
                if let Some(v) = self.idp_initiated {
                    c.idp_initiated = v;
                }
                Ok(AppKind::Saml(c.validate()?))
            }
            AppKind::WsFed(c) => {
                only_its_own(
                    &[
                        (self.login_url.is_some(), "login_url"),
                        (self.require_signed_requests.is_some(), "require_signed_requests"),
                        (self.entra_certificate.is_some(), "entra_certificate"),
                        (self.device_realms.is_some(), "device_realms"),
                        (self.name_id_format.is_some(), "name_id_format"),
                        (self.sign_assertion.is_some(), "sign_assertion"),
                        (self.sign_response.is_some(), "sign_response"),
                        (self.allow_sha1.is_some(), "allow_sha1"),
                        (self.idp_initiated.is_some(), "idp_initiated"),
                    ],
                    "WS-Federation",
                )?;
                let mut c = c.clone();
                if let Some(attributes) = &self.attributes {
                    c.attribute_mappings = attributes.clone();
                }
                if let Some(source) = self.name_id_source {
                    c.name_id_source = source;
                }
                Ok(AppKind::WsFed(c.validate()?))
            }
            AppKind::Bookmark { .. } => Err(CoreError::invalid("settings", "a bookmark has no sign-in settings")),
        }
    }
}

/// The label an M365 connector gets when the admin names none.
pub fn default_m365_label(domain: &str) -> String {
    format!("Microsoft 365 ({})", domain.trim().to_ascii_lowercase())
}

/// Microsoft's sign-in page for a domain: the M365 tile's Login URL, from which Entra starts an
/// SP-initiated sign-in back to this IdP.
pub fn default_m365_login_url(domain: &str) -> String {
    format!("https://login.microsoftonline.com/login.srf?wa=wsignin1.0&whr={domain}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct M365Config {
    /// The custom domain federated to this connector (lowercase, ASCII).
    pub domain: String,
    /// The path segment of the connector's endpoints (`/m365/{idp_path}/…`), the seed's "IdP
    /// URL": the domain unless set at creation, and fixed afterwards because the federated
    /// domain's settings point at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_path: Option<String>,
    /// Where the portal tile sends users (the seed's Login URL), templated from the domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_url: Option<String>,
    /// Attributes added to every token, after `IDPEmail`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<AttributeMapping>,
    /// Entra signs its AuthnRequests (`isSignedAuthenticationRequestRequired`): unsigned ones
    /// are refused and signed ones verified with `entra_certificate`.
    #[serde(default)]
    pub require_signed_requests: bool,
    /// Base64 DER of Entra's request-signing certificate, from its SP metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra_certificate: Option<String>,
    /// The Kerberos realms (Active Directory domains, upper case) whose domain-joined computers
    /// this connector gives hybrid join tokens (windowstransport). None: no device tokens, as
    /// no user gets a token until a group is granted: a connector vouches for the computers of
    /// the domains its administrator names, not for any domain a source reaches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_realms: Vec<String>,
}

impl M365Config {
    pub fn for_domain(domain: &str) -> Self {
        M365Config {
            domain: domain.to_string(),
            idp_path: None,
            login_url: None,
            attributes: Vec::new(),
            require_signed_requests: false,
            entra_certificate: None,
            device_realms: Vec::new(),
        }
    }

    /// Whether this connector gives device tokens to the computers of `realm`.
    pub fn vouches_for_devices_of(&self, realm: &str) -> bool {
        self.device_realms.iter().any(|granted| granted.eq_ignore_ascii_case(realm))
    }

    pub fn idp_path(&self) -> &str {
        self.idp_path.as_deref().unwrap_or(&self.domain)
    }

    pub fn login_url(&self) -> String {
        self.login_url.clone().unwrap_or_else(|| default_m365_login_url(&self.domain))
    }

    /// Normalizes and checks the connector's settings.
    pub fn validate(mut self) -> Result<Self, CoreError> {
        self.domain = validate::federatable_domain("domain", &self.domain)?;
        let path = validate::path_segment("idp_path", self.idp_path.as_deref().unwrap_or(&self.domain))?;
        self.idp_path = Some(path);
        let login_url = validate::endpoint_url("login_url", &self.login_url())?;
        if !login_url.starts_with("https://") {
            return Err(CoreError::invalid("login_url", "must be an https URL"));
        }
        self.login_url = Some(login_url);
        self.attributes = validate_mappings(std::mem::take(&mut self.attributes), &["IDPEmail"])?;
        if let Some(certificate) = &self.entra_certificate {
            validate::certificate_base64("entra_certificate", certificate)?;
        }
        if self.require_signed_requests && self.entra_certificate.is_none() {
            return Err(CoreError::invalid(
                "entra_certificate",
                "signed requests need Entra's signing certificate (from its SP metadata)",
            ));
        }
        let mut realms = Vec::new();
        for realm in std::mem::take(&mut self.device_realms) {
            let realm = validate::kerberos_realm("device_realms", &realm)?;
            if !realms.contains(&realm) {
                realms.push(realm);
            }
        }
        self.device_realms = realms;
        Ok(self)
    }
}

/// Attribute mappings: names 1 to 256 printable characters, each name once, none reserved.
pub fn validate_mappings(
    mappings: Vec<AttributeMapping>,
    reserved: &[&str],
) -> Result<Vec<AttributeMapping>, CoreError> {
    let mut seen: Vec<String> = Vec::new();
    for mapping in &mappings {
        let name = mapping.name.as_str();
        if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control()) || name.trim() != name {
            return Err(CoreError::invalid("attributes", format!("{name:?} is not a usable attribute name")));
        }
        if reserved.contains(&name) {
            return Err(CoreError::invalid("attributes", format!("{name} is always sent and cannot be mapped")));
        }
        if seen.iter().any(|s| s == name) {
            return Err(CoreError::invalid("attributes", format!("{name} is mapped twice")));
        }
        seen.push(name.to_string());
    }
    if mappings.len() > 64 {
        return Err(CoreError::invalid("attributes", "at most 64 attributes"));
    }
    Ok(mappings)
}

/// A WS-Federation relying party (an application that signs users in with `wsignin1.0` and
/// reads a SAML 1.1 token), registered by its realm and the reply addresses it may name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WsFedRpConfig {
    /// `wtrealm`, and the token's audience.
    pub realm: String,
    /// Where tokens may be posted; the first is the default.
    pub reply_urls: Vec<String>,
    /// What the token's NameIdentifier carries (the email unless said otherwise).
    #[serde(default = "email_source")]
    pub name_id_source: UserAttribute,
    /// Claims, `NAME` a claim type URI (split at its last `/` into namespace and name).
    #[serde(default)]
    pub attribute_mappings: Vec<AttributeMapping>,
}

fn email_source() -> UserAttribute {
    UserAttribute::Email
}

/// The longest realm accepted.
const MAX_REALM: usize = 1024;

impl WsFedRpConfig {
    pub fn new(realm: &str, reply_urls: &[String], attributes: Vec<AttributeMapping>) -> WsFedRpConfig {
        WsFedRpConfig {
            realm: realm.trim().to_string(),
            reply_urls: reply_urls.iter().map(|u| u.trim().to_string()).collect(),
            name_id_source: UserAttribute::Email,
            attribute_mappings: attributes,
        }
    }

    /// A realm of printable characters; one to 16 reply addresses, each https (http only on
    /// loopback), none twice; usable claim names.
    pub fn validate(mut self) -> Result<Self, CoreError> {
        let realm = self.realm.trim();
        if realm.is_empty() || realm.len() > MAX_REALM || realm.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(CoreError::invalid("realm", "give a realm (a URI without spaces, at most 1024 characters)"));
        }
        self.realm = realm.to_string();
        if self.reply_urls.is_empty() || self.reply_urls.len() > 16 {
            return Err(CoreError::invalid("reply_urls", "give one to 16 reply URLs"));
        }
        let mut urls: Vec<String> = Vec::new();
        for url in &self.reply_urls {
            let url = validate::endpoint_url("reply_urls", url)?;
            if urls.contains(&url) {
                return Err(CoreError::invalid("reply_urls", format!("{url} is given twice")));
            }
            urls.push(url);
        }
        self.reply_urls = urls;
        self.attribute_mappings = validate_mappings(std::mem::take(&mut self.attribute_mappings), &[])?;
        Ok(self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AppKind {
    M365(M365Config),
    Saml(SamlSpConfig),
    WsFed(WsFedRpConfig),
    Bookmark { url: String },
}

impl AppKind {
    pub fn name(&self) -> &'static str {
        match self {
            AppKind::M365(_) => "m365",
            AppKind::Saml(_) => "saml",
            AppKind::WsFed(_) => "wsfed",
            AppKind::Bookmark { .. } => "bookmark",
        }
    }

    pub fn m365_idp_path(&self) -> Option<&str> {
        match self {
            AppKind::M365(c) => Some(c.idp_path()),
            _ => None,
        }
    }

    pub fn m365_domain(&self) -> Option<&str> {
        match self {
            AppKind::M365(c) => Some(&c.domain),
            _ => None,
        }
    }

    /// Whether apps of this kind sign tokens, and so need a key.
    pub fn signs(&self) -> bool {
        !matches!(self, AppKind::Bookmark { .. })
    }

    pub fn sp_entity_id(&self) -> Option<&str> {
        match self {
            AppKind::Saml(c) => Some(&c.entity_id),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: AppId,
    pub label: String,
    pub description: String,
    /// A `data:image/png;base64,…` URI (see [`validate_portal_image`]).
    pub portal_image: Option<String>,
    pub show_in_portal: bool,
    /// The entity ID / IssuerUri this app signs as (none for bookmarks). Fixed at creation so
    /// that a later change of public URL does not break a federated domain.
    pub issuer: Option<String>,
    pub kind: AppKind,
    pub certificates: SigningCertificates,
    pub policy: crate::policy::AccessPolicy,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// The certificates an application publishes (DER): the one it signs with now and, during a
/// staged rollover, the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigningCertificates {
    pub current: Option<Vec<u8>>,
    pub next: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    pub id: AppId,
    pub label: String,
    pub description: String,
    pub portal_image: Option<String>,
    pub show_in_portal: bool,
    pub issuer: Option<String>,
    pub kind: AppKind,
}

impl NewApplication {
    /// Validates the portal fields and the kind, and templates the issuer from the public URL:
    /// `{public}/m365/{domain}` for Microsoft 365 (one issuer per federated domain, as Entra
    /// requires), `{public}/apps/{id}` for SAML.
    pub fn new(
        public_url: &str,
        label: &str,
        description: Option<&str>,
        portal_image: Option<String>,
        show_in_portal: bool,
        kind: AppKind,
    ) -> Result<Self, CoreError> {
        let id = AppId::new();
        let kind = match kind {
            AppKind::M365(c) => AppKind::M365(c.validate()?),
            AppKind::Saml(c) => AppKind::Saml(c.validate()?),
            AppKind::WsFed(c) => AppKind::WsFed(c.validate()?),
            AppKind::Bookmark { url } => AppKind::Bookmark { url: validate::bookmark_url(&url)? },
        };
        if let Some(image) = &portal_image {
            validate_portal_image(image)?;
        }
        let public = validate::public_url(public_url)?;
        let issuer = match &kind {
            AppKind::M365(c) => Some(format!("{public}/m365/{}", c.domain)),
            AppKind::Saml(_) | AppKind::WsFed(_) => Some(format!("{public}/apps/{id}")),
            AppKind::Bookmark { .. } => None,
        };
        Ok(NewApplication {
            id,
            label: validate::label("label", label)?,
            description: validate::description(description.unwrap_or(""))?,
            portal_image,
            show_in_portal,
            issuer,
            kind,
        })
    }
}

/// A stored image is the admin service's re-encoding of an upload: a small PNG (a 128-pixel
/// square of noise stays under 100 KB as base64).
const MAX_PORTAL_IMAGE: usize = 350_000;

/// A User Portal image as stored: a `data:image/png;base64,…` URI of bounded size. It is served
/// from Tessera's own origin, never fetched from another.
pub fn validate_portal_image(image: &str) -> Result<(), CoreError> {
    let ok = image.len() <= MAX_PORTAL_IMAGE
        && image.strip_prefix("data:image/png;base64,").is_some_and(|b64| {
            !b64.is_empty() && b64.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        });
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid("portal_image", "must be a PNG image checked by the admin service"))
    }
}

/// The absolute URLs an application serves, built from the public URL. A field is `None`
/// where the app's kind does not serve that protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml_sso: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml_slo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml_metadata: Option<String>,
    /// SAML 2.0 ECP (SOAP binding, HTTP Basic credentials): the `activeSignInUri` of a domain
    /// federated over SAML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saml_ecp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wsfed_passive: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wsfed_metadata: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wstrust_mex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wstrust_13_usernamemixed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wstrust_2005_usernamemixed: Option<String>,
    /// Windows integrated authentication (Kerberos) for hybrid join and Office: served when
    /// `serve` has a keytab, to the organization's networks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wstrust_13_windowstransport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wstrust_2005_windowstransport: Option<String>,
}

impl Application {
    /// The path under the public URL where this app's endpoints live. Microsoft 365 connectors
    /// are addressed by their domain, as the seed product templates its Login URL from it.
    pub fn path_base(&self) -> String {
        match &self.kind {
            AppKind::M365(c) => format!("/m365/{}", c.idp_path()),
            _ => format!("/apps/{}", self.id),
        }
    }

    /// The SAML SSO endpoint of `endpoints` alone, for the SAML request that checks its
    /// Destination against it on every sign-on (`endpoints` writes ten more URLs).
    pub fn saml_sso_url(&self, public_url: &str) -> Option<String> {
        matches!(self.kind, AppKind::M365(_) | AppKind::Saml(_))
            .then(|| format!("{}{}/saml/sso", public_url.trim_end_matches('/'), self.path_base()))
    }

    pub fn endpoints(&self, public_url: &str) -> Endpoints {
        let base = format!("{}{}", public_url.trim_end_matches('/'), self.path_base());
        let saml = || Endpoints {
            saml_sso: self.saml_sso_url(public_url),
            saml_slo: Some(format!("{base}/saml/slo")),
            saml_metadata: Some(format!("{base}/saml/metadata.xml")),
            saml_ecp: Some(format!("{base}/saml/ecp")),
            ..Endpoints::default()
        };
        match &self.kind {
            AppKind::M365(_) => Endpoints {
                wsfed_passive: Some(format!("{base}/wsfed")),
                wsfed_metadata: Some(format!("{base}/FederationMetadata/2007-06/FederationMetadata.xml")),
                wstrust_mex: Some(format!("{base}/adfs/services/trust/mex")),
                wstrust_13_usernamemixed: Some(format!("{base}/adfs/services/trust/13/usernamemixed")),
                wstrust_2005_usernamemixed: Some(format!("{base}/adfs/services/trust/2005/usernamemixed")),
                wstrust_13_windowstransport: Some(format!("{base}/adfs/services/trust/13/windowstransport")),
                wstrust_2005_windowstransport: Some(format!("{base}/adfs/services/trust/2005/windowstransport")),
                ..saml()
            },
            AppKind::Saml(_) => saml(),
            AppKind::WsFed(_) => Endpoints {
                wsfed_passive: Some(format!("{base}/wsfed")),
                wsfed_metadata: Some(format!("{base}/FederationMetadata/2007-06/FederationMetadata.xml")),
                ..Endpoints::default()
            },
            AppKind::Bookmark { .. } => Endpoints::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m365(domain: &str) -> Result<NewApplication, CoreError> {
        NewApplication::new(
            "https://idp.example.com/",
            "M365",
            None,
            None,
            true,
            AppKind::M365(M365Config::for_domain(domain)),
        )
    }

    #[test]
    fn m365_issuer_templated_from_domain() {
        let app = m365("Contoso.com").unwrap();
        assert_eq!(app.issuer.as_deref(), Some("https://idp.example.com/m365/contoso.com"));
        assert_eq!(app.kind.m365_domain(), Some("contoso.com"));
    }

    #[test]
    fn m365_initial_domain_refused() {
        assert!(m365("contoso.onmicrosoft.com").is_err());
    }

    #[test]
    fn m365_serves_all_eleven_endpoints() {
        let new = m365("contoso.com").unwrap();
        let app = Application {
            id: new.id,
            label: new.label,
            description: new.description,
            portal_image: None,
            show_in_portal: true,
            issuer: new.issuer,
            kind: new.kind,
            certificates: Default::default(),
            policy: Default::default(),
            created_at: 0,
            updated_at: 0,
        };
        let json = serde_json::to_value(app.endpoints("https://idp.example.com")).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 11);
        assert_eq!(json["saml_sso"], "https://idp.example.com/m365/contoso.com/saml/sso");
        assert_eq!(
            app.saml_sso_url("https://idp.example.com/").as_deref(),
            Some("https://idp.example.com/m365/contoso.com/saml/sso"),
            "the one a SAML request is checked against"
        );
        assert_eq!(
            json["wstrust_2005_windowstransport"],
            "https://idp.example.com/m365/contoso.com/adfs/services/trust/2005/windowstransport"
        );
    }

    #[test]
    fn portal_images() {
        assert!(validate_portal_image("data:image/png;base64,AAAA").is_ok());
        assert!(validate_portal_image("data:image/png;base64,").is_err());
        assert!(validate_portal_image("data:image/png;base64,AA\"><script>").is_err());
        assert!(validate_portal_image("data:image/jpeg;base64,AAAA").is_err());
        assert!(validate_portal_image("https://x.example/a.png").is_err());
        assert!(validate_portal_image("data:image/svg+xml;base64,AAAA").is_err());
        assert!(validate_portal_image("javascript:alert(1)").is_err());
        assert!(validate_portal_image("http://x.example/a.png").is_err());
    }
}
