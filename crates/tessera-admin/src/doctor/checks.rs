//! The doctor's checks, each from what was fetched or asked at the public URL and from Graph:
//! one [`Check`] with what to do when it fails.

use serde_json::Value;
use tessera_core::{Application, Clock};
use tessera_m365::graph::{Graph, ServerDate, deepest};
use tessera_protocols::saml2::ecp::{assertion_of, entra_request_envelope, fault_reason};
use tessera_protocols::saml2::idp_metadata::read_published;
use tessera_protocols::wstrust::mex_reader::{msal_choice, username_endpoints};
use tessera_xml::{AlgorithmPolicy, VerifyingKey, verify_enveloped};

use super::{Check, Probe, TestUser};
use crate::AdminError;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// A TLS certificate closer than this to its end fails the check.
const TLS_MARGIN_DAYS: i64 = 30;
/// A clock further than this from Graph's fails the check: Entra allows a few minutes, and a
/// clock this far off is drifting.
const MAX_CLOCK_OFFSET_MS: i64 = 60_000;
/// The most of a document read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A document fetched from the public URL, and the server's clock from its `Date`.
pub(super) struct Fetched {
    status: u16,
    body: String,
    pub(super) date: Option<ServerDate>,
}

/// GET `url`: its status, body (at most [`MAX_BODY_BYTES`]) and the server's `Date`.
pub(super) async fn fetch(client: &reqwest::Client, url: &str, clock: &dyn Clock) -> Result<Fetched, String> {
    let response = client.get(url).send().await.map_err(|e| deepest(&e))?;
    let received = clock.now_millis();
    // A cache's copy carries the Date it was made at: not this server's clock now.
    let cached = response.headers().contains_key(reqwest::header::AGE);
    let date = ServerDate::of(response.headers(), received).filter(|_| !cached);
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| deepest(&e))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(format!("the answer is larger than {MAX_BODY_BYTES} bytes"));
    }
    Ok(Fetched { status, body: String::from_utf8_lossy(&bytes).into_owned(), date })
}

/// The `tls` check, and whether the connection was verified (a trusted certificate for the
/// host, valid now: what the test password may cross, even when renewal is due).
pub(super) async fn tls_check(probe: &Probe, url: &str, clock: &dyn Clock) -> (Check, bool) {
    let check = |check: Check| (check, false);
    const NAME: &str = "tls";
    let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
    if !url.starts_with("https://") {
        return check(Check::fail(
            NAME,
            format!(
                "the public URL is not https ({url}): Entra requires https endpoints, and MSAL skips http ones in MEX"
            ),
            "serve https (serve --tls-cert/--tls-key, or an https proxy in front) and set --public-url https://…",
        ));
    }
    let response = match probe.verifying.get(url).send().await {
        Ok(response) => response,
        Err(e) => {
            return check(Check::fail(
                NAME,
                format!("the TLS certificate of {host} is not accepted: {}", deepest(&e)),
                format!("install a certificate for {host} from a certificate authority clients trust, valid now"),
            ));
        }
    };
    let certificate = response.extensions().get::<reqwest::tls::TlsInfo>().and_then(|info| info.peer_certificate());
    let Some(not_after) = certificate.and_then(tessera_keys::certificate_not_after) else {
        return check(Check::fail(
            NAME,
            "the server's certificate could not be read",
            "check the certificate file given to serve",
        ));
    };
    let now = clock.now_millis();
    let days = (not_after - now) / DAY_MS;
    let until = tessera_core::format_millis(not_after);
    if days < TLS_MARGIN_DAYS {
        let failed = Check::fail(
            NAME,
            format!("the TLS certificate of {host} expires at {until}, in {days} days"),
            format!(
                "renew it before then (serve reloads it on SIGHUP); {TLS_MARGIN_DAYS} days is the margin this check keeps"
            ),
        );
        return (failed, true);
    }
    (Check::pass(NAME, format!("certificate for {host}, trusted, valid until {until} ({days} days)")), true)
}

/// The metadata check, and the certificates it publishes (for the token check).
pub(super) fn metadata_check(
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

pub(super) fn mex_check(
    url: &str,
    fetched: Result<Fetched, String>,
    ours_13: &str,
    ours_2005: &Option<String>,
) -> Check {
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

/// Where and how a test token is asked for.
pub(super) struct Token<'a> {
    pub(super) ecp_url: &'a str,
    /// The `tls` check trusted the certificate: the password goes only over a connection
    /// verified as the outside world verifies it.
    pub(super) tls_verified: bool,
    /// The connector takes only Entra's signed requests, which the doctor cannot make.
    pub(super) signed_requests: bool,
    /// The server's clock, for the request's IssueInstant.
    pub(super) server_date: Option<ServerDate>,
}

pub(super) async fn token_check(
    probe: &Probe,
    token: &Token<'_>,
    test_user: Option<&TestUser>,
    published: Option<&[String]>,
    graph_certificates: &[String],
    clock: &dyn Clock,
) -> Check {
    const NAME: &str = "test_token";
    let ecp_url = token.ecp_url;
    let Some(user) = test_user else {
        return Check::warn(
            NAME,
            "no test user was designated, so no token was asked for",
            "name one with --test-user NAME (its password on stdin with --test-password-stdin)",
        );
    };
    if token.signed_requests {
        return Check::warn(
            NAME,
            "the connector takes only Entra's signed requests, which the doctor cannot sign, so no token was asked for",
            "check a token through Microsoft's own sign-in instead",
        );
    }
    if !token.tls_verified {
        return Check::fail(
            NAME,
            format!(
                "no token was asked for: {}'s password is sent only over https that the tls check trusted",
                user.name
            ),
            "fix tls first",
        );
    }
    let Some(published) = published else {
        return Check::fail(
            NAME,
            "no published certificate to verify a token with (see saml_metadata)",
            "fix saml_metadata first",
        );
    };
    // The request is dated by the server's clock (its Date, moved on by the time since), so
    // that this machine's clock does not decide whether it is fresh.
    let now = clock.now_millis();
    let issued_at = token.server_date.map(|d| now + d.offset_millis()).unwrap_or(now);
    let id = format!("_doctor{}", uuid_like(now));
    let envelope = entra_request_envelope(&id, &tessera_core::format_millis(issued_at));
    let answer = probe
        .verifying
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
            let said = fault_reason(&body).unwrap_or_else(|| format!("HTTP {status}"));
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

/// A request ID unlikely to repeat: the time and a counter.
fn uuid_like(now: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!("{now:x}{:04x}{:08x}", COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id())
}

pub(super) fn graph_check(shown: &Option<Result<Value, AdminError>>, domain: &str) -> Check {
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

pub(super) fn clock_check(graph: Option<&Graph>, server: Option<ServerDate>) -> Check {
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
