//! `tessera directory`: sources added, tested against a real OpenLDAP server (`slapd`, started
//! once for this test binary, over LDAPS and StartTLS with a private CA), shown and removed; and
//! what is refused before anything is stored. Syncs and pass-through sign-in in `sync`.

mod password;
mod slapd;
mod sync;

use super::*;
use slapd::slapd;

/// The service account's password: not ASCII, as a directory's may be.
const BIND_PASSWORD: &str = "Dïrectory-Pässwort✓";
const BASE_DN: &str = "dc=corp,dc=test";
const BIND_DN: &str = "cn=admin,dc=corp,dc=test";
/// The first sources' base: its three people and one group (each test adds its own branch).
const PEOPLE_DN: &str = "ou=people,dc=corp,dc=test";
pub(super) fn add_args<'a>(name: &'a str, urls: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["directory", "add", "ldap", "--name", name, "--kind", "openldap", "--bind-dn", BIND_DN];
    args.extend(["--base-dn", PEOPLE_DN, "--bind-password-stdin"]);
    for url in urls {
        args.extend(["--url", url.as_str()]);
    }
    args.extend(extra);
    args
}

pub(super) fn add(env: &Env, name: &str, urls: &[String], extra: &[&str], password: &str) -> Output {
    env.run_with_stdin(&add_args(name, urls, extra), &format!("{password}\n"))
}

fn test_report(env: &Env, source: &str) -> (bool, Value) {
    let out = env.run(&["directory", "test", source, "--json"]);
    (out.status.success(), serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn a_source_is_added_tested_over_ldaps_and_starttls_and_removed() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ca = slapd.ca_file();
    let ldaps = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    let out = add(&env, "Corp", &ldaps, &["--ca-file", &ca], BIND_PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (healthy, report) = test_report(&env, "corp");
    assert!(healthy, "{report}");
    assert_eq!((report["users"].as_u64(), report["groups"].as_u64()), (Some(3), Some(1)), "{report}");

    // StartTLS on plain ldap://, and a first server that is down: the second one serves.
    let dead = format!("ldap://127.0.0.1:{}", free_port());
    let urls = vec![dead.clone(), format!("ldap://127.0.0.1:{}", slapd.ldap)];
    assert!(add(&env, "Corp StartTLS", &urls, &["--ca-file", &ca], BIND_PASSWORD).status.success());
    let (healthy, report) = test_report(&env, "Corp StartTLS");
    assert!(!healthy, "a server down is reported: {report}");
    assert_eq!(report["servers"][0]["ok"], false);
    assert_eq!(report["servers"][1]["ok"], true, "{report}");
    assert_eq!(report["users"], 3);

    let shown = env.json(&["directory", "show", "Corp"]);
    assert_eq!((shown["kind"].as_str(), shown["private_ca"].as_bool()), (Some("openldap"), Some(true)));
    assert_eq!(shown["attributes"]["anchors"][0], "entryUUID");
    let everything = format!("{shown}{}", env.ok(&["audit", "list", "--json"]));
    assert!(!everything.contains(BIND_PASSWORD), "the bind password is shown nowhere");
    let database = std::fs::read(env.data_dir().join("tessera.db")).unwrap();
    assert!(!String::from_utf8_lossy(&database).contains("Pässwort"), "stored only sealed");

    let removed = env.ok(&["directory", "remove", "Corp StartTLS"]);
    assert!(removed.contains("0 user(s) stay"), "{removed}");
    let listed = env.json(&["directory", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    env.fails(&["directory", "show", "Corp StartTLS"], 1);
}

#[test]
fn a_wrong_password_another_hosts_certificate_or_an_unknown_ca_fails_the_test() {
    let slapd = slapd();
    let env = Env::sqlite();
    let ca = slapd.ca_file();
    let ldaps = vec![format!("ldaps://127.0.0.1:{}", slapd.ldaps)];
    assert!(add(&env, "Wrong password", &ldaps, &["--ca-file", &ca], "not the password").status.success());
    let (healthy, report) = test_report(&env, "Wrong password");
    assert!(!healthy);
    assert!(report["servers"][0]["error"].as_str().unwrap().contains("refused the credentials"), "{report}");

    // The certificate names 127.0.0.1, not localhost.
    let by_name = vec![format!("ldaps://localhost:{}", slapd.ldaps)];
    assert!(add(&env, "Other host", &by_name, &["--ca-file", &ca], BIND_PASSWORD).status.success());
    let (healthy, report) = test_report(&env, "Other host");
    assert!(!healthy);
    let error = report["servers"][0]["error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("certificate"), "{report}");

    // A server that takes the connection and never answers: the test ends at the connect
    // timeout (5 s), saying so.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = vec![format!("ldaps://127.0.0.1:{}", silent.local_addr().unwrap().port())];
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    assert!(add(&env, "Silent", &silent_url, &["--ca-file", &ca], BIND_PASSWORD).status.success());
    let started = Instant::now();
    let (healthy, report) = test_report(&env, "Silent");
    assert!(!healthy && started.elapsed() < Duration::from_secs(30), "{report}");
    assert!(
        report["servers"][0]["error"].as_str().unwrap().to_lowercase().contains("timed out")
            || report["servers"][0]["error"].as_str().unwrap().to_lowercase().contains("timeout"),
        "{report}"
    );

    // Without the CA: the system's roots do not vouch for it.
    let system_roots = add(&env, "No CA", &ldaps, &[], BIND_PASSWORD);
    if system_roots.status.success() {
        let (healthy, report) = test_report(&env, "No CA");
        assert!(
            !healthy && report["servers"][0]["error"].as_str().unwrap().to_lowercase().contains("certificate"),
            "{report}"
        );
    } else {
        // A machine without system CAs says so when the source is added.
        assert!(String::from_utf8_lossy(&system_roots.stderr).contains("--ca-file"));
    }
}

#[test]
fn bad_sources_are_refused_before_anything_is_stored() {
    let env = Env::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.display().to_string();
    let ldaps = vec!["ldaps://127.0.0.1:636".to_string()];
    let cases: Vec<(Vec<String>, Vec<&str>, &str, &str)> = vec![
        (vec!["ldap://dc1.corp.test".into()], vec!["--insecure-plaintext"], BIND_PASSWORD, "loopback"),
        (vec!["https://dc1.corp.test".into()], vec![], BIND_PASSWORD, "ldaps://"),
        (vec!["ldaps://u:p@dc1.corp.test".into()], vec![], BIND_PASSWORD, "credentials"),
        (ldaps.clone(), vec!["--user-filter", "uid=*)(objectClass=*"], BIND_PASSWORD, "parentheses"),
        (ldaps.clone(), vec!["--user-filter", "(uid=*))(|(uid=*)"], BIND_PASSWORD, "balance"),
        (ldaps.clone(), vec!["--attribute", "anchor=entryUUID)(x"], BIND_PASSWORD, "attribute"),
        (ldaps.clone(), vec!["--attribute", "colour=mail"], BIND_PASSWORD, "not a mapping"),
        (ldaps.clone(), vec!["--ca-file", &not_pem], BIND_PASSWORD, "PEM"),
        (ldaps.clone(), vec![], "", "empty"),
    ];
    for (urls, extra, password, expected) in cases {
        let out = add(&env, "Bad", &urls, &extra, password);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{urls:?} {extra:?}: {stderr}");
        assert!(stderr.contains(expected), "{urls:?} {extra:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let mut bad_dn = add_args("Bad", &ldaps, &[]);
    let position = bad_dn.iter().position(|a| *a == PEOPLE_DN).unwrap();
    bad_dn[position] = "corp";
    assert!(!env.run_with_stdin(&bad_dn, "pw\n").status.success());
    assert_eq!(env.json(&["directory", "list"]), serde_json::json!([]));
    let trail = env.ok(&["audit", "list", "--json"]);
    assert!(!trail.contains("directory.add"), "nothing was added: {trail}");
    for command in ["show", "test", "sync", "remove"] {
        let missing = env.fails(&["directory", command, "Nowhere"], 1);
        assert!(missing.contains("list them with `tessera directory list`"), "{command}: {missing}");
    }
}

#[test]
fn an_immutable_id_is_set_by_hand_or_from_an_ad_guid_before_federation() {
    let env = Env::sqlite();
    // The AD byte order of a GUID's text form, as Entra Connect writes it (worked out apart:
    // Python's uuid.UUID(...).bytes_le, base64).
    let guid = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}";
    let ada = env.json(&["user", "add", "ada@contoso.com", "--immutable-id-from-guid", guid]);
    assert_eq!(ada["immutable_id"], "4AQlP4lP0xGaDAMF6CwzAQ==");
    let bob = env.json(&["user", "add", "bob@contoso.com"]);
    env.fails(&["user", "add", "x@contoso.com", "--immutable-id", "QUJD", "--immutable-id-from-guid", guid], 2);
    assert!(env.fails(&["user", "add", "x@contoso.com", "--immutable-id-from-guid", "not-a-guid"], 1).contains("GUID"));

    let changed = env.json(&[
        "user",
        "set",
        "bob@contoso.com",
        "--immutable-id",
        "Qm9iLUZyb20tRW50cmE=",
        "--upn",
        "robert@contoso.com",
    ]);
    assert_eq!(
        (changed["upn"].as_str(), changed["immutable_id"].as_str()),
        (Some("robert@contoso.com"), Some("Qm9iLUZyb20tRW50cmE="))
    );
    for (args, expected) in [
        (vec!["user", "set", "robert@contoso.com", "--immutable-id", "4AQlP4lP0xGaDAMF6CwzAQ=="], "another user's"),
        (vec!["user", "set", "robert@contoso.com", "--upn", "ADA@contoso.com"], "already used"),
        (vec!["user", "set", "robert@contoso.com", "--immutable-id", "has space"], "immutable_id"),
        (vec!["user", "set", "robert@contoso.com"], "nothing to change"),
    ] {
        let error = env.fails(&args, 1);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    let robert = env.json(&["user", "show", "robert@contoso.com"]);
    assert_eq!(robert["immutable_id"], "Qm9iLUZyb20tRW50cmE=", "a refused change changed nothing");
    assert_eq!(robert["id"], bob["id"]);
    let trail = env.json(&["audit", "list", "--action", "user.set_identity"]);
    assert_eq!(trail.as_array().unwrap().len(), 1, "{trail}");
    assert_eq!(trail[0]["summary"]["immutable_id"]["before"], bob["immutable_id"]);
}
