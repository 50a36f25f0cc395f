//! Applications: created with their first signing key, their settings, policy and grants
//! changed, their key rotated, their metadata and federation command exported, deleted.

use tessera_core::access::is_sub_domain;
use tessera_core::app::{
    AcsEndpoint, ENTRA_RELYING_PARTY, M365Config, NAMEID_EMAIL, SamlBinding, SamlSpConfig, SettingsChange, SloEndpoint,
    default_m365_label,
};
use tessera_core::policy::{AccessPolicy, Cidr, MfaRequirement};
use tessera_core::{
    AccessDecision, Actor, AppId, AppKind, Application, AuditEvent, Group, NewApplication, User, WsFedRpConfig,
};
use tessera_keys::{DEFAULT_VALIDITY_DAYS, KeySize};
use tessera_m365::{FederationCommand, Protocol, Style};
use tessera_protocols::saml2::sp_metadata::parse_sp_metadata;
use tessera_store::{AppDetails, Page, PageRequest};

use crate::{AdminError, AdminService, invalid_protocol};

/// What kind of application, with what only that kind has.
#[derive(Debug, Clone)]
pub enum AppSpec {
    /// The Microsoft 365 / Entra ID connector of a domain; `idp_path` is the path segment of
    /// its endpoints (the domain unless given), fixed once created.
    M365 { domain: String, idp_path: Option<String> },
    /// A SAML 2.0 service provider, from its metadata.
    Saml { sp_metadata: Vec<u8> },
    /// A SAML 2.0 service provider whose metadata is fetched from an https URL (see
    /// [`crate::metadata_url`]); the document is then checked as an upload is.
    SamlMetadataUrl { url: String },
    /// A SAML 2.0 service provider without metadata, typed as fields.
    SamlFields(SpFields),
    /// A WS-Federation relying party: its realm and the addresses tokens may be posted to.
    WsFed { realm: String, reply_urls: Vec<String> },
    /// A tile that opens a URL.
    Bookmark { url: String },
}

/// A SAML service provider as an administrator types it: its entity ID, where assertions go
/// (HTTP-POST), where logout goes (HTTP-Redirect), and the certificate it signs requests with
/// (PEM or base64 DER), if it signs them.
#[derive(Debug, Clone, Default)]
pub struct SpFields {
    pub entity_id: String,
    pub acs_url: String,
    pub slo_url: Option<String>,
    pub certificate: Option<String>,
}

impl SpFields {
    fn config(self) -> Result<SamlSpConfig, AdminError> {
        let certificate = match self.certificate.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(text) => Some(certificate_base64(text)?),
            None => None,
        };
        let slo_url = self.slo_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        Ok(SamlSpConfig {
            entity_id: self.entity_id.trim().to_string(),
            acs: vec![AcsEndpoint {
                url: self.acs_url.trim().to_string(),
                binding: SamlBinding::HttpPost,
                index: 0,
                is_default: true,
            }],
            slo: slo_url.map(|url| SloEndpoint { url, binding: SamlBinding::HttpRedirect, response_url: None }),
            name_id_format: NAMEID_EMAIL.to_string(),
            name_id_source: SamlSpConfig::default_source_for(NAMEID_EMAIL),
            attribute_mappings: Vec::new(),
            sign_requests: certificate.is_some(),
            certificate,
            sign_assertion: true,
            sign_response: false,
            allow_sha1: false,
            idp_initiated: true,
        })
    }
}

/// A certificate typed as PEM or bare base64, as the base64 of its DER once it parses as X.509.
fn certificate_base64(text: &str) -> Result<String, AdminError> {
    // Without its PEM armour, what is left is the base64 of the DER.
    let body: String = text.lines().map(str::trim).filter(|l| !l.starts_with("-----")).collect();
    tessera_core::validate::certificate_base64("certificate", &body)?;
    Ok(body)
}

/// A signing key's size and its certificate's validity; defaults where left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyOptions {
    pub bits: Option<u32>,
    pub validity_days: Option<u32>,
}

impl KeyOptions {
    pub(crate) fn resolve(self) -> Result<(KeySize, u32), AdminError> {
        Ok((KeySize::from_bits(self.bits.unwrap_or(2048))?, self.validity_days.unwrap_or(DEFAULT_VALIDITY_DAYS)))
    }
}

/// A new application.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub spec: AppSpec,
    /// Required except for a Microsoft 365 connector ("Microsoft 365 (domain)").
    pub label: Option<String>,
    pub description: Option<String>,
    /// The User Portal image as uploaded (PNG, JPEG or WebP; see [`crate::portal_image`]).
    pub portal_image: Option<Vec<u8>>,
    pub show_in_portal: bool,
    pub settings: SettingsChange,
    pub key: KeyOptions,
}

/// The General tab of an application, as saved.
#[derive(Debug, Clone)]
pub struct DetailsChange {
    pub label: String,
    pub description: String,
    pub image: ImageChange,
    pub show_in_portal: bool,
}

/// What happens to an application's User Portal Image.
#[derive(Debug, Clone)]
pub enum ImageChange {
    Keep,
    Remove,
    /// A new upload (PNG, JPEG or WebP).
    Replace(Vec<u8>),
}

/// At most two uploads are decoded at once: each may hold tens of MiB while it is.
static DECODES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// An upload checked and re-encoded off the async workers (decoding is CPU work).
async fn checked_image(upload: Vec<u8>) -> Result<String, AdminError> {
    let _turn =
        DECODES.acquire().await.map_err(|_| AdminError::invalid("portal_image", "image checks are shut down"))?;
    tokio::task::spawn_blocking(move || crate::portal_image::portal_image(&upload))
        .await
        .map_err(|e| AdminError::invalid("portal_image", format!("the image could not be checked: {e}")))?
}

/// A change of an application's access policy; what is left out stays.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub require_mfa: Option<MfaRequirement>,
    /// Whether a passkey alone (no password) may sign in to the app.
    pub passwordless: Option<bool>,
    /// CIDR networks the app may be used from; empty for anywhere.
    pub allowed_networks: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataProtocol {
    Saml,
    WsFed,
}

/// An application's metadata document, with the name it is downloaded as.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub xml: String,
    pub file_name: String,
}

/// The signing certificate in Entra ID's SP metadata (`federationmetadata.xml` of the tenant),
/// which makes a connector require Entra's signed AuthnRequests.
pub fn entra_certificate(metadata: &[u8]) -> Result<String, AdminError> {
    let config = parse_sp_metadata(metadata).map_err(invalid_protocol("entra_sp_metadata"))?;
    if config.entity_id != ENTRA_RELYING_PARTY {
        return Err(AdminError::invalid(
            "entra_sp_metadata",
            format!("this is not Entra ID's SP metadata (entity ID {})", config.entity_id),
        ));
    }
    config.certificate.ok_or_else(|| AdminError::invalid("entra_sp_metadata", "it carries no signing certificate"))
}

impl AdminService {
    pub async fn create_app(&self, actor: &Actor, app: NewApp) -> Result<Application, AdminError> {
        let (kind, default_label) = match app.spec {
            AppSpec::M365 { domain, idp_path } => {
                self.refuse_sub_domain(&domain).await?;
                let mut config = M365Config::for_domain(&domain);
                config.idp_path = idp_path;
                (AppKind::M365(config), Some(default_m365_label(&domain)))
            }
            AppSpec::Saml { sp_metadata } => {
                (AppKind::Saml(parse_sp_metadata(&sp_metadata).map_err(invalid_protocol("sp_metadata"))?), None)
            }
            AppSpec::SamlMetadataUrl { url } => {
                let sp_metadata = self.metadata_fetch.fetch(&url).await?;
                (AppKind::Saml(parse_sp_metadata(&sp_metadata).map_err(invalid_protocol("sp_metadata_url"))?), None)
            }
            AppSpec::SamlFields(fields) => (AppKind::Saml(fields.config()?), None),
            AppSpec::WsFed { realm, reply_urls } => {
                (AppKind::WsFed(WsFedRpConfig::new(&realm, &reply_urls, Vec::new())), None)
            }
            AppSpec::Bookmark { url } => (AppKind::Bookmark { url }, None),
        };
        // A bookmark has no settings to apply, not even none.
        let kind = if app.settings.is_empty() { kind } else { app.settings.apply(&kind)? };
        let label = app.label.or(default_label).ok_or_else(|| AdminError::invalid("label", "label is required"))?;
        let portal_image = match app.portal_image {
            Some(upload) => Some(checked_image(upload).await?),
            None => None,
        };
        let new = NewApplication::new(
            &self.public_url,
            &label,
            app.description.as_deref(),
            portal_image,
            app.show_in_portal,
            kind,
        )?;
        let key = match new.kind.signs() {
            true => {
                let (size, validity) = app.key.resolve()?;
                let keys = self.keys.key_service().await?;
                Some(keys.new_key(new.id, &new.label, size, validity).await?)
            }
            false => None,
        };
        Ok(self.store.create_app(actor, new, key).await?)
    }

    /// By id or label.
    pub async fn find_app(&self, key: &str) -> Result<Application, AdminError> {
        Ok(self.store.find_app(key).await?)
    }

    pub async fn list_apps(&self, page: &PageRequest) -> Result<Page<Application>, AdminError> {
        Ok(self.store.list_apps(page).await?)
    }

    /// Changes an application's Display Label, Description, User Portal Image and Show in User
    /// Portal; a change of nothing writes nothing.
    pub async fn change_details(
        &self,
        actor: &Actor,
        app: &str,
        change: DetailsChange,
    ) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        let (label, description) = (change.label.trim(), change.description.trim());
        let portal_image = match change.image {
            // An image stored by an older build in a form no longer served (an https URL, a
            // JPEG) is dropped rather than blocking every other change.
            ImageChange::Keep => {
                app.portal_image.clone().filter(|i| tessera_core::app::validate_portal_image(i).is_ok())
            }
            ImageChange::Remove => None,
            ImageChange::Replace(upload) => Some(checked_image(upload).await?),
        };
        if app.label == label
            && app.description == description
            && app.show_in_portal == change.show_in_portal
            && app.portal_image == portal_image
        {
            return Ok(app);
        }
        let details = AppDetails {
            label,
            description,
            portal_image: portal_image.as_deref(),
            show_in_portal: change.show_in_portal,
        };
        Ok(self.store.update_app_details(actor, app.id, &details).await?)
    }

    /// Changes an application's sign-in settings; settings that do not apply to its kind are
    /// refused, and so is a change of nothing.
    pub async fn change_settings(
        &self,
        actor: &Actor,
        app: &str,
        change: &SettingsChange,
    ) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        if change.is_empty() {
            return Err(AdminError::invalid("settings", "nothing to change: give at least one setting"));
        }
        let kind = change.apply(&app.kind)?;
        // Settings that end as they were write nothing (a form saved unchanged, say).
        if kind == app.kind {
            return Ok(app);
        }
        Ok(self.store.update_app_kind(actor, app.id, &kind).await?)
    }

    /// An application's recent sign-ins (tokens issued, launches, denials), newest first.
    pub async fn app_sign_ins(&self, app: &str, limit: u32) -> Result<(Application, Vec<AuditEvent>), AdminError> {
        let app = self.store.find_app(app).await?;
        let events = self.store.app_sign_ins(app.id, limit).await?;
        Ok((app, events))
    }

    /// Changes an application's access policy; a change of nothing writes nothing. Returns the
    /// application as it now stands.
    pub async fn set_policy(&self, actor: &Actor, app: &str, change: &PolicyChange) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        let allowed_networks = match &change.allowed_networks {
            Some(networks) => networks.iter().map(|n| n.parse::<Cidr>()).collect::<Result<Vec<_>, _>>()?,
            None => app.policy.allowed_networks.clone(),
        };
        let policy = AccessPolicy {
            passwordless: change.passwordless.unwrap_or(app.policy.passwordless),
            allowed_networks,
            ..app.policy.clone()
        }
        .with_mfa_requirement(change.require_mfa.unwrap_or(app.policy.mfa_requirement()));
        if policy == app.policy {
            return Ok(app);
        }
        // A policy only a passkey can answer, where no browser will use one, locks everyone out.
        if (policy.phishing_resistant && !app.policy.phishing_resistant)
            || (policy.passwordless && !app.policy.passwordless)
        {
            let field = if policy.phishing_resistant { "require_mfa" } else { "passwordless" };
            if let Err(tessera_auth::AuthError::Passkey(why)) =
                tessera_auth::passkey::RelyingParty::for_public_url(self.public_url(), "Tessera")
            {
                return Err(AdminError::invalid(field, format!("the app would need passkeys, but {why}")));
            }
        }
        self.store.set_app_policy(actor, app.id, &policy).await?;
        Ok(self.store.find_app(&app.id.to_string()).await?)
    }

    /// A new signing key and certificate, in use at once; the old key is destroyed, so
    /// sign-ins fail until the relying party has the new certificate.
    pub async fn rotate_key(&self, actor: &Actor, app: &str, options: KeyOptions) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        if !app.kind.signs() {
            return Err(AdminError::invalid(
                "app",
                format!("{} is a bookmark: it signs nothing and has no certificate", app.label),
            ));
        }
        let (size, validity_days) = options.resolve()?;
        let keys = self.keys.key_service().await?;
        keys.rotate(actor, app.id, &app.label, size, validity_days).await?;
        Ok(self.store.find_app(&app.id.to_string()).await?)
    }

    /// Deletes every application named, or none: `confirm_count` must equal their number
    /// (the seed product's safeguard).
    pub async fn delete_apps(&self, actor: &Actor, apps: &[AppId], confirm_count: usize) -> Result<usize, AdminError> {
        if apps.is_empty() {
            return Err(AdminError::invalid("ids", "name at least one application"));
        }
        Ok(self.store.delete_apps(actor, apps, confirm_count).await?)
    }

    /// Authorizes the group's users for the app; `false` when the grant existed already.
    pub async fn grant(&self, actor: &Actor, app: &str, group: &str) -> Result<(Application, Group, bool), AdminError> {
        let app = self.store.find_app(app).await?;
        let group = self.store.find_group(group).await?;
        let created = self.store.grant(actor, app.id, group.id).await?;
        Ok((app, group, created))
    }

    pub async fn revoke(&self, actor: &Actor, app: &str, group: &str) -> Result<(Application, Group), AdminError> {
        let app = self.store.find_app(app).await?;
        let group = self.store.find_group(group).await?;
        if !self.store.revoke(actor, app.id, group.id).await? {
            return Err(AdminError::Missing(format!("group {} is not granted {}", group.name, app.label)));
        }
        Ok((app, group))
    }

    /// Makes `groups` (ids or names) exactly the groups granted `app`, all or none: a group that
    /// does not exist changes nothing. Returns how many were granted and revoked.
    pub async fn set_grants(&self, actor: &Actor, app: &str, groups: &[&str]) -> Result<(usize, usize), AdminError> {
        let app = self.store.find_app(app).await?;
        let mut ids = Vec::with_capacity(groups.len());
        for group in groups {
            ids.push(self.store.find_group(group).await?.id);
        }
        Ok(self.store.set_grants(actor, app.id, &ids).await?)
    }

    pub async fn granted_groups(&self, app: &str) -> Result<(Application, Vec<Group>), AdminError> {
        let app = self.store.find_app(app).await?;
        let groups = self.store.granted_groups(app.id).await?;
        Ok((app, groups))
    }

    /// One connector per root domain: a sub-domain's users sign in through their root's
    /// connector (Entra federates a sub-domain with its root), and a root cannot come after
    /// one of its sub-domains got a connector of its own.
    async fn refuse_sub_domain(&self, domain: &str) -> Result<(), AdminError> {
        for connector in self.m365_connectors().await? {
            let Some(other) = connector.kind.m365_domain() else { continue };
            if is_sub_domain(domain, other) {
                return Err(AdminError::invalid(
                    "domain",
                    format!(
                        "{domain} is a sub-domain of {other}: its users sign in through the connector of {other} \
                         ({}), because Entra federates a sub-domain with its root; no connector of its own is needed",
                        connector.label
                    ),
                ));
            }
            if is_sub_domain(other, domain) {
                return Err(AdminError::invalid(
                    "domain",
                    format!(
                        "{other}, a sub-domain of {domain}, has a connector of its own ({}): a sub-domain follows its \
                         root, so delete that connector first and let its users sign in through this one",
                        connector.label
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether the user may use the app now, and why.
    pub async fn check_access(&self, app: &str, user: &str) -> Result<(Application, User, AccessDecision), AdminError> {
        let app = self.store.find_app(app).await?;
        let user = self.store.find_user(user).await?;
        let decision =
            tessera_core::access::for_app(self.store.check_access(user.id, app.id).await?, &app.kind, &user.upn);
        Ok((app, user, decision))
    }

    /// The application's IdP metadata (the seed product's "Export Metadata").
    pub async fn metadata(&self, app: &str, protocol: MetadataProtocol) -> Result<Metadata, AdminError> {
        let app = self.store.find_app(app).await?;
        let xml = match protocol {
            MetadataProtocol::Saml => tessera_protocols::saml2::idp_metadata::for_application(&app, &self.public_url),
            MetadataProtocol::WsFed => tessera_protocols::wsfed::for_application(&app, &self.public_url),
        }
        .map_err(invalid_protocol("app"))?;
        Ok(Metadata { xml, file_name: tessera_protocols::saml2::idp_metadata::download_name(&app) })
    }

    /// The PowerShell that federates a connector's domain, and the values in it.
    pub async fn federation_command(
        &self,
        app: &str,
        protocol: Protocol,
        style: Style,
    ) -> Result<(FederationCommand, String), AdminError> {
        let app = self.store.find_app(app).await?;
        let invalid = |e: tessera_m365::M365Error| AdminError::invalid("app", e.to_string());
        let command = tessera_m365::federation_command(&app, &self.public_url, protocol).map_err(invalid)?;
        let powershell = command.render(style).map_err(invalid)?;
        Ok((command, powershell))
    }
}
