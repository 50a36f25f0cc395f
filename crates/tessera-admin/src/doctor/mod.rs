//! `tessera doctor`: what Entra would find wrong with a Microsoft 365 connector, checked from
//! outside, at the public URL, before a domain is federated or while it is (M365-PROTOCOLS.md §8,
//! the checks an IdP can make about itself). It changes nothing: each run is audited
//! (`m365.doctor`), and the test token it asks for is audited as any token is.
//!
//! One check per line, each with what to do when it fails:
//! - `tls`: https, a certificate the system (or `--ca-file`) trusts for the host, not expiring
//!   within 30 days;
//! - `saml_metadata`, `wsfed_metadata`: fetched and read, the connector's issuer and its current
//!   signing certificate in them;
//! - `mex`: read as MSAL reads it, an https usernamemixed endpoint that is ours;
//! - `test_token`: a token for a designated test user, over ECP as a rich client asks for one
//!   (only over https whose certificate the `tls` check trusted), whose signature verifies with the published
//!   certificate (and with Graph's, when known);
//! - `graph`: Graph's federation configuration of the domain equal to the connector's;
//! - `clock`: this server's clock (its HTTP `Date`) against Graph's;
//! - `immutable_ids`: every active user of the domain with the same ImmutableID in Entra.
//!
//! The last three need Graph credentials; without them they are warnings saying so.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tessera_core::{Actor, AppKind, Application, AuditAction, NewAuditEvent};
use tessera_m365::graph::Graph;

use crate::{AdminError, AdminService};

mod checks;

use checks::{Token, clock_check, fetch, graph_check, metadata_check, mex_check, tls_check, token_check};

/// Each fetch, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// What `tessera doctor` is asked.
#[derive(Default)]
pub struct DoctorRequest {
    /// One connector (id or label); every Microsoft 365 connector when `None`.
    pub app: Option<String>,
    /// The user a test token is asked for.
    pub test_user: Option<TestUser>,
    /// Certificate authorities (PEM) trusted for the public URL besides the system's.
    pub ca_pem: Option<Vec<u8>>,
}

pub struct TestUser {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One check, and what to do when it fails.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub severity: Severity,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, ok: true, severity: Severity::Error, detail: detail.into(), fix: None }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, ok: false, severity: Severity::Error, detail: detail.into(), fix: Some(fix.into()) }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { name, ok: false, severity: Severity::Warning, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// A failure that would break sign-in (a warning does not).
    pub fn fails(&self) -> bool {
        !self.ok && self.severity == Severity::Error
    }
}

/// One connector's checks.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorReport {
    pub app: String,
    pub domain: String,
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub public_url: String,
    pub connectors: Vec<ConnectorReport>,
}

impl DoctorReport {
    /// Each failed check, as "connector: check".
    pub fn failures(&self) -> Vec<String> {
        self.connectors
            .iter()
            .flat_map(|c| {
                c.checks.iter().filter(|check| check.fails()).map(move |check| format!("{}: {}", c.app, check.name))
            })
            .collect()
    }
}

/// The two clients: one that verifies TLS as the outside world does (for the `tls` check), and
/// one that does not, so that one bad certificate is reported once, by that check, rather than
/// hiding every other.
struct Probe {
    verifying: reqwest::Client,
    lenient: reqwest::Client,
}

impl Probe {
    fn new(ca_pem: Option<&[u8]>) -> Result<Probe, AdminError> {
        let roots = match ca_pem {
            Some(pem) => {
                let roots = reqwest::Certificate::from_pem_bundle(pem)
                    .map_err(|e| AdminError::invalid("ca_file", format!("not a PEM certificate bundle: {e}")))?;
                if roots.is_empty() {
                    return Err(AdminError::invalid("ca_file", "the file holds no certificate"));
                }
                roots
            }
            None => Vec::new(),
        };
        let builder = || {
            reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(FETCH_TIMEOUT)
                .tls_info(true)
                .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION"), " (doctor)"))
        };
        let mut verifying = builder();
        for root in roots {
            verifying = verifying.add_root_certificate(root);
        }
        let unbuildable = |e: reqwest::Error| AdminError::invalid("public_url", format!("no HTTP client: {e}"));
        Ok(Probe {
            verifying: verifying.build().map_err(unbuildable)?,
            lenient: builder().tls_danger_accept_invalid_certs(true).build().map_err(unbuildable)?,
        })
    }
}

impl AdminService {
    /// The checks of every Microsoft 365 connector, or of the one `request.app` names (refused
    /// when it is not one). `graph` is the session for the Graph checks, when credentials are
    /// known.
    /// The run is audited first (`m365.doctor`, by `actor`, naming the test user): it asks for
    /// a token with someone's password.
    pub async fn doctor(
        &self,
        actor: &Actor,
        request: &DoctorRequest,
        graph: Option<&Graph>,
    ) -> Result<DoctorReport, AdminError> {
        let connectors = match &request.app {
            Some(key) => {
                let app = self.store.find_app(key).await?;
                if !matches!(app.kind, AppKind::M365(_)) {
                    return Err(AdminError::invalid(
                        "app",
                        format!("{} is not a Microsoft 365 connector: the doctor checks what Entra expects", app.label),
                    ));
                }
                vec![app]
            }
            None => self.m365_connectors().await?,
        };
        let probe = Probe::new(request.ca_pem.as_deref())?;
        // Written before anything is asked: the run uses someone's password.
        let summary = json!({"apps": connectors.iter().map(|c| c.label.clone()).collect::<Vec<_>>(),
            "test_user": request.test_user.as_ref().map(|u| u.name.clone())});
        self.store.append_audit(actor, NewAuditEvent::new(AuditAction::M365Doctor, "m365", "doctor", summary)).await?;
        let mut reports = Vec::new();
        for app in &connectors {
            let checks = self.check_connector(&probe, app, request.test_user.as_ref(), graph).await;
            reports.push(ConnectorReport {
                app: app.label.clone(),
                domain: app.kind.m365_domain().unwrap_or_default().to_string(),
                ok: !checks.iter().any(Check::fails),
                checks,
            });
        }
        Ok(DoctorReport { ok: reports.iter().all(|r| r.ok), public_url: self.public_url.clone(), connectors: reports })
    }

    async fn check_connector(
        &self,
        probe: &Probe,
        app: &Application,
        test_user: Option<&TestUser>,
        graph: Option<&Graph>,
    ) -> Vec<Check> {
        let endpoints = app.endpoints(&self.public_url);
        let issuer = app.issuer.clone().unwrap_or_default();
        let domain = app.kind.m365_domain().unwrap_or_default().to_string();
        let metadata_url = endpoints.saml_metadata.clone().unwrap_or_default();
        let clock = self.clock.as_ref();
        let (tls, tls_verified) = tls_check(probe, &metadata_url, clock).await;
        let mut checks = vec![tls];

        let saml = fetch(&probe.lenient, &metadata_url, clock).await;
        let server_date = saml.as_ref().ok().and_then(|f| f.date);
        let (saml_check, published) = metadata_check("saml_metadata", &metadata_url, saml, app, &issuer);
        checks.push(saml_check);
        let wsfed_url = endpoints.wsfed_metadata.clone().unwrap_or_default();
        checks.push(
            metadata_check("wsfed_metadata", &wsfed_url, fetch(&probe.lenient, &wsfed_url, clock).await, app, &issuer)
                .0,
        );
        let mex_url = endpoints.wstrust_mex.clone().unwrap_or_default();
        let ours = endpoints.wstrust_13_usernamemixed.clone().unwrap_or_default();
        checks.push(mex_check(
            &mex_url,
            fetch(&probe.lenient, &mex_url, clock).await,
            &ours,
            &endpoints.wstrust_2005_usernamemixed,
        ));

        let shown = match graph {
            Some(graph) => Some(self.m365_show(graph, &domain, Some(&app.id.to_string())).await),
            None => None,
        };
        let graph_certificates: Vec<String> = match &shown {
            Some(Ok(shown)) => ["signingCertificate", "nextSigningCertificate"]
                .iter()
                .filter_map(|field| shown["federationConfiguration"][*field].as_str())
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let ecp_url = endpoints.saml_ecp.clone().unwrap_or_default();
        let signed_requests = matches!(&app.kind, AppKind::M365(c) if c.require_signed_requests);
        let token = Token { ecp_url: &ecp_url, tls_verified, signed_requests, server_date };
        checks.push(token_check(probe, &token, test_user, published.as_deref(), &graph_certificates, clock).await);
        checks.push(graph_check(&shown, &domain));
        checks.push(clock_check(graph, server_date));
        checks.push(self.immutable_id_check(graph, &domain).await);
        checks
    }

    async fn immutable_id_check(&self, graph: Option<&Graph>, domain: &str) -> Check {
        const NAME: &str = "immutable_ids";
        let fix_entra =
            format!("tessera m365 users --domain {domain} --fix (or --from-entra, coming from another IdP)");
        match graph {
            Some(graph) => match self.m365_users(graph, domain).await {
                Ok(report) if report.would_fail == 0 => Check::pass(
                    NAME,
                    format!("all {} users of {domain} have the same ImmutableID in Entra", report.users.len()),
                ),
                Ok(report) => {
                    let failing: Vec<String> = report
                        .users
                        .iter()
                        .filter(|row| row.active && row.status != tessera_m365::coverage::Coverage::Match)
                        .take(5)
                        .map(|row| format!("{} ({})", row.upn, row.status.as_str()))
                        .collect();
                    let detail = format!(
                        "{} users of {domain} could not sign in once federated: {}",
                        report.would_fail,
                        failing.join(", ")
                    );
                    Check::fail(NAME, detail, fix_entra)
                }
                Err(e) => Check::fail(
                    NAME,
                    format!("Entra's users could not be read: {e}"),
                    "check the Graph credentials' permissions (User.Read.All)",
                ),
            },
            // Every Tessera user has an ImmutableID (the store refuses an empty one): what can
            // differ is Entra's, which only Graph tells.
            None => Check::warn(
                NAME,
                format!("Entra's ImmutableIDs for {domain} were not compared (no Graph credentials)"),
                "store Graph credentials (tessera m365 credentials set) to compare them with Entra's",
            ),
        }
    }
}
