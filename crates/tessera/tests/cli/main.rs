//! The `tessera` binary, run as an administrator would: on a temporary data directory, on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a panic is a failed test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_store::test_support::ThrowawayPg;

mod audit_chain;
mod bounds;
mod branding;
mod configuration;
mod directories;
mod doctor;
mod ecp_pysaml2;
mod faults;
mod graph_double;
mod m365_graph;
mod m365_users;
mod metadata_url;
mod operations;
mod own_postgres;
mod package;
mod rollover;
mod samba;
mod samba_kerberos;
mod samba_password_expiry;
mod samba_windowstransport;
mod tls;
mod web_client;

struct Env {
    dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Env {
    fn sqlite() -> Env {
        Env { dir: tempfile::tempdir().unwrap(), database_url: None }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        // `TESSERA_TEST_BIN` runs the same tests against another build (a release one, to
        // measure the figures `bounds` prints).
        let binary = std::env::var_os("TESSERA_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_tessera").into());
        let mut cmd = Command::new(binary);
        cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("USER", "tester");
        cmd.env("TESSERA_DATA_DIR", self.data_dir());
        if let Some(url) = &self.database_url {
            cmd.env("TESSERA_DATABASE_URL", url);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, "")
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        serde_json::from_str(&self.ok(&with_json)).unwrap()
    }

    /// Runs a command that must fail with `code`, and returns its one-line error.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    }
}

/// Keeps what varies between runs (ids, times, random values) out of a comparison.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "id" | "created_at" | "updated_at" | "immutable_id" | "signing_certificate" => {
                            Value::String("*".into())
                        }
                        _ => shape(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        other => other.clone(),
    }
}

/// The done-when sequence: user add → group add → group add-member → app add m365 →
/// app grant → app show --json.
fn directory_sequence(env: &Env) -> Value {
    let user = env.json(&["user", "add", "alice@contoso.com", "--first-name", "Alice", "--last-name", "Doe"]);
    assert_eq!(user["upn"], "alice@contoso.com");
    assert_eq!(user["immutable_id"].as_str().unwrap().len(), 24);
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let shown = env.json(&["app", "show", "M365"]);
    assert_eq!(shape(&app), shape(&shown), "add --json prints the same shape as show --json");
    let access = env.json(&["app", "access", "M365", "alice@contoso.com"]);
    assert_eq!(access["allowed"], true);
    shown
}

fn check_m365_show(shown: &Value) {
    assert_eq!(shown["kind"], "m365");
    assert_eq!(shown["domain"], "contoso.com");
    assert_eq!(shown["issuer"], "http://127.0.0.1:8080/m365/contoso.com");
    let endpoints = shown["endpoints"].as_object().unwrap();
    for key in [
        "saml_sso",
        "saml_slo",
        "saml_metadata",
        "saml_ecp",
        "wsfed_passive",
        "wsfed_metadata",
        "wstrust_mex",
        "wstrust_13_usernamemixed",
        "wstrust_2005_usernamemixed",
        "wstrust_13_windowstransport",
        "wstrust_2005_windowstransport",
    ] {
        assert!(endpoints[key].as_str().unwrap().starts_with("http://127.0.0.1:8080/"), "{key}");
    }
    assert!(shown["next_signing_certificate"].is_null());
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        shown["signing_certificate"].as_str().unwrap(),
    )
    .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(cert.public_key().algorithm.algorithm, x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION);
    assert!(cert.subject().to_string().contains(shown["label"].as_str().unwrap()));
}

#[test]
fn directory_sequence_on_sqlite() {
    let env = Env::sqlite();
    check_m365_show(&directory_sequence(&env));
    assert!(env.data_dir().join("tessera.db").exists());
    let mode = std::fs::metadata(env.data_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

#[tokio::test(flavor = "multi_thread")]
async fn directory_sequence_on_postgres_matches_sqlite() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let pg = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(db.url.clone()) };
    let on_pg = tokio::task::spawn_blocking(move || {
        let shown = directory_sequence(&pg);
        assert!(!pg.data_dir().join("tessera.db").exists(), "PostgreSQL runs write no SQLite file");
        shown
    })
    .await;
    db.drop_database().await;
    let on_pg = on_pg.unwrap();
    check_m365_show(&on_pg);
    let on_sqlite = directory_sequence(&Env::sqlite());
    assert_eq!(shape(&on_pg), shape(&on_sqlite));
}

#[test]
fn bad_input_fails_with_one_line_and_changes_nothing() {
    let env = Env::sqlite();
    env.ok(&["user", "add", "bob@contoso.com"]);
    env.ok(&["app", "add", "m365", "--domain", "contoso.com"]);
    let audit_before = env.json(&["audit", "list"]).as_array().unwrap().len();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/saml");
    let doctype = fixtures.join("sp-metadata-doctype.xml");
    let http_acs = fixtures.join("sp-metadata-http-acs.xml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["user", "add", "not-an-email"], "not an email address"),
        (vec!["user", "add", "BOB@contoso.com"], "already used"),
        (vec!["user", "show", "nobody@contoso.com"], "not found"),
        (vec!["group", "add-member", "NoGroup", "bob@contoso.com"], "not found"),
        (vec!["app", "add", "m365", "--domain", "contoso.onmicrosoft.com"], "initial domain"),
        (vec!["app", "add", "m365", "--domain", "exa mple.com"], "not a domain"),
        (vec!["app", "add", "m365", "--domain", "Contoso.COM", "--label", "Other"], "belongs to another"),
        (vec!["app", "add", "saml", "--label", "SP", "--sp-metadata", doctype.to_str().unwrap()], "DOCTYPE"),
        (vec!["app", "add", "saml", "--label", "SP", "--sp-metadata", http_acs.to_str().unwrap()], "https"),
        (vec!["app", "add", "saml", "--label", "SP", "--sp-metadata", "/nonexistent.xml"], "cannot read"),
        (vec!["app", "add", "bookmark", "--label", "B", "--url", "javascript:alert(1)"], "http"),
        (vec!["app", "grant", "nope", "Staff"], "not found"),
    ];
    for (args, expected) in cases {
        let stderr = env.fails(&args, 1);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: one line, got {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), audit_before, "failed commands change nothing");
    assert_eq!(env.json(&["user", "list"]).as_array().unwrap().len(), 1);
    assert_eq!(env.json(&["app", "list"]).as_array().unwrap().len(), 1);
}

#[test]
fn bad_usage_exits_2() {
    let env = Env::sqlite();
    env.fails(&["frobnicate"], 2);
    env.fails(&["user", "add"], 2);
    env.fails(&["app", "add", "m365"], 2);
    env.fails(&["user", "list", "--log-format", "xml"], 2);
}

#[test]
fn password_stdin_reads_one_line_without_its_newline() {
    let env = Env::sqlite();
    let out = env.run_with_stdin(
        &["user", "add", "carol@contoso.com", "--password-stdin", "--json"],
        "pass word 123\r\nignored\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let user: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(user["has_password"], true);
    let stored = password_hash_of(&env, "carol@contoso.com");
    assert!(tessera_auth::password::verify_password("pass word 123", &stored).unwrap());
    assert!(!tessera_auth::password::verify_password("pass word 123\r", &stored).unwrap());

    let out = env.run_with_stdin(&["user", "set-password", "carol@contoso.com", "--password-stdin"], "another one!\n");
    assert!(out.status.success());
    assert!(
        tessera_auth::password::verify_password("another one!", &password_hash_of(&env, "carol@contoso.com")).unwrap()
    );
    let out = env.run_with_stdin(&["user", "set-password", "carol@contoso.com", "--password-stdin"], "short\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        tessera_auth::password::verify_password("another one!", &password_hash_of(&env, "carol@contoso.com")).unwrap()
    );
    let out = env.run_with_stdin(&["user", "add", "dan@contoso.com", "--password-stdin"], "");
    assert_eq!(out.status.code(), Some(1), "no password on stdin is an error");
    env.fails(&["user", "show", "dan@contoso.com"], 1);
}

fn password_hash_of(env: &Env, email: &str) -> String {
    let path = env.data_dir().join("tessera.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store =
            tessera_store::SqliteStore::open_file(&path, std::sync::Arc::new(tessera_core::SystemClock)).await.unwrap();
        use tessera_store::UserStore;
        store.find_user(email).await.unwrap().password_hash.unwrap()
    })
}

#[test]
fn app_delete_asks_for_the_count() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "m365", "--domain", "a.example.com", "--label", "A"]);
    env.ok(&["app", "add", "bookmark", "--label", "B", "--url", "https://b.example.com"]);
    for answer in ["1\n", "", "two\n"] {
        let out = env.run_with_stdin(&["app", "delete", "A", "B"], answer);
        assert_eq!(out.status.code(), Some(1), "answer {answer:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Type the number"));
    }
    assert_eq!(env.json(&["app", "list"]).as_array().unwrap().len(), 2, "nothing deleted");
    env.fails(&["app", "delete", "A", "missing", "--yes"], 1);
    assert_eq!(env.json(&["app", "list"]).as_array().unwrap().len(), 2);
    let out = env.run_with_stdin(&["app", "delete", "A", "B"], "2\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.json(&["app", "list"]).as_array().unwrap().is_empty());
    env.ok(&["app", "add", "m365", "--domain", "a.example.com", "--label", "A"]);
    env.ok(&["app", "delete", "A", "--yes"]);
    let actions: Vec<String> = env
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "app.delete").count(), 3);
}

#[test]
fn global_options_go_before_or_after_and_config_layers() {
    let env = Env::sqlite();
    let other = env.dir.path().join("other");
    let other_str = other.to_str().unwrap();
    env.ok(&["--data-dir", other_str, "group", "add", "Before"]);
    env.ok(&["group", "add", "After", "--data-dir", other_str]);
    let listed: Value = serde_json::from_str(&env.ok(&["group", "list", "--data-dir", other_str, "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let config = env.dir.path().join("tessera.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n", other_str)).unwrap();
    // The environment (TESSERA_DATA_DIR, set by Env) overrides the file ...
    let from_env: Value =
        serde_json::from_str(&env.ok(&["group", "list", "--config", config.to_str().unwrap(), "--json"])).unwrap();
    assert!(from_env.as_array().unwrap().is_empty());
    // ... and without it the file applies.
    let out = env
        .command(&["group", "list", "--config", config.to_str().unwrap(), "--json"])
        .env_remove("TESSERA_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().len(), 2);
    std::fs::write(&config, "data_dir = 5\n").unwrap();
    let stderr = env.fails(&["group", "list", "--config", config.to_str().unwrap()], 1);
    assert!(stderr.contains("not valid"), "{stderr}");
}

#[test]
fn api_tokens_are_shown_once_and_revocable() {
    let env = Env::sqlite();
    let token = env.ok(&["admin", "token", "create", "--name", "deploy"]);
    assert!(token.trim().starts_with("tsr_"));
    let listed = env.json(&["admin", "token", "list"]);
    assert_eq!(listed[0]["name"], "deploy");
    assert!(!listed.to_string().contains(token.trim()), "the secret is never listed");
    env.fails(&["admin", "token", "create", "--name", "deploy"], 1);
    env.ok(&["admin", "token", "revoke", "deploy"]);
    env.fails(&["admin", "token", "revoke", "deploy"], 1);
}

#[test]
fn administrators_are_added_listed_given_passwords_and_deleted_but_never_the_last() {
    let env = Env::sqlite();
    let added = env.run_with_stdin(&["admin", "add", "erin", "--password-stdin", "--json"], "erin's own password\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let erin: Value = serde_json::from_slice(&added.stdout).unwrap();
    assert_eq!((erin["username"].as_str(), erin["must_change_password"].as_bool()), (Some("erin"), Some(false)));
    assert!(erin.get("password_hash").is_none() && !erin.to_string().contains("argon2"), "{erin}");
    assert_eq!(env.json(&["admin", "list"]).as_array().unwrap().len(), 1);

    let audit_before = env.json(&["audit", "list"]).as_array().unwrap().len();
    let refused = [
        (vec!["admin", "add", "ERIN", "--password-stdin"], "another password\n", 1, "exists already"),
        (vec!["admin", "add", "frank", "--password-stdin"], "short\n", 1, "password"),
        (vec!["admin", "add", "", "--password-stdin"], "a fine password\n", 1, "username"),
        (vec!["admin", "add", "frank"], "", 2, "--password-stdin"),
        (vec!["admin", "set-password", "nobody", "--password-stdin"], "a fine password\n", 1, "admin list"),
        (vec!["admin", "delete", "erin"], "", 1, "last full administrator"),
        (vec!["admin", "mfa", "reset", "nobody"], "", 1, "admin list"),
    ];
    for (args, stdin, code, said) in refused {
        let out = env.run_with_stdin(&args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), audit_before, "refusals write nothing");

    // Nothing to reset yet (the portal enrols; its reset is in the store conformance suite).
    let reset = env.json(&["admin", "mfa", "reset", "erin"]);
    assert_eq!((reset["username"].as_str(), reset["reset"].as_bool()), (Some("erin"), Some(false)));
    let out = env.run_with_stdin(&["admin", "add", "frank", "--password-stdin"], "frank's own password\n");
    assert!(out.status.success());
    let out = env.run_with_stdin(&["admin", "set-password", "Frank", "--password-stdin"], "a newer password\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.ok(&["admin", "delete", "erin"]);
    let left = env.json(&["admin", "list"]);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["username"], "frank");
    let actions: Vec<String> = env
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .filter(|a| a.starts_with("admin."))
        .collect();
    assert_eq!(actions, ["admin.create", "admin.create", "admin.password_set", "admin.delete"]);
}

#[test]
fn administrators_get_roles_and_the_last_full_administrator_keeps_theirs() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "bookmark", "--label", "Wiki", "--url", "https://wiki.contoso.com/"]);
    env.ok(&["app", "add", "bookmark", "--label", "Payroll", "--url", "https://payroll.contoso.com/"]);
    let wiki = env.json(&["app", "show", "Wiki"])["id"].as_str().unwrap().to_string();
    let out = env.run_with_stdin(&["admin", "add", "boss", "--password-stdin"], "the boss's own password\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec!["admin", "add", name, "--password-stdin", "--json"];
        args.extend_from_slice(extra);
        env.run_with_stdin(&args, "a password of their own\n")
    };
    let ann = add("ann", &["--role", "app-admin", "--app", "Wiki"]);
    assert!(ann.status.success(), "{}", String::from_utf8_lossy(&ann.stderr));
    let ann: Value = serde_json::from_slice(&ann.stdout).unwrap();
    assert_eq!((ann["role"].as_str(), ann["apps"][0].as_str()), (Some("app-admin"), Some(wiki.as_str())));

    let audit_before = env.json(&["audit", "list"]).as_array().unwrap().len();
    let refused: [(Vec<&str>, &str); 7] = [
        (vec!["admin", "add", "x", "--password-stdin", "--role", "root"], "not a role"),
        (vec!["admin", "add", "x", "--password-stdin", "--role", "app-admin"], "at least one application"),
        (
            vec!["admin", "add", "x", "--password-stdin", "--role", "auditor", "--app", "Wiki"],
            "only an application administrator",
        ),
        (vec!["admin", "add", "x", "--password-stdin", "--role", "app-admin", "--app", "Nowhere"], "Nowhere"),
        (vec!["admin", "set-role", "boss", "auditor"], "last full administrator"),
        (vec!["admin", "set-role", "nobody", "auditor"], "admin list"),
        (vec!["admin", "token", "create", "--name", "bot", "--role", "app-admin"], "at least one application"),
    ];
    for (args, said) in refused {
        let out = env.run_with_stdin(&args, "a password of their own\n");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), audit_before, "refusals write nothing");
    assert!(env.json(&["admin", "list"]).as_array().unwrap().iter().all(|a| a["username"] != "x"));

    let moved = env.json(&["admin", "set-role", "ann", "app-admin", "--app", "Payroll", "--app", "Wiki"]);
    assert_eq!(moved["apps"].as_array().unwrap().len(), 2);
    env.ok(&["admin", "set-role", "ann", "admin"]);
    let boss = env.json(&["admin", "set-role", "boss", "auditor"]);
    assert_eq!((boss["role"].as_str(), boss["apps"].as_array().map(Vec::len)), (Some("auditor"), Some(0)));
    let listed = env.ok(&["admin", "list"]);
    assert!(listed.contains("ROLE") && listed.contains("auditor") && !listed.contains("app-admin"), "{listed}");
    let token = env.json(&["admin", "token", "create", "--name", "wiki-bot", "--role", "app-admin", "--app", "Wiki"]);
    assert_eq!(token["role"], "app-admin");
    let roles: Vec<String> = env
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "admin.role_set")
        .map(|e| e["summary"]["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles, ["app-admin", "admin", "auditor"]);
}

#[test]
fn a_csv_import_previews_then_writes_everything_or_nothing() {
    let env = Env::sqlite();
    env.ok(&["user", "add", "existing@contoso.com", "--immutable-id", "taken-anchor"]);
    env.ok(&["group", "add", "Staff"]);
    let file = |name: &str, bytes: &[u8]| {
        let path = env.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    };
    let good = file(
        "good.csv",
        b"email,upn,first_name,last_name,immutable_id,groups\r\n\
          ann@contoso.com,,Ann,\"O'Neil, Jr.\",,Staff;Finance\r\n\
          bob@contoso.com,robert@contoso.com,Bob,Smith,+abc/DEF==,finance\r\n",
    );
    let users = || env.json(&["user", "list"]).as_array().unwrap().len();
    let audit = || env.json(&["audit", "list", "--limit", "10000"]).as_array().unwrap().len();
    let (users_before, audit_before) = (users(), audit());

    let preview = env.json(&["user", "import", &good, "--dry-run"]);
    assert_eq!(preview["written"], false);
    assert_eq!((preview["users"].as_u64(), preview["memberships"].as_u64()), (Some(2), Some(3)));
    assert_eq!(preview["new_groups"], serde_json::json!(["Finance"]));
    assert_eq!((users(), audit()), (users_before, audit_before), "a preview writes nothing");

    // Bad files: a clear message by line, and nothing written.
    let mut big = String::from("email\n");
    for n in 0..10_000 {
        big.push_str(&format!("user{n}@contoso.com\n"));
    }
    let bad: [(String, &str); 7] = [
        (file("big.csv", big.as_bytes()), "10000 users; at most 5000"),
        (file("latin1.csv", b"email,first_name\nj@contoso.com,J\xe9r\xf4me\n"), "line 2: the file is not UTF-8"),
        (file("dup.csv", b"email\nx@contoso.com\nX@CONTOSO.com\n"), "line 3: X@contoso.com is also on line 2"),
        (
            file("formula.csv", b"email,last_name\ny@contoso.com,=cmd|' /C calc'!A0\n"),
            "line 2: last_name: a value starting with '='",
        ),
        (
            file("clash.csv", b"email,immutable_id\nz@contoso.com,taken-anchor\nexisting@contoso.com,\n"),
            "line 3: existing@contoso.com",
        ),
        (file("columns.csv", b"mail\nz@contoso.com\n"), "unknown column"),
        (env.dir.path().join("missing.csv").to_string_lossy().into_owned(), "cannot open"),
    ];
    for (path, said) in &bad {
        let stderr = env.fails(&["user", "import", path], 1);
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
    let clash = env.fails(&["user", "import", &bad[4].0], 1);
    assert!(clash.contains("line 2: immutable ID taken-anchor"), "every clash is listed: {clash}");
    assert_eq!((users(), audit()), (users_before, audit_before), "refused files write nothing");

    let imported = env.json(&["user", "import", &good]);
    assert_eq!(imported["written"], true);
    let bob = env.json(&["user", "show", "robert@contoso.com"]);
    assert_eq!((bob["email"].as_str(), bob["immutable_id"].as_str()), (Some("bob@contoso.com"), Some("+abc/DEF==")));
    let ann = env.json(&["user", "show", "ann@contoso.com"]);
    assert_eq!(ann["last_name"], "O'Neil, Jr.");
    assert_eq!(ann["immutable_id"].as_str().unwrap().len(), 24, "a generated anchor");
    let finance = env.ok(&["group", "show", "Finance"]);
    assert!(finance.contains("ann@contoso.com") && finance.contains("bob@contoso.com"), "{finance}");
    // The same file again clashes whole.
    assert!(env.fails(&["user", "import", &good], 1).contains("already used"));
    assert_eq!(users(), users_before + 2);
}

#[test]
fn tracing_is_switched_per_application_or_user_and_refuses_bad_input() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "bookmark", "--label", "Wiki", "--url", "https://wiki.contoso.com/"]);
    env.ok(&["user", "add", "alice@contoso.com"]);
    let audit = || env.json(&["audit", "list"]).as_array().unwrap().len();
    let before = audit();
    for (args, code, said) in [
        (vec!["app", "trace", "Wiki", "--minutes", "0"], 1, "1 to 1440 minutes"),
        (vec!["app", "trace", "Wiki", "--minutes", "60", "--keep-days", "31"], 1, "1 to 30 days"),
        (vec!["app", "trace", "Nowhere", "--minutes", "60"], 1, "Nowhere"),
        (vec!["app", "trace", "Wiki"], 2, "--minutes"),
        (vec!["app", "trace", "Wiki", "--minutes", "5", "--off"], 2, "cannot be used with"),
        (vec!["user", "trace", "nobody@contoso.com", "--minutes", "5"], 1, "nobody@contoso.com"),
        (vec!["audit", "trace", "not-a-trace"], 1, "no such sign-in trace"),
    ] {
        let stderr = env.fails(&args, code);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    assert_eq!(audit(), before, "refusals write nothing");
    let on = env.json(&["app", "trace", "Wiki", "--minutes", "30", "--keep-days", "3"]);
    assert_eq!((on[0]["subject"].as_str(), on[0]["keep_days"].as_u64()), (Some("app"), Some(3)));
    let both = env.json(&["user", "trace", "alice@contoso.com", "--minutes", "10"]);
    assert_eq!(both.as_array().unwrap().len(), 2);
    let off = env.json(&["app", "trace", "Wiki", "--off"]);
    assert_eq!(off.as_array().unwrap().len(), 1);
    let set: Vec<Value> = env
        .json(&["audit", "list", "--action", "trace.set"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"]["minutes"].clone())
        .collect();
    assert_eq!(set, [serde_json::json!(30), serde_json::json!(10), Value::Null]);
}

// ---- serve ----

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(env: &Env, extra: &[&str]) -> Server {
        Server::start_on(env, free_port(), extra)
    }

    fn start_on(env: &Env, port: u16, extra: &[&str]) -> Server {
        Server::start_with_environment(env, port, extra, &[])
    }

    /// With `vars` added to the server's environment (which is otherwise only Tessera's own).
    fn start_with_environment(env: &Env, port: u16, extra: &[&str], vars: &[(&str, &str)]) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", listen.as_str()];
        args.extend_from_slice(extra);
        let mut command = env.command(&args);
        command.envs(vars.iter().copied());
        let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some((200, _)) = http_get(port, "/healthz", None) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not answer /healthz");
    }

    /// SIGKILL: gone at once, nothing flushed or closed.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status and stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        let killed = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn serve_first_start_health_api_and_graceful_stop() {
    let env = Env::sqlite();
    let server = Server::start(&env, &["--public-url", "https://idp.example.com/"]);
    let port = server.port;
    assert_eq!(http_get(port, "/healthz", None).unwrap(), (200, "ok".into()));
    assert_eq!(http_get(port, "/readyz", None).unwrap().0, 200);
    let key = env.data_dir().join("master.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);

    // A management command's change is visible to the running server on its next request.
    let token = env.ok(&["admin", "token", "create", "--name", "test"]);
    assert_eq!(http_get(port, "/api/v1/users", None).unwrap().0, 401);
    env.ok(&["user", "add", "erin@contoso.com"]);
    let (status, body) = http_get(port, "/api/v1/users", Some(token.trim())).unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("erin@contoso.com"), "{body}");
    // Commands build endpoints from the public URL the server runs with.
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com"]);
    assert_eq!(app["endpoints"]["saml_sso"], "https://idp.example.com/m365/contoso.com/saml/sso");
    let metrics = http_get(port, "/metrics", None).unwrap();
    assert!(metrics.1.contains("tessera_http_requests_total"), "{}", metrics.1);
    // Transparent huge pages are off for the server: idle, it held 2 MiB pages it did not use
    // (bench/memory/idle.sh). Kernels without the field say nothing either way.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    if let Some(line) = status.lines().find(|l| l.starts_with("THP_enabled:")) {
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }

    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let password_lines = stderr.lines().filter(|l| l.contains("one-time password")).count();
    assert_eq!(password_lines, 1, "{stderr}");

    // A second start creates no second administrator and prints no password.
    let server = Server::start(&env, &[]);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0));
    assert!(!stderr.contains("one-time password"), "{stderr}");
}

#[test]
fn serve_logs_json_on_request() {
    let env = Env::sqlite();
    let server = Server::start(&env, &["--log-format", "json"]);
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0));
    let log_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!log_lines.is_empty(), "{stderr}");
    for line in log_lines {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(event["level"].is_string());
    }
}

#[test]
fn serve_refuses_to_replace_a_lost_master_key() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "m365", "--domain", "contoso.com"]);
    std::fs::remove_file(env.data_dir().join("master.key")).unwrap();
    let out = env.run(&["serve", "--listen", &format!("127.0.0.1:{}", free_port())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master.key is missing"), "{stderr}");
    assert!(!env.data_dir().join("master.key").exists(), "no key is generated silently");
}

// ---- keys ----

fn master_key_bytes(env: &Env) -> [u8; 32] {
    let text = std::fs::read_to_string(env.data_dir().join("master.key")).unwrap();
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim()).unwrap().try_into().unwrap()
}

/// The private key of an app, decrypted as the server would, to look for it in clear.
async fn private_key_of(env: &Env, app_id: &str) -> Vec<u8> {
    let store = tessera_store::open(
        env.database_url.as_deref(),
        &env.data_dir(),
        std::sync::Arc::new(tessera_core::SystemClock),
    )
    .await
    .unwrap();
    let app: tessera_core::AppId = app_id.parse().unwrap();
    let stored = store.signing_key(app, tessera_store::KeySlot::Current).await.unwrap().unwrap();
    let cipher = tessera_keys::KeyCipher::new(&master_key_bytes(env)).unwrap();
    cipher.open(&stored.sealed_private_key, &tessera_keys::seal_context(app, &stored.id)).unwrap()
}

/// Fails if `haystack` holds the key in any form a dump would show it: raw DER, hex, base64
/// (at every alignment), or a PEM header.
fn assert_no_clear_key(haystack: &[u8], pkcs8: &[u8], what: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = &pkcs8[pkcs8.len() / 2..pkcs8.len() / 2 + 48];
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle));
    assert!(!contains(secret), "{what}: raw private key bytes");
    assert!(!contains(hex.as_bytes()), "{what}: hex private key bytes");
    for shift in 0..3 {
        let encoded = b64.encode(&secret[shift..]);
        assert!(!contains(&encoded.as_bytes()[4..40]), "{what}: base64 private key bytes");
    }
    assert!(!contains(b"PRIVATE KEY"), "{what}: a PEM private key");
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_file_holds_no_private_key_in_clear() {
    let env = Env::sqlite();
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com"]);
    let pkcs8 = private_key_of(&env, app["id"].as_str().unwrap()).await;
    assert!(pkcs8.len() > 1000, "a real RSA-2048 PKCS#8 key was sealed");
    let mut bytes = Vec::new();
    for file in ["tessera.db", "tessera.db-wal"] {
        if let Ok(content) = std::fs::read(env.data_dir().join(file)) {
            bytes.extend(content);
        }
    }
    assert!(bytes.len() > 10_000);
    assert_no_clear_key(&bytes, &pkcs8, "SQLite database");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_dump_holds_no_private_key_in_clear() {
    let Some(db) = ThrowawayPg::create().await else { return };
    let env = Env { dir: tempfile::tempdir().unwrap(), database_url: Some(db.url.clone()) };
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com"]);
    let pkcs8 = private_key_of(&env, app["id"].as_str().unwrap()).await;
    let dump = Command::new("pg_dump").arg("--data-only").arg(&db.url).output();
    db.drop_database().await;
    let dump = dump.expect("pg_dump (postgresql-client) is installed by scripts/test");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    assert!(String::from_utf8_lossy(&dump.stdout).contains("signing_keys"));
    assert_no_clear_key(&dump.stdout, &pkcs8, "pg_dump");
}

#[test]
fn cert_rotate_replaces_the_certificate_and_is_audited() {
    let env = Env::sqlite();
    let before = env.json(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    let rotated = env.json(&["app", "cert", "rotate", "M365", "--key-bits", "3072", "--cert-validity-days", "30"]);
    assert_ne!(before["signing_certificate"], rotated["signing_certificate"]);
    assert_eq!(env.json(&["app", "show", "M365"])["signing_certificate"], rotated["signing_certificate"]);
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        rotated["signing_certificate"].as_str().unwrap(),
    )
    .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let days = (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / 86_400;
    assert_eq!(days, 30);
    let audit = env.json(&["audit", "list"]);
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "app.cert_rotate"));
    // Bad input: no such app, a bookmark, an odd key size; nothing changes.
    env.fails(&["app", "cert", "rotate", "nope"], 1);
    env.ok(&["app", "add", "bookmark", "--label", "B", "--url", "https://b.example.com"]);
    assert!(env.json(&["app", "show", "B"])["signing_certificate"].is_null());
    assert!(env.fails(&["app", "cert", "rotate", "B"], 1).contains("bookmark"));
    assert!(env.fails(&["app", "cert", "rotate", "M365", "--key-bits", "1024"], 1).contains("2048"));
    assert_eq!(env.json(&["app", "show", "M365"])["signing_certificate"], rotated["signing_certificate"]);
}

#[test]
fn a_wrong_master_key_stops_start_up_and_commands() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    let good = std::fs::read(env.data_dir().join("master.key")).unwrap();
    std::fs::write(env.data_dir().join("master.key"), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let out = env.run(&["serve", "--listen", &format!("127.0.0.1:{}", free_port())]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master key does not match"), "{stderr}");
    let stderr = env.fails(&["app", "add", "m365", "--domain", "fabrikam.com"], 1);
    assert!(stderr.contains("master key does not match"), "{stderr}");
    let stderr = env.fails(&["app", "cert", "rotate", "M365"], 1);
    assert!(stderr.contains("master key does not match"), "{stderr}");
    // A malformed key file is refused with its own message.
    std::fs::write(env.data_dir().join("master.key"), "not base64!").unwrap();
    assert!(env.fails(&["app", "cert", "rotate", "M365"], 1).contains("master.key"));
    std::fs::write(env.data_dir().join("master.key"), good).unwrap();
    assert_eq!(env.json(&["app", "list"]).as_array().unwrap().len(), 1, "nothing was written meanwhile");
    env.ok(&["app", "cert", "rotate", "M365"]);
}

#[test]
fn app_policy_shows_and_changes_and_refuses_bad_networks() {
    let env = Env::sqlite();
    env.ok(&["app", "add", "bookmark", "--label", "Wiki", "--url", "https://wiki.contoso.com"]);
    let shown = env.json(&["app", "policy", "Wiki"]);
    let open_policy = serde_json::json!({"require_mfa": false, "phishing_resistant": false, "passwordless": false,
                                         "allowed_networks": []});
    assert_eq!(shown, open_policy);
    let set =
        env.json(&["app", "policy", "Wiki", "--require-mfa", "yes", "--allowed-network", "10.0.0.0/8,2001:db8::/32"]);
    assert_eq!(set["require_mfa"], true);
    assert_eq!(set["allowed_networks"], serde_json::json!(["10.0.0.0/8", "2001:db8::/32"]));
    assert_eq!(env.json(&["app", "show", "Wiki"])["policy"], set);
    let before = env.json(&["audit", "list"]).as_array().unwrap().len();
    assert!(env.fails(&["app", "policy", "Wiki", "--allowed-network", "10.1.2.3/8"], 1).contains("host bits"));
    assert!(env.fails(&["app", "policy", "Wiki", "--allowed-network", "nowhere"], 1).contains("not an IP network"));
    env.fails(&["app", "policy", "Wiki", "--require-mfa", "perhaps"], 2);
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), before, "refused changes write nothing");
    // A passkey only, and a passkey alone: both shown, both taken back by "no".
    // Not where browsers will not use a passkey (the default public URL is an address).
    let refused = env.fails(&["app", "policy", "Wiki", "--require-mfa", "phishing-resistant"], 1);
    assert!(refused.contains("IP address"), "{refused}");
    let strict = env.json(&[
        "--public-url",
        "https://idp.example.com",
        "app",
        "policy",
        "Wiki",
        "--require-mfa",
        "phishing-resistant",
        "--passwordless",
        "yes",
    ]);
    assert_eq!(
        (&strict["require_mfa"], &strict["phishing_resistant"], &strict["passwordless"]),
        (&true.into(), &true.into(), &true.into())
    );
    assert!(env.ok(&["app", "policy", "Wiki"]).contains("a passkey only"));
    let unknown = env.fails(&["app", "policy", "Wiki", "--require-mfa", "phishing"], 2);
    assert!(unknown.contains("no, yes, phishing-resistant"), "{unknown}");
    let open = env.json(&["app", "policy", "Wiki", "--any-network", "--require-mfa", "no", "--passwordless", "no"]);
    assert_eq!(open, open_policy);
}

#[test]
fn mfa_reset_for_an_administrator() {
    let env = Env::sqlite();
    env.ok(&["user", "add", "alice@contoso.com"]);
    let out = env.json(&["user", "mfa", "reset", "alice@contoso.com"]);
    assert_eq!(out["reset"], false, "nothing to reset yet");
    env.fails(&["user", "mfa", "reset", "nobody@contoso.com"], 1);
}

/// `user passkey list|remove` and `user mfa reset` over passkeys (issue 24). Enrolment is the
/// user portal's, still to come: the passkeys here are planted in the database as enrolment
/// stores them (the store's conformance suite holds the rest of the role to its word).
#[test]
fn passkeys_are_listed_removed_by_name_and_reset_with_the_second_factor() {
    let env = Env::sqlite();
    let alice = env.json(&["user", "add", "alice@contoso.com"]);
    let id = alice["id"].as_str().unwrap();
    assert_eq!(env.json(&["user", "passkey", "list", "alice@contoso.com"]), serde_json::json!([]));
    let plant = |name: &str, credential: &str, at: i64, used: &str| {
        format!(
            "INSERT INTO passkeys (user_id, name, credential_id, user_handle, passkey_json, sign_count, created_at, \
             last_used_at) VALUES ('{id}', '{name}', X'{credential}', X'07070707070707070707070707070707', '{{}}', 0, \
             {at}, {used});"
        )
    };
    let planted = plant("Laptop", "01", 1_700_000_000_000, "1700000100000")
        + &plant("YubiKey 5", "02", 1_700_000_050_000, "NULL");
    faults::sql(&env.data_dir().join("tessera.db"), &planted);

    let listed = env.json(&["user", "passkey", "list", "alice@contoso.com"]);
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Laptop", "YubiKey 5"], "oldest first: {listed}");
    assert!(listed[0]["last_used_at"].as_str().unwrap().starts_with("2023-11-14T"), "{listed}");
    assert!(listed[1]["last_used_at"].is_null(), "{listed}");
    let table = env.ok(&["user", "passkey", "list", "alice@contoso.com"]);
    assert!(table.contains("LAST USED") && table.contains("YubiKey 5") && table.contains("never"), "{table}");

    let removed = env.json(&["user", "passkey", "remove", "alice@contoso.com", "Laptop"]);
    assert_eq!(removed, serde_json::json!({"user_id": id, "removed": "Laptop"}));
    let audited = env.json(&["audit", "list", "--action", "user.mfa_reset"]);
    assert!(audited.to_string().contains("\"passkey\"") && audited.to_string().contains("Laptop"), "{audited}");

    // Bad input: one line, exit 1, nothing changed.
    let before = env.json(&["audit", "list"]).as_array().unwrap().len();
    let gone = env.fails(&["user", "passkey", "remove", "alice@contoso.com", "Laptop"], 1);
    assert!(gone.contains("passkey") && gone.contains("not found") && gone.trim().lines().count() == 1, "{gone}");
    env.fails(&["user", "passkey", "remove", "nobody@contoso.com", "YubiKey 5"], 1);
    env.fails(&["user", "passkey", "list", "nobody@contoso.com"], 1);
    env.fails(&["user", "passkey", "remove", "alice@contoso.com"], 2);
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), before, "refusals write nothing");
    let left = env.json(&["user", "passkey", "list", "alice@contoso.com"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");

    // A second-factor reset takes the passkeys too.
    assert_eq!(env.json(&["user", "mfa", "reset", "alice@contoso.com"])["reset"], true);
    assert_eq!(env.json(&["user", "passkey", "list", "alice@contoso.com"]), serde_json::json!([]));
    assert_eq!(env.json(&["user", "mfa", "reset", "alice@contoso.com"])["reset"], false);
}

/// pysaml2 reads `tessera app metadata` output: the venv python, required under CI=true.
/// The oracle venv's Python with pysaml2, and the workspace; `None` where it is not installed
/// (never under CI=true).
fn pysaml2_python() -> Option<(PathBuf, PathBuf)> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("TESSERA_ORACLE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"));
    let available = Command::new(&python).args(["-c", "import saml2"]).output().is_ok_and(|o| o.status.success());
    if !available {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "pysaml2 (the oracle venv) is required under CI=true");
        eprintln!("skipping: pysaml2 is not installed (scripts/test installs it)");
        return None;
    }
    Some((python, workspace))
}

fn pysaml2_reads(xml: &str) -> Option<Value> {
    let (python, workspace) = pysaml2_python()?;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), xml).unwrap();
    let out = Command::new(&python)
        .arg(workspace.join("interop/saml_metadata_pysaml2.py"))
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// pysaml2 configured as Entra ID (`interop/pysaml2_sp_accept.py`) on a SAML Response from
/// the IdP of `metadata`: its report (issuer, name_id, attributes), or `None` where pysaml2 is
/// not installed (never under CI=true). A refusal fails the test.
fn pysaml2_accepts(metadata: &str, response: &str, in_response_to: &str) -> Option<Value> {
    let (python, workspace) = pysaml2_python()?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("idp.xml"), metadata).unwrap();
    std::fs::write(dir.path().join("response.xml"), response).unwrap();
    let out = Command::new(&python)
        .arg(workspace.join("interop/pysaml2_sp_accept.py"))
        .arg(dir.path().join("idp.xml"))
        .arg(dir.path().join("response.xml"))
        .arg(in_response_to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pysaml2 as Entra refused: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn metadata_is_read_by_pysaml2_and_follows_rotation() {
    let env = Env::sqlite();
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    let xml = env.ok(&["app", "metadata", "M365"]);
    assert!(xml.starts_with("<?xml"));
    assert!(xml.contains(app["signing_certificate"].as_str().unwrap()));
    if let Some(read) = pysaml2_reads(&xml) {
        assert_eq!(read["entity_id"], app["issuer"]);
        let post = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
        let redirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
        for binding in [post, redirect] {
            assert_eq!(read["sso"][binding][0], app["endpoints"]["saml_sso"]);
            assert_eq!(read["slo"][binding][0], app["endpoints"]["saml_slo"]);
        }
        let soap = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";
        assert_eq!(read["sso"][soap][0], app["endpoints"]["saml_ecp"], "ECP, on SAML's SOAP binding");
        assert_eq!(read["signing_certificates"], 1);
        assert_eq!(read["name_id_formats"][0], "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent");
    }
    let rotated = env.json(&["app", "cert", "rotate", "M365"]);
    let after = env.ok(&["app", "metadata", "M365"]);
    assert!(after.contains(rotated["signing_certificate"].as_str().unwrap()), "metadata uses the new certificate");
    assert!(!after.contains(app["signing_certificate"].as_str().unwrap()));
    env.ok(&["app", "add", "bookmark", "--label", "B", "--url", "https://b.example.com"]);
    assert!(env.fails(&["app", "metadata", "B"], 1).contains("no IdP metadata"));
    env.fails(&["app", "metadata", "M365", "--protocol", "oidc"], 2);
    env.fails(&["app", "metadata", "nope"], 1);
}

#[test]
fn m365_connector_settings_idp_path_attributes_and_entra_signing() {
    let env = Env::sqlite();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let app = env.json(&[
        "app",
        "add",
        "m365",
        "--domain",
        "contoso.com",
        "--idp-path",
        "Contoso-SSO",
        "--attribute",
        "givenName=first_name",
    ]);
    assert_eq!(app["m365"]["idp_path"], "contoso-sso");
    assert_eq!(app["issuer"], "http://127.0.0.1:8080/m365/contoso.com", "the issuer stays templated from the domain");
    assert_eq!(app["endpoints"]["saml_sso"], "http://127.0.0.1:8080/m365/contoso-sso/saml/sso");
    assert_eq!(app["m365"]["login_url"], "https://login.microsoftonline.com/login.srf?wa=wsignin1.0&whr=contoso.com");
    assert_eq!(app["m365"]["attributes"], serde_json::json!([{"name": "givenName", "source": "first_name"}]));

    let before = env.json(&["audit", "list"]).as_array().unwrap().len();
    for (args, expected) in [
        (vec!["app", "add", "m365", "--domain", "fabrikam.com", "--idp-path", "contoso-sso"], "IdP URL"),
        (vec!["app", "add", "m365", "--domain", "fabrikam.com", "--idp-path", "../x"], "idp_path"),
        (vec!["app", "add", "m365", "--domain", "fabrikam.com", "--attribute", "IDPEmail=email"], "always sent"),
        (vec!["app", "add", "m365", "--domain", "fabrikam.com", "--attribute", "x=password"], "not one of"),
        (vec!["app", "add", "m365", "--domain", "fabrikam.com", "--login-url", "http://evil.example/"], "login_url"),
        (vec!["app", "set", "Microsoft 365 (contoso.com)", "--name-id-format", "x"], "does not apply"),
        (vec!["app", "set", "Microsoft 365 (contoso.com)"], "nothing to change"),
    ] {
        let error = env.fails(&args, 1);
        assert!(error.contains(expected), "{args:?}: {error}");
        assert_eq!(error.trim().lines().count(), 1, "{error}");
    }
    let not_entra = fixtures.join("saml/sp-metadata.xml");
    let error = env
        .fails(&["app", "set", "Microsoft 365 (contoso.com)", "--entra-sp-metadata", not_entra.to_str().unwrap()], 1);
    assert!(error.contains("not Entra ID's SP metadata"), "{error}");
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), before, "refusals write nothing");

    let entra = fixtures.join("entra/entra-test-sp-metadata.xml");
    let set = env.json(&[
        "app",
        "set",
        "Microsoft 365 (contoso.com)",
        "--entra-sp-metadata",
        entra.to_str().unwrap(),
        "--clear-attributes",
    ]);
    assert_eq!(set["m365"]["require_signed_requests"], true);
    assert_eq!(set["m365"]["attributes"], serde_json::json!([]));
    assert_eq!(set["m365"]["idp_path"], "contoso-sso", "the IdP URL never changes");
    let audit = env.json(&["audit", "list"]);
    assert_eq!(audit.as_array().unwrap().last().unwrap()["action"], "app.update");
    let back = env.json(&["app", "set", "Microsoft 365 (contoso.com)", "--no-signed-requests"]);
    assert_eq!(back["m365"]["require_signed_requests"], false);
    let text = env.ok(&["app", "show", "Microsoft 365 (contoso.com)"]);
    assert!(text.contains("idp url:     contoso-sso") && text.contains("IDPEmail=upn"), "{text}");
}

#[test]
fn saml_app_settings_name_id_attributes_and_signing() {
    let env = Env::sqlite();
    let metadata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/saml/sp-metadata.xml");
    let app = env.json(&[
        "app",
        "add",
        "saml",
        "--label",
        "SP",
        "--sp-metadata",
        metadata.to_str().unwrap(),
        "--attribute",
        "mail=email",
        "--sign-response",
        "yes",
    ]);
    assert_eq!(app["service_provider"]["attribute_mappings"], serde_json::json!([{"name": "mail", "source": "email"}]));
    assert_eq!(app["service_provider"]["sign_response"], true);
    let set = env.json(&["app", "set", "SP", "--name-id-source", "upn", "--sign-assertion", "no"]);
    assert_eq!(set["service_provider"]["name_id_source"], "upn");
    assert_eq!(set["service_provider"]["sign_assertion"], false);
    assert!(env.fails(&["app", "set", "SP", "--sign-response", "no"], 1).contains("sign the assertion, the response"));
    assert!(env.fails(&["app", "set", "SP", "--login-url", "https://x.example/"], 1).contains("does not apply"));
    assert!(env.fails(&["app", "set", "SP", "--attribute", "a=email", "--attribute", "a=upn"], 1).contains("twice"));
    assert_eq!(env.json(&["app", "show", "SP"])["service_provider"]["sign_response"], true, "unchanged");
}

#[test]
fn bad_serve_flags_are_refused_before_anything_is_created() {
    let env = Env::sqlite();
    for flags in [
        ["--clock-skew-seconds", "0"],
        ["--session-idle-minutes", "0"],
        ["--trusted-proxy", "10.1.2.3/8"],
        ["--passkey-model", "yubikey-5"],
    ] {
        let error = env.fails(&["serve", flags[0], flags[1]], 1);
        assert_eq!(error.trim().lines().count(), 1, "{error}");
        assert!(!flags[0].contains("passkey") || error.contains("is not an AAGUID"), "{error}");
    }
    // Windows integrated sign-in: no such keytab; no --intranet; a public URL that is an
    // address (Kerberos names services by host); a keytab with no key in it.
    let empty = env.dir.path().join("empty.keytab");
    std::fs::write(&empty, [0x05, 0x02]).unwrap();
    let empty = empty.display().to_string();
    let named = ["--public-url", "https://sts.example.test", "--intranet", "10.0.0.0/8"];
    for (flags, says) in [
        (vec!["--kerberos-keytab", "/nonexistent.keytab"], "cannot be read"),
        (vec!["--kerberos-keytab", &empty, "--public-url", "https://sts.example.test"], "needs --intranet"),
        (vec!["--kerberos-keytab", &empty, "--intranet", "10.0.0.0/8"], "needs a public URL with a host name"),
        ([&["--kerberos-keytab", empty.as_str()][..], &named].concat(), "no usable keytab"),
    ] {
        let error = env.fails(&[&["serve"][..], &flags].concat(), 1);
        assert!(error.trim().lines().count() == 1 && error.contains(says), "{flags:?}: {error}");
    }
    let created = std::fs::read_dir(env.data_dir()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(created, 0, "no database, no master key");
}

/// The `Name = 'value'` lines of a generated PowerShell hashtable, unquoted.
fn powershell_values(script: &str) -> std::collections::HashMap<String, String> {
    script
        .lines()
        .filter_map(|line| line.strip_prefix("    ")?.split_once(" = "))
        .map(|(name, value)| {
            let quoted = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).map(|v| v.replace("''", "'"));
            (name.to_string(), quoted.unwrap_or_else(|| value.to_string()))
        })
        .collect()
}

#[test]
fn m365_command_values_match_app_show_and_wsfed_metadata() {
    let env = Env::sqlite();
    let app = env.json(&["app", "add", "m365", "--domain", "contoso.com", "--label", "Contoso's M365"]);
    let endpoints = &app["endpoints"];
    let graph = env.ok(&["m365", "command", "Contoso's M365"]);
    assert!(graph.contains("New-MgDomainFederationConfiguration @federation"), "{graph}");
    let values = powershell_values(&graph);
    assert_eq!(values["DomainId"], "contoso.com");
    assert_eq!(values["DisplayName"], "Contoso's M365");
    assert_eq!(values["IssuerUri"], app["issuer"].as_str().unwrap());
    assert_eq!(values["PassiveSignInUri"], endpoints["wsfed_passive"].as_str().unwrap());
    assert_eq!(values["SignOutUri"], endpoints["wsfed_passive"].as_str().unwrap());
    assert_eq!(values["ActiveSignInUri"], endpoints["wstrust_2005_usernamemixed"].as_str().unwrap());
    assert_eq!(values["MetadataExchangeUri"], endpoints["wstrust_mex"].as_str().unwrap());
    assert_eq!(values["SigningCertificate"], app["signing_certificate"].as_str().unwrap());
    assert_eq!(values["PreferredAuthenticationProtocol"], "wsFed");
    assert_eq!(values["FederatedIdpMfaBehavior"], "acceptIfMfaDoneByFederatedIdp");

    let saml = powershell_values(&env.ok(&["m365", "command", "Contoso's M365", "--protocol", "saml"]));
    assert_eq!(saml["PassiveSignInUri"], endpoints["saml_sso"].as_str().unwrap());
    assert_eq!(saml["SignOutUri"], endpoints["saml_slo"].as_str().unwrap());
    assert_eq!(saml["ActiveSignInUri"], endpoints["saml_ecp"].as_str().unwrap(), "ECP, for rich clients");
    assert_eq!(saml["PreferredAuthenticationProtocol"], "saml");

    let msonline = env.ok(&["m365", "command", "Contoso's M365", "--style", "msonline"]);
    assert!(msonline.contains("Set-MsolDomainAuthentication @federation"), "{msonline}");
    let legacy = powershell_values(&msonline);
    assert_eq!(legacy["DomainName"], "contoso.com");
    assert_eq!(legacy["Authentication"], "Federated");
    assert_eq!(legacy["PassiveLogOnUri"], endpoints["wsfed_passive"].as_str().unwrap());
    assert_eq!(legacy["PreferredAuthenticationProtocol"], "WsFed");
    assert_eq!(legacy["SupportsMfa"], "$true");

    let json = env.json(&["m365", "command", "Contoso's M365"]);
    assert_eq!(json["issuer_uri"], app["issuer"]);
    assert_eq!(json["powershell"], graph);

    let metadata = env.ok(&["app", "metadata", "Contoso's M365", "--protocol", "wsfed"]);
    assert!(metadata.contains(r#"xsi:type="fed:SecurityTokenServiceType""#), "{metadata}");
    assert!(metadata.contains(app["signing_certificate"].as_str().unwrap()));

    // Bad input: a clear line, exit 1 (or 2 for bad usage), nothing written.
    env.ok(&["app", "add", "bookmark", "--label", "Wiki", "--url", "https://wiki.contoso.com/"]);
    let before = env.json(&["audit", "list"]).as_array().unwrap().len();
    for (args, code, expected) in [
        (vec!["m365", "command", "Wiki"], 1, "not a Microsoft 365 connector"),
        (vec!["m365", "command", "Nope"], 1, "not found"),
        (vec!["m365", "command", "Contoso's M365", "--protocol", "ftp"], 2, "ftp"),
        (vec!["m365", "command", "Contoso's M365", "--style", "azuread"], 2, "azuread"),
        (vec!["app", "metadata", "Wiki", "--protocol", "wsfed"], 1, "WS-Federation"),
    ] {
        let error = env.fails(&args, code);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), before);
}

/// The oracle venv's Python with MSAL, or `None` outside CI when it is missing.
fn msal_python() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python =
        std::env::var_os("TESSERA_ORACLE_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    if Command::new(&python).args(["-c", "import msal"]).output().is_ok_and(|o| o.status.success()) {
        return Some(python);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "msal (the oracle venv) is required under CI=true");
    eprintln!("skipping: msal is not installed");
    None
}

/// MSAL's whole WS-Trust client flow against a running server (`interop/msal_wstrust.py exchange`).
fn msal_exchange(
    python: &Path,
    public: &str,
    port: u16,
    mex: &str,
    username: &str,
    password: &str,
    active: Option<&str>,
) -> (bool, Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let real = format!("http://127.0.0.1:{port}");
    let mut args = vec!["exchange", public, real.as_str(), mex, username, password];
    args.extend(active);
    let output = Command::new(python).arg(root.join("interop/msal_wstrust.py")).args(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let parsed =
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stdout}{}", String::from_utf8_lossy(&output.stderr)));
    (output.status.success(), parsed)
}

#[test]
fn checklist_19_msal_obtains_a_token_through_mex_and_through_the_active_sign_in_uri() {
    let Some(python) = msal_python() else { return };
    let env = Env::sqlite();
    let password = "correct horse battery";
    for user in ["alice@contoso.com", "bob@contoso.com"] {
        let out = env.run_with_stdin(&["user", "add", user, "--password-stdin"], &format!("{password}\n"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    env.ok(&["group", "add", "Staff"]);
    env.ok(&["group", "add-member", "Staff", "alice@contoso.com"]);
    // MEX must list https endpoints (MSAL skips others): the server publishes its TLS proxy's
    // URL, and the client's transport maps it onto the listener, as the proxy would.
    let public = "https://idp.contoso.test";
    env.ok(&["--public-url", public, "app", "add", "m365", "--domain", "contoso.com", "--label", "M365"]);
    env.ok(&["app", "grant", "M365", "Staff"]);
    let server = Server::start(&env, &["--public-url", public]);
    let command = env.json(&["--public-url", public, "m365", "command", "M365"]);
    let mex = command["metadata_exchange_uri"].as_str().unwrap();
    let active = command["active_sign_in_uri"].as_str().unwrap();

    let (ok, through_mex) = msal_exchange(&python, public, server.port, mex, "alice@contoso.com", password, None);
    assert!(ok, "{through_mex}");
    assert_eq!(
        through_mex["endpoint"]["address"],
        format!("{public}/m365/contoso.com/adfs/services/trust/13/usernamemixed")
    );
    assert_eq!(through_mex["token_type"], "urn:oasis:names:tc:SAML:1.0:assertion");
    assert!(through_mex["token"].as_str().unwrap().contains(">alice@contoso.com<"));
    // Without MEX, MSAL falls back to the domain's ActiveSignInUri and infers the action.
    let (ok, fallback) = msal_exchange(&python, public, server.port, mex, "alice@contoso.com", password, Some(active));
    assert!(ok, "{fallback}");
    assert!(active.ends_with("/adfs/services/trust/2005/usernamemixed"));

    let (ok, wrong) = msal_exchange(&python, public, server.port, mex, "alice@contoso.com", "wrong password", None);
    assert!(!ok && wrong["error"].as_str().unwrap().contains("FailedAuthentication"), "{wrong}");
    let (ok, ungranted) = msal_exchange(&python, public, server.port, mex, "bob@contoso.com", password, None);
    assert!(!ok && ungranted["error"].as_str().unwrap().contains("RequestFailed"), "{ungranted}");
    let (code, stderr) = server.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let actions: Vec<String> = env
        .json(&["audit", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions.iter().filter(|a| *a == "wstrust.issued").count(), 2);
    assert!(actions.iter().any(|a| a == "wstrust.denied"));
}

#[test]
fn wsfed_relying_party_is_added_shown_and_refused_on_bad_input() {
    let env = Env::sqlite();
    let app = env.json(&[
        "app",
        "add",
        "wsfed",
        "--label",
        "Wiki",
        "--realm",
        "urn:contoso:wiki",
        "--reply-url",
        "https://wiki.contoso.test/wsfed",
        "--attribute",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn=upn",
    ]);
    assert_eq!(app["kind"], "wsfed");
    assert_eq!(app["relying_party"]["realm"], "urn:contoso:wiki");
    assert_eq!(app["relying_party"]["reply_urls"], serde_json::json!(["https://wiki.contoso.test/wsfed"]));
    let id = app["id"].as_str().unwrap();
    assert_eq!(app["endpoints"]["wsfed_passive"], format!("http://127.0.0.1:8080/apps/{id}/wsfed"));
    assert!(app["endpoints"].get("saml_sso").is_none() && app["endpoints"].get("wstrust_mex").is_none());
    assert!(app["signing_certificate"].as_str().is_some_and(|c| !c.is_empty()));
    let metadata = env.ok(&["app", "metadata", "Wiki", "--protocol", "wsfed"]);
    assert!(metadata.contains("PassiveRequestorEndpoint") && !metadata.contains("IDPSSODescriptor"), "{metadata}");
    env.ok(&["app", "set", "Wiki", "--name-id-source", "upn"]);
    assert_eq!(env.json(&["app", "show", "Wiki"])["relying_party"]["name_id_source"], "upn");

    let before = env.json(&["audit", "list"]).as_array().unwrap().len();
    for (args, code, expected) in [
        (
            vec!["app", "add", "wsfed", "--label", "X", "--realm", "urn:x", "--reply-url", "http://x.example/"],
            1,
            "https",
        ),
        (vec!["app", "add", "wsfed", "--label", "X", "--realm", "", "--reply-url", "https://x.example/"], 1, "realm"),
        (vec!["app", "add", "wsfed", "--label", "X", "--realm", "urn:x"], 2, "--reply-url"),
        (
            vec![
                "app",
                "add",
                "wsfed",
                "--label",
                "X",
                "--realm",
                "urn:x",
                "--reply-url",
                "https://x.example/",
                "--reply-url",
                "https://x.example/",
            ],
            1,
            "twice",
        ),
        (vec!["app", "set", "Wiki", "--sign-response", "yes"], 1, "does not apply"),
        (vec!["m365", "command", "Wiki"], 1, "not a Microsoft 365 connector"),
        (vec!["app", "metadata", "Wiki"], 1, "SAML"),
    ] {
        let error = env.fails(&args, code);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
    assert_eq!(env.json(&["audit", "list"]).as_array().unwrap().len(), before, "refusals write nothing");
}
