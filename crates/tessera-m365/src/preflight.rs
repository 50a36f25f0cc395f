//! The checks before a domain is federated (CONTRACT.md `m365 preflight`), judged from facts
//! already read: the domain as Graph has it, its current federation, the connector, the
//! tenant's Global Administrators and policies. Pure; `converge::gather` reads the facts.

use serde::Serialize;
use serde_json::{Map, Value};

/// A domain as Graph describes it (§4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainFacts {
    pub authentication_type: String,
    pub is_verified: bool,
    pub is_root: bool,
    pub is_initial: bool,
    pub is_default: bool,
}

impl DomainFacts {
    pub fn from_graph(domain: &Value) -> DomainFacts {
        let flag = |name: &str| domain[name].as_bool().unwrap_or(false);
        DomainFacts {
            authentication_type: domain["authenticationType"].as_str().unwrap_or("Managed").to_string(),
            is_verified: flag("isVerified"),
            is_root: flag("isRoot"),
            is_initial: flag("isInitial"),
            is_default: flag("isDefault"),
        }
    }

    pub fn federated(&self) -> bool {
        self.authentication_type.eq_ignore_ascii_case("Federated")
    }
}

/// What the connector offers the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorFacts {
    pub label: String,
    pub issuer: String,
    /// Days until the signing certificate expires.
    pub certificate_days_left: i64,
    pub public_url: String,
}

/// Everything the checks look at; a fact that could not be read carries why.
#[derive(Debug, Clone)]
pub struct Facts {
    pub domain: String,
    /// `None`: the tenant has no such domain.
    pub graph_domain: Option<DomainFacts>,
    pub configuration: Option<Map<String, Value>>,
    pub connector: Result<ConnectorFacts, String>,
    /// A Global Administrator whose sign-in name is outside the domain, if there is one.
    pub break_glass: Result<Option<String>, String>,
    pub security_defaults: Result<bool, String>,
    pub directory_sync: Result<bool, String>,
    /// Whether the token may write federation (`None`: it does not say).
    pub write_permission: Result<Option<bool>, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub severity: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub domain: String,
    /// No error check failed: `enable` would go ahead.
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    /// The failed error checks, one line each.
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.ok && c.severity == "error")
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }
}

fn error(name: &'static str, ok: bool, detail: impl Into<String>) -> Check {
    Check { name, ok, severity: "error", detail: detail.into() }
}

fn warning(name: &'static str, ok: bool, detail: impl Into<String>) -> Check {
    Check { name, ok, severity: "warning", detail: detail.into() }
}

/// The issuer a federated domain points to now, when it is not the connector's.
pub fn foreign_issuer(facts: &Facts) -> Option<String> {
    let federated = facts.graph_domain.as_ref().is_some_and(DomainFacts::federated);
    let issuer = facts.configuration.as_ref().and_then(|c| c["issuerUri"].as_str()).unwrap_or("");
    let ours = facts.connector.as_ref().map(|c| c.issuer.as_str()).unwrap_or("");
    (federated && issuer != ours)
        .then(|| if issuer.is_empty() { "another identity provider".to_string() } else { issuer.to_string() })
}

/// The checks, in the order an administrator reads them. With `take_over`, a domain federated
/// elsewhere is a warning (enable moves it in place) rather than an error.
pub fn checks(facts: &Facts, take_over: bool) -> Report {
    let domain = &facts.domain;
    let mut checks = Vec::new();
    match &facts.graph_domain {
        None => checks.push(error(
            "domain_exists",
            false,
            format!("the tenant has no domain {domain}: add and verify it first"),
        )),
        Some(d) => {
            checks.push(error("domain_exists", true, format!("{domain} is in the tenant")));
            checks.push(error(
                "domain_verified",
                d.is_verified,
                if d.is_verified {
                    "verified".to_string()
                } else {
                    format!("{domain} is not verified: add its DNS record and verify it")
                },
            ));
            checks.push(error(
                "domain_root",
                d.is_root,
                if d.is_root {
                    "a root domain".to_string()
                } else {
                    format!("{domain} is a subdomain: it follows its root domain's federation; federate the root")
                },
            ));
            checks.push(error(
                "domain_not_initial",
                !d.is_initial,
                if d.is_initial {
                    format!("{domain} is the tenant's initial *.onmicrosoft.com domain, which cannot be federated")
                } else {
                    "not the initial domain".to_string()
                },
            ));
            checks.push(error(
                "domain_not_default",
                !d.is_default,
                if d.is_default {
                    format!("{domain} is the tenant's default domain: make another domain the default first")
                } else {
                    "not the default domain".to_string()
                },
            ));
            let detail = match (d.federated(), foreign_issuer(facts)) {
                (false, _) => "Managed: enable federates it".to_string(),
                (true, None) => "federated to this connector already".to_string(),
                (true, Some(issuer)) if take_over => {
                    format!("federated to {issuer}: --take-over moves it to Tessera in place")
                }
                (true, Some(issuer)) => format!(
                    "federated to {issuer}: `m365 enable --take-over` moves it to Tessera in place (users stay federated throughout)"
                ),
            };
            let foreign = foreign_issuer(facts).is_some();
            checks.push(if take_over {
                warning("federation", !foreign, detail)
            } else {
                error("federation", !foreign, detail)
            });
        }
    }
    match &facts.connector {
        Err(why) => checks.push(error("connector", false, why.clone())),
        Ok(c) => {
            checks.push(error("connector", true, format!("{} (issuer {})", c.label, c.issuer)));
            checks.push(error(
                "certificate",
                c.certificate_days_left >= 30,
                format!(
                    "the signing certificate expires in {} days{}",
                    c.certificate_days_left,
                    if c.certificate_days_left >= 30 {
                        ""
                    } else {
                        ": roll it over first (`tessera app cert stage`, `m365 enable`, `tessera app cert promote`)"
                    }
                ),
            ));
            let https = c.public_url.starts_with("https://");
            checks.push(error(
                "public_url",
                https,
                if https {
                    format!("{} is https", c.public_url)
                } else {
                    format!("{} is not https: Entra and Windows clients need https endpoints", c.public_url)
                },
            ));
        }
    }
    checks.push(match &facts.break_glass {
        Ok(Some(upn)) => error("break_glass_admin", true, format!("{upn} is a Global Administrator outside {domain}")),
        Ok(None) => error(
            "break_glass_admin",
            false,
            format!("no Global Administrator signs in outside {domain}: add one on the onmicrosoft.com domain first, or a broken federation locks everyone out"),
        ),
        Err(why) => error("break_glass_admin", false, format!("cannot tell: {why}")),
    });
    checks.push(match &facts.write_permission {
        Ok(Some(true)) => error("write_permission", true, "the token may write domain federation"),
        Ok(Some(false)) => error(
            "write_permission",
            false,
            "the token lacks Domain-InternalFederation.ReadWrite.All: grant it (and consent) before enable",
        ),
        Ok(None) => warning("write_permission", false, "the token does not say whether it may write domain federation"),
        Err(why) => warning("write_permission", false, format!("cannot tell: {why}")),
    });
    checks.push(match &facts.security_defaults {
        Ok(true) => {
            warning("security_defaults", false, "security defaults are on: Entra's own MFA prompts on top of Tessera's")
        }
        Ok(false) => warning("security_defaults", true, "security defaults are off"),
        Err(why) => warning("security_defaults", false, format!("cannot tell: {why}")),
    });
    checks.push(match &facts.directory_sync {
        Ok(true) => warning(
            "directory_sync",
            false,
            "Entra Connect synchronizes this tenant's users: their ImmutableIDs come from it, so Tessera's must match",
        ),
        Ok(false) => warning("directory_sync", true, "no directory synchronization"),
        Err(why) => warning("directory_sync", false, format!("cannot tell: {why}")),
    });
    let ok = checks.iter().all(|c| c.ok || c.severity != "error");
    Report { domain: domain.clone(), ok, checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            domain: "contoso.com".into(),
            graph_domain: Some(DomainFacts {
                authentication_type: "Managed".into(),
                is_verified: true,
                is_root: true,
                is_initial: false,
                is_default: false,
            }),
            configuration: None,
            connector: Ok(ConnectorFacts {
                label: "M365".into(),
                issuer: "https://idp.example.com/m365/contoso.com".into(),
                certificate_days_left: 400,
                public_url: "https://idp.example.com".into(),
            }),
            break_glass: Ok(Some("admin@contoso.onmicrosoft.com".into())),
            security_defaults: Ok(false),
            directory_sync: Ok(false),
            write_permission: Ok(Some(true)),
        }
    }

    #[test]
    fn a_ready_domain_passes_and_each_fault_is_named() {
        assert!(checks(&facts(), false).ok);
        let failing = |change: &dyn Fn(&mut Facts), name: &str| {
            let mut f = facts();
            change(&mut f);
            let report = checks(&f, false);
            assert!(!report.ok, "{name}");
            assert!(report.failures().iter().any(|l| l.starts_with(name)), "{name}: {:?}", report.failures());
        };
        failing(&|f| f.graph_domain = None, "domain_exists");
        failing(&|f| f.graph_domain.as_mut().unwrap().is_verified = false, "domain_verified");
        failing(&|f| f.graph_domain.as_mut().unwrap().is_root = false, "domain_root");
        failing(&|f| f.graph_domain.as_mut().unwrap().is_initial = true, "domain_not_initial");
        failing(&|f| f.graph_domain.as_mut().unwrap().is_default = true, "domain_not_default");
        failing(&|f| f.break_glass = Ok(None), "break_glass_admin");
        failing(&|f| f.write_permission = Ok(Some(false)), "write_permission");
        failing(&|f| f.connector = Err("no connector".into()), "connector");
        failing(&|f| f.connector.as_mut().unwrap().certificate_days_left = 29, "certificate");
        failing(&|f| f.connector.as_mut().unwrap().public_url = "http://idp.example.com".into(), "public_url");
        let elsewhere = |f: &mut Facts| {
            f.graph_domain.as_mut().unwrap().authentication_type = "Federated".into();
            let mut config = Map::new();
            config.insert("issuerUri".into(), "http://adfs.contoso.com/adfs/services/trust".into());
            f.configuration = Some(config);
        };
        failing(&elsewhere, "federation");
        let mut f = facts();
        elsewhere(&mut f);
        assert!(checks(&f, true).ok, "a take-over is a warning");
        f.security_defaults = Ok(true);
        assert!(checks(&f, true).ok, "warnings do not stop enable");
    }
}
