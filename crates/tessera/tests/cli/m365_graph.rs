//! `tessera m365 preflight | enable | show | disable` against the Graph and Entra test double
//! (`graph_double.rs`), from a Linux shell as an administrator would run them, on SQLite and on
//! PostgreSQL: a dry run writes nothing, a second enable writes nothing, refusals come before
//! any write, a domain federated elsewhere moves in place only with `--take-over`, a failure
//! after a write puts the domain back, throttling is waited out, and the client secret never
//! shows.

use std::process::Output;

use base64::Engine;
use serde_json::{Map, Value};
use tessera_store::test_support::ThrowawayPg;

use super::Env;
use super::graph_double::{Client, DomainRecord, Double, Graph, TENANT};

pub(super) const SECRET: &str = "s3cret~Value.That-Must-Never-Show";
pub(super) const PUBLIC: &str = "https://idp.example.com";
const FULL: [&str; 5] = [
    "Domain.Read.All",
    "Domain-InternalFederation.ReadWrite.All",
    "Organization.Read.All",
    "Policy.Read.All",
    "RoleManagement.Read.Directory",
];
const ADFS_ISSUER: &str = "http://adfs.adatum.com/adfs/services/trust";

fn domain(authentication_type: &'static str, verified: bool, root: bool, initial: bool, default: bool) -> DomainRecord {
    DomainRecord { authentication_type, verified, root, initial, default }
}

/// A tenant with a domain of each kind, Adatum federated to AD FS, and a break-glass admin.
pub(super) fn tenant() -> Graph {
    let mut graph = Graph::default();
    let client = |secret: &str, permissions: &[&'static str]| Client {
        secret: Some(secret.to_string()),
        certificate: None,
        permissions: permissions.to_vec(),
    };
    graph.clients.insert("tessera".into(), client(SECRET, &FULL));
    let without_write: Vec<&'static str> =
        FULL.iter().copied().filter(|p| *p != "Domain-InternalFederation.ReadWrite.All").collect();
    graph.clients.insert("reader".into(), client(SECRET, &without_write));
    for (name, record) in [
        ("contoso.com", domain("Managed", true, true, false, false)),
        ("northwind.com", domain("Managed", true, true, false, false)),
        ("adatum.com", domain("Federated", true, true, false, false)),
        ("contoso.onmicrosoft.com", domain("Managed", true, true, true, false)),
        ("fabrikam.com", domain("Managed", true, true, false, true)),
        ("unverified.com", domain("Managed", false, true, false, false)),
        ("sales.contoso.com", domain("Managed", true, false, false, false)),
    ] {
        graph.domains.insert(name.into(), record);
    }
    let mut adfs = Map::new();
    for (field, value) in [
        ("id", "adfs-config-1"),
        ("displayName", "Adatum AD FS"),
        ("issuerUri", ADFS_ISSUER),
        ("passiveSignInUri", "https://adfs.adatum.com/adfs/ls/"),
        ("activeSignInUri", "https://adfs.adatum.com/adfs/services/trust/2005/usernamemixed"),
        ("metadataExchangeUri", "https://adfs.adatum.com/adfs/services/trust/mex"),
        ("signOutUri", "https://adfs.adatum.com/adfs/ls/"),
        ("preferredAuthenticationProtocol", "wsFed"),
        ("federatedIdpMfaBehavior", "rejectMfaByFederatedIdp"),
        ("promptLoginBehavior", "translateToFreshPasswordAuthentication"),
    ] {
        adfs.insert(field.into(), Value::String(value.into()));
    }
    let adfs_key = tessera_keys::generate_key(tessera_keys::KeySize::Rsa2048, "adfs", 365, now_millis()).unwrap();
    adfs.insert(
        "signingCertificate".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(&adfs_key.certificate_der)),
    );
    graph.configurations.insert("adatum.com".into(), adfs);
    graph.global_admins = vec!["ops@contoso.com".into(), "breakglass@contoso.onmicrosoft.com".into()];
    graph
}

pub(super) struct Run<'a> {
    pub(super) env: &'a Env,
    pub(super) double: &'a Double,
}

impl Run<'_> {
    /// `tessera m365 ARGS` as client `client`, its secret on standard input.
    pub(super) fn m365_as(&self, client: &str, args: &[&str]) -> Output {
        let url = self.double.url();
        let mut all = vec!["--public-url", PUBLIC, "m365"];
        all.extend(args);
        all.extend([
            "--tenant",
            TENANT,
            "--client-id",
            client,
            "--client-secret-stdin",
            "--graph-url",
            &url,
            "--login-url",
            &url,
        ]);
        let out = self.env.run_with_stdin(&all, &format!("{SECRET}\n"));
        for stream in [&out.stdout, &out.stderr] {
            assert!(!String::from_utf8_lossy(stream).contains(SECRET), "the secret showed: {args:?}");
        }
        out
    }

    pub(super) fn m365(&self, args: &[&str]) -> Output {
        self.m365_as("tessera", args)
    }

    pub(super) fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = self.m365(&with_json);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A command that must fail; its stderr.
    pub(super) fn fails(&self, client: &str, args: &[&str]) -> String {
        let out = self.m365_as(client, args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        stderr
    }

    pub(super) fn writes(&self) -> usize {
        self.double.with(|g| g.writes.len())
    }

    fn configuration(&self, domain: &str) -> Option<Map<String, Value>> {
        self.double.with(|g| g.configurations.get(domain).cloned())
    }

    fn authentication(&self, domain: &str) -> &'static str {
        self.double.with(|g| g.domains[domain].authentication_type)
    }
}

/// The whole sequence; returns what `show` printed for contoso.com once federated.
fn sequence(env: &Env) -> Value {
    let double = Double::start(tenant());
    let run = Run { env, double: &double };
    for domain in ["contoso.com", "northwind.com", "adatum.com", "fabrikam.com", "unverified.com"] {
        env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", domain]);
    }
    // A sub-domain follows its root: no connector of its own, and the refusal says why.
    let refused = env.fails(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "sales.contoso.com"], 1);
    assert!(refused.contains("its users sign in through the connector of contoso.com"), "{refused}");

    // Preflight: read-only, every check passes for contoso.com.
    let report = run.json(&["preflight", "--domain", "contoso.com"]);
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for name in [
        "domain_verified",
        "domain_root",
        "domain_not_initial",
        "domain_not_default",
        "break_glass_admin",
        "certificate",
        "public_url",
    ] {
        assert!(names.contains(&name), "{name}: {report}");
    }
    let table = run.m365(&["preflight", "--domain", "contoso.com"]);
    assert!(
        table.status.success() && String::from_utf8_lossy(&table.stdout).contains("breakglass@contoso.onmicrosoft.com")
    );

    // Refused before any write: the initial, default, unverified and sub-domains, and the
    // domain federated elsewhere without --take-over.
    for (domain, said) in [
        ("contoso.onmicrosoft.com", "initial"),
        ("fabrikam.com", "default domain"),
        ("unverified.com", "not verified"),
        ("sales.contoso.com", "subdomain"),
        ("adatum.com", "--take-over"),
        ("nowhere.com", "no domain nowhere.com"),
    ] {
        assert_eq!(run.m365(&["preflight", "--domain", domain]).status.code(), Some(1), "{domain}");
        let error = run.fails("tessera", &["enable", "--domain", domain]);
        assert!(error.contains(said), "{domain}: {error}");
    }
    assert_eq!(run.writes(), 0, "nothing written");

    // A dry run says what it would do and writes nothing.
    let dry = run.json(&["enable", "--domain", "contoso.com", "--dry-run"]);
    assert_eq!(dry["action"], "create", "{dry}");
    let fields: Vec<&str> = dry["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"issuerUri") && fields.contains(&"signingCertificate"), "{dry}");
    assert_eq!(run.writes(), 0);

    // A client without the write permission: preflight says so, enable is refused before any
    // write and says which permission to grant.
    let checked = run.m365_as("reader", &["preflight", "--domain", "contoso.com", "--json"]);
    assert_eq!(checked.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&checked.stdout).unwrap();
    let write = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "write_permission").unwrap().clone();
    assert_eq!(write["ok"], false, "{report}");
    let refused = run.fails("reader", &["enable", "--domain", "contoso.com"]);
    assert!(refused.contains("Domain-InternalFederation.ReadWrite.All"), "{refused}");
    assert_eq!(run.writes(), 0);

    // Enable, with Graph throttling the first calls: waited out.
    double.with(|g| g.throttle = 2);
    let enabled = run.m365(&["enable", "--domain", "contoso.com"]);
    assert!(enabled.status.success(), "{}", String::from_utf8_lossy(&enabled.stderr));
    assert_eq!(run.writes(), 1, "one create");
    assert_eq!(run.authentication("contoso.com"), "Federated");
    let config = run.configuration("contoso.com").unwrap();
    let expect = [
        ("issuerUri", format!("{PUBLIC}/m365/contoso.com")),
        ("passiveSignInUri", format!("{PUBLIC}/m365/contoso.com/wsfed")),
        ("activeSignInUri", format!("{PUBLIC}/m365/contoso.com/adfs/services/trust/2005/usernamemixed")),
        ("metadataExchangeUri", format!("{PUBLIC}/m365/contoso.com/adfs/services/trust/mex")),
        ("preferredAuthenticationProtocol", "wsFed".into()),
        ("federatedIdpMfaBehavior", "acceptIfMfaDoneByFederatedIdp".into()),
        ("promptLoginBehavior", "nativeSupport".into()),
    ];
    for (field, value) in &expect {
        assert_eq!(config[*field], value.as_str(), "{field}");
    }
    let command = env.json(&["--public-url", PUBLIC, "m365", "command", "Microsoft 365 (contoso.com)"]);
    assert_eq!(config["signingCertificate"], command["signing_certificate"]);

    // A second enable writes nothing; show finds no difference.
    let again = run.json(&["enable", "--domain", "contoso.com"]);
    assert_eq!(again["action"], "none");
    assert_eq!(run.writes(), 1);
    let shown = run.json(&["show", "--domain", "contoso.com"]);
    assert_eq!(shown["authenticationType"], "Federated");
    assert_eq!(shown["differences"], Value::Array(vec![]), "{shown}");

    // A change of MFA behavior is one field; a 500 half-way through puts it back.
    let dry = run.json(&["enable", "--domain", "contoso.com", "--mfa-behavior", "enforce", "--dry-run"]);
    assert_eq!(dry["action"], "update");
    assert_eq!(dry["changes"].as_array().unwrap().len(), 1, "{dry}");
    let before = run.configuration("contoso.com");
    double.with(|g| g.fail_patch_partially = true);
    let error =
        run.fails("tessera", &["enable", "--domain", "contoso.com", "--mfa-behavior", "enforce", "--protocol", "saml"]);
    assert!(error.contains("returned to its state before the command"), "{error}");
    assert_eq!(run.configuration("contoso.com"), before, "as it was");
    assert_eq!(run.authentication("contoso.com"), "Federated");
    let changed = run.json(&["enable", "--domain", "contoso.com", "--mfa-behavior", "enforce"]);
    assert_eq!(changed["action"], "update");
    assert_eq!(run.configuration("contoso.com").unwrap()["federatedIdpMfaBehavior"], "enforceMfaByFederatedIdp");
    // Over SAML, rich clients sign in by ECP: activeSignInUri is the ECP endpoint.
    let saml = run.json(&[
        "enable",
        "--domain",
        "contoso.com",
        "--mfa-behavior",
        "enforce",
        "--protocol",
        "saml",
        "--dry-run",
    ]);
    let changes = saml["changes"].as_array().unwrap();
    let active = changes.iter().find(|c| c["field"] == "activeSignInUri").unwrap();
    assert_eq!(active["to"], format!("{PUBLIC}/m365/contoso.com/saml/ecp").as_str(), "{saml}");

    // A create that fails after its write leaves the domain Managed, with no configuration.
    double.with(|g| g.fail_create_after_write = true);
    let error = run.fails("tessera", &["enable", "--domain", "northwind.com"]);
    assert!(error.contains("returned to its state before the command"), "{error}");
    assert_eq!((run.authentication("northwind.com"), run.configuration("northwind.com")), ("Managed", None));
    // A read right after the write that does not show it yet (replication) is read again, not
    // taken for a failure.
    double.with(|g| g.stale_reads = 2); // the plan's read (nothing there yet anyway), then the first read-back
    let lagging = run.m365(&["enable", "--domain", "northwind.com"]);
    assert!(lagging.status.success(), "{}", String::from_utf8_lossy(&lagging.stderr));
    assert_eq!(run.authentication("northwind.com"), "Federated");

    // Take-over: the diff first, then in place; never Managed in between.
    let refused = run.fails("tessera", &["enable", "--domain", "adatum.com"]);
    assert!(refused.contains(ADFS_ISSUER) && refused.contains("--take-over"), "{refused}");
    let dry = run.json(&["enable", "--domain", "adatum.com", "--take-over", "--dry-run"]);
    assert_eq!((dry["action"].as_str(), dry["taken_over_from"].as_str()), (Some("update"), Some(ADFS_ISSUER)), "{dry}");
    // A take-over whose write fails half-way is undone: AD FS keeps the domain, as it was.
    let adfs = run.configuration("adatum.com");
    double.with(|g| g.fail_patch_partially = true);
    let error = run.fails("tessera", &["enable", "--domain", "adatum.com", "--take-over"]);
    assert!(error.contains("returned to its state before the command"), "{error}");
    assert_eq!(run.configuration("adatum.com"), adfs, "AD FS's configuration as it was");
    assert_eq!(run.authentication("adatum.com"), "Federated");
    let writes = run.writes();
    let moved = run.m365(&["enable", "--domain", "adatum.com", "--take-over"]);
    assert!(moved.status.success(), "{}", String::from_utf8_lossy(&moved.stderr));
    let log = double.with(|g| g.writes[writes..].to_vec());
    assert_eq!(log, ["PATCH /domains/adatum.com/federationConfiguration/adfs-config-1"], "in place, one write");
    assert_eq!(run.authentication("adatum.com"), "Federated");
    assert_eq!(run.configuration("adatum.com").unwrap()["issuerUri"], format!("{PUBLIC}/m365/adatum.com").as_str());

    // Show names a wrong --app rather than finding no difference.
    let wrong = run.fails("tessera", &["show", "--domain", "contoso.com", "--app", "Microsoft 365 (adatum.com)"]);
    assert!(wrong.contains("not the Microsoft 365 connector of contoso.com"), "{wrong}");

    // Show, for every domain of the tenant.
    let all = run.json(&["show"]);
    let contoso = all.as_array().unwrap().iter().find(|d| d["domain"] == "contoso.com").unwrap();
    assert_eq!(contoso["connector"], "Microsoft 365 (contoso.com)", "{all}");

    // Disable: a dry run writes nothing; then Managed; then nothing left to do.
    let writes = run.writes();
    let dry = run.json(&["disable", "--domain", "contoso.com", "--dry-run"]);
    assert_eq!(dry["action"], "disable");
    assert_eq!(run.writes(), writes);
    let disabled = run.m365(&["disable", "--domain", "contoso.com"]);
    assert!(
        String::from_utf8_lossy(&disabled.stdout).contains("2 hours"),
        "{}",
        String::from_utf8_lossy(&disabled.stdout)
    );
    assert_eq!((run.authentication("contoso.com"), run.configuration("contoso.com")), ("Managed", None));
    let writes = run.writes();
    assert_eq!(run.json(&["disable", "--domain", "contoso.com"])["action"], "managed");
    assert_eq!(run.writes(), writes, "idempotent");

    // Every attempt that wrote is on record, with how it ended.
    let outcomes: Vec<String> = env
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("m365."))
        .map(|e| format!("{} {}", e["action"].as_str().unwrap(), e["summary"]["outcome"].as_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        outcomes,
        [
            "m365.enable ok",
            "m365.enable rolled_back",
            "m365.enable ok",
            "m365.enable rolled_back",
            "m365.enable ok",
            "m365.enable rolled_back",
            "m365.enable ok",
            "m365.disable ok"
        ]
    );
    // The secret went to Entra's token endpoint and nowhere else.
    let encoded: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let carrying: Vec<String> =
        double.with(|g| g.seen.iter().filter(|l| l.contains(&encoded) || l.contains(SECRET)).cloned().collect());
    assert!(!carrying.is_empty());
    assert!(carrying.iter().all(|l| l.starts_with(&format!("POST /{TENANT}/oauth2/v2.0/token"))), "{carrying:?}");
    assert!(!env.json(&["audit", "list"]).to_string().contains(SECRET));
    shown
}

#[test]
fn graph_federation_on_sqlite() {
    let env = Env::sqlite();
    sequence(&env);
    let database = std::fs::read(env.data_dir().join("tessera.db")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains(SECRET), "the secret is not in the database");
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_federation_on_postgres() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let pg = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(db.url.clone()) };
    let shown = tokio::task::spawn_blocking(move || sequence(&pg)).await;
    db.drop_database().await;
    assert_eq!(shown.unwrap()["authenticationType"], "Federated");
}

#[test]
fn certificates_stand_in_for_secrets_and_bad_credentials_say_what_to_do() {
    let env = Env::sqlite();
    let key = tessera_keys::generate_key(tessera_keys::KeySize::Rsa2048, "graph client", 30, now_millis()).unwrap();
    let pem = |label: &str, der: &[u8]| {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    };
    let file = env.dir.path().join("client.pem");
    std::fs::write(&file, pem("CERTIFICATE", &key.certificate_der) + &pem("PRIVATE KEY", &key.pkcs8)).unwrap();
    let mut graph = tenant();
    graph.clients.insert(
        "cert-app".into(),
        Client { secret: None, certificate: Some(key.certificate_der.clone()), permissions: FULL.to_vec() },
    );
    let double = Double::start(graph);
    env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "contoso.com"]);
    let url = double.url();
    let base = |client: &str| {
        vec![
            "--public-url",
            PUBLIC,
            "m365",
            "preflight",
            "--domain",
            "contoso.com",
            "--tenant",
            TENANT,
            "--client-id",
            client,
        ]
        .into_iter()
        .map(str::to_string)
        .chain(["--graph-url".to_string(), url.clone(), "--login-url".to_string(), url.clone()])
        .collect::<Vec<String>>()
    };
    let run = |args: Vec<String>, stdin: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run_with_stdin(&refs, stdin)
    };
    let mut with_cert = base("cert-app");
    with_cert.extend(["--client-certificate".to_string(), file.display().to_string()]);
    let out = run(with_cert, "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for (client, tenant, stdin, said) in [
        ("tessera", TENANT, "wrong secret\n", "client secret is wrong"),
        ("nobody", TENANT, "x\n", "not in this tenant"),
        ("tessera", "unknown-tenant.example", "x\n", "tenant is unknown"),
    ] {
        let mut args = base(client);
        let at = args.iter().position(|a| a == TENANT).unwrap();
        args[at] = tenant.to_string();
        args.push("--client-secret-stdin".into());
        let out = run(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{said}: {stderr}");
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    // A certificate the app registration does not hold.
    let mut other = base("tessera");
    other.extend(["--client-certificate".to_string(), file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&run(other, "").stderr).into_owned();
    assert!(stderr.contains("certificate assertion was refused"), "{stderr}");
    // Endpoints: https, or http on loopback only; a domain that is not one.
    for (flag, value, said) in [
        ("--graph-url", "http://graph.example.com", "http only on a loopback"),
        ("--login-url", "ftp://127.0.0.1", "must be https"),
        ("--domain", "contoso.com/../users", "not a domain name"),
    ] {
        let mut args = base("tessera");
        let at = args.iter().position(|a| a == flag).unwrap();
        args[at + 1] = value.to_string();
        args.push("--client-secret-stdin".into());
        let stderr = String::from_utf8_lossy(&run(args, &format!("{SECRET}\n")).stderr).into_owned();
        assert!(stderr.contains(said), "{flag}: {stderr}");
    }
    // A certificate file whose key is another's is refused before any request.
    let other = tessera_keys::generate_key(tessera_keys::KeySize::Rsa2048, "other", 30, now_millis()).unwrap();
    let mismatched = env.dir.path().join("mismatched.pem");
    std::fs::write(&mismatched, pem("CERTIFICATE", &key.certificate_der) + &pem("PRIVATE KEY", &other.pkcs8)).unwrap();
    let mut args = base("cert-app");
    args.extend(["--client-certificate".to_string(), mismatched.display().to_string()]);
    let stderr = String::from_utf8_lossy(&run(args, "").stderr).into_owned();
    assert!(stderr.contains("not the certificate's"), "{stderr}");

    // A Global Administrator on a federated domain (or on the domain itself) is no way back in.
    double.with(|g| g.global_admins = vec!["it@adatum.com".into(), "ops@contoso.com".into()]);
    let mut args = base("tessera");
    args.extend(["--client-secret-stdin".to_string(), "--json".to_string()]);
    let out = run(args.clone(), &format!("{SECRET}\n"));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let glass = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "break_glass_admin").unwrap().clone();
    assert_eq!(glass["ok"], false, "{report}");
    double.with(|g| g.global_admins.push("root@contoso.onmicrosoft.com".into()));
    let out = run(args, &format!("{SECRET}\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // A tenant or app given without a credential is never swapped for stored ones.
    let stderr = String::from_utf8_lossy(&run(base("tessera"), "").stderr).into_owned();
    assert!(stderr.contains("--tenant and --client-id need a credential"), "{stderr}");
    // Throttling that does not end: given up after a bounded number of tries.
    double.with(|g| g.throttle = 1000);
    let mut args = base("tessera");
    args.push("--client-secret-stdin".into());
    let started = std::time::Instant::now();
    let out = run(args, &format!("{SECRET}\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("429"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(double.with(|g| g.writes.len()), 0);
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn stored_credentials_are_sealed_shown_without_their_secret_and_used_when_none_are_given() {
    let env = Env::sqlite();
    let double = Double::start(tenant());
    env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "contoso.com"]);
    let url = double.url();
    let preflight = |stdin: &str| {
        let args = [
            "--public-url",
            PUBLIC,
            "m365",
            "preflight",
            "--domain",
            "contoso.com",
            "--graph-url",
            &url,
            "--login-url",
            &url,
        ];
        env.run_with_stdin(&args, stdin)
    };
    let none = preflight("");
    assert_eq!(none.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("m365 credentials set"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );

    // Refused: an empty secret, a file that is no PEM, no tenant.
    let not_pem = env.dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (args, stdin, said) in [
        (
            vec!["m365", "credentials", "set", "--tenant", TENANT, "--client-id", "tessera", "--client-secret-stdin"],
            "\n",
            "empty",
        ),
        (
            vec![
                "m365",
                "credentials",
                "set",
                "--tenant",
                TENANT,
                "--client-id",
                "tessera",
                "--client-certificate",
                not_pem.to_str().unwrap(),
            ],
            "",
            "CERTIFICATE",
        ),
        (
            vec![
                "m365",
                "credentials",
                "set",
                "--tenant",
                "bad tenant!",
                "--client-id",
                "tessera",
                "--client-secret-stdin",
            ],
            "x\n",
            "tenant",
        ),
    ] {
        let out = env.run_with_stdin(&args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(said),
            "{said}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.json(&["m365", "credentials", "show"]), Value::Null);

    let set = env.run_with_stdin(
        &[
            "m365",
            "credentials",
            "set",
            "--tenant",
            TENANT,
            "--client-id",
            "tessera",
            "--client-secret-stdin",
            "--json",
        ],
        &format!("{SECRET}\n"),
    );
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let shown = env.json(&["m365", "credentials", "show"]);
    assert_eq!(
        (shown["tenant"].as_str(), shown["client_id"].as_str(), shown["kind"].as_str()),
        (Some(TENANT), Some("tessera"), Some("secret"))
    );
    assert!(!shown.to_string().contains(SECRET));
    let used = preflight("");
    assert!(used.status.success(), "{}", String::from_utf8_lossy(&used.stderr));
    let mut database = std::fs::read(env.data_dir().join("tessera.db")).unwrap();
    database.extend(std::fs::read(env.data_dir().join("tessera.db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&database);
    for form in [SECRET.to_string(), base64::engine::general_purpose::STANDARD.encode(SECRET)] {
        assert!(!text.contains(&form), "sealed, not in clear: {form}");
    }
    let audit = env.json(&["audit", "list"]).to_string();
    assert!(audit.contains("m365.credentials_set") && !audit.contains(SECRET));

    assert_eq!(env.json(&["m365", "credentials", "delete"])["deleted"], true);
    assert_eq!(env.json(&["m365", "credentials", "delete"])["deleted"], false);
    assert_eq!(preflight("").status.code(), Some(1));
}

#[test]
fn an_administrator_signs_in_by_device_code() {
    let env = Env::sqlite();
    let mut graph = tenant();
    graph.clients.insert(
        tessera_m365::graph::GRAPH_COMMAND_LINE_TOOLS.into(),
        Client { secret: None, certificate: None, permissions: FULL.to_vec() },
    );
    let double = Double::start(graph);
    env.ok(&["--public-url", PUBLIC, "app", "add", "m365", "--domain", "contoso.com"]);
    let url = double.url();
    let args = [
        "--public-url",
        PUBLIC,
        "m365",
        "enable",
        "--domain",
        "contoso.com",
        "--tenant",
        TENANT,
        "--device-code",
        "--graph-url",
        &url,
        "--login-url",
        &url,
    ];
    let out = env.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("https://microsoft.com/devicelogin") && stderr.contains("TESS-ERA1"),
        "the code is shown: {stderr}"
    );
    assert_eq!(double.with(|g| g.domains["contoso.com"].authentication_type), "Federated");

    double.with(|g| g.decline_device_sign_in = true);
    let disable = [
        "--public-url",
        PUBLIC,
        "m365",
        "disable",
        "--domain",
        "contoso.com",
        "--tenant",
        TENANT,
        "--device-code",
        "--graph-url",
        &url,
        "--login-url",
        &url,
    ];
    let out = env.run(&disable);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("declined"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(double.with(|g| g.domains["contoso.com"].authentication_type), "Federated", "nothing changed");
}
