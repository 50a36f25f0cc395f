//! Directory sources: added (checked, the bind password sealed under the master key), listed,
//! tested against their servers, removed (their users staying as local users).

use tessera_core::sources::{DirectoryKind, PasswordCheck, SourceAttributes, SourceConfig, bind_password_seal};
use tessera_core::{Actor, AuditAction, DirectorySource, NewAuditEvent, NewDirectorySource};
use tessera_directory::{Probe, Timeouts};

use crate::{AdminError, AdminService};

/// A source as an administrator describes it (the CLI's flags, an API body).
#[derive(Debug, Clone)]
pub struct SourceRequest {
    pub name: String,
    pub kind: DirectoryKind,
    pub urls: Vec<String>,
    pub bind_dn: String,
    pub bind_password: String,
    pub base_dn: String,
    /// PEM of the CA that issued the servers' certificates, when private.
    pub ca_pem: Option<String>,
    pub authenticate: PasswordCheck,
    /// The kind's default when absent.
    pub user_filter: Option<String>,
    pub group_filter: Option<String>,
    pub insecure_plaintext: bool,
    /// Mapping overrides, `(key, attribute)`; see [`SourceAttributes::set`].
    pub attributes: Vec<(String, String)>,
}

impl SourceRequest {
    fn checked(&self) -> Result<NewDirectorySource, AdminError> {
        let (users, groups) = SourceConfig::default_filters(self.kind);
        let mut attributes = SourceAttributes::defaults(self.kind);
        for (key, value) in &self.attributes {
            attributes.set(key, value)?;
        }
        let config = SourceConfig {
            kind: self.kind,
            urls: self.urls.iter().map(|u| u.trim().to_string()).collect(),
            bind_dn: self.bind_dn.trim().to_string(),
            base_dn: self.base_dn.trim().to_string(),
            ca_pem: self.ca_pem.clone(),
            authenticate: self.authenticate,
            user_filter: self.user_filter.as_deref().unwrap_or(users).trim().to_string(),
            group_filter: self.group_filter.as_deref().unwrap_or(groups).trim().to_string(),
            insecure_plaintext: self.insecure_plaintext,
            attributes,
        };
        Ok(NewDirectorySource::new(&self.name, config)?)
    }
}

impl AdminService {
    /// Adds a source. Nothing is asked of its servers (`test_source` does): a directory that is
    /// down today can still be set up.
    pub async fn add_source(&self, actor: &Actor, request: &SourceRequest) -> Result<DirectorySource, AdminError> {
        let source = request.checked()?;
        if request.bind_password.is_empty() {
            return Err(AdminError::invalid("bind_password", "must not be empty (an empty password binds as nobody)"));
        }
        if request.bind_password.chars().any(char::is_control) {
            return Err(AdminError::invalid("bind_password", "contains control characters"));
        }
        // A CA file that cannot be used is refused now, not at the first sync.
        tessera_directory::check_ca(source.config.ca_pem.as_deref())?;
        let keys = self.keys.key_service().await?;
        let sealed = keys.secrets().seal_secret(request.bind_password.as_bytes(), &bind_password_seal(source.id))?;
        Ok(self.store.create_source(actor, source, &sealed).await?)
    }

    /// By id or name.
    pub async fn find_source(&self, key: &str) -> Result<DirectorySource, AdminError> {
        Ok(self.store.find_source(key).await?)
    }

    pub async fn list_sources(&self) -> Result<Vec<DirectorySource>, AdminError> {
        Ok(self.store.list_sources().await?)
    }

    /// Reaches every server of the source with its service account, then looks at its base DN
    /// and counts what its filters find.
    pub async fn test_source(&self, key: &str) -> Result<(DirectorySource, Probe), AdminError> {
        let source = self.store.find_source(key).await?;
        let password = self.bind_password(&source).await?;
        let probe = tessera_directory::probe(&source.config, &password, Timeouts::default()).await?;
        Ok((source, probe))
    }

    /// Checks a keytab for Windows integrated sign-in (`HTTP/<the public URL's host>`) against
    /// the source's Active Directory domain: its keys, the service principal's one holder, the
    /// key version. Changes nothing.
    pub async fn check_kerberos(
        &self,
        key: &str,
        keytab: &[u8],
    ) -> Result<(DirectorySource, Vec<tessera_directory::KerberosCheck>), AdminError> {
        let source = self.store.find_source(key).await?;
        if source.config.kind != tessera_core::sources::DirectoryKind::Ad {
            return Err(AdminError::invalid("source", "Kerberos is checked against an Active Directory source"));
        }
        let host = tessera_core::validate::kerberos_host(&self.public_url)?;
        let password = self.bind_password(&source).await?;
        let checks =
            tessera_directory::check_kerberos(&source.config, &password, &host, keytab, Timeouts::default()).await?;
        Ok((source, checks))
    }

    /// Registers `HTTP/<the public URL's host>` on the service account `account` of the source's
    /// Active Directory domain, as the source's bind account (which needs the right to). Never a
    /// second holder: another account's is reported and nothing is written. Audited
    /// `directory.kerberos_register` when AD was changed.
    pub async fn register_kerberos(
        &self,
        actor: &Actor,
        key: &str,
        account: &str,
    ) -> Result<(DirectorySource, String, tessera_directory::Registration), AdminError> {
        use tessera_directory::Registration;
        let source = self.store.find_source(key).await?;
        if source.config.kind != tessera_core::sources::DirectoryKind::Ad {
            return Err(AdminError::invalid(
                "source",
                "a service principal is registered in an Active Directory domain",
            ));
        }
        let account = account.trim();
        if account.is_empty()
            || account.len() > 256
            || account.chars().any(|c| c.is_control() || "\\/@\"[]:;|=+*?<>,".contains(c))
        {
            return Err(AdminError::invalid(
                "account",
                format!("{account:?} is not an account's logon name (sAMAccountName)"),
            ));
        }
        if tessera_directory::realm_of(&source.config.base_dn).is_none() {
            return Err(AdminError::invalid(
                "source",
                "the source's base DN names no domain (no DC= parts): the service principal's domain is not known",
            ));
        }
        let host = tessera_core::validate::kerberos_host(&self.public_url)?;
        let password = self.bind_password(&source).await?;
        let registration = tessera_directory::register_service_principal(
            &source.config,
            &password,
            &host,
            account,
            Timeouts::default(),
        )
        .await?;
        match &registration {
            Registration::Registered { dn } => {
                let summary = serde_json::json!({"source": source.name, "service_principal": format!("HTTP/{host}"), "account": dn});
                let event = NewAuditEvent::new(AuditAction::DirectoryKerberosRegister, "source", source.id, summary);
                if let Err(e) = self.store.append_audit(actor, event).await {
                    // AD has changed already: say so, so that the change is not lost with the row.
                    return Err(AdminError::invalid(
                        "audit",
                        format!(
                            "HTTP/{host} was registered on {dn} in AD, but its audit record could not be written: {e}"
                        ),
                    ));
                }
            }
            Registration::AlreadyHeld { .. } => {}
            Registration::HeldElsewhere { holders } => {
                return Err(AdminError::invalid(
                    "account",
                    format!(
                        "HTTP/{host} is held by {} already: the KDC refuses a principal two accounts hold; remove it there first (setspn -D)",
                        holders.join("; ")
                    ),
                ));
            }
            Registration::NoSuchAccount => {
                return Err(AdminError::invalid(
                    "account",
                    format!("no account of the domain has the logon name {account}"),
                ));
            }
        }
        Ok((source, format!("HTTP/{host}"), registration))
    }

    /// Removes a source; its users stay, as local users. Returns how many there were.
    pub async fn remove_source(&self, actor: &Actor, key: &str) -> Result<(DirectorySource, u64), AdminError> {
        let source = self.store.find_source(key).await?;
        let kept = self.store.remove_source(actor, source.id).await?;
        Ok((source, kept))
    }

    pub(crate) async fn bind_password(&self, source: &DirectorySource) -> Result<String, AdminError> {
        let sealed = self.store.source_bind_password(source.id).await?;
        let keys = self.keys.key_service().await?;
        let opened = keys.secrets().open_secret(&sealed, &bind_password_seal(source.id))?;
        String::from_utf8(opened)
            .map_err(|_| AdminError::invalid("bind_password", "the stored bind password is not text"))
    }
}
