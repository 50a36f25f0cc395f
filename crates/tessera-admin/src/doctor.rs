//! `tessera doctor`: what Entra would find wrong with a Microsoft 365 connector, checked from
//! outside, at the public URL, before a domain is federated or while it is (M365-PROTOCOLS.md §8,
//! the checks an IdP can make about itself). Read-only: the only thing it causes is the test
//! token it asks for, which is audited as any token is.
//!
//! One check per line, each with what to do when it fails:
//! - `tls`: https, a certificate the system (or `--ca-file`) trusts for the host, not expiring
//!   within 30 days;
//! - `saml_metadata`, `wsfed_metadata`: fetched and read, the connector's issuer and its current
//!   signing certificate in them;
//! - `mex`: read as MSAL reads it, an https usernamemixed endpoint that is ours;
//! - `test_token`: a token for a designated test user, over ECP as a rich client asks for one,
//!   whose signature verifies with the published certificate (and with Graph's, when known);
//! - `graph`: Graph's federation configuration of the domain equal to the connector's;
//! - `clock`: this server's clock (its HTTP `Date`) against Graph's;
//! - `immutable_ids`: every user of the domain with an ImmutableID, and the same one in Entra.
//!
//! The last three need Graph credentials; without them they are warnings saying so.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tessera_core::{AppKind, Application, Clock};
use tessera_m365::graph::{Graph, ServerDate};
use tessera_protocols::saml2::ecp::{assertion_of, entra_request_envelope};
use tessera_protocols::saml2::idp_metadata::read_published;
use tessera_protocols::wstrust::mex_reader::{msal_choice, username_endpoints};
use tessera_xml::{AlgorithmPolicy, VerifyingKey, verify_enveloped};

use crate::{AdminError, AdminService};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// A TLS certificate closer than this to its end fails the check.
const TLS_MARGIN_DAYS: i64 = 30;
/// A clock further than this from Graph's fails the check: Entra allows a few minutes, and a
/// clock this far off is drifting.
const MAX_CLOCK_OFFSET_MS: i64 = 60_000;
/// Each fetch, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a document read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

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

/// A document fetched from the public URL, and the server's clock from its `Date`.
struct Fetched {
    status: u16,
    body: String,
    date: Option<ServerDate>,
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
    pub async fn doctor(&self, request: &DoctorRequest, graph: Option<&Graph>) -> Result<DoctorReport, AdminError> {
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
        let mut checks = vec![tls_check(probe, &metadata_url, clock).await];

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
        checks.push(
            token_check(probe, &ecp_url, test_user, published.as_deref(), &graph_certificates, self.clock_now()).await,
        );
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
            None => match self.domain_users(domain).await {
                Ok(users) => {
                    let without: Vec<&str> =
                        users.iter().filter(|u| u.immutable_id.is_empty()).map(|u| u.upn.as_str()).take(5).collect();
                    if without.is_empty() {
                        Check::warn(
                            NAME,
                            format!(
                                "all {} users of {domain} have an ImmutableID here; Entra's were not compared (no Graph credentials)",
                                users.len()
                            ),
                            "store Graph credentials (tessera m365 credentials set) to compare them with Entra's",
                        )
                    } else {
                        Check::fail(NAME, format!("users without an ImmutableID: {}", without.join(", ")), fix_entra)
                    }
                }
                Err(e) => Check::fail(NAME, format!("the users could not be read: {e}"), "see the server's log"),
            },
        }
    }
}

/// GET `url`: its status, body (at most [`MAX_BODY_BYTES`]) and the server's `Date`.
async fn fetch(client: &reqwest::Client, url: &str, clock: &dyn Clock) -> Result<Fetched, String> {
    let response = client.get(url).send().await.map_err(|e| deepest(&e))?;
    let received = clock.now_millis();
    let date = ServerDate::of(response.headers(), received);
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| deepest(&e))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(format!("the answer is larger than {MAX_BODY_BYTES} bytes"));
    }
    Ok(Fetched { status, body: String::from_utf8_lossy(&bytes).into_owned(), date })
}

fn deepest(error: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

async fn tls_check(probe: &Probe, url: &str, clock: &dyn Clock) -> Check {
    const NAME: &str = "tls";
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    if !url.starts_with("https://") {
        return Check::fail(
            NAME,
            format!(
                "the public URL is not https ({url}): Entra requires https endpoints, and MSAL skips http ones in MEX"
            ),
            "serve https (serve --tls-cert/--tls-key, or an https proxy in front) and set --public-url https://…",
        );
    }
    let response = match probe.verifying.get(url).send().await {
        Ok(response) => response,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("the TLS certificate of {host} is not accepted: {}", deepest(&e)),
                format!("install a certificate for {host} from a certificate authority clients trust, valid now"),
            );
        }
    };
    let certificate = response.extensions().get::<reqwest::tls::TlsInfo>().and_then(|info| info.peer_certificate());
    let Some(not_after) = certificate.and_then(tessera_keys::certificate_not_after) else {
        return Check::fail(
            NAME,
            "the server's certificate could not be read",
            "check the certificate file given to serve",
        );
    };
    let now = clock.now_millis();
    let days = (not_after - now) / DAY_MS;
    let until = tessera_core::format_millis(not_after);
    if days < TLS_MARGIN_DAYS {
        return Check::fail(
            NAME,
            format!("the TLS certificate of {host} expires at {until}, in {days} days"),
            format!(
                "renew it before then (serve reloads it on SIGHUP); {TLS_MARGIN_DAYS} days is the margin this check keeps"
            ),
        );
    }
    Check::pass(NAME, format!("certificate for {host}, trusted, valid until {until} ({days} days)"))
}

/// The metadata check, and the certificates it publishes (for the token check).
fn metadata_check(
    name: &'static str,
    url: &str,
    fetched: Result<Fetched, String>,
    app: &Application,
    issuer: &str,
) -> (Check, Option<Vec<String>>) {
    let fix = "check that the public URL (--public-url) reaches this server, as Entra and clients see it";
    let fetched = match fetched {
        Ok(f) if f.status == 200 => f,
        Ok(f) => return (Check::fail(name, format!("{url} answered HTTP {}", f.status), fix), None),
        Err(e) => return (Check::fail(name, format!("{url} could not be fetched: {e}"), fix), None),
    };
    let published = match read_published(&fetched.body) {
        Ok(p) => p,
        Err(e) => return (Check::fail(name, format!("{url} is not readable metadata: {e}"), fix), None),
    };
    if published.entity_id != issuer {
        let detail = format!("{url} names the issuer {:?}, not the connector's {issuer:?}", published.entity_id);
        return (
            Check::fail(name, detail, "a proxy or another server answers at this URL; point it at this server"),
            None,
        );
    }
    use base64::Engine;
    let current = app.certificates.current.as_deref().map(|der| base64::engine::general_purpose::STANDARD.encode(der));
    if current.as_ref().is_none_or(|c| !published.signing_certificates.contains(c)) {
        let detail = format!("{url} does not publish the connector's current signing certificate");
        return (
            Check::fail(name, detail, "a cache or proxy serves an old copy; it must not cache the metadata"),
            None,
        );
    }
    let detail = format!("{url}: issuer {issuer}, {} signing certificate(s)", published.signing_certificates.len());
    (Check::pass(name, detail), Some(published.signing_certificates))
}

fn mex_check(url: &str, fetched: Result<Fetched, String>, ours_13: &str, ours_2005: &Option<String>) -> Check {
    const NAME: &str = "mex";
    let fix = "check that the public URL (--public-url) reaches this server, as clients see it";
    let fetched = match fetched {
        Ok(f) if f.status == 200 => f,
        Ok(f) => return Check::fail(NAME, format!("{url} answered HTTP {}", f.status), fix),
        Err(e) => return Check::fail(NAME, format!("{url} could not be fetched: {e}"), fix),
    };
    let endpoints = match username_endpoints(&fetched.body) {
        Ok(endpoints) => endpoints,
        Err(e) => return Check::fail(NAME, format!("{url} is not a MEX document MSAL can read: {e}"), fix),
    };
    let Some(chosen) = msal_choice(&endpoints) else {
        let listed: Vec<&str> = endpoints.iter().map(|e| e.address.as_str()).collect();
        return Check::fail(
            NAME,
            format!(
                "MSAL finds no https username endpoint in {url} (it lists {}): Windows and Office cannot sign in",
                listed.join(", ")
            ),
            "serve the public URL over https (--public-url https://…)",
        );
    };
    if chosen.address != ours_13 && Some(&chosen.address) != ours_2005.as_ref() {
        return Check::fail(
            NAME,
            format!("MSAL would send passwords to {}, not to this connector", chosen.address),
            fix,
        );
    }
    Check::pass(NAME, format!("MSAL's choice: {}", chosen.address))
}

async fn token_check(
    probe: &Probe,
    ecp_url: &str,
    test_user: Option<&TestUser>,
    published: Option<&[String]>,
    graph_certificates: &[String],
    now: i64,
) -> Check {
    const NAME: &str = "test_token";
    let Some(user) = test_user else {
        return Check::warn(
            NAME,
            "no test user was designated, so no token was asked for",
            "name one with --test-user NAME (its password on stdin with --test-password-stdin)",
        );
    };
    let Some(published) = published else {
        return Check::fail(
            NAME,
            "no published certificate to verify a token with (see saml_metadata)",
            "fix saml_metadata first",
        );
    };
    let id = format!("_doctor{}", uuid_like(now));
    let envelope = entra_request_envelope(&id, &tessera_core::format_millis(now));
    let answer = probe
        .lenient
        .post(ecp_url)
        .basic_auth(&user.name, Some(&user.password))
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(envelope)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{ecp_url} could not be reached: {}", deepest(&e)),
                "check the public URL",
            );
        }
    };
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    let assertion = match assertion_of(&body) {
        Ok(assertion) if status == 200 => assertion,
        _ => {
            let said = fault_string(&body).unwrap_or_else(|| format!("HTTP {status}"));
            return Check::fail(
                NAME,
                format!("{} got no token: {said}", user.name),
                "designate a user who may sign in: a granted group, and an app policy a password meets",
            );
        }
    };
    use base64::Engine;
    let verifies = |certificate: &String| {
        let der = base64::engine::general_purpose::STANDARD.decode(certificate).ok()?;
        let key = VerifyingKey::from_certificate_der(&der).ok()?;
        verify_enveloped(&assertion, "ID", &key, AlgorithmPolicy::default()).ok()
    };
    if !published.iter().any(|c| verifies(c).is_some()) {
        return Check::fail(
            NAME,
            "the token's signature does not verify with the published signing certificate",
            "the metadata and the signing key disagree: look at `tessera app show` and the rollover state",
        );
    }
    if !graph_certificates.is_empty() && !graph_certificates.iter().any(|c| verifies(c).is_some()) {
        return Check::fail(
            NAME,
            "the token's signature does not verify with the certificate Graph holds: Entra would refuse it",
            "tessera m365 enable --domain DOMAIN (puts the connector's certificate in Graph)",
        );
    }
    let graph = if graph_certificates.is_empty() { "" } else { " and with Graph's" };
    Check::pass(NAME, format!("a token for {} verifies with the published certificate{graph}", user.name))
}

/// A fault's words, from a SOAP 1.1 fault envelope.
fn fault_string(body: &str) -> Option<String> {
    let start = body.find("<faultstring>")? + "<faultstring>".len();
    let end = body[start..].find("</faultstring>")? + start;
    Some(
        body[start..end]
            .replace("&apos;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// A request ID unlikely to repeat: the time and a counter.
fn uuid_like(now: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{now:x}{:04x}{:08x}", COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id())
}

fn graph_check(shown: &Option<Result<Value, AdminError>>, domain: &str) -> Check {
    const NAME: &str = "graph";
    let enable = format!("tessera m365 enable --domain {domain}");
    match shown {
        None => Check::warn(
            NAME,
            "Graph's configuration was not compared (no Graph credentials)",
            "store Graph credentials (tessera m365 credentials set), or give them as to tessera m365",
        ),
        Some(Err(e)) => Check::fail(
            NAME,
            format!("Graph could not be read: {e}"),
            "check the Graph credentials and their permissions",
        ),
        Some(Ok(shown)) if shown["authenticationType"] != "Federated" => Check::warn(
            NAME,
            format!("{domain} is not federated yet (Entra has it Managed)"),
            format!("{enable} (tessera m365 preflight --domain {domain} first)"),
        ),
        Some(Ok(shown)) => match shown["differences"].as_array() {
            Some(differences) if differences.is_empty() => {
                Check::pass(NAME, format!("Graph's federation of {domain} matches the connector"))
            }
            Some(differences) => {
                let fields: Vec<String> = differences
                    .iter()
                    .map(|d| {
                        format!("{} (Graph {}, connector {})", d["field"].as_str().unwrap_or("?"), d["graph"], d["app"])
                    })
                    .collect();
                Check::fail(NAME, format!("Graph differs from the connector: {}", fields.join("; ")), enable)
            }
            None => Check::fail(NAME, "Graph's configuration could not be compared", enable),
        },
    }
}

fn clock_check(graph: Option<&Graph>, server: Option<ServerDate>) -> Check {
    const NAME: &str = "clock";
    let Some(graph_date) = graph.and_then(Graph::last_date) else {
        return Check::warn(
            NAME,
            "the clock was not compared with Graph's (no Graph credentials, or Graph sent no Date)",
            "store Graph credentials (tessera m365 credentials set)",
        );
    };
    let Some(server) = server else {
        return Check::fail(NAME, "the server sent no Date header", "check that the public URL reaches this server");
    };
    // Each clock against this one when its answer came: what is left is the server's against
    // Graph's, whatever this machine's clock says.
    let offset = server.offset_millis() - graph_date.offset_millis();
    let seconds = offset / 1000;
    if offset.abs() > MAX_CLOCK_OFFSET_MS {
        let direction = if offset > 0 { "ahead of" } else { "behind" };
        return Check::fail(
            NAME,
            format!(
                "the server's clock is {} s {direction} Graph's: tokens would be outside Entra's window",
                seconds.abs()
            ),
            "synchronize the server's clock (NTP)",
        );
    }
    Check::pass(NAME, format!("the server's clock is within {} s of Graph's", seconds.abs().max(1)))
}
