//! Applications: created with their first signing key, their settings, policy and grants
//! changed, their key rotated, their metadata and federation command exported, deleted.

use tessera_core::app::{ENTRA_RELYING_PARTY, M365Config, SettingsChange, default_m365_label};
use tessera_core::policy::{AccessPolicy, Cidr};
use tessera_core::{AccessDecision, Actor, AppId, AppKind, Application, Group, NewApplication, User, WsFedRpConfig};
use tessera_keys::{DEFAULT_VALIDITY_DAYS, KeySize};
use tessera_m365::{FederationCommand, Protocol, Style};
use tessera_protocols::saml2::sp_metadata::parse_sp_metadata;
use tessera_store::{Page, PageRequest};

use crate::{AdminError, AdminService, invalid_protocol};

/// What kind of application, with what only that kind has.
#[derive(Debug, Clone)]
pub enum AppSpec {
    /// The Microsoft 365 / Entra ID connector of a domain; `idp_path` is the path segment of
    /// its endpoints (the domain unless given), fixed once created.
    M365 { domain: String, idp_path: Option<String> },
    /// A SAML 2.0 service provider, from its metadata.
    Saml { sp_metadata: Vec<u8> },
    /// A WS-Federation relying party: its realm and the addresses tokens may be posted to.
    WsFed { realm: String, reply_urls: Vec<String> },
    /// A tile that opens a URL.
    Bookmark { url: String },
}

/// A signing key's size and its certificate's validity; defaults where left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyOptions {
    pub bits: Option<u32>,
    pub validity_days: Option<u32>,
}

impl KeyOptions {
    fn resolve(self) -> Result<(KeySize, u32), AdminError> {
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
    /// A PNG or JPEG `data:` URI, or an https URL.
    pub portal_image: Option<String>,
    pub show_in_portal: bool,
    pub settings: SettingsChange,
    pub key: KeyOptions,
}

/// A change of an application's access policy; what is left out stays.
#[derive(Debug, Clone, Default)]
pub struct PolicyChange {
    pub require_mfa: Option<bool>,
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
                let mut config = M365Config::for_domain(&domain);
                config.idp_path = idp_path;
                (AppKind::M365(config), Some(default_m365_label(&domain)))
            }
            AppSpec::Saml { sp_metadata } => {
                (AppKind::Saml(parse_sp_metadata(&sp_metadata).map_err(invalid_protocol("sp_metadata"))?), None)
            }
            AppSpec::WsFed { realm, reply_urls } => {
                (AppKind::WsFed(WsFedRpConfig::new(&realm, &reply_urls, Vec::new())), None)
            }
            AppSpec::Bookmark { url } => (AppKind::Bookmark { url }, None),
        };
        // A bookmark has no settings to apply, not even none.
        let kind = if app.settings.is_empty() { kind } else { app.settings.apply(&kind)? };
        let label = app.label.or(default_label).ok_or_else(|| AdminError::invalid("label", "label is required"))?;
        let new = NewApplication::new(
            &self.public_url,
            &label,
            app.description.as_deref(),
            app.portal_image,
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

    /// Changes an application's Display Label, Description and Show in User Portal; a change of
    /// nothing writes nothing.
    pub async fn change_details(
        &self,
        actor: &Actor,
        app: &str,
        label: &str,
        description: &str,
        show_in_portal: bool,
    ) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        let (label, description) = (label.trim(), description.trim());
        if app.label == label && app.description == description && app.show_in_portal == show_in_portal {
            return Ok(app);
        }
        Ok(self.store.update_app_details(actor, app.id, label, description, show_in_portal).await?)
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
        Ok(self.store.update_app_kind(actor, app.id, &kind).await?)
    }

    /// Changes an application's access policy; a change of nothing writes nothing. Returns the
    /// application as it now stands.
    pub async fn set_policy(&self, actor: &Actor, app: &str, change: &PolicyChange) -> Result<Application, AdminError> {
        let app = self.store.find_app(app).await?;
        let allowed_networks = match &change.allowed_networks {
            Some(networks) => networks.iter().map(|n| n.parse::<Cidr>()).collect::<Result<Vec<_>, _>>()?,
            None => app.policy.allowed_networks.clone(),
        };
        let policy =
            AccessPolicy { require_mfa: change.require_mfa.unwrap_or(app.policy.require_mfa), allowed_networks };
        if policy == app.policy {
            return Ok(app);
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

    pub async fn granted_groups(&self, app: &str) -> Result<(Application, Vec<Group>), AdminError> {
        let app = self.store.find_app(app).await?;
        let groups = self.store.granted_groups(app.id).await?;
        Ok((app, groups))
    }

    /// Whether the user may use the app now, and why.
    pub async fn check_access(&self, app: &str, user: &str) -> Result<(Application, User, AccessDecision), AdminError> {
        let app = self.store.find_app(app).await?;
        let user = self.store.find_user(user).await?;
        let decision = self.store.check_access(user.id, app.id).await?;
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
