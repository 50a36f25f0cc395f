//! Signing-certificate rollover through Graph (M365-PROTOCOLS.md §7.1, §8 items 28–29), against
//! the Graph test double: the staged flow from the command line with real tokens from a running
//! server checked as Entra checks them (the signature under `signingCertificate` or
//! `nextSigningCertificate`, the issuer of the user's domain); the automatic rollover across a
//! year on a fake clock with two nodes on one PostgreSQL database; several domains side by side.

use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value};
use tessera_admin::{AdminService, AppSpec, CredentialInput, EnableRequest, KeyOptions, NewApp};
use tessera_core::{Actor, Clock, ManualClock, SettingsChange};
use tessera_keys::KeyService;
use tessera_m365::graph::Endpoints;
use tessera_store::test_support::ThrowawayPg;
use tessera_store::{AuditQuery, Store};

use super::bounds::exchange;
use super::graph_double::{Double, TENANT};
use super::m365_graph::{PUBLIC, SECRET, tenant};
use super::{Env, Server};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const PASSWORD: &str = "correct horse battery";

/// `tessera --public-url PUBLIC ARGS --graph-url … --login-url …` (stored credentials).
fn graph_args(double: &Double, args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = ["--public-url", PUBLIC].iter().chain(args).map(|s| s.to_string()).collect();
    all.extend(["--graph-url".into(), double.url(), "--login-url".into(), double.url()]);
    all
}

fn run_graph(env: &Env, double: &Double, args: &[&str]) -> std::process::Output {
    let all = graph_args(double, args);
    env.run(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

fn ok_graph(env: &Env, double: &Double, args: &[&str]) -> String {
    let out = run_graph(env, double, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A WS-Trust 1.3 request for `username`, addressed as MSAL addresses it.
fn rst(to: &str, username: &str, n: usize) -> String {
    let now =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let (created, expires) = (tessera_core::format_millis(now), tessera_core::format_millis(now + 600_000));
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"><s:Header><wsa:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</wsa:Action><wsa:MessageID>urn:uuid:00000000-0000-4000-8000-{n:012}</wsa:MessageID><wsa:To s:mustUnderstand="1">{to}</wsa:To><wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsu:Timestamp xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" wsu:Id="_0"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp><wsse:UsernameToken><wsse:Username>{username}</wsse:Username><wsse:Password>{PASSWORD}</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512"><wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>"#
    )
}

/// A token from the running server's connector of `domain` for `username`: the SAML 1.1
/// assertion Entra receives, or the server's refusal.
fn token(port: u16, domain: &str, username: &str, n: usize) -> Result<String, String> {
    let path = format!("/m365/{domain}/adfs/services/trust/13/usernamemixed");
    let soap = [("Content-Type", "application/soap+xml; charset=utf-8")];
    let (status, reply) = exchange(port, "POST", &path, &soap, rst(&format!("{PUBLIC}{path}"), username, n).as_bytes());
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    match status {
        200 => Ok(body),
        _ => Err(body),
    }
}

/// xmlsec1's verdict on the assertion's signature under `certificate` (base64 DER).
pub(super) fn xmlsec1_verifies(xml: &str, certificate: &str) -> bool {
    let der = base64::engine::general_purpose::STANDARD.decode(certificate).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.xml"), xml).unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    std::fs::write(dir.path().join("c.pem"), pem).unwrap();
    Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(dir.path().join("c.pem"))
        .args(["--id-attr:AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion:Assertion"])
        .args(["--node-xpath", "//*[local-name()='Assertion']/*[local-name()='Signature']"])
        .arg(dir.path().join("t.xml"))
        .output()
        .unwrap()
        .status
        .success()
}

/// The SAML 1.1 assertion's `Issuer` attribute (the only attribute of that name in an RSTR).
fn issuer_of(xml: &str) -> String {
    let (_, after) = xml.split_once(" Issuer=\"").expect("an assertion with an issuer");
    after.split('"').next().unwrap().to_string()
}

/// Entra's checks on a token for a user of `domain` (§8 items 28, 29): the domain is federated,
/// the token's issuer is the domain's `issuerUri`, and its signature verifies under
/// `signingCertificate` or `nextSigningCertificate`. `Err` says which check refused it.
fn entra_accepts(double: &Double, domain: &str, xml: &str) -> Result<(), String> {
    let config: Map<String, Value> =
        double.with(|g| g.configurations.get(domain).cloned()).ok_or(format!("{domain} is not federated"))?;
    if config["issuerUri"].as_str() != Some(issuer_of(xml).as_str()) {
        return Err(format!("issuer {} is not {}'s {}", issuer_of(xml), domain, config["issuerUri"]));
    }
    let held = ["signingCertificate", "nextSigningCertificate"]
        .iter()
        .filter_map(|f| config.get(*f).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .collect::<Vec<_>>();
    match held.iter().any(|c| xmlsec1_verifies(xml, c)) {
        true => Ok(()),
        false => Err(format!("the signature verifies under none of the {} certificates Graph holds", held.len())),
    }
}

fn graph_certificates(double: &Double, domain: &str) -> (Option<String>, Option<String>) {
    double.with(|g| {
        let config = &g.configurations[domain];
        let text = |f: &str| config.get(f).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        (text("signingCertificate"), text("nextSigningCertificate"))
    })
}

fn app_json(env: &Env, app: &str) -> Value {
    env.json(&["--public-url", PUBLIC, "app", "show", app])
}

fn certificates(env: &Env, app: &str) -> (String, Option<String>) {
    let shown = app_json(env, app);
    (
        shown["signing_certificate"].as_str().unwrap().to_string(),
        shown["next_signing_certificate"].as_str().map(str::to_string),
    )
}

fn directory(env: &Env, users: &[&str], app: &str) {
    env.ok(&["group", "add", "staff"]);
    for user in users {
        env.run_with_stdin(&["user", "add", user, "--password-stdin"], &format!("{PASSWORD}\n"));
        env.ok(&["group", "add-member", "staff", user]);
    }
    env.ok(&["app", "grant", app, "staff"]);
}

#[test]
fn a_staged_rollover_through_graph_never_fails_a_sign_in_and_ends_with_only_the_new_certificate() {
    let env = Env::sqlite();
    let double = Double::start(tenant());
    env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    directory(&env, &["alice@contoso.com"], "M365");
    let stored = env.run_with_stdin(
        &["m365", "credentials", "set", "--tenant", TENANT, "--client-id", "tessera", "--client-secret-stdin"],
        &format!("{SECRET}\n"),
    );
    assert!(stored.status.success(), "{}", String::from_utf8_lossy(&stored.stderr));
    ok_graph(&env, &double, &["m365", "enable", "--domain", "contoso.com"]);
    let server = Server::start(&env, &["--public-url", PUBLIC, "--rollover-check-minutes", "0"]);
    let (a, none) = certificates(&env, "M365");
    assert_eq!((graph_certificates(&double, "contoso.com"), none), ((Some(a.clone()), None), None));
    let signed_by_a = token(server.port, "contoso.com", "alice@contoso.com", 1).unwrap();
    entra_accepts(&double, "contoso.com", &signed_by_a).unwrap();

    // Bad input first: nothing staged to promote, a grace period out of range, a bookmark.
    let refused = env.fails(&["app", "cert", "promote", "M365"], 1);
    assert!(refused.contains("no staged certificate"), "{refused}");
    let refused = env.fails(&["app", "cert", "promote", "M365", "--grace-days", "91"], 1);
    assert!(refused.contains("at most 90 days"), "{refused}");
    env.ok(&["app", "add", "bookmark", "--label", "Wiki", "--url", "https://wiki.example.com/"]);
    assert!(env.fails(&["app", "cert", "stage", "Wiki"], 1).contains("bookmark"));

    // Stage: published as next (metadata, app show), not signing yet.
    let staged = env.ok(&["--public-url", PUBLIC, "app", "cert", "stage", "M365"]);
    assert!(staged.contains("staged:") && staged.contains("automatic: promote from"), "{staged}");
    let (still_a, b) = certificates(&env, "M365");
    let b = b.expect("the staged certificate is published");
    assert_eq!(still_a, a, "the staged certificate does not sign yet");
    let metadata = env.ok(&["app", "metadata", "M365", "--protocol", "wsfed"]);
    assert!(metadata.contains(&b) && metadata.contains(&a), "both certificates are in the WS-Federation metadata");
    assert!(env.fails(&["app", "cert", "stage", "M365"], 1).contains("staged already"));

    // Promote is refused while Graph does not hold the staged certificate: nothing changes.
    let writes = double.with(|g| g.writes.len());
    let refused = run_graph(&env, &double, &["app", "cert", "promote", "M365"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("does not hold the staged certificate") && said.contains("m365 enable"), "{said}");
    assert_eq!(certificates(&env, "M365"), (a.clone(), Some(b.clone())));
    assert_eq!(double.with(|g| g.writes.len()), writes, "a refused promote writes nothing to Graph");

    // Enable pushes it as nextSigningCertificate; then promote goes ahead.
    ok_graph(&env, &double, &["m365", "enable", "--domain", "contoso.com"]);
    assert_eq!(graph_certificates(&double, "contoso.com"), (Some(a.clone()), Some(b.clone())));
    let promoted = ok_graph(&env, &double, &["app", "cert", "promote", "M365"]);
    assert!(promoted.contains("previous:") && promoted.contains("published as next until"), "{promoted}");
    assert_eq!(certificates(&env, "M365"), (b.clone(), Some(a.clone())), "the old one is published as next");
    // The server signs with the new key within a second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let signed_by_b = token(server.port, "contoso.com", "alice@contoso.com", 2).unwrap();
    assert!(xmlsec1_verifies(&signed_by_b, &b) && !xmlsec1_verifies(&signed_by_b, &a));
    // Before Graph hears of the promotion, and after: both tokens pass Entra's checks.
    entra_accepts(&double, "contoso.com", &signed_by_b).unwrap();
    ok_graph(&env, &double, &["m365", "enable", "--domain", "contoso.com"]);
    assert_eq!(graph_certificates(&double, "contoso.com"), (Some(b.clone()), Some(a.clone())));
    entra_accepts(&double, "contoso.com", &signed_by_a).unwrap();
    entra_accepts(&double, "contoso.com", &signed_by_b).unwrap();

    // The grace period over (ended early here; the fake-clock test lets it run out), enable
    // clears the old certificate from Graph: only the new one verifies.
    env.ok(&["app", "cert", "clear-previous", "M365"]);
    assert_eq!(certificates(&env, "M365"), (b.clone(), None));
    ok_graph(&env, &double, &["m365", "enable", "--domain", "contoso.com"]);
    assert_eq!(graph_certificates(&double, "contoso.com"), (Some(b.clone()), None));
    entra_accepts(&double, "contoso.com", &signed_by_b).unwrap();
    let refused = entra_accepts(&double, "contoso.com", &signed_by_a).unwrap_err();
    assert!(refused.contains("none of the 1 certificates"), "{refused}");

    // Every step is on record.
    let audit = env.json(&["audit", "list"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["app.cert_stage", "app.cert_promote", "app.cert_clear_previous", "m365.enable"] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn several_domains_each_with_its_issuer_and_a_sub_domain_following_its_root() {
    let env = Env::sqlite();
    let double = Double::start(tenant());
    for domain in ["contoso.com", "northwind.com"] {
        env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", domain, "--label", domain]);
    }
    let refused = env.fails(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "sales.contoso.com"], 1);
    assert!(refused.contains("sub-domain of contoso.com"), "{refused}");
    let refused = env.fails(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "Sales.Contoso.com."], 1);
    assert!(refused.contains("sub-domain of contoso.com"), "case and a trailing dot change nothing: {refused}");
    env.ok(&["group", "add", "staff"]);
    for user in ["alice@contoso.com", "carol@sales.contoso.com", "bob@northwind.com"] {
        env.run_with_stdin(&["user", "add", user, "--password-stdin"], &format!("{PASSWORD}\n"));
        env.ok(&["group", "add-member", "staff", user]);
    }
    env.ok(&["app", "grant", "contoso.com", "staff"]);
    env.ok(&["app", "grant", "northwind.com", "staff"]);
    let stored = env.run_with_stdin(
        &["m365", "credentials", "set", "--tenant", TENANT, "--client-id", "tessera", "--client-secret-stdin"],
        &format!("{SECRET}\n"),
    );
    assert!(stored.status.success());
    for domain in ["contoso.com", "northwind.com"] {
        ok_graph(&env, &double, &["m365", "enable", "--domain", domain]);
    }
    let refused = run_graph(&env, &double, &["m365", "enable", "--domain", "sales.contoso.com"]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("follows its root"), "{said}");
    assert!(double.with(|g| !g.configurations.contains_key("sales.contoso.com")));
    let issuers: Vec<String> = ["contoso.com", "northwind.com"]
        .iter()
        .map(|d| double.with(|g| g.configurations[*d]["issuerUri"].as_str().unwrap().to_string()))
        .collect();
    assert_ne!(issuers[0], issuers[1], "Entra refuses an issuer reused across domains");

    let server = Server::start(&env, &["--public-url", PUBLIC, "--rollover-check-minutes", "0"]);
    let alice = token(server.port, "contoso.com", "alice@contoso.com", 1).unwrap();
    let bob = token(server.port, "northwind.com", "bob@northwind.com", 2).unwrap();
    let carol = token(server.port, "contoso.com", "carol@sales.contoso.com", 3).unwrap();
    entra_accepts(&double, "contoso.com", &alice).unwrap();
    entra_accepts(&double, "northwind.com", &bob).unwrap();
    // A sub-domain's user carries the root's issuer, which Entra expects for the sub-domain.
    assert_eq!(issuer_of(&carol), issuers[0]);
    entra_accepts(&double, "contoso.com", &carol).unwrap();
    // A token for one domain carrying the other's issuer is refused by Entra's checks...
    let refused = entra_accepts(&double, "northwind.com", &alice).unwrap_err();
    assert!(refused.contains("issuer"), "{refused}");
    // ...so Tessera never issues one: a user signing in at another domain's connector is
    // refused, with no token.
    let refused = token(server.port, "contoso.com", "bob@northwind.com", 4).unwrap_err();
    assert!(refused.contains("another Microsoft 365 domain") && !refused.contains("Assertion"), "{refused}");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

/// One node: its own store connection, key service and admin service, on the shared database
/// and the shared fake clock.
async fn node(
    url: &str,
    dir: &std::path::Path,
    clock: Arc<dyn Clock>,
    double: &Double,
) -> (AdminService, Arc<dyn Store>) {
    let store = tessera_store::open(Some(url), dir, clock.clone()).await.unwrap();
    let keys = Arc::new(KeyService::open(store.clone(), &[7u8; 32], clock.clone()).await.unwrap());
    let endpoints = Endpoints { graph_url: double.url(), login_url: double.url() };
    let admin = AdminService::new(store.clone(), keys, PUBLIC, clock).unwrap().with_graph_endpoints(endpoints);
    (admin, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automatic_rollover_across_a_year_on_two_nodes_does_each_step_once_and_warns_on_failure() {
    let Some(pg) = ThrowawayPg::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let start = 1_800_000_000_000;
    let manual = Arc::new(ManualClock::at(start));
    let clock: Arc<dyn Clock> = manual.clone();
    let double = Double::start(tenant());
    let (one, store) = node(&pg.url, dir.path(), clock.clone(), &double).await;
    let (two, _) = node(&pg.url, dir.path(), clock.clone(), &double).await;
    let actor = Actor::cli("tester");

    // A connector whose certificate expires in 100 days, federated through stored credentials.
    let spec = AppSpec::M365 { domain: "contoso.com".into(), idp_path: None };
    let new = NewApp {
        spec,
        label: Some("M365".into()),
        description: None,
        portal_image: None,
        show_in_portal: true,
        settings: SettingsChange::default(),
        key: KeyOptions { bits: Some(2048), validity_days: Some(100) },
    };
    one.create_app(&actor, new).await.unwrap();
    one.m365_set_credentials(&actor, TENANT, "tessera", CredentialInput::Secret(SECRET.into())).await.unwrap();
    let graph = one.m365_graph().await.unwrap().expect("stored credentials");
    let enable = EnableRequest {
        domain: "contoso.com".into(),
        app: None,
        protocol: tessera_m365::Protocol::WsFed,
        mfa: tessera_m365::federation::MfaBehavior::Accept,
        take_over: false,
        dry_run: false,
    };
    one.m365_enable(&actor, &graph, &enable).await.unwrap();
    let graphs = (one.m365_graph().await.unwrap().unwrap(), two.m365_graph().await.unwrap().unwrap());

    // A connector's page never undoes another identity provider's federation.
    let adatum = NewApp {
        spec: AppSpec::M365 { domain: "adatum.com".into(), idp_path: None },
        label: Some("Adatum".into()),
        description: None,
        portal_image: None,
        show_in_portal: true,
        settings: SettingsChange::default(),
        key: KeyOptions::default(),
    };
    one.create_app(&actor, adatum).await.unwrap();
    let refused = one.m365_disable_connector(&actor, &graph, "Adatum", false).await.unwrap_err();
    assert!(refused.to_string().contains("another identity provider"), "{refused}");
    assert!(double.with(|g| g.configurations.contains_key("adatum.com")), "AD FS keeps adatum.com");
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);

    let mut failures_seen = 0;
    for day in 0..=365 {
        manual.set(start + day * DAY_MS);
        // Graph refuses writes for a week around the staging: each day's push fails, is audited
        // and warned about, and the rollover catches up once Graph takes writes again.
        let read_only = (38..45).contains(&day);
        double.with(|g| {
            let permissions = if read_only {
                vec!["Domain.Read.All"]
            } else {
                vec!["Domain.Read.All", "Domain-InternalFederation.ReadWrite.All"]
            };
            g.clients.get_mut("tessera").unwrap().permissions = permissions;
        });
        let (name_one, name_two) = (format!("day{day}-one"), format!("day{day}-two"));
        let (first, second) = tokio::join!(
            one.rollover_tick(&actor, &graphs.0, &name_one),
            two.rollover_tick(&actor, &graphs.1, &name_two),
        );
        let steps: Vec<_> = first.unwrap().into_iter().chain(second.unwrap()).collect();
        failures_seen += steps.iter().filter(|s| s.outcome.starts_with("failed")).count();
        if read_only && day >= 40 {
            let timeline = one.certificate_timeline("M365").await.unwrap();
            let warning = timeline.warning.expect("a failed step warns the administrator");
            assert_eq!(warning.step, "push", "day {day}");
            assert!(warning.error.contains("Domain-InternalFederation.ReadWrite.All"), "{}", warning.error);
            assert_eq!(one.rollover_warnings().await.unwrap().len(), 1, "listed for the portal");
        }
        // Every day, whatever the step: Entra accepts what Tessera signs with now.
        let app = store.find_app("M365").await.unwrap();
        let (signing, next) = graph_certificates(&double, "contoso.com");
        let current = b64(app.certificates.current.as_deref().unwrap());
        assert!(signing.as_deref() == Some(&current) || next.as_deref() == Some(&current), "day {day}: an outage");
    }
    assert!(failures_seen >= 5, "the week without writes failed its pushes ({failures_seen})");

    let audit = store.list_audit(&AuditQuery { limit: 10_000, ..Default::default() }).await.unwrap();
    let count = |action: &str| audit.iter().filter(|e| e.action == action).count();
    assert_eq!(count("app.cert_stage"), 1, "staged once, by one node");
    assert_eq!(count("app.cert_promote"), 1);
    assert_eq!(count("app.cert_clear_previous"), 1);
    assert_eq!(count("m365.certificates_pushed"), 3, "pushed after staging, promoting and clearing");
    assert!(count("m365.rollover_failed") >= 5);
    let stage = audit.iter().find(|e| e.action == "app.cert_stage").unwrap();
    let promote = audit.iter().find(|e| e.action == "app.cert_promote").unwrap();
    let clear = audit.iter().find(|e| e.action == "app.cert_clear_previous").unwrap();
    assert_eq!((stage.at - start) / DAY_MS, 40, "staged 60 days before expiry");
    assert_eq!((promote.at - start) / DAY_MS, 70, "promoted 30 days before expiry");
    assert_eq!((clear.at - start) / DAY_MS, 84, "cleared after the 14-day grace period");

    // The year ends with the new certificate alone in Graph and in the metadata, no warning.
    let app = store.find_app("M365").await.unwrap();
    assert_eq!(
        graph_certificates(&double, "contoso.com"),
        (Some(b64(app.certificates.current.as_deref().unwrap())), None)
    );
    assert!(app.certificates.next.is_none());
    assert!(one.certificate_timeline("M365").await.unwrap().warning.is_none());
    assert!(one.rollover_warnings().await.unwrap().is_empty(), "done since: the warning went");
    drop((one, two, store));
    pg.drop_database().await;
}

#[test]
fn serve_stages_and_pushes_a_certificate_nearing_expiry_by_itself() {
    let env = Env::sqlite();
    let double = Double::start(tenant());
    env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    // 45 days left: inside the 60 days before expiry when the rollover stages.
    env.ok(&["app", "cert", "rotate", "M365", "--cert-validity-days", "45"]);
    let stored = env.run_with_stdin(
        &["m365", "credentials", "set", "--tenant", TENANT, "--client-id", "tessera", "--client-secret-stdin"],
        &format!("{SECRET}\n"),
    );
    assert!(stored.status.success());
    ok_graph(&env, &double, &["m365", "enable", "--domain", "contoso.com"]);
    assert_eq!(graph_certificates(&double, "contoso.com").1, None);

    let url = double.url();
    let server = Server::start(&env, &["--public-url", PUBLIC, "--graph-url", &url, "--login-url", &url]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while graph_certificates(&double, "contoso.com").1.is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (signing, staged) = certificates(&env, "M365");
    assert_eq!(graph_certificates(&double, "contoso.com"), (Some(signing), staged.clone()));
    assert!(staged.is_some(), "staged and pushed as nextSigningCertificate by serve itself");
    let audit = env.json(&["audit", "list"]);
    let by_serve: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "system:rollover")
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(by_serve.contains(&"app.cert_stage") && by_serve.contains(&"m365.certificates_pushed"), "{by_serve:?}");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("automatic certificate rollover"), "each step is logged: {stderr}");
}
