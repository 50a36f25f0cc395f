//! Microsoft 365 through Graph: preflight, enable (converge a domain's federation
//! configuration to its connector), show and disable. The Graph session is the caller's (the
//! CLI builds it from the administrator's credentials); the rules and the audit are here.

use serde_json::{Value, json};
use tessera_core::access::is_sub_domain;
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent};
use tessera_m365::converge::{self, Aftermath, Disabled, Plan};
use tessera_m365::federation::{MfaBehavior, changes, desired};
use tessera_m365::graph::{Credential, Endpoints, Graph};
use tessera_m365::preflight::{self, ConnectorFacts, Report};
use tessera_m365::{M365Error, Protocol};

use crate::{AdminError, AdminService};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Where stored Graph credentials live (sealed under the master key).
const CREDENTIALS_SETTING: &str = "m365_credentials";
const CREDENTIALS_SEAL: &str = "m365-credentials";

/// What proves the app registration, as an administrator gives it.
pub enum CredentialInput {
    Secret(String),
    /// One PEM with the certificate and its RSA private key.
    CertificatePem(Vec<u8>),
}

/// Stored Graph credentials, as shown (never the secret or the key).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredCredentials {
    pub tenant: String,
    pub client_id: String,
    /// `secret` or `certificate`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_sha256: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SealedCredentials {
    #[serde(flatten)]
    shown: StoredCredentials,
    /// base64 of the sealed secret or PEM.
    sealed: String,
}

/// `m365 enable`'s options.
#[derive(Debug, Clone)]
pub struct EnableRequest {
    pub domain: String,
    pub app: Option<String>,
    pub protocol: Protocol,
    pub mfa: MfaBehavior,
    pub take_over: bool,
    pub dry_run: bool,
}

impl AdminService {
    /// Stores the Graph credentials later commands use when none are given, the secret or key
    /// sealed under the master key. Audited (without the secret).
    pub async fn m365_set_credentials(
        &self,
        actor: &Actor,
        tenant: &str,
        client_id: &str,
        input: CredentialInput,
    ) -> Result<StoredCredentials, AdminError> {
        use base64::Engine;
        let (tenant, client_id) = (tenant.trim(), client_id.trim());
        if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
            return Err(AdminError::invalid("tenant", "give the tenant's id (a GUID) or a verified domain"));
        }
        if client_id.is_empty() || client_id.chars().any(char::is_whitespace) {
            return Err(AdminError::invalid("client_id", "give the app registration's application (client) id"));
        }
        let (kind, bytes, certificate_sha256) = match input {
            CredentialInput::Secret(secret) => {
                Credential::secret(client_id, &secret)?;
                ("secret", secret.trim().as_bytes().to_vec(), None)
            }
            CredentialInput::CertificatePem(pem) => {
                let credential = Credential::certificate(client_id, &pem)?;
                let thumbprint = match &credential {
                    Credential::Certificate { certificate, .. } => {
                        Some(tessera_keys::certificate_thumbprint_sha256(certificate))
                    }
                    _ => None,
                };
                ("certificate", pem, thumbprint)
            }
        };
        let sealed = self.keys.key_service().await?.secrets().seal_secret(&bytes, CREDENTIALS_SEAL)?;
        let shown = StoredCredentials {
            tenant: tenant.into(),
            client_id: client_id.into(),
            kind: kind.into(),
            certificate_sha256,
        };
        let record = SealedCredentials {
            shown: shown.clone(),
            sealed: base64::engine::general_purpose::STANDARD.encode(sealed),
        };
        let value = serde_json::to_string(&record).map_err(|e| AdminError::invalid("credentials", e.to_string()))?;
        let summary = json!({"tenant": shown.tenant, "client_id": shown.client_id, "kind": shown.kind});
        let event = NewAuditEvent::new(AuditAction::M365CredentialsSet, "m365", "credentials", summary);
        self.store.change_setting(actor, CREDENTIALS_SETTING, Some(&value), event).await?;
        Ok(shown)
    }

    /// The stored Graph credentials, as shown.
    pub async fn m365_stored_credentials(&self) -> Result<Option<StoredCredentials>, AdminError> {
        Ok(self.sealed_credentials().await?.map(|c| c.shown))
    }

    async fn sealed_credentials(&self) -> Result<Option<SealedCredentials>, AdminError> {
        let Some(value) = self.store.get_setting(CREDENTIALS_SETTING).await? else { return Ok(None) };
        serde_json::from_str(&value).map(Some).map_err(|_| {
            AdminError::invalid("credentials", "the stored Graph credentials cannot be read: set them again")
        })
    }

    /// The stored credentials, opened: the tenant and the credential.
    pub async fn m365_credential(&self) -> Result<Option<(String, Credential)>, AdminError> {
        use base64::Engine;
        let Some(stored) = self.sealed_credentials().await? else { return Ok(None) };
        let unreadable =
            || AdminError::invalid("credentials", "the stored Graph credentials cannot be opened: set them again");
        let sealed = base64::engine::general_purpose::STANDARD.decode(&stored.sealed).map_err(|_| unreadable())?;
        let bytes = self.keys.key_service().await?.secrets().open_secret(&sealed, CREDENTIALS_SEAL)?;
        let credential = match stored.shown.kind.as_str() {
            "certificate" => Credential::certificate(&stored.shown.client_id, &bytes)?,
            _ => Credential::secret(&stored.shown.client_id, &String::from_utf8(bytes).map_err(|_| unreadable())?)?,
        };
        Ok(Some((stored.shown.tenant, credential)))
    }

    /// A Graph session from the stored credentials at `endpoints`, or `None` when none are
    /// stored.
    pub async fn m365_stored_graph(&self, endpoints: &Endpoints) -> Result<Option<Graph>, AdminError> {
        let Some((tenant, credential)) = self.m365_credential().await? else { return Ok(None) };
        Ok(Some(Graph::new(endpoints, &tenant, credential, self.clock.clone())?))
    }

    /// Removes the stored credentials; false when there were none.
    pub async fn m365_delete_credentials(&self, actor: &Actor) -> Result<bool, AdminError> {
        let event = NewAuditEvent::new(AuditAction::M365CredentialsDelete, "m365", "credentials", json!({}));
        Ok(self.store.change_setting(actor, CREDENTIALS_SETTING, None, event).await?)
    }

    /// The connector of `domain`: the app named (which must serve that domain), or the one
    /// Microsoft 365 connector whose domain it is.
    pub async fn m365_connector(&self, domain: &str, app: Option<&str>) -> Result<Application, AdminError> {
        let serves = |a: &Application| matches!(&a.kind, AppKind::M365(c) if c.domain.eq_ignore_ascii_case(domain));
        if let Some(key) = app {
            let found = self.store.find_app(key).await?;
            if !serves(&found) {
                return Err(M365Error::Refused(format!(
                    "{} is not the Microsoft 365 connector of {domain}",
                    found.label
                ))
                .into());
            }
            return Ok(found);
        }
        let connectors = self.m365_connectors().await?;
        if let Some(root) =
            connectors.iter().filter_map(|a| a.kind.m365_domain()).find(|root| is_sub_domain(domain, root))
        {
            return Err(M365Error::Refused(format!(
                "{domain} is a sub-domain of {root}: it follows its root's federation (Entra federates a sub-domain \
                 with its root), and its users sign in through the connector of {root}; enable {root} instead"
            ))
            .into());
        }
        let mut matching: Vec<Application> = connectors.into_iter().filter(serves).collect();
        match matching.len() {
            1 => Ok(matching.remove(0)),
            0 => Err(M365Error::Refused(format!(
                "no Microsoft 365 connector serves {domain}: create one with `tessera app add m365 --domain {domain}`"
            ))
            .into()),
            _ => Err(M365Error::Refused(format!("several connectors serve {domain}: name one with --app")).into()),
        }
    }

    fn connector_facts(&self, app: &Application) -> Result<ConnectorFacts, String> {
        let certificate =
            app.certificates.current.as_deref().ok_or_else(|| format!("{} has no signing certificate", app.label))?;
        let not_after = tessera_keys::certificate_not_after(certificate).unwrap_or(0);
        Ok(ConnectorFacts {
            label: app.label.clone(),
            issuer: app.issuer.clone().unwrap_or_default(),
            certificate_days_left: (not_after - self.clock_now()) / DAY_MS,
            public_url: self.public_url.clone(),
        })
    }

    /// The checks before `enable`, read-only.
    pub async fn m365_preflight(
        &self,
        graph: &Graph,
        domain: &str,
        app: Option<&str>,
        take_over: bool,
    ) -> Result<Report, AdminError> {
        let domain = converge::domain_name(domain)?;
        let connector = match self.m365_connector(&domain, app).await {
            Ok(app) => self.connector_facts(&app),
            Err(e) => Err(e.to_string()),
        };
        let facts = converge::gather(graph, &domain, connector).await?;
        Ok(preflight::checks(&facts, take_over))
    }

    /// Converges the domain's federation configuration to its connector: preflight first,
    /// then create, update only what differs, or nothing. A domain federated elsewhere moves
    /// only with `take_over`. Audited when Graph was written.
    pub async fn m365_enable(&self, actor: &Actor, graph: &Graph, request: &EnableRequest) -> Result<Plan, AdminError> {
        let domain = converge::domain_name(&request.domain)?;
        let app = self.m365_connector(&domain, request.app.as_deref()).await;
        let connector = match &app {
            Ok(app) => self.connector_facts(app),
            Err(e) => Err(e.to_string()),
        };
        let facts = converge::gather(graph, &domain, connector).await?;
        let report = preflight::checks(&facts, request.take_over);
        if !report.ok {
            return Err(M365Error::Refused(format!(
                "preflight failed, nothing was changed: {}",
                report.failures().join("; ")
            ))
            .into());
        }
        let mut app = app?;
        // A previous certificate whose grace period is over is not pushed again.
        if !request.dry_run && self.clear_due_previous(actor, &app).await? {
            app = self.store.find_app(&app.id.to_string()).await?;
        }
        let values = tessera_m365::federation_command(&app, &self.public_url, request.protocol)?;
        let signed_requests = matches!(&app.kind, AppKind::M365(c) if c.require_signed_requests);
        let wanted = desired(&values, request.mfa, signed_requests);
        let plan = converge::plan(&facts, &wanted, request.take_over)?;
        if request.dry_run || plan.action == "none" {
            return Ok(plan);
        }
        let before = facts
            .graph_domain
            .clone()
            .ok_or_else(|| M365Error::Refused(format!("the tenant has no domain {domain}")))?;
        let applied = converge::apply(graph, &plan, &wanted, &before).await;
        let outcome = match &applied {
            Ok(()) => "ok",
            Err(failure) if failure.aftermath == Aftermath::NotWritten => return Err(failure.error.clone().into()),
            Err(failure) => failure.aftermath.as_str(),
        };
        // Every attempt that wrote to the tenant is on record, with how it ended.
        let summary = json!({
            "domain": domain, "app": app.label, "action": plan.action, "outcome": outcome,
            "fields": plan.changes.iter().map(|c| c.field.clone()).collect::<Vec<_>>(),
            "taken_over_from": plan.taken_over_from,
        });
        self.store.append_audit(actor, NewAuditEvent::new(AuditAction::M365Enable, "app", app.id, summary)).await?;
        applied.map_err(|failure| AdminError::from(failure.error))?;
        Ok(plan)
    }

    /// Returns the domain to Managed (idempotent). Audited when Graph was written.
    pub async fn m365_disable(
        &self,
        actor: &Actor,
        graph: &Graph,
        domain: &str,
        dry_run: bool,
    ) -> Result<Disabled, AdminError> {
        let domain = converge::domain_name(domain)?;
        let outcome = converge::disable(graph, &domain, dry_run).await;
        let (wrote, summary) = match &outcome {
            Ok(done) => (
                !dry_run && done.action == "disable",
                json!({"domain": domain, "removed_issuer": done.removed_issuer, "outcome": "ok"}),
            ),
            Err(failure) => (
                failure.aftermath != Aftermath::NotWritten,
                json!({"domain": domain, "outcome": failure.aftermath.as_str()}),
            ),
        };
        if wrote {
            self.store
                .append_audit(actor, NewAuditEvent::new(AuditAction::M365Disable, "domain", &domain, summary))
                .await?;
        }
        outcome.map_err(|failure| AdminError::from(failure.error))
    }

    /// Returns the connector's domain to Managed, only while it is federated to this connector
    /// (a connector's page never undoes another identity provider's federation; `m365 disable
    /// --domain` does, for the operator).
    pub async fn m365_disable_connector(
        &self,
        actor: &Actor,
        graph: &Graph,
        app: &str,
        dry_run: bool,
    ) -> Result<Disabled, AdminError> {
        let app = self.store.find_app(app).await?;
        let (Some(domain), Some(issuer)) = (app.kind.m365_domain(), app.issuer.as_deref()) else {
            return Err(M365Error::NotM365(app.label.clone()).into());
        };
        let configuration = converge::configuration(graph, domain).await?;
        if let Some(other) = configuration.as_ref().and_then(|c| c.get("issuerUri")).and_then(Value::as_str)
            && other != issuer
        {
            return Err(M365Error::Refused(format!(
                "{domain} is federated to another identity provider ({other}), not to {}: it stays as it is",
                app.label
            ))
            .into());
        }
        self.m365_disable(actor, graph, domain, dry_run).await
    }

    /// The domain as Graph has it, and each field that differs from its connector (CONTRACT.md
    /// `m365 show --domain`).
    pub async fn m365_show(&self, graph: &Graph, domain: &str, app: Option<&str>) -> Result<Value, AdminError> {
        let domain = converge::domain_name(domain)?;
        let found = converge::domain(graph, &domain)
            .await?
            .ok_or_else(|| M365Error::Refused(format!("the tenant has no domain {domain}")))?;
        let configuration = converge::configuration(graph, &domain).await?;
        let connector = self.m365_connector(&domain, app).await;
        if let (Some(_), Err(e)) = (app, &connector) {
            return Err(M365Error::Refused(e.to_string()).into());
        }
        let differences = match connector {
            Ok(app) => {
                let field = |name: &str| configuration.as_ref().and_then(|c| c[name].as_str());
                // Compared as Graph has it set up: its protocol and MFA behaviour.
                let protocol = if field("preferredAuthenticationProtocol") == Some("saml") {
                    Protocol::Saml
                } else {
                    Protocol::WsFed
                };
                let mfa =
                    field("federatedIdpMfaBehavior").and_then(MfaBehavior::from_graph).unwrap_or(MfaBehavior::Accept);
                let values = tessera_m365::federation_command(&app, &self.public_url, protocol)?;
                let signed = matches!(&app.kind, AppKind::M365(c) if c.require_signed_requests);
                let found = changes(configuration.as_ref(), &desired(&values, mfa, signed));
                Value::Array(
                    found.into_iter().map(|c| json!({"field": c.field, "graph": c.from, "app": c.to})).collect(),
                )
            }
            // No connector to compare with: no differences to tell (not "none").
            Err(_) => Value::Null,
        };
        Ok(json!({
            "domain": domain,
            "authenticationType": found["authenticationType"].as_str().unwrap_or("Managed"),
            "federationConfiguration": configuration.map(Value::Object).unwrap_or(Value::Null),
            "differences": differences,
        }))
    }

    /// Every domain of the tenant: its state, and the connector it points to.
    pub async fn m365_domains(&self, graph: &Graph) -> Result<Vec<Value>, AdminError> {
        let connectors = self.m365_connectors().await?;
        let mut shown = Vec::new();
        for found in converge::domains(graph).await? {
            let name = found["id"].as_str().unwrap_or_default().to_string();
            let connector = connectors
                .iter()
                .find(|a| matches!(&a.kind, AppKind::M365(c) if c.domain.eq_ignore_ascii_case(&name)))
                .map(|a| a.label.clone());
            shown.push(json!({
                "domain": name,
                "authenticationType": found["authenticationType"],
                "isDefault": found["isDefault"], "isInitial": found["isInitial"], "isVerified": found["isVerified"],
                "connector": connector,
            }));
        }
        Ok(shown)
    }
}
