//! Reading a domain's state from Graph and converging it to a connector: `enable` creates the
//! federation configuration or patches only what differs, and writes nothing when nothing
//! does; a domain federated elsewhere is changed in place (never Managed in between); after a
//! failed write the domain is put back as it was. `disable` returns a domain to Managed.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::M365Error;
use crate::federation::{Change, changes, create_body, patch_body, undo_body};
use crate::graph::{Graph, Needs};
use crate::preflight::{ConnectorFacts, DomainFacts, Facts, foreign_issuer};

const READ_DOMAINS: Needs = Needs("Domain.Read.All");
const WRITE_FEDERATION: Needs = Needs("Domain-InternalFederation.ReadWrite.All");
const READ_ROLES: Needs = Needs("RoleManagement.Read.Directory");
const READ_POLICY: Needs = Needs("Policy.Read.All");
const READ_ORGANIZATION: Needs = Needs("Organization.Read.All");
/// The Global Administrator role's template id, the same in every tenant.
const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

/// A domain name as it may appear in a Graph path (a trailing dot taken off).
pub fn domain_name(text: &str) -> Result<String, M365Error> {
    tessera_core::validate::domain("domain", text.trim().trim_end_matches('.'))
        .map_err(|e| M365Error::Config(e.to_string()))
}

/// The domain as Graph has it, or `None` when the tenant has no such domain.
pub async fn domain(graph: &Graph, domain: &str) -> Result<Option<Value>, M365Error> {
    match graph.get(&format!("/domains/{domain}"), READ_DOMAINS).await {
        Ok(found) => Ok(Some(found)),
        Err(M365Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The domain's federation configuration (Graph lists at most one).
pub async fn configuration(graph: &Graph, domain: &str) -> Result<Option<Map<String, Value>>, M365Error> {
    let list = graph.get(&format!("/domains/{domain}/federationConfiguration"), READ_DOMAINS).await?;
    Ok(list["value"].as_array().and_then(|v| v.first()).and_then(|c| c.as_object()).cloned())
}

/// Whether the tenant runs Entra Connect (`onPremisesSyncEnabled`).
pub async fn directory_sync(graph: &Graph) -> Result<bool, M365Error> {
    let organization = graph.get("/organization", READ_ORGANIZATION).await?;
    Ok(organization["value"][0]["onPremisesSyncEnabled"].as_bool().unwrap_or(false))
}

/// Every domain of the tenant.
pub async fn domains(graph: &Graph) -> Result<Vec<Value>, M365Error> {
    let list = graph.get("/domains", READ_DOMAINS).await?;
    Ok(list["value"].as_array().cloned().unwrap_or_default())
}

fn unreadable(e: M365Error) -> String {
    e.to_string()
}

/// A Global Administrator who could still sign in if `domain`'s federation broke: one whose
/// sign-in name is on the tenant's `*.onmicrosoft.com` domain or on another Managed domain
/// (not on `domain`, its subdomains, or another federated domain).
async fn break_glass(graph: &Graph, domain: &str) -> Result<Option<String>, M365Error> {
    let filter = format!("/directoryRoles?$filter=roleTemplateId%20eq%20'{GLOBAL_ADMINISTRATOR}'");
    let roles = graph.get(&filter, READ_ROLES).await?;
    let Some(role) = roles["value"].as_array().and_then(|v| v.first()).and_then(|r| r["id"].as_str()) else {
        return Ok(None);
    };
    let members = graph.get(&format!("/directoryRoles/{role}/members"), READ_ROLES).await?;
    let federated: Vec<String> = domains(graph)
        .await?
        .iter()
        .filter(|d| d["authenticationType"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("Federated")))
        .filter_map(|d| d["id"].as_str().map(str::to_ascii_lowercase))
        .collect();
    let suffix = format!(".{domain}");
    Ok(members["value"].as_array().into_iter().flatten().filter_map(|m| m["userPrincipalName"].as_str()).find_map(
        |upn| {
            let at = upn.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())?;
            let usable = at != domain
                && !at.ends_with(&suffix)
                && (at.ends_with(".onmicrosoft.com")
                    || !federated.iter().any(|f| at == *f || at.ends_with(&format!(".{f}"))));
            usable.then(|| upn.to_string())
        },
    ))
}

/// Everything preflight judges, read from Graph (reads that are refused become the reason).
pub async fn gather(graph: &Graph, name: &str, connector: Result<ConnectorFacts, String>) -> Result<Facts, M365Error> {
    let found = domain(graph, name).await?;
    let configuration = match &found {
        Some(_) => configuration(graph, name).await?,
        None => None,
    };
    let break_glass = break_glass(graph, name).await.map_err(unreadable);
    let security_defaults = graph
        .get("/policies/identitySecurityDefaultsEnforcementPolicy", READ_POLICY)
        .await
        .map(|p| p["isEnabled"].as_bool().unwrap_or(false))
        .map_err(unreadable);
    let directory_sync = directory_sync(graph).await.map_err(unreadable);
    let write_permission = graph
        .token_grants(&["Domain-InternalFederation.ReadWrite.All", "Domain.ReadWrite.All"])
        .await
        .map_err(unreadable);
    Ok(Facts {
        domain: name.to_string(),
        write_permission,
        graph_domain: found.as_ref().map(DomainFacts::from_graph),
        configuration,
        connector,
        break_glass,
        security_defaults,
        directory_sync,
    })
}

/// What `enable` does to a domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub domain: String,
    /// `create`, `update` or `none`.
    pub action: &'static str,
    pub changes: Vec<Change>,
    /// The issuer the domain is moved from, for a take-over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_over_from: Option<String>,
    #[serde(skip)]
    configuration_id: Option<String>,
}

/// The pseudo-field of a plan that turns a Managed domain holding a matching configuration
/// Federated (a PATCH of the domain, not of the configuration).
const AUTHENTICATION_TYPE: &str = "authenticationType";

/// The plan that brings `facts` to `wanted`; a domain federated elsewhere needs `take_over`.
pub fn plan(facts: &Facts, wanted: &Map<String, Value>, take_over: bool) -> Result<Plan, M365Error> {
    let taken_over_from = foreign_issuer(facts);
    if let (Some(issuer), false) = (&taken_over_from, take_over) {
        return Err(M365Error::Refused(format!(
            "{} is federated to {issuer}; `m365 enable --take-over` changes it in place, users staying federated throughout",
            facts.domain
        )));
    }
    let configuration_id = facts.configuration.as_ref().and_then(|c| c["id"].as_str()).map(str::to_string);
    let mut found = changes(facts.configuration.as_ref(), wanted);
    let federated = facts.graph_domain.as_ref().is_some_and(DomainFacts::federated);
    if configuration_id.is_some() && !federated {
        found.push(Change { field: AUTHENTICATION_TYPE.into(), from: "Managed".into(), to: "Federated".into() });
    }
    let action = match (&configuration_id, found.is_empty()) {
        (None, _) => "create",
        (Some(_), true) => "none",
        (Some(_), false) => "update",
    };
    Ok(Plan { domain: facts.domain.clone(), action, changes: found, taken_over_from, configuration_id })
}

/// How a failed `apply` left the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aftermath {
    /// Graph refused before writing anything.
    NotWritten,
    /// A write happened (or may have) and was undone.
    RolledBack,
    /// A write happened (or may have) and undoing it failed: the domain's state is unknown.
    RollbackFailed,
    /// Some writes happened and a later one failed (disable has nothing to undo to).
    PartlyDone,
}

impl Aftermath {
    pub fn as_str(self) -> &'static str {
        match self {
            Aftermath::NotWritten => "not_written",
            Aftermath::RolledBack => "rolled_back",
            Aftermath::RollbackFailed => "rollback_failed",
            Aftermath::PartlyDone => "partly_done",
        }
    }
}

/// A failed `apply`: what went wrong, and how it left the domain.
#[derive(Debug, Clone)]
pub struct ApplyFailure {
    pub error: M365Error,
    pub aftermath: Aftermath,
}

/// Whether a failed write may have been applied: Graph refusing (a 4xx, a token or permission
/// problem) wrote nothing; a 5xx or a lost answer may have.
fn maybe_written(error: &M365Error) -> bool {
    matches!(error, M365Error::Graph(_) | M365Error::Unreachable(_))
}

/// Carries out `plan`, then reads Graph back to confirm it; on any failure after a write (or
/// a write whose answer was lost), puts the domain back as it was before and says so.
pub async fn apply(
    graph: &Graph,
    plan: &Plan,
    wanted: &Map<String, Value>,
    before: &DomainFacts,
) -> Result<(), ApplyFailure> {
    let domain = &plan.domain;
    let not_written = |error| ApplyFailure { error, aftermath: Aftermath::NotWritten };
    let field_changes: Vec<Change> = plan.changes.iter().filter(|c| c.field != AUTHENTICATION_TYPE).cloned().collect();
    let mut created_id = None;
    let written = match (&plan.configuration_id, plan.action) {
        (_, "none") => return Ok(()),
        (Some(id), _) => {
            let path = format!("/domains/{domain}/federationConfiguration/{id}");
            let patched = match field_changes.is_empty() {
                true => Ok(None),
                false => {
                    graph.call(reqwest::Method::PATCH, &path, Some(&patch_body(&field_changes)), WRITE_FEDERATION).await
                }
            };
            match patched {
                Ok(_) if field_changes.len() < plan.changes.len() => {
                    let body = serde_json::json!({AUTHENTICATION_TYPE: "Federated"});
                    graph
                        .call(reqwest::Method::PATCH, &format!("/domains/{domain}"), Some(&body), WRITE_FEDERATION)
                        .await
                }
                other => other,
            }
        }
        (None, _) => {
            let path = format!("/domains/{domain}/federationConfiguration");
            let created = graph.call(reqwest::Method::POST, &path, Some(&create_body(wanted)), WRITE_FEDERATION).await;
            if let Ok(Some(body)) = &created {
                created_id = body["id"].as_str().map(str::to_string);
            }
            created
        }
    };
    let confirmed = match written {
        Ok(_) => confirm(graph, domain, wanted).await,
        Err(e) if !maybe_written(&e) => return Err(not_written(e)),
        // The answer was lost or Graph failed: what it kept decides.
        Err(e) => match confirm(graph, domain, wanted).await {
            Ok(()) => return Ok(()),
            Err(_) => Err(e),
        },
    };
    let Err(failure) = confirmed else { return Ok(()) };
    match restore(graph, plan, &field_changes, created_id.as_deref(), wanted, before).await {
        Ok(()) => Err(ApplyFailure {
            error: M365Error::Graph(format!("{failure}; the domain was returned to its state before the command")),
            aftermath: Aftermath::RolledBack,
        }),
        Err(again) => Err(ApplyFailure {
            error: M365Error::Graph(format!(
                "{failure}; returning the domain to its state before the command failed too ({again}): \
                 check it with `tessera m365 show --domain {domain}`"
            )),
            aftermath: Aftermath::RollbackFailed,
        }),
    }
}

/// How many times a read-back is tried, a second apart: Graph's directory replicates, and a read
/// right after a write may not show it yet.
const CONFIRM_TRIES: u32 = 3;

/// Graph now holds what was wanted, and the domain is federated (read back until it shows, a
/// few seconds at most).
async fn confirm(graph: &Graph, domain: &str, wanted: &Map<String, Value>) -> Result<(), M365Error> {
    let mut tries = 0;
    loop {
        tries += 1;
        match read_back(graph, domain, wanted).await {
            Err(M365Error::Graph(_)) if tries < CONFIRM_TRIES => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await
            }
            other => return other,
        }
    }
}

async fn read_back(graph: &Graph, domain: &str, wanted: &Map<String, Value>) -> Result<(), M365Error> {
    let now = configuration(graph, domain).await?;
    let left = changes(now.as_ref(), wanted);
    if !left.is_empty() {
        let fields: Vec<&str> = left.iter().map(|c| c.field.as_str()).collect();
        return Err(M365Error::Graph(format!("Graph did not keep {}", fields.join(", "))));
    }
    let state = self::domain(graph, domain).await?.map(|d| DomainFacts::from_graph(&d));
    match state {
        Some(d) if d.federated() => Ok(()),
        _ => Err(M365Error::Graph(format!("{domain} is not Federated after the change"))),
    }
}

/// Undoes a plan: the fields patched get their old values; a configuration created is deleted
/// (the one the create answered with, or else only one that carries our issuer) and the
/// domain's authentication type put back.
async fn restore(
    graph: &Graph,
    plan: &Plan,
    field_changes: &[Change],
    created_id: Option<&str>,
    wanted: &Map<String, Value>,
    before: &DomainFacts,
) -> Result<(), M365Error> {
    let domain = &plan.domain;
    match &plan.configuration_id {
        Some(id) if !field_changes.is_empty() => {
            let path = format!("/domains/{domain}/federationConfiguration/{id}");
            graph.call(reqwest::Method::PATCH, &path, Some(&undo_body(field_changes)), WRITE_FEDERATION).await?;
        }
        Some(_) => {}
        None => {
            let id = match created_id {
                Some(id) => Some(id.to_string()),
                None => configuration(graph, domain)
                    .await?
                    .filter(|c| c.get("issuerUri") == wanted.get("issuerUri"))
                    .and_then(|c| c.get("id").and_then(Value::as_str).map(str::to_string)),
            };
            if let Some(id) = id {
                let path = format!("/domains/{domain}/federationConfiguration/{id}");
                graph.call(reqwest::Method::DELETE, &path, None, WRITE_FEDERATION).await?;
            }
        }
    }
    let now = self::domain(graph, domain).await?.map(|d| DomainFacts::from_graph(&d));
    if now.is_some_and(|now| now.authentication_type != before.authentication_type) {
        let body = serde_json::json!({AUTHENTICATION_TYPE: before.authentication_type});
        graph.call(reqwest::Method::PATCH, &format!("/domains/{domain}"), Some(&body), WRITE_FEDERATION).await?;
    }
    Ok(())
}

/// What `disable` did, or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disabled {
    pub domain: String,
    /// `managed` (it was Managed already: nothing done) or `disable`.
    pub action: &'static str,
    /// The configuration deleted, by its issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_issuer: Option<String>,
}

/// Returns `domain` to Managed: its federation configuration deleted, its authentication type
/// set. Idempotent; `dry_run` only says what it would do.
pub async fn disable(graph: &Graph, name: &str, dry_run: bool) -> Result<Disabled, ApplyFailure> {
    let not_written = |error| ApplyFailure { error, aftermath: Aftermath::NotWritten };
    let Some(found) = domain(graph, name).await.map_err(not_written)? else {
        return Err(not_written(M365Error::Refused(format!("the tenant has no domain {name}"))));
    };
    let facts = DomainFacts::from_graph(&found);
    let config = configuration(graph, name).await.map_err(not_written)?;
    let removed_issuer = config.as_ref().and_then(|c| c["issuerUri"].as_str()).map(str::to_string);
    if !facts.federated() && config.is_none() {
        return Ok(Disabled { domain: name.to_string(), action: "managed", removed_issuer });
    }
    if dry_run {
        return Ok(Disabled { domain: name.to_string(), action: "disable", removed_issuer });
    }
    let mut wrote = false;
    let steps = async {
        if let Some(id) = config.as_ref().and_then(|c| c["id"].as_str()) {
            let path = format!("/domains/{name}/federationConfiguration/{id}");
            graph.call(reqwest::Method::DELETE, &path, None, WRITE_FEDERATION).await?;
            wrote = true;
        }
        let after = domain(graph, name).await?.map(|d| DomainFacts::from_graph(&d));
        if after.is_some_and(|d| d.federated()) {
            let body = serde_json::json!({AUTHENTICATION_TYPE: "Managed"});
            graph.call(reqwest::Method::PATCH, &format!("/domains/{name}"), Some(&body), WRITE_FEDERATION).await?;
        }
        Ok::<(), M365Error>(())
    };
    match steps.await {
        Ok(()) => Ok(Disabled { domain: name.to_string(), action: "disable", removed_issuer }),
        Err(error) if !wrote && !maybe_written(&error) => Err(not_written(error)),
        Err(error) => Err(ApplyFailure {
            error: M365Error::Graph(format!(
                "{error}; the domain may be half way to Managed: run `tessera m365 disable --domain {name}` again"
            )),
            aftermath: Aftermath::PartlyDone,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_checked_before_they_reach_a_path() {
        assert_eq!(domain_name(" Contoso.COM. ").unwrap(), "contoso.com");
        for bad in ["", "contoso", "contoso.com/../users", "a b.com", "-x.com", "x..com", "contoso.com?$filter=1"] {
            assert!(domain_name(bad).is_err(), "{bad}");
        }
    }
}
