//! Microsoft 365 through Graph: preflight, enable (converge a domain's federation
//! configuration to its connector), show and disable. The Graph session is the caller's (the
//! CLI builds it from the administrator's credentials); the rules and the audit are here.

use serde_json::{Value, json};
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent};
use tessera_m365::converge::{self, Disabled, Plan};
use tessera_m365::federation::{MfaBehavior, changes, desired};
use tessera_m365::graph::Graph;
use tessera_m365::preflight::{self, ConnectorFacts, Report};
use tessera_m365::{M365Error, Protocol};
use tessera_store::PageRequest;

use crate::{AdminError, AdminService};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

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
        let mut matching = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let got = self.store.list_apps(&page).await?;
            matching.extend(got.items.into_iter().filter(serves));
            match got.next {
                Some(next) => page.after = Some(next),
                None => break,
            }
        }
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
        let app = app?;
        let (values, _) =
            self.federation_command(&app.id.to_string(), request.protocol, tessera_m365::Style::Graph).await?;
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
        converge::apply(graph, &plan, &wanted, &before).await?;
        let summary = json!({
            "domain": domain, "app": app.label, "action": plan.action,
            "fields": plan.changes.iter().map(|c| c.field.clone()).collect::<Vec<_>>(),
            "taken_over_from": plan.taken_over_from,
        });
        self.store.append_audit(actor, NewAuditEvent::new(AuditAction::M365Enable, "app", app.id, summary)).await?;
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
        let done = converge::disable(graph, &domain, dry_run).await?;
        if !dry_run && done.action == "disable" {
            let summary = json!({"domain": domain, "removed_issuer": done.removed_issuer});
            self.store
                .append_audit(actor, NewAuditEvent::new(AuditAction::M365Disable, "domain", &domain, summary))
                .await?;
        }
        Ok(done)
    }

    /// The domain as Graph has it, and each field that differs from its connector (CONTRACT.md
    /// `m365 show --domain`).
    pub async fn m365_show(&self, graph: &Graph, domain: &str, app: Option<&str>) -> Result<Value, AdminError> {
        let domain = converge::domain_name(domain)?;
        let found = converge::domain(graph, &domain)
            .await?
            .ok_or_else(|| M365Error::Refused(format!("the tenant has no domain {domain}")))?;
        let configuration = converge::configuration(graph, &domain).await?;
        let differences = match self.m365_connector(&domain, app).await {
            Ok(app) => {
                let (values, _) =
                    self.federation_command(&app.id.to_string(), Protocol::WsFed, tessera_m365::Style::Graph).await?;
                let protocol = match configuration.as_ref().and_then(|c| c["preferredAuthenticationProtocol"].as_str())
                {
                    Some("saml") => Protocol::Saml,
                    _ => Protocol::WsFed,
                };
                let values = if protocol == Protocol::Saml {
                    self.federation_command(&app.id.to_string(), Protocol::Saml, tessera_m365::Style::Graph).await?.0
                } else {
                    values
                };
                let mfa = match configuration.as_ref().and_then(|c| c["federatedIdpMfaBehavior"].as_str()) {
                    Some("enforceMfaByFederatedIdp") => MfaBehavior::Enforce,
                    Some("rejectMfaByFederatedIdp") => MfaBehavior::Reject,
                    _ => MfaBehavior::Accept,
                };
                let signed = matches!(&app.kind, AppKind::M365(c) if c.require_signed_requests);
                let found = changes(configuration.as_ref(), &desired(&values, mfa, signed));
                Value::Array(
                    found.into_iter().map(|c| json!({"field": c.field, "graph": c.from, "app": c.to})).collect(),
                )
            }
            Err(_) => Value::Array(Vec::new()),
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
        let mut shown = Vec::new();
        for found in converge::domains(graph).await? {
            let name = found["id"].as_str().unwrap_or_default().to_string();
            let connector = self.m365_connector(&name, None).await.ok().map(|a| a.label);
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
